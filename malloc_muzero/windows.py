"""Prefetch and eviction: a buffer in fast memory only around its uses.

XLA's memory space assignment does not keep a buffer in alternate memory for
its whole live range: between distant uses it evicts it to default memory
and prefetches it back before the next use, with asynchronous copies that
overlap compute. `split_into_windows` turns a `Problem` into one whose
"buffers" are such windows, so that every solver and the mallocGame place
windows, not whole buffers, with no change to them:

* A buffer's accesses are grouped: two consecutive accesses more than
  `min_gap` steps apart start a new group. Each group is a window, a buffer
  of the same size that may go to fast memory on its own.
* The first window starts where the buffer does (it is defined, or passed
  in, where it is placed, as in the unwindowed model). A later window starts
  `prefetch_steps` steps before its first access (not before the previous
  window ends): its prefetch, `size` bytes copied from the default memory,
  is spread over those steps (`Problem.access_bytes_copied`; on the access
  itself when there is no step before it).
* A window that writes the buffer and is followed by another ends
  `prefetch_steps` steps after its last access (not past the buffer's end):
  its eviction, `size` bytes copied back, is spread over them. The last
  window ends where the buffer does.
* Copies are paid only when the window is in fast memory. Each is recorded
  twice, once per time model (`Hardware.time_model`): as an asynchronous
  copy of the window (`Problem.copy_*`: a prefetch issued at the window's
  start and done at its first access, an eviction issued after its last
  access and done one step after its end), which XLA's model runs on the
  default memory's idle bandwidth; and spread over those steps as
  `Problem.access_bytes_copied`, which the additive model charges at
  `copy_bandwidth` to the instructions it overlaps. Windows in the default
  memory cost what the buffer's accesses cost there.

Every window pays its own prefetch, even when the window before it sat in
fast memory at the same offset: the model never keeps a buffer resident
across a gap longer than `min_gap` (windows closer than that are one
window). With `min_gap` at least the schedule length every buffer is one
window and the problem is unchanged. Problems without instructions (MiniMalloc
CSV files) have no uses to window and are returned as they are.

`Windows.buffer` maps each window back to its buffer.

The default gap, 64 steps, is the best of 8 to 128 for `xla-msa` on the
catalogue's programs at 30% and 50% of peak live bytes, and never much worse
than no windows (`scripts/sweep_windows.py`); at 10% shorter gaps pay more
(the transformer's training step: 27.7% of the gap without windows, 40.4% at
64, 54.1% at 16).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.placement import Placement
from malloc_muzero.problem import EVICTION, PREFETCH, Problem
from malloc_muzero.segments import segment_ranks

DEFAULT_MIN_GAP = 64
DEFAULT_PREFETCH_STEPS = 4


@dataclasses.dataclass(frozen=True)
class Windows:
  """A windowed problem and where its windows come from.

  Attributes:
    problem: the windowed `Problem` (one buffer per window).
    original: the problem it was made from.
    buffer: [W] int index in `original` of each window's buffer.
    min_gap: the gap (steps) above which accesses start a new window.
    prefetch_steps: steps over which a prefetch or an eviction is spread.
  """
  problem: Problem
  original: Problem
  buffer: np.ndarray
  min_gap: int
  prefetch_steps: int


def _add_copy(copies: dict[int, int], total: int, steps: list[int]) -> None:
  """Adds `total` bytes spread over `steps` to `copies` (step -> bytes), the
  remainder on the last step."""
  share, remainder = divmod(total, len(steps))
  for i, step in enumerate(steps):
    copies[step] = copies.get(step, 0) + share + (remainder if i == len(steps) - 1 else 0)


def split_into_windows(problem: Problem, min_gap: int = DEFAULT_MIN_GAP,
                       prefetch_steps: int = DEFAULT_PREFETCH_STEPS,
                       picker=None) -> Windows:
  """The problem with each buffer split into windows around its uses.

  Args:
    problem: any problem; without instructions it is returned unchanged.
    min_gap: consecutive accesses further apart than this many steps go to
      different windows (>= 1).
    prefetch_steps: steps before a window's first access over which its
      prefetch is spread, and after its last over which an eviction is
      (>= 0; 0 puts each copy on the access itself).
    picker: a `malloc_muzero.prefetch_picker.PrefetchIntervalPicker` (see
      `prefetch_picker.xla_picker`), or None. With it a later window starts
      where XLA's picker prefers its prefetch to (`prefetch_steps` before
      its first access when the picker finds no room).

  Raises:
    ProblemError: a bad `min_gap` or `prefetch_steps`.
  """
  if isinstance(min_gap, bool) or not isinstance(min_gap, (int, np.integer)) or min_gap < 1:
    raise ProblemError("an integer >= 1", where="min_gap", found=min_gap)
  if (isinstance(prefetch_steps, bool) or not isinstance(prefetch_steps, (int, np.integer))
      or prefetch_steps < 0):
    raise ProblemError("an integer >= 0", where="prefetch_steps", found=prefetch_steps)
  refuse_copies(problem)
  if not problem.num_instructions:
    return Windows(problem, problem, np.arange(problem.num_buffers), min_gap,
                   prefetch_steps)
  buffers, accesses, async_copies = _collectors()

  first_access = np.searchsorted(problem.access_buffer, np.arange(problem.num_buffers + 1))
  for b in range(problem.num_buffers):
    rows = range(first_access[b], first_access[b + 1])
    groups = [[rows[i] for i in group] for group in
              _groups([int(problem.access_instruction[k]) for k in rows], min_gap)]
    start, end = int(problem.starts[b]), int(problem.ends[b])
    size = int(problem.sizes[b])
    if not groups:  # A buffer nothing accesses: one window, as it is.
      _add_window(buffers, accesses, problem, b, problem.buffer_names[b], start, end, [],
                  {})
      continue
    previous_end, evicted = start - 1, False
    for g, group in enumerate(groups):
      uses = [int(problem.access_instruction[k]) for k in group]
      copies: dict[int, int] = {}
      if g == 0:
        window_start = start
      else:
        window_start = max(previous_end + 1, uses[0] - prefetch_steps)
        if picker is not None:
          # XLA's start times are exclusive: a copy started after step t
          # overlaps t + 1 .. use - 1, as one issued before t + 1 does here.
          chosen = picker.preferred(picker.copy_seconds(size), previous_end, uses[0])
          window_start = window_start if chosen is None else chosen + 1
        _add_copy(copies, size, list(range(window_start, uses[0])) or [uses[0]])
        # A prefetch may start once the window before has ended, and after
        # the step its eviction is done at (it reads what the eviction wrote).
        earliest = min(previous_end + (2 if evicted else 1), window_start)
        _add_async_copy(async_copies, len(buffers["names"]), PREFETCH, window_start, uses[0],
                        earliest=earliest)
      writes = any(problem.access_bytes_written[k] > 0 for k in group)
      evicted = False
      if g == len(groups) - 1:
        window_end = end
      else:
        next_use = int(problem.access_instruction[groups[g + 1][0]])
        window_end = uses[-1]
        if writes:
          window_end = min(uses[-1] + prefetch_steps, end, next_use - 1)
          _add_copy(copies, size, list(range(uses[-1] + 1, window_end + 1)) or [uses[-1]])
          _add_async_copy(async_copies, len(buffers["names"]), EVICTION, uses[-1] + 1,
                          window_end + 1)
          evicted = True
      name = problem.buffer_names[b] if len(groups) == 1 else f"{problem.buffer_names[b]}@{g}"
      _add_window(buffers, accesses, problem, b, name, window_start, window_end, group,
                  copies)
      previous_end = window_end
  windowed = _windowed_problem(problem, buffers, accesses, async_copies, {
      "min_gap": int(min_gap), "prefetch_steps": int(prefetch_steps),
      **({"prefetch_timing": "xla"} if picker is not None else {})})
  return Windows(windowed, problem, np.asarray(buffers["of"], np.int64), min_gap,
                 prefetch_steps)


def refuse_copies(problem: Problem) -> None:
  """ProblemError for a problem that has copies of its own (windowed already)."""
  if len(problem.copy_buffer) or problem.access_bytes_copied.any():
    raise ProblemError("a problem without copies (it is windowed already)",
                       where="problem", found=problem.name)


def _collectors() -> tuple[dict, dict, dict]:
  """Empty columns of windows, of their accesses and of their copies."""
  return ({key: [] for key in ("names", "sizes", "starts", "ends", "kinds", "values", "of")},
          {key: [] for key in ("buffer", "instruction", "read", "written", "copied")},
          {key: [] for key in ("buffer", "kind", "start", "done", "earliest")})


def _add_async_copy(async_copies: dict, window: int, kind: int, start: int,
                    done: int, earliest: int | None = None) -> None:
  """Adds a copy; `earliest`: the earliest start of a movable prefetch
  (`Problem.copy_earliest`; None: fixed at `start`)."""
  for key, value in zip(async_copies, (window, kind, start, done,
                                       start if earliest is None else earliest)):
    async_copies[key].append(value)


def _windowed_problem(problem: Problem, buffers: dict, accesses: dict, async_copies: dict,
                      settings: dict) -> Problem:
  """The problem of the windows collected in `buffers`, `accesses` and
  `async_copies`; `settings` go to its `source["windows"]`."""
  return Problem(
      name=problem.name, buffer_names=tuple(buffers["names"]), sizes=buffers["sizes"],
      starts=buffers["starts"], ends=buffers["ends"], buffer_kinds=tuple(buffers["kinds"]),
      instruction_names=problem.instruction_names, opcodes=problem.opcodes,
      flops=problem.flops, transcendentals=problem.transcendentals,
      bytes_accessed=problem.bytes_accessed, executions=problem.executions,
      access_buffer=np.asarray(accesses["buffer"], np.int64),
      access_instruction=np.asarray(accesses["instruction"], np.int64),
      access_bytes_read=np.asarray(accesses["read"], np.int64),
      access_bytes_written=np.asarray(accesses["written"], np.int64),
      access_bytes_copied=np.asarray(accesses["copied"], np.int64),
      copy_buffer=async_copies["buffer"], copy_kind=async_copies["kind"],
      copy_start=async_copies["start"], copy_done=async_copies["done"],
      copy_earliest=async_copies["earliest"], schedule_length=problem.schedule_length,
      source={**problem.source, "windows": settings},
      buffer_values=tuple(buffers["values"]) if problem.buffer_values else ())


def _groups(uses: list[int], min_gap: int) -> list[list[int]]:
  """Positions of `uses` (sorted steps) grouped where gaps exceed `min_gap`."""
  groups: list[list[int]] = []
  for i, use in enumerate(uses):
    if not groups or use - uses[i - 1] > min_gap:
      groups.append([])
    groups[-1].append(i)
  return groups


def _add_window(buffers: dict, accesses: dict, problem: Problem, b: int, name: str,
                start: int, end: int, group: list[int], copies: dict[int, int]) -> None:
  window = len(buffers["names"])
  buffers["names"].append(name)
  buffers["sizes"].append(int(problem.sizes[b]))
  buffers["starts"].append(start)
  buffers["ends"].append(end)
  buffers["kinds"].append(problem.buffer_kinds[b])
  buffers["values"].append(problem.buffer_values[b] if problem.buffer_values else ())
  buffers["of"].append(b)
  rows = {int(problem.access_instruction[k]): k for k in group}
  for step in sorted(set(rows) | set(copies)):
    k = rows.get(step)
    accesses["buffer"].append(window)
    accesses["instruction"].append(step)
    accesses["read"].append(int(problem.access_bytes_read[k]) if k is not None else 0)
    accesses["written"].append(int(problem.access_bytes_written[k]) if k is not None else 0)
    accesses["copied"].append(copies.get(step, 0))


def from_segments(problem: Problem, segments) -> tuple[Windows, "Placement"]:
  """The windows that `segments` cut `problem`'s buffers into, and the
  placement of those windows that the segments are.

  Each segment becomes a window over its range, with the buffer's accesses
  in it, in whatever level the placement then puts it. A window's copies are
  those the segment rules ask of it in a fast level: each window but a
  buffer's first is prefetched, issued at its start and done at its first
  access (at its end + 1 if it has none); each window but the last is
  evicted when it is the first (the buffer is made there) or it writes, issued
  after its last write (after its start if none) and done at its end + 1.
  (On the additive model each copy's bytes are charged to one step it
  overlaps, `Problem.access_bytes_copied`.) These are the copies XLA's
  memory space assignment gives its own segments
  (`solvers.xla_msa_prefetch`), so the returned placement takes exactly their
  time; another placement of the windows drops some of those pieces to the
  default memory, or moves others up, each with its copies.

  Args:
    problem: a problem without copies.
    segments: `malloc_muzero.segments.Segments` of its buffers.

  Raises:
    ProblemError: a problem with copies.
  """
  refuse_copies(problem)
  buffers, accesses, async_copies = _collectors()
  first_access = np.searchsorted(problem.access_buffer, np.arange(problem.num_buffers + 1))
  order = np.lexsort((segments.start, segments.buffer))
  count, rank = segment_ranks(segments.buffer[order], problem.num_buffers)
  for i, s in enumerate(order.tolist()):
    b, k = int(segments.buffer[s]), int(rank[i])
    start, end = int(segments.start[s]), int(segments.end[s])
    size = int(problem.sizes[b])
    rows = [r for r in range(first_access[b], first_access[b + 1])
            if start <= problem.access_instruction[r] <= end]
    steps = [int(problem.access_instruction[r]) for r in rows]
    writes = [int(problem.access_instruction[r]) for r in rows
              if problem.access_bytes_written[r] > 0]
    window = len(buffers["names"])
    copies: dict[int, int] = {}
    # On the additive model a copy's bytes go to one step it overlaps (not
    # spread: XLA's cut has long copies, and a row per step would swamp the
    # accesses); XLA's model times the copy itself (`copy_*`).
    if k > 0:
      done = steps[0] if steps else end + 1
      _add_copy(copies, size, [max(start, min(done, end + 1) - 1)])
      _add_async_copy(async_copies, window, PREFETCH, start, done)
    if k < count[b] - 1 and (k == 0 or writes):
      issue = (max(writes) if writes else start) + 1
      _add_copy(copies, size, [min(issue, end)])
      _add_async_copy(async_copies, window, EVICTION, issue, end + 1)
    name = problem.buffer_names[b] + (f"@{k}" if count[b] > 1 else "")
    _add_window(buffers, accesses, problem, b, name, start, end, rows, copies)
  windowed = _windowed_problem(problem, buffers, accesses, async_copies, {"cut": "segments"})
  placement = Placement(levels=segments.level[order],
                        offsets=np.where(segments.level[order] > 0, segments.offset[order], -1))
  return Windows(windowed, problem, segments.buffer[order].astype(np.int64), 0, 0), placement


def latest_starts(problem: Problem) -> np.ndarray:
  """[C] the latest step before which each copy may be issued: for a prefetch
  that starts its window (`Problem.copy_earliest`), its done step, no later
  than its window's end, its first read or write, or the start of another
  copy of its window; for other copies their own start."""
  buffer = problem.copy_buffer
  movable = (problem.copy_kind == PREFETCH) & (problem.copy_start == problem.starts[buffer])
  latest = np.minimum(problem.copy_done, problem.ends[buffer]).astype(np.int64)
  used = (problem.access_bytes_read > 0) | (problem.access_bytes_written > 0)
  first_use = np.full(problem.num_buffers, np.iinfo(np.int64).max)
  np.minimum.at(first_use, problem.access_buffer[used], problem.access_instruction[used])
  latest = np.minimum(latest, first_use[buffer])
  # The earliest start among the other copies of the same window: the first
  # of the window's copies in start order, or the second for that first.
  order = np.lexsort((problem.copy_start, buffer))
  leads = np.ones(len(order), bool)
  leads[1:] = buffer[order][1:] != buffer[order][:-1]
  first = np.flatnonzero(leads)
  last = np.append(first[1:], len(order))
  group = np.cumsum(leads) - 1
  in_order = problem.copy_start[order].astype(np.int64)
  lowest = in_order[first]
  second = np.where(last - first > 1, in_order[np.minimum(first + 1, len(order) - 1)],
                    np.iinfo(np.int64).max)
  others = np.empty(len(order), np.int64)
  others[order] = np.where(np.arange(len(order)) == first[group], second[group], lowest[group])
  latest = np.minimum(latest, others)
  return np.where(movable, np.maximum(latest, problem.copy_start), problem.copy_start)


def retime(problem: Problem, copy_start) -> Problem:
  """The problem with its prefetches issued before `copy_start` ([C] steps).

  A prefetch that moves takes its window's start with it; each must stay in
  `[copy_earliest, latest_starts]` (other copies keep their start). Bytes
  the additive model charges to the window's steps before its new start
  (`access_bytes_copied`) move to the new start.

  Raises:
    ProblemError: a start out of its range, naming the copy.
  """
  copy_start = np.asarray(copy_start, np.int64).reshape(-1)
  if copy_start.shape != problem.copy_start.shape:
    raise ProblemError(f"{len(problem.copy_start)} copy starts, one per copy",
                       where="copy_start", found=len(copy_start))
  latest = latest_starts(problem)
  bad = np.flatnonzero((copy_start < problem.copy_earliest) | (copy_start > latest))
  if len(bad):
    c = int(bad[0])
    raise ProblemError(f"a start in [{problem.copy_earliest[c]}, {latest[c]}]",
                       where=f"copy_start[{c}]", found=int(copy_start[c]))
  moved = np.flatnonzero(copy_start != problem.copy_start)
  if not len(moved):
    return problem
  starts = problem.starts.astype(np.int64)
  starts[problem.copy_buffer[moved]] = copy_start[moved]
  # Copy-only accesses before a window's new start move onto it.
  buffer = problem.access_buffer
  instruction = np.maximum(problem.access_instruction, starts[buffer])
  keys, inverse = np.unique(np.stack([buffer, instruction]), axis=1, return_inverse=True)
  inverse = inverse.reshape(-1)

  def merged(values):
    total = np.zeros(keys.shape[1], np.int64)
    np.add.at(total, inverse, values)
    return total

  return dataclasses.replace(
      problem, starts=starts, copy_start=copy_start,
      access_buffer=keys[0], access_instruction=keys[1],
      access_bytes_read=merged(problem.access_bytes_read),
      access_bytes_written=merged(problem.access_bytes_written),
      access_bytes_copied=merged(problem.access_bytes_copied))
