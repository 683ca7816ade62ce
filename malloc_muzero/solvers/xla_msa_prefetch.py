"""`xla-msa-prefetch`: XLA's memory space assignment, use by use, with its copies.

The algorithm of `AlternateMemoryBestFitHeap` in XLA's memory space
assignment (`xla/service/memory_space_assignment/algorithm.cc`), on XLA's
time model (`Hardware.time_model == "xla"`). Buffers are taken in
`xla_msa.msa_order` (memory boundedness, then size, then live range); each
buffer's uses are taken in time order, and each use is served by the first
of these that works (XLA's `AllocateSegment`):

1. **No copy.** If the buffer is in alternate memory since its last use (or
   has no allocation yet), and the time between the two is shorter than the
   picker's longest overlap (`PrefetchIntervalPicker.no_copy`), it stays
   there: at the same offset, or, for a new allocation, at the best-fitting
   chunk free for as many later no-copy uses as possible (XLA's
   `FindBestChunkCandidate`), reserved up to this use.
2. **Eviction.** If the buffer was made in alternate memory and has never
   been in default memory (or was written there), it is evicted first: an
   asynchronous copy issued after its last write, done at XLA's
   `PreferredEvictionEndTime` (the first step `preferred_ratio` copy times
   later, no later than this use), the chunk reserved until then while it
   stays free. Evictions do not consult the copy resource (XLA's last retry
   gives them none to consume, and the default is one try).
3. **Prefetch.** From default memory, a copy whose start the picker
   proposes (`PrefetchIntervalPicker.candidates`: preferred first, then
   alternating later and earlier), done before the use. A start is taken
   when the prefetch resource (`copy_resource.AsyncCopyResource`, each
   step's elapsed time) still finishes every copy in time, the optional
   limit on outstanding prefetches holds, and a best-fitting chunk is free
   from the copy's start (the alternate memory is reserved from then).
4. Otherwise the use reads default memory.

The last use keeps its allocation to the end of the live range. An
eviction that cannot be scheduled (only possible under
`max_outstanding_evictions`) puts the whole buffer back in default memory,
as XLA's uncommit does. With several fast levels, chunks are looked for in
the fastest first.

Where this differs from XLA, for the project's model of buffers:

* A buffer may be in alternate memory from its definition or, for a
  parameter, from the start of the program, as every solver here allows
  (XLA pins entry parameters and outputs to default memory and
  cross-program-prefetches one parameter).
* A buffer's segments are disjoint in time, so a prefetch starts no earlier
  than its previous allocation ends (XLA may hold a second chunk while the
  first is still live).
* No repacking and no retries (XLA's defaults: `max_repacks = 0`,
  `max_retries = 1`), no asynchronous-copy ordering constraint (default off),
  no while-loop specific limits, no sliced prefetches.

The answer is `Segments`, checked like any placement (`solve_segments`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.prefetch_picker import (MAX_RATIO, MIN_RATIO, PREFERRED_RATIO,
                                           PrefetchIntervalPicker, xla_picker)
from malloc_muzero.problem import EVICTION, PREFETCH
from malloc_muzero.segments import Segments
from malloc_muzero.solvers.copy_resource import AsyncCopyResource
from malloc_muzero.solvers.occupancy import fast_levels_by_speed, occupancies
from malloc_muzero.solvers.registry import register_segments
from malloc_muzero.solvers.xla_msa import access_costs, msa_order
from malloc_muzero.windows import refuse_copies

# Opcodes whose elapsed time offers no copy time (XLA: their bodies do).
_NO_COPY_TIME = ("while", "conditional")


@dataclasses.dataclass(frozen=True)
class MsaOptions:
  """XLA's memory space assignment options that this solver reads.

  Attributes:
    min_ratio: shortest prefetch overlap, in copy times.
    preferred_ratio: preferred prefetch (and eviction) overlap.
    max_ratio: longest overlap, in copy times of the whole alternate memory.
    max_outstanding_prefetches: at most this many prefetches in flight at
      once (None: no limit, XLA's -1).
    max_outstanding_evictions: the same for evictions.
  """
  min_ratio: float = MIN_RATIO
  preferred_ratio: float = PREFERRED_RATIO
  max_ratio: float = MAX_RATIO
  max_outstanding_prefetches: int | None = None
  max_outstanding_evictions: int | None = None


@register_segments("xla-msa-prefetch")
def xla_msa_prefetch(problem, hardware, options) -> Segments:
  del options
  return assign(problem, hardware)


def assign(problem, hardware, msa: MsaOptions = MsaOptions(),
           picker: PrefetchIntervalPicker | None = None,
           order: np.ndarray | None = None) -> Segments:
  """XLA's memory space assignment of `problem` on `hardware`.

  Args:
    problem: a problem without copies of its own.
    hardware: on XLA's time model.
    msa: the options.
    picker: the prefetch interval picker (default: `xla_picker` with the
      options' ratios).
    order: the buffers in the order to allocate them (default `msa_order`).

  Raises:
    ProblemError: the additive time model, or a problem with copies.
  """
  if hardware.time_model != "xla":
    raise ProblemError("XLA's time model (xla-msa-prefetch places copies)",
                       "command line", where="--time-model", found=hardware.time_model)
  refuse_copies(problem)
  if picker is None:
    picker = xla_picker(problem, hardware, msa.max_ratio, msa.min_ratio,
                        msa.preferred_ratio)
  if order is None:
    order = msa_order(problem, hardware)
  heap = _Heap(problem, hardware, msa, picker)
  for b in np.asarray(order).tolist():
    heap.allocate(b)
  return heap.segments()


def use_reductions(problem, hardware) -> np.ndarray:
  """[K] seconds per run that each access's instruction saves when that
  access's buffer alone is in the fastest level (XLA's
  `inst_elapsed_reduction` for a prefetch's use)."""
  _, compute, memory, slow, fast = access_costs(problem, hardware)
  reduction = np.maximum(compute, memory) - np.maximum(compute, memory - (slow - fast))
  runs = np.asarray(problem.executions, np.float64)[problem.access_instruction]
  return np.where(runs > 0, reduction / np.where(runs > 0, runs, 1.0), 0.0)


class _Heap:
  """The alternate memory and the copies as the buffers are allocated."""

  def __init__(self, problem, hardware, msa: MsaOptions, picker: PrefetchIntervalPicker):
    self.problem, self.msa, self.picker = problem, msa, picker
    self.memories = occupancies(hardware)
    self.by_speed = fast_levels_by_speed(hardware)
    initial = np.where(np.isin(np.asarray(problem.opcodes), _NO_COPY_TIME), 0.0,
                       picker.elapsed_s) if problem.num_instructions else np.zeros(0)
    self.prefetches = AsyncCopyResource(initial)
    self.copy_windows = {PREFETCH: [], EVICTION: []}  # (start, done) in flight
    self.fast = []    # (buffer, start, end, level, offset)
    self.copies = []  # (buffer, kind, start, done)
    reductions = use_reductions(problem, hardware) if problem.num_instructions else None
    # Per buffer: its uses after its start (its first step is its
    # definition), its writes, and what each use saves in alternate memory.
    self.uses, self.writes, self.reduction = {}, {}, {}
    first = np.searchsorted(problem.access_buffer, np.arange(problem.num_buffers + 1))
    for b in range(problem.num_buffers):
      rows = np.arange(first[b], first[b + 1])
      steps = problem.access_instruction[rows]
      self.uses[b] = sorted(set(steps[steps > problem.starts[b]].tolist()))
      self.writes[b] = sorted(set(steps[problem.access_bytes_written[rows] > 0].tolist()))
      for step in self.uses[b]:
        at = rows[steps == step]
        self.reduction[b, step] = float(reductions[at].sum()) if reductions is not None else 0.0

  # --- chunks ---------------------------------------------------------------

  def _best_chunk(self, size: int, start: int, ends: list[int]):
    """(level, offset) of the best-fitting chunk free over [start, e] for the
    first `e` of `ends` (longest first) that has one, fastest level first."""
    for end in ends:
      for level in self.by_speed:
        offset = self.memories[level].best_fit(size, [(start, end)])
        if offset is not None:
          return level, offset
    return None

  def _free_at(self, level: int, offset: int, size: int, start: int, end: int) -> bool:
    """Whether `size` bytes at `offset` of `level` are free over [start, end]."""
    return start > end or any(low <= offset and offset + size <= high for low, high in
                              self.memories[level].free_ranges([(start, end)]))

  def _reserve(self, b: int, level: int, offset: int, start: int, end: int) -> None:
    if start <= end:
      self.memories[level].place(int(self.problem.sizes[b]), [(start, end)], offset)

  def _outstanding_ok(self, kind: int, start: int, done: int) -> bool:
    limit = (self.msa.max_outstanding_prefetches if kind == PREFETCH
             else self.msa.max_outstanding_evictions)
    if limit is None:
      return True
    busy = sum(1 for s, d in self.copy_windows[kind] if s <= done and start <= d)
    return busy < limit

  # --- one buffer -----------------------------------------------------------

  def _no_copy_ends(self, b: int, i: int, last_end: int) -> list[int]:
    """Reservation ends to try for a chunk serving use `i` onwards: the
    latest use reachable from it without copies first (XLA's lookahead)."""
    uses = self.uses[b]
    j = i
    while j + 1 < len(uses) and self.picker.no_copy(uses[j], uses[j + 1]):
      j += 1
    return [last_end if k == len(uses) - 1 else uses[k] for k in range(j, i - 1, -1)]

  def allocate(self, b: int) -> None:
    problem, picker = self.problem, self.picker
    size, start, end = (int(problem.sizes[b]), int(problem.starts[b]), int(problem.ends[b]))
    copy_s = picker.copy_seconds(size)
    uses = self.uses[b]
    if not uses or not problem.num_instructions:
      # Nothing reads it later (or no schedule to time copies by): it stays
      # where it is made, in alternate memory if a chunk is free throughout.
      chunk = self._best_chunk(size, start, [end])
      if chunk is not None:
        self._reserve(b, *chunk, start, end)
        self.fast.append((b, start, end, *chunk))
      return
    marks = {level: memory.mark() for level, memory in self.memories.items()}
    fast, copies = [], []       # this buffer's fast segments and copies
    current = None              # index in `fast` of the allocation serving now
    default_from = None         # first step at which default memory holds it
    previous = start            # the previous use (or the definition)
    covered = start - 1         # segments decided up to this step
    for i, use in enumerate(uses):
      reserve_to = end if i == len(uses) - 1 else use
      # 1. No copy.
      if (current is not None or covered < start) and picker.no_copy(previous + 1, use):
        if current is None:
          chunk = self._best_chunk(size, start, self._no_copy_ends(b, i, end))
          if chunk is not None:
            self._reserve(b, *chunk, start, reserve_to)
            fast.append([start, reserve_to, *chunk])
            current, covered, previous = len(fast) - 1, reserve_to, use
            continue
        else:
          _, seg_end, level, offset = fast[current]
          if self._free_at(level, offset, size, seg_end + 1, reserve_to):
            self._reserve(b, level, offset, seg_end + 1, reserve_to)
            fast[current][1] = covered = reserve_to
            previous = use
            continue
      # 2. Eviction.
      if current is not None:
        seg_start, seg_end, level, offset = fast[current]
        written = any(seg_start <= w <= seg_end for w in self.writes[b])
        if default_from is None or written:
          done = self._evict(b, size, copy_s, fast[current], use, copies)
          if done is None:  # XLA's uncommit: the whole buffer to default memory.
            for level_, mark in marks.items():
              self.memories[level_].rollback(mark)
            for s, d in (c[1:] for c in copies if c[0] == PREFETCH):
              self.prefetches.remove(s - 1, d, copy_s)
            self._forget_windows(copies)
            return
          default_from, covered = done, done - 1
        current = None
      if default_from is None:
        default_from = start
      # 3. Prefetch.
      placed = self._prefetch(b, size, copy_s, max(default_from, covered, previous), use,
                              reserve_to, self._no_copy_ends(b, i, end), copies)
      if placed is not None:
        fast.append(placed)
        current, covered = len(fast) - 1, reserve_to
      # 4. Otherwise the use reads default memory.
      previous = use
    self.fast.extend((b, *segment) for segment in fast)
    self.copies.extend((b, *copy) for copy in copies)

  def _evict(self, b, size, copy_s, segment, use, copies) -> int | None:
    """Schedules the eviction of `segment` (extending it while its chunk is
    free); returns the step it is done at, or None if none can be."""
    seg_start, seg_end, level, offset = segment
    preferred = min(max(self.picker.preferred_eviction_end(copy_s, seg_start, use), seg_end),
                    use)
    reach = seg_end
    for e in range(preferred, seg_end, -1):
      if self._free_at(level, offset, size, seg_end + 1, e):
        reach = e
        break
    done = max(reach, seg_end + 1)
    last_write = max([w for w in self.writes[b] if seg_start <= w <= seg_end],
                     default=seg_start)
    issue = max(seg_start, last_write) + 1
    if not self._outstanding_ok(EVICTION, issue, done):
      # XLA then tries the shortest evictions, issued at each step in turn.
      issue = next((t for t in range(issue, seg_end + 2)
                    if self._outstanding_ok(EVICTION, t, seg_end + 1)), None)
      if issue is None:
        return None
      done = seg_end + 1
    self._reserve(b, level, offset, seg_end + 1, done - 1)
    segment[1] = done - 1
    copies.append((EVICTION, issue, done))
    self.copy_windows[EVICTION].append((issue, done))
    return done

  def _prefetch(self, b, size, copy_s, earliest, use, reserve_to, ends, copies):
    """A prefetch for `use` starting after step `earliest` or later; the new
    fast segment, or None."""
    first_free = None  # the earliest start with a free chunk until `reserve_to`
    for t in self.picker.iter_candidates(copy_s, earliest, use,
                                         self.reduction.get((b, use), 0.0)):
      if first_free is None:
        # A chunk free from t + 1 is free from any later start: find the
        # earliest such start once (by bisection), not a chunk per candidate.
        if self._best_chunk(size, use, [reserve_to]) is None:
          return None
        low, high = earliest, use - 1
        while low < high:
          middle = (low + high) // 2
          if self._best_chunk(size, middle + 1, [reserve_to]) is None:
            low = middle + 1
          else:
            high = middle
        first_free = low
      if t < first_free or not self._outstanding_ok(PREFETCH, t + 1, use):
        continue
      if not self.prefetches.fits(t, use, copy_s):
        continue
      level, offset = self._best_chunk(size, t + 1, ends)
      self._reserve(b, level, offset, t + 1, reserve_to)
      self.prefetches.add(t, use, copy_s)
      copies.append((PREFETCH, t + 1, use))
      self.copy_windows[PREFETCH].append((t + 1, use))
      return [t + 1, reserve_to, level, offset]
    return None

  def _forget_windows(self, copies) -> None:
    for kind, start, done in copies:
      self.copy_windows[kind].remove((start, done))

  # --- the answer -----------------------------------------------------------

  def segments(self) -> Segments:
    problem = self.problem
    rows = {key: [] for key in ("buffer", "start", "end", "level", "offset")}
    by_buffer: dict[int, list] = {}
    for b, start, end, level, offset in self.fast:
      by_buffer.setdefault(b, []).append((start, end, level, offset))
    for b in range(problem.num_buffers):
      step = int(problem.starts[b])
      for start, end, level, offset in sorted(by_buffer.get(b, [])):
        if start > step:
          _add_row(rows, b, step, start - 1, 0, -1)
        _add_row(rows, b, start, end, level, offset)
        step = end + 1
      if step <= problem.ends[b]:
        _add_row(rows, b, step, int(problem.ends[b]), 0, -1)
    copies = sorted(self.copies)
    return Segments(**rows, copy_buffer=[c[0] for c in copies],
                    copy_kind=[c[1] for c in copies], copy_start=[c[2] for c in copies],
                    copy_done=[c[3] for c in copies])


def _add_row(rows: dict, *values) -> None:
  for key, value in zip(rows, values):
    rows[key].append(int(value))
