"""What is already placed in one fast level, and where a new buffer could go.

The heuristic solvers (first-fit, best-fit, XLA's memory space assignment)
place buffers one at a time, each at an offset that is free over its whole
live range. `LevelOccupancy` answers "which address ranges are free during
steps [start, end]" from the buffers placed so far, and chooses an offset by
first fit (lowest) or best fit (the smallest free range that holds the buffer,
as XLA's GlobalDecreasingSizeBestFitHeap does).
"""

from __future__ import annotations

import numpy as np


def lowest_free_offset(size: int, busy: list[tuple[int, int]], alignment: int) -> int:
  """The lowest aligned offset where `size` bytes overlap none of the `busy`
  address ranges [low, high) (capacity is the caller's to check)."""
  offset = 0
  while size:
    blocking = [high for low, high in busy if low < offset + size and offset < high]
    if not blocking:
      break
    offset = -(-max(blocking) // alignment) * alignment
  return offset


class LevelOccupancy:
  """Buffers placed in one memory level.

  Args:
    capacity: bytes of the level.
    alignment: offsets are multiples of it (bytes).
  """

  def __init__(self, capacity: int, alignment: int):
    self.capacity = int(capacity)
    self.alignment = max(int(alignment), 1)
    # Rows (start, end, offset, top) of the placed buffers; the first
    # `_count` are in use (the array doubles as it fills).
    self._rows = np.zeros((16, 4), np.int64)
    self._count = 0

  def free_ranges(self, start: int, end: int) -> list[tuple[int, int]]:
    """Maximal free address ranges [lo, hi) during steps [start, end] (inclusive)."""
    if not self._count:
      return [(0, self.capacity)]
    rows = self._rows[:self._count]
    live = rows[(rows[:, 0] <= end) & (rows[:, 1] >= start)]
    live = live[np.argsort(live[:, 2], kind="stable")]
    # Below each live buffer, everything up to the highest top of those
    # under it is taken; a gap is free where the buffer starts above that.
    reach = np.maximum.accumulate(live[:, 3]) if len(live) else np.zeros(0, np.int64)
    below = np.concatenate([[0], reach[:-1]])
    gap = live[:, 2] > below
    ranges = list(zip(below[gap].tolist(), live[gap, 2].tolist()))
    top = int(reach[-1]) if len(reach) else 0
    if top < self.capacity:
      ranges.append((top, self.capacity))
    return ranges

  def _fits(self, size: int, ranges):
    """(aligned offset, range length) of each free range that holds `size`."""
    for low, high in ranges:
      offset = -(-low // self.alignment) * self.alignment
      if offset + size <= high:
        yield offset, high - low

  def first_fit(self, size: int, start: int, end: int) -> int | None:
    """The lowest offset free for `size` bytes over [start, end], or None."""
    return next((o for o, _ in self._fits(size, self.free_ranges(start, end))), None)

  def best_fit(self, size: int, start: int, end: int) -> int | None:
    """The offset of the smallest free range that holds `size` bytes over
    [start, end] (lowest offset among equals), or None."""
    candidates = list(self._fits(size, self.free_ranges(start, end)))
    if not candidates:
      return None
    return min(candidates, key=lambda c: (c[1], c[0]))[0]

  def candidate_offsets(self, size: int, start: int, end: int) -> list[int]:
    """Every canonical offset (the aligned start of a free range that holds
    the buffer) free over [start, end]."""
    return [o for o, _ in self._fits(size, self.free_ranges(start, end))]

  def mark(self) -> int:
    """A mark of what is placed now, for `rollback`."""
    return self._count

  def rollback(self, mark: int) -> None:
    """Takes back everything placed since `mark`."""
    self._count = mark

  def place(self, size: int, start: int, end: int, offset: int) -> None:
    if self._count == len(self._rows):
      self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
    self._rows[self._count] = (start, end, offset, offset + size)
    self._count += 1


def spans_meet(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
  """Whether two buffers' spans (`minimalloc_csv.occupied_spans`) share a
  part of a step."""
  return any(low < other_high and other_low < high
             for low, high in a for other_low, other_high in b)


def fast_levels_by_speed(hardware) -> list[int]:
  """Indices of the fast levels, fastest first."""
  return sorted(range(1, len(hardware.levels)),
                key=lambda level: -hardware.levels[level].bandwidth)


def occupancies(hardware) -> dict[int, LevelOccupancy]:
  """An empty `LevelOccupancy` for each fast level."""
  return {level: LevelOccupancy(hardware.levels[level].capacity,
                                hardware.levels[level].alignment)
          for level in range(1, len(hardware.levels))}


def place_in_order(problem, hardware, order, policy: str = "first-fit"):
  """Place buffers one at a time in `order`, each in the fastest fast level
  with room for it over its whole live range, else in level 0.

  Args:
    problem: the instance.
    hardware: the memory levels.
    order: [N] buffer indices in the order to place them.
    policy: "first-fit" (lowest free offset) or "best-fit" (smallest free
      range that holds the buffer).

  Returns:
    A `Placement`.
  """
  from malloc_muzero.placement import Placement

  levels = np.zeros(problem.num_buffers, np.int32)
  offsets = np.full(problem.num_buffers, -1, np.int64)
  memories = occupancies(hardware)
  by_speed = fast_levels_by_speed(hardware)
  for b in np.asarray(order).tolist():
    size, start, end = int(problem.sizes[b]), int(problem.starts[b]), int(problem.ends[b])
    for level in by_speed:
      memory = memories[level]
      offset = (memory.first_fit if policy == "first-fit" else memory.best_fit)(
          size, start, end)
      if offset is not None:
        memory.place(size, start, end, offset)
        levels[b], offsets[b] = level, offset
        break
  return Placement(levels=levels, offsets=offsets)
