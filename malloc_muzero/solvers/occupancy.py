"""What is already placed in one fast level, and where a new buffer could go.

The heuristic solvers (first-fit, best-fit, XLA's memory space assignment)
place buffers one at a time, each at an offset that is free whenever it holds
its bytes. `LevelOccupancy` answers "which address ranges are free during
these spans of time" from the buffers placed so far, and chooses an offset by
first fit (lowest) or best fit (the smallest free range that holds the buffer,
as XLA's GlobalDecreasingSizeBestFitHeap does).

A span is an inclusive `(first, last)` pair of times. A buffer's spans are its
whole live range on the problem's clock (`live_spans`), or, to honour
per-value intervals and operand-slot reuse as XLA's buffer assignment does,
its half-open `minimalloc_csv.occupied_spans` on their finer clock
(`reserved_spans`). One occupancy keeps to one clock.
"""

from __future__ import annotations

import numpy as np

from malloc_muzero.minimalloc_csv import occupied_spans
from malloc_muzero.placement import Placement

Spans = list[tuple[int, int]]


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


def live_spans(problem) -> list[Spans]:
  """Per buffer, its whole live range `[(start, end)]` (problem clock)."""
  return [[(s, e)] for s, e in zip(problem.starts.tolist(), problem.ends.tolist())]


def reserved_spans(problem) -> list[Spans]:
  """Per buffer, the inclusive spans during which it holds its bytes when
  per-value intervals and shares are honoured (`occupied_spans`, whose
  half-open spans are on a clock that cuts shared steps)."""
  return [[(low, high - 1) for low, high in spans] for spans in occupied_spans(problem)]


class LevelOccupancy:
  """Buffers placed in one memory level.

  Args:
    capacity: bytes of the level.
    alignment: offsets are multiples of it (bytes).
  """

  def __init__(self, capacity: int, alignment: int):
    self.capacity = int(capacity)
    self.alignment = max(int(alignment), 1)
    # Rows (first, last, offset, top) of the placed buffers' spans; the first
    # `_count` are in use (the array doubles as it fills).
    self._rows = np.zeros((16, 4), np.int64)
    self._count = 0

  def free_ranges(self, spans: Spans) -> list[tuple[int, int]]:
    """Maximal address ranges [lo, hi) free during every one of `spans`."""
    if not self._count:
      return [(0, self.capacity)]
    rows = self._rows[:self._count]
    meets = np.zeros(len(rows), bool)
    for first, last in spans:
      meets |= (rows[:, 0] <= last) & (rows[:, 1] >= first)
    live = rows[meets]
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

  def first_fit(self, size: int, spans: Spans) -> int | None:
    """The lowest offset free for `size` bytes during `spans`, or None."""
    return next((o for o, _ in self._fits(size, self.free_ranges(spans))), None)

  def best_fit(self, size: int, spans: Spans) -> int | None:
    """The offset of the smallest free range that holds `size` bytes during
    `spans` (lowest offset among equals), or None."""
    candidates = list(self._fits(size, self.free_ranges(spans)))
    if not candidates:
      return None
    return min(candidates, key=lambda c: (c[1], c[0]))[0]

  def candidate_offsets(self, size: int, spans: Spans) -> list[int]:
    """Every canonical offset (the aligned start of a free range that holds
    the buffer) free during `spans`."""
    return [o for o, _ in self._fits(size, self.free_ranges(spans))]

  def mark(self) -> int:
    """A mark of what is placed now, for `rollback`."""
    return self._count

  def rollback(self, mark: int) -> None:
    """Takes back everything placed since `mark`."""
    self._count = mark

  def place(self, size: int, spans: Spans, offset: int) -> None:
    """Holds `size` bytes at `offset` during each of `spans`."""
    while self._count + len(spans) > len(self._rows):
      self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
    for first, last in spans:
      self._rows[self._count] = (first, last, offset, offset + size)
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


def place_in_order(problem, hardware, order, policy: str = "first-fit",
                   spans: list[Spans] | None = None):
  """Place buffers one at a time in `order`, each in the fastest fast level
  with room for it whenever it holds its bytes, else in level 0.

  Args:
    problem: the instance.
    hardware: the memory levels.
    order: [N] buffer indices in the order to place them.
    policy: "first-fit" (lowest free offset) or "best-fit" (smallest free
      range that holds the buffer).
    spans: per buffer, when it holds its bytes (`reserved_spans` to honour
      per-value intervals and shares); by default its whole live range
      (`live_spans`).

  Returns:
    A `Placement`.
  """
  spans = live_spans(problem) if spans is None else spans
  levels = np.zeros(problem.num_buffers, np.int32)
  offsets = np.full(problem.num_buffers, -1, np.int64)
  memories = occupancies(hardware)
  by_speed = fast_levels_by_speed(hardware)
  for b in np.asarray(order).tolist():
    size = int(problem.sizes[b])
    for level in by_speed:
      memory = memories[level]
      offset = (memory.first_fit if policy == "first-fit" else memory.best_fit)(
          size, spans[b])
      if offset is not None:
        memory.place(size, spans[b], offset)
        levels[b], offsets[b] = level, offset
        break
  return Placement(levels=levels, offsets=offsets)
