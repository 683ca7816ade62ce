"""A placement as XLA writes one: allocation segments per buffer, and copies.

A whole-buffer placement gives each buffer one level for its whole live
range. A placement of windows (`malloc_muzero.windows`) gives each buffer
several: it lives in fast memory around some uses and in the default memory
between them, with prefetches and evictions moving it. `Segments` says that
in terms of the original problem, as the placement JSON (version 3) records
it:

* each buffer has one or more segments `(start, end, level, offset)`; their
  inclusive ranges are disjoint and together cover the buffer's live range;
  an access at step `t` is served by the level of the segment holding `t`;
* each copy `(kind, start, done)` moves the whole buffer: a prefetch fills
  the fast segment that begins at its `start` (reserved from then on) and no
  access of the buffer falls in `[start, done)`; an eviction empties the fast
  segment that ends at `done - 1` and starts after that segment's last
  write. Copies are issued just before instruction `start` and are through
  before instruction `done` runs; `start <= done` (equal: a copy that
  overlaps nothing, all of it a stall).

`segment_problem` turns a problem and its segments into a problem whose
buffers are the segments, with their accesses and copies, and the matching
whole-buffer `Placement`: the checker (`check_placement`) and the simulator
then judge a segmented placement exactly as they judge any other.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.placement import Placement
from malloc_muzero.problem import EVICTION, PREFETCH, Problem


@dataclasses.dataclass(frozen=True)
class Segments:
  """Segments and copies of a problem's buffers.

  Attributes:
    buffer: [S] int buffer of each segment, segments of a buffer in order of
      start.
    start: [S] int first step of each segment (inclusive).
    end: [S] int last step (inclusive).
    level: [S] int memory level (0: the default memory).
    offset: [S] int byte offset in a fast level; -1 in level 0.
    copy_buffer: [C] int buffer of each copy.
    copy_kind: [C] int `PREFETCH` or `EVICTION`.
    copy_start: [C] int step before which it is issued.
    copy_done: [C] int step before which it is through.
  """
  buffer: np.ndarray
  start: np.ndarray
  end: np.ndarray
  level: np.ndarray
  offset: np.ndarray
  copy_buffer: np.ndarray
  copy_kind: np.ndarray
  copy_start: np.ndarray
  copy_done: np.ndarray

  def __post_init__(self):
    for field in dataclasses.fields(self):
      object.__setattr__(self, field.name,
                         np.asarray(getattr(self, field.name), np.int64).reshape(-1))

  @property
  def whole(self) -> bool:
    """True when each buffer has one segment and nothing is copied."""
    return (len(np.unique(self.buffer)) == len(self.buffer)
            and not len(self.copy_buffer))


def whole_buffers(problem: Problem, placement: Placement) -> Segments:
  """One segment per buffer, over its live range; the problem's own copies
  (those of buffers outside the default memory)."""
  placed = placement.levels[problem.copy_buffer] > 0
  return Segments(
      buffer=np.arange(problem.num_buffers), start=problem.starts, end=problem.ends,
      level=placement.levels, offset=np.where(placement.levels > 0, placement.offsets, -1),
      copy_buffer=problem.copy_buffer[placed], copy_kind=problem.copy_kind[placed],
      copy_start=problem.copy_start[placed], copy_done=problem.copy_done[placed])


def from_windows(windows, placement: Placement) -> Segments:
  """The segments of `windows.original`'s buffers that a placement of
  `windows.problem` (its windows) gives: each window in a fast level is a
  fast segment; the rest of each live range, windows in the default memory
  and the steps between windows, default-memory segments."""
  original, windowed = windows.original, windows.problem
  placement.check_matches(windowed)
  rows = {key: [] for key in ("buffer", "start", "end", "level", "offset")}

  def add(buffer, start, end, level, offset):
    if rows["buffer"] and rows["buffer"][-1] == buffer and level == 0 == rows["level"][-1] \
        and rows["end"][-1] + 1 == start:
      rows["end"][-1] = end  # Default-memory stretches merge.
      return
    for key, value in zip(rows, (buffer, start, end, level, offset)):
      rows[key].append(int(value))

  of = np.asarray(windows.buffer)
  for b in range(original.num_buffers):
    step = int(original.starts[b])
    for w in np.flatnonzero(of == b):
      start, end = int(windowed.starts[w]), int(windowed.ends[w])
      level = int(placement.levels[w])
      if start > step:
        add(b, step, start - 1, 0, -1)
      add(b, start, end, level, int(placement.offsets[w]) if level else -1)
      step = end + 1
    if step <= original.ends[b]:
      add(b, step, int(original.ends[b]), 0, -1)
  placed = placement.levels[windowed.copy_buffer] > 0
  return Segments(**rows, copy_buffer=of[windowed.copy_buffer[placed]],
                  copy_kind=windowed.copy_kind[placed],
                  copy_start=windowed.copy_start[placed],
                  copy_done=windowed.copy_done[placed])


def check_segments(problem: Problem, segments: Segments) -> str | None:
  """The first broken rule of the module docstring, or None.

  Segment ranges and copy timing only; bytes, capacity and alignment are
  `check_placement`'s, on `segment_problem`'s problem.
  """
  n = problem.num_buffers
  if len(segments.buffer) and not ((segments.buffer >= 0) & (segments.buffer < n)).all():
    return f"a segment of a buffer outside [0, {n})"
  for b in range(n):
    mine = np.flatnonzero(segments.buffer == b)
    name = problem.buffer_names[b]
    if not len(mine):
      return f"buffer {name!r} has no segment"
    starts, ends = segments.start[mine], segments.end[mine]
    if (ends < starts).any():
      return f"buffer {name!r} has a segment that ends before it starts"
    if starts[0] != problem.starts[b] or ends[-1] != problem.ends[b] or \
        (starts[1:] != ends[:-1] + 1).any():
      return (f"the segments of buffer {name!r} do not cover its live range "
              f"[{int(problem.starts[b])}, {int(problem.ends[b])}] in order, "
              "without gaps or overlaps")
  for c in range(len(segments.copy_buffer)):
    problem_ = _copy_rule(problem, segments, c)
    if problem_:
      return problem_
  return None


def _copy_rule(problem: Problem, segments: Segments, c: int) -> str | None:
  b, kind = int(segments.copy_buffer[c]), int(segments.copy_kind[c])
  start, done = int(segments.copy_start[c]), int(segments.copy_done[c])
  if not 0 <= b < problem.num_buffers or kind not in (PREFETCH, EVICTION):
    return f"copy {c} names no buffer or no kind"
  name = problem.buffer_names[b]
  if start > done:
    return f"copy {c} of {name!r} is done ({done}) before it starts ({start})"
  mine = segments.buffer == b
  fast = mine & (segments.level > 0)
  steps = problem.access_instruction[problem.access_buffer == b]
  if kind == PREFETCH:
    if not (fast & (segments.start == start)).any():
      return f"prefetch {c} of {name!r} starts at {start}, where no fast segment begins"
    if ((steps >= start) & (steps < done)).any():
      return f"prefetch {c} of {name!r} is not through before an access in [{start}, {done})"
    return None
  segment = np.flatnonzero(fast & (segments.end == done - 1))
  if not len(segment):
    return f"eviction {c} of {name!r} is done at {done}, where no fast segment ends"
  written = problem.access_bytes_written[problem.access_buffer == b] > 0
  s = segment[0]
  writes = steps[written & (steps >= segments.start[s]) & (steps <= segments.end[s])]
  if len(writes) and start <= writes.max():
    return f"eviction {c} of {name!r} starts at {start}, before the write at {int(writes.max())}"
  return None


def segment_ranks(buffer: np.ndarray, num_buffers: int) -> tuple[np.ndarray, np.ndarray]:
  """([N] segments of each buffer, [S] place of each segment among its
  buffer's, in the order `buffer` lists them) for a column of buffers."""
  buffer = np.asarray(buffer, np.int64)
  count = np.bincount(buffer, minlength=num_buffers)
  rank = np.zeros(len(buffer), np.int64)
  for b in np.flatnonzero(count > 1):
    rank[buffer == b] = np.arange(count[b])
  return count, rank


def segment_problem(problem: Problem, segments: Segments) -> tuple[Problem, Placement]:
  """The problem whose buffers are `segments`, and its placement.

  A segment takes its buffer's name (with `@k` for the k-th of several), size
  and kind, the buffer's accesses within its range, and the copies that fill
  or empty it. Call `check_segments` first: a copy that fits no segment is
  an error here.

  Raises:
    ProblemError: a copy that no segment of its buffer can carry.
  """
  count, rank = segment_ranks(segments.buffer, problem.num_buffers)
  names = tuple(problem.buffer_names[b] + (f"@{k}" if count[b] > 1 else "")
                for b, k in zip(segments.buffer.tolist(), rank.tolist()))
  # Each access goes to the segment of its buffer that holds its step.
  order = np.lexsort((segments.start, segments.buffer))
  keys = segments.buffer[order] * (problem.schedule_length + 1) + segments.start[order]
  access_keys = (problem.access_buffer.astype(np.int64) * (problem.schedule_length + 1)
                 + problem.access_instruction)
  access_segment = order[np.searchsorted(keys, access_keys, side="right") - 1]
  copy_segment = []
  for c in range(len(segments.copy_buffer)):
    b, start, done = segments.copy_buffer[c], segments.copy_start[c], segments.copy_done[c]
    at = (segments.start == start) if segments.copy_kind[c] == PREFETCH else \
        (segments.end == done - 1)
    match = np.flatnonzero((segments.buffer == b) & (segments.level > 0) & at)
    if not len(match):
      raise ProblemError("a fast segment for each copy (check_segments first)",
                         where=f"copies[{c}]", found=problem.buffer_names[b])
    copy_segment.append(int(match[0]))
  derived = Problem(
      name=problem.name, buffer_names=names, sizes=problem.sizes[segments.buffer],
      starts=segments.start, ends=segments.end,
      buffer_kinds=tuple(problem.buffer_kinds[b] for b in segments.buffer.tolist()),
      instruction_names=problem.instruction_names, opcodes=problem.opcodes,
      flops=problem.flops, transcendentals=problem.transcendentals,
      bytes_accessed=problem.bytes_accessed, executions=problem.executions,
      access_buffer=access_segment, access_instruction=problem.access_instruction,
      access_bytes_read=problem.access_bytes_read,
      access_bytes_written=problem.access_bytes_written,
      copy_buffer=np.asarray(copy_segment, np.int64), copy_kind=segments.copy_kind,
      copy_start=segments.copy_start, copy_done=segments.copy_done,
      schedule_length=problem.schedule_length, source=problem.source,
      buffer_values=(tuple(problem.buffer_values[b] for b in segments.buffer.tolist())
                     if problem.buffer_values else ()))
  return _with_values(derived, problem, segments), Placement(levels=segments.level,
                                                             offsets=segments.offset)


def _with_values(derived: Problem, problem: Problem, segments: Segments) -> Problem:
  """`derived` with `problem`'s per-value intervals and shares when the
  segments are its whole buffers over their whole ranges (else without:
  stricter), so that a whole-buffer placement is checked as on `problem`."""
  if not (segments.whole and len(segments.buffer) == problem.num_buffers
          and (segments.start == problem.starts[segments.buffer]).all()
          and (segments.end == problem.ends[segments.buffer]).all()):
    return derived
  position = np.empty(problem.num_buffers, np.int64)
  position[segments.buffer] = np.arange(len(segments.buffer))
  moved = position[problem.interval_buffer]
  order = np.argsort(moved, kind="stable")
  return dataclasses.replace(
      derived, interval_buffer=moved[order], interval_start=problem.interval_start[order],
      interval_end=problem.interval_end[order],
      share_operand=position[problem.share_operand], share_user=position[problem.share_user],
      share_step=problem.share_step)
