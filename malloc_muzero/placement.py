"""A placement of a problem's buffers in memory, and its exact validity check.

A `Placement` gives each buffer a memory level (0 = the default, slow memory
that holds everything; 1.. = the hardware's fast levels) and, in a fast level,
a byte offset. It is valid on a `Hardware` when

* every level exists on the hardware;
* a buffer in level 0 has offset -1, a buffer in a fast level an offset >= 0
  that is a multiple of the level's alignment and with `offset + size` at most
  the level's capacity (when it has one);
* no two buffers of one fast level overlap both in time (their live
  intervals share a step: a buffer's inclusive `[start, end]`, or its
  `Problem.interval_*` rows when its values leave gaps, as XLA's do) and in
  address (their byte ranges `[offset, offset + size)` share a byte).
  Zero-size buffers occupy no bytes and never overlap anything (the
  per-buffer rules above still apply to them: a level that exists, an
  aligned offset within the capacity). The two buffers of a share
  (`Problem.share_operand`, `share_user`, `share_step`: an operand whose slot
  XLA may give to its user) may overlap at their shared step; at any other
  step, or with any other buffer, the rule holds.

The game's legal mask, `exact`, `first-fit`, `best-fit` and `random` honour
intervals and shares (the mask where it can do so exactly, stricter
elsewhere); `xla-msa`, `xla-msa-prefetch` and `pack` keep buffers apart over
whole ranges, which the checker accepts too (docs/memory_fidelity.md, "Who
honours what").

`check_placement` decides this exactly, independently of any game or solver, in
O(N log N) plus the number of buffers alive at once per insertion.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import heapq

import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.problem import Problem, _intersection

CONFLICT_KINDS = ("level", "offset", "alignment", "capacity", "overlap")
_MAX_BYTES = np.iinfo(np.int64).max


@dataclasses.dataclass(frozen=True, eq=False)
class Placement:
  """Where each of a problem's N buffers lives.

  Construction converts both arrays to read-only copies of the dtypes below,
  raising `ProblemError` for non-integer values, values out of the dtype's
  range or arrays of different lengths. Whether the placement fits a problem
  and a hardware is `check_placement`'s business.

  Attributes:
    levels: [N] int32 memory level of each buffer: 0 = default (slow) memory,
      1.. = the hardware's fast levels.
    offsets: [N] int64 byte offset of each buffer within its level; -1 for
      buffers in level 0.
    solver: the name of what produced the placement ("" when unknown).
  """
  levels: np.ndarray
  offsets: np.ndarray
  solver: str = ""

  def __post_init__(self):
    if not isinstance(self.solver, str):
      raise ProblemError("a string", where="solver", found=self.solver)
    for field, dtype in (("levels", np.int32), ("offsets", np.int64)):
      object.__setattr__(self, field,
                         _integer_array(field, getattr(self, field), dtype))
    if len(self.levels) != len(self.offsets):
      raise ProblemError(f"{len(self.levels)} entries, one per level",
                         where="offsets", found=len(self.offsets))

  @classmethod
  def from_offsets(cls, offsets, solver: str = "") -> Placement:
    """A placement in one fast level, as MiniMalloc writes it.

    Args:
      offsets: [N] integer byte offsets in level 1; -1 leaves the buffer in
        level 0.
      solver: the name of what produced it.

    Returns:
      The `Placement`: level 1 where the offset is not -1, else level 0.
    """
    offsets = _integer_array("offsets", offsets, np.int64)
    levels = np.where(offsets == -1, 0, 1).astype(np.int32)
    return cls(levels=levels, offsets=offsets, solver=solver)

  def __repr__(self) -> str:
    fast = int(np.count_nonzero(self.levels))
    return (f"Placement(buffers={self.num_buffers}, in_fast_memory={fast}, "
            f"solver={self.solver!r})")

  def check_matches(self, problem: Problem) -> None:
    """Raise `ProblemError` unless there is one entry per buffer of `problem`."""
    for field in ("levels", "offsets"):
      found = len(getattr(self, field))
      if found != problem.num_buffers:
        raise ProblemError(
            f"{problem.num_buffers} entries, one per buffer of problem "
            f"{problem.name!r}", where=f"placement.{field}", found=found)

  @property
  def num_buffers(self) -> int:
    """N, the number of buffers placed."""
    return len(self.levels)

  def level_bytes(self, problem: Problem, num_levels: int) -> np.ndarray:
    """Bytes of the problem's buffers in each memory level.

    Args:
      problem: the problem this placement is for.
      num_levels: L, the number of memory levels (`Hardware.num_levels`).

    Returns:
      [L] int64 total size of the buffers in each level (index 0 = default
      memory).

    Raises:
      ProblemError: the lengths differ from the problem's buffer count, or a
        level is outside [0, L).
    """
    self.check_matches(problem)
    bad = np.flatnonzero((self.levels < 0) | (self.levels >= num_levels))
    if bad.size:
      raise ProblemError(f"a level in [0, {num_levels})",
                         where=f"levels[{bad[0]}]",
                         found=int(self.levels[bad[0]]))
    totals = np.zeros(num_levels, np.int64)
    np.add.at(totals, self.levels, problem.sizes)
    return totals


@dataclasses.dataclass(frozen=True)
class Conflict:
  """Why a placement is invalid: the first violated rule.

  Attributes:
    kind: one of `CONFLICT_KINDS`: "level" (no such memory level), "offset"
      (a negative offset in a fast level, or not -1 in level 0), "alignment",
      "capacity" (offset + size past the level's capacity) or "overlap" (two
      buffers share bytes at a common step).
    buffers: the buffer indices involved: one, or two for an overlap (the
      earlier in sweep order first).
    message: a human-readable explanation naming the buffers, their live
      ranges and offsets.
  """
  kind: str
  buffers: tuple[int, ...]
  message: str

  def __str__(self) -> str:
    return self.message


def all_slow(problem: Problem) -> Placement:
  """The placement with every buffer in the default memory (level 0).

  Always valid; the simulator's worst case.
  """
  count = problem.num_buffers
  return Placement(levels=np.zeros(count, np.int32),
                   offsets=np.full(count, -1, np.int64), solver="all-slow")


def check_placement(problem: Problem, hardware,
                    placement: Placement) -> Conflict | None:
  """Checks a placement exactly; returns its first conflict, or None if valid.

  The order is deterministic. First the per-buffer rules, by buffer index (for
  one buffer: level, then offset, alignment, capacity). Then overlaps: buffers
  of all fast levels are swept by (start, index); the first buffer in that
  order that overlaps an earlier one of its level is reported with the
  earliest such partner.

  Args:
    problem: the instance, N buffers.
    hardware: a `malloc_muzero.hardware.Hardware`; its `levels[k]` give each
      level's `name`, `capacity` (bytes, None = unlimited) and `alignment`
      (bytes).
    placement: N levels and offsets.

  Returns:
    The first `Conflict`, or None when the placement is valid.

  Raises:
    ProblemError: the placement's arrays do not have one entry per buffer.
  """
  placement.check_matches(problem)
  describe = _Describer(problem, hardware, placement)
  for index in _suspects(problem, hardware, placement):
    conflict = _buffer_conflict(describe, int(index))
    if conflict is not None:
      return conflict
  pair = _first_overlap(problem, placement)
  if pair is None:
    return None
  return Conflict("overlap", pair, describe.overlap(*pair))


def _first_overlap(problem: Problem, placement: Placement) -> tuple[int, int] | None:
  """The first overlapping pair: over the buffers' live intervals, the two
  buffers of a share excepted at their shared step."""
  buffer, live_start, live_end = problem.live_intervals()
  start, end = live_start.copy(), live_end.copy()
  # At a shared step, one buffer of each share leaves the sweep (its interval
  # shrinks by that step) and is checked there on its own, its partners
  # excepted.
  partners: dict[tuple[int, int], set[int]] = {}
  shares = list(zip(problem.share_operand.tolist(), problem.share_user.tolist(),
                    problem.share_step.tolist()))
  for a, b, t in shares:
    partners.setdefault((t, a), set()).add(b)
    partners.setdefault((t, b), set()).add(a)
  apart: set[tuple[int, int]] = set()  # (step, buffer) checked on its own.
  first = np.searchsorted(buffer, np.arange(problem.num_buffers + 1))
  for a, b, t in shares:
    for party in (b, a):
      item = first[party] + int(np.searchsorted(live_end[first[party]:first[party + 1]], t))
      if live_start[item] == t:
        start[item] = t + 1
      elif live_end[item] == t:
        end[item] = t - 1
      else:
        continue
      apart.add((t, party))
      break
  return _sweep(placement, problem.sizes, buffer, start, end,
                [(t, party, partners[(t, party)]) for t, party in sorted(apart)])


def _suspects(problem: Problem, hardware, placement: Placement) -> np.ndarray:
  """Indices of the buffers that may break a per-buffer rule, ascending.

  A vectorised pre-filter: `_buffer_conflict` decides each suspect exactly.
  """
  levels, offsets, sizes = placement.levels, placement.offsets, problem.sizes
  count = len(hardware.levels)
  valid_level = (levels >= 0) & (levels < count)
  level = np.where(valid_level, levels, 0)
  alignment = np.array([max(int(memory.alignment), 1)
                        for memory in hardware.levels] or [1], np.int64)
  capacity = np.array([_MAX_BYTES if memory.capacity is None
                       else int(memory.capacity) for memory in hardware.levels]
                      or [_MAX_BYTES], np.int64)
  fast = level > 0
  bad = ~valid_level
  bad |= (level == 0) & (offsets != -1)
  bad |= fast & ((offsets < 0) | (offsets % alignment[level] != 0)
                 | (offsets > capacity[level] - sizes))
  return np.flatnonzero(bad)


def _buffer_conflict(describe: _Describer, index: int) -> Conflict | None:
  """The first per-buffer rule that buffer `index` breaks, or None."""
  level = int(describe.placement.levels[index])
  offset = int(describe.placement.offsets[index])
  size = int(describe.problem.sizes[index])
  hardware = describe.hardware
  if not 0 <= level < len(hardware.levels):
    return Conflict("level", (index,), (
        f"{describe.buffer(index)} is in memory level {level}; "
        f"{hardware.name} has levels 0 to {len(hardware.levels) - 1}"))
  if level == 0:
    if offset != -1:
      return Conflict("offset", (index,), (
          f"{describe.buffer(index)} is in {describe.level(0)}, the default "
          f"memory, but has offset {offset}; expected -1"))
    return None
  if offset < 0:
    return Conflict("offset", (index,), (
        f"{describe.buffer(index)} is in {describe.level(level)} at the "
        f"negative offset {offset}"))
  alignment = max(int(hardware.levels[level].alignment), 1)
  if offset % alignment:
    return Conflict("alignment", (index,), (
        f"{describe.buffer(index)} is in {describe.level(level)} at offset "
        f"{offset}, not a multiple of its alignment of {alignment} bytes"))
  capacity = hardware.levels[level].capacity
  if capacity is not None and offset + size > capacity:
    return Conflict("capacity", (index,), (
        f"{describe.buffer(index)} is in {describe.level(level)} at offset "
        f"{offset} and ends at byte {offset + size}, past its capacity of "
        f"{capacity} bytes"))
  return None


def _sweep(placement: Placement, sizes: np.ndarray, item_buffer: np.ndarray,
           item_start: np.ndarray, item_end: np.ndarray,
           queries: list[tuple[int, int, set[int]]] = ()) -> tuple[int, int] | None:
  """The first overlapping pair of buffers in sweep order, with valid
  per-buffer rules.

  Buffer `item_buffer[i]` is live over `[item_start[i], item_end[i]]`
  (nothing where start > end); a buffer's items never share a step. Each
  query `(step, buffer, partners)` asks, once every item live at `step` is in
  the sweep, whether `buffer` overlaps one of them or another query's buffer
  at that step, other than its `partners`.

  Items are visited by (start, index). Those alive at the visited item's
  start (started no later in sweep order, ending at or after it) share that
  step, so as long as no overlap has been found their byte ranges are
  disjoint: each level keeps them sorted by offset, and an overlap query is a
  bisection plus a walk over the overlapping neighbours.
  """
  placed = np.flatnonzero((placement.levels[item_buffer] > 0) & (sizes[item_buffer] > 0)
                          & (item_start <= item_end))
  order = placed[np.argsort(item_start[placed], kind="stable")].tolist()
  levels, offsets = placement.levels.tolist(), placement.offsets.tolist()
  sizes, owner = sizes.tolist(), item_buffer.tolist()
  starts, ends = item_start.tolist(), item_end.tolist()
  queries = collections.deque(q for q in queries if levels[q[1]] > 0 and sizes[q[1]] > 0)
  rank = {item: position for position, item in enumerate(order)}
  active: dict[int, tuple[list[int], list[int]]] = {}  # level -> offsets, items
  expiry: list[tuple[int, int]] = []  # Heap of (end, item) of live items.

  def expire(before: int) -> None:
    while expiry and expiry[0][0] < before:
      _, gone = heapq.heappop(expiry)
      gone_offsets, gone_items = active[levels[owner[gone]]]
      position = bisect.bisect_left(gone_offsets, offsets[owner[gone]])
      del gone_offsets[position], gone_items[position]

  def hits(buffer: int) -> tuple[int, list[int]]:
    """Where `buffer` goes in its level, and the live items it overlaps."""
    level_offsets, level_items = active.setdefault(levels[buffer], ([], []))
    low, high = offsets[buffer], offsets[buffer] + sizes[buffer]
    position = bisect.bisect_left(level_offsets, high)
    found = []
    # Byte ranges of live items are disjoint, so their ends are sorted too.
    for candidate in range(position - 1, -1, -1):
      other = level_items[candidate]
      if offsets[owner[other]] + sizes[owner[other]] <= low:
        break
      found.append(other)
    return position, found

  def answer(until: int) -> tuple[int, int] | None:
    """Answers the queries of steps before `until`, in order."""
    while queries and queries[0][0] < until:
      step = queries[0][0]
      expire(step)
      batch = []
      while queries and queries[0][0] == step:
        batch.append(queries.popleft())
      for index, (_, buffer, partners) in enumerate(batch):
        found = [owner[i] for i in hits(buffer)[1] if owner[i] not in partners]
        found += [other for _, other, _ in batch[:index] if other not in partners
                  and levels[other] == levels[buffer]
                  and offsets[other] < offsets[buffer] + sizes[buffer]
                  and offsets[buffer] < offsets[other] + sizes[other]]
        if found:
          other = min(found)
          return (other, buffer) if other < buffer else (buffer, other)
    return None

  for item in order:
    buffer = owner[item]
    pair = answer(starts[item])
    if pair is not None:
      return pair
    expire(starts[item])
    position, found = hits(buffer)
    if found:
      return owner[min(found, key=rank.__getitem__)], buffer
    level_offsets, level_items = active[levels[buffer]]
    level_offsets.insert(position, offsets[buffer])
    level_items.insert(position, item)
    heapq.heappush(expiry, (ends[item], item))
  return answer(np.iinfo(np.int64).max)


class _Describer:
  """Formats buffers and levels for conflict messages."""

  def __init__(self, problem: Problem, hardware, placement: Placement):
    self.problem = problem
    self.hardware = hardware
    self.placement = placement

  def level(self, level: int) -> str:
    return f"level {level} ({self.hardware.levels[level].name})"

  def buffer(self, index: int) -> str:
    problem = self.problem
    return (f"buffer {index} {problem.buffer_names[index]!r} (size "
            f"{int(problem.sizes[index])}, live [{int(problem.starts[index])}, "
            f"{int(problem.ends[index])}])")

  def placed(self, index: int) -> str:
    offset = int(self.placement.offsets[index])
    size = int(self.problem.sizes[index])
    return (f"{self.buffer(index)} at offset {offset} (bytes [{offset}, "
            f"{offset + size}))")

  def overlap(self, first: int, second: int) -> str:
    problem, offsets = self.problem, self.placement.offsets.tolist()
    intervals = problem.buffer_intervals((first, second))
    shared = {t for a, b, t in zip(problem.share_operand.tolist(),
                                   problem.share_user.tolist(), problem.share_step.tolist())
              if {a, b} == {first, second}}
    # The first steps they share, but a step where they may share bytes.
    common = [(low + (low in shared), high - (high in shared)) for low, high in
              _intersection(intervals[first], intervals[second])]
    steps = next(((low, high) for low, high in common if low <= high), (
        max(int(problem.starts[first]), int(problem.starts[second])),
        min(int(problem.ends[first]), int(problem.ends[second]))))
    low = max(offsets[first], offsets[second])
    high = min(offsets[first] + int(problem.sizes[first]),
               offsets[second] + int(problem.sizes[second]))
    level = int(self.placement.levels[first])
    return (f"{self.placed(first)} and {self.placed(second)} overlap in "
            f"{self.level(level)} at steps [{steps[0]}, {steps[1]}], bytes "
            f"[{low}, {high})")


def _integer_array(field: str, value, dtype) -> np.ndarray:
  """A read-only 1-D copy of `value` as `dtype`, refusing lossy conversions.

  Arrays are checked by dtype and range; other sequences item by item.
  """
  array = np.asarray(value) if hasattr(value, "__array__") else None
  if array is None or array.dtype == object:
    if array is not None and array.ndim != 1:
      raise ProblemError("a 1-D array", where=field, found=array.shape)
    if not isinstance(value, (list, tuple, np.ndarray)):
      raise ProblemError("a 1-D array or a list of integers", where=field,
                         found=value)
    items = list(value)
    for index, item in enumerate(items):
      if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
        raise ProblemError("an integer", where=f"{field}[{index}]", found=item)
    array = np.array(items, dtype=object if items else np.int64)
  if array.ndim != 1:
    raise ProblemError("a 1-D array", where=field, found=array.shape)
  if array.size and array.dtype.kind not in "iuO":  # O: checked items.
    raise ProblemError("an array of integers", where=field, found=array.dtype)
  info = np.iinfo(dtype)
  for index in np.flatnonzero((array < info.min) | (array > info.max))[:1]:
    found = array[index]
    raise ProblemError(f"an integer in [{info.min}, {info.max}]",
                       where=f"{field}[{index}]",
                       found=found.item() if hasattr(found, "item") else found)
  result = array.astype(dtype)  # A copy, whatever the input's dtype.
  result.flags.writeable = False
  return result
