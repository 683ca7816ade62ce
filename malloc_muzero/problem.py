"""The buffer-assignment instance: buffers, their live ranges and accesses.

A `Problem` is what every solver, the simulator and the mallocGame read. It
comes from HLO (`hlo_tools`), from a MiniMalloc CSV (`minimalloc_csv`) or from a
generator (`Problem.from_arrays`), and is saved as a versioned JSON file:

  {"format": "malloc_muzero.problem", "version": 1, "name": ...,
   "source": {...}, "schedule_length": T,
   "buffers": [{"name", "size", "start", "end", "kind", "values": [...],
                "accesses": [[instruction, bytes_read, bytes_written], ...]}],
   "instructions": [{"name", "opcode", "flops", "transcendentals",
                     "bytes_accessed"}]}

Live ranges are inclusive `[start, end]` on the flattened schedule, the
convention of XLA's `-live-range.txt` dump. Instruction `j` runs at schedule
step `j`.

Version 2 adds an optional fourth number to an access, `bytes_copied`: bytes
an asynchronous copy moves between the default memory and the buffer's level
during that instruction, paid only when the buffer is not in the default
memory (the prefetches and evictions of a buffer split into windows, see
`malloc_muzero.windows`). Version 3 adds an optional `executions` to an
instruction: how many times it runs in one run of the program (a loop body's
trip count, a conditional branch's share; default 1), and an optional
`copies` to a buffer: `[[kind, start, done], ...]`, the asynchronous copies
("prefetch" or "eviction" of the buffer's whole size) that come with the
buffer when it is placed outside the default memory (see `copy_buffer`).
Version 4 gives a prefetch that may be issued earlier than `start` a fourth
entry, its earliest start (`copy_earliest`). Version 5 adds an optional
`intervals` to a buffer: `[[start, end], ...]`, the steps it reserves memory
over when its values leave gaps in `[start, end]` (a while loop's or a
conditional's buffer, see `interval_buffer`), and an optional top-level
`shares`: `[[operand, user, step], ...]`, buffers that XLA may put at the
same bytes at one step (an operand's slot taken by its user, see
`share_operand`). A file is written at the oldest version that holds it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator

import numpy as np

from malloc_muzero.atomic_file import atomic_write_pieces
from malloc_muzero.errors import ProblemError
from malloc_muzero.formatting import format_bytes, format_count
from malloc_muzero.json_file import JsonReader, JsonRows, json_pieces, read_json_file

FORMAT = "malloc_muzero.problem"
VERSION = 5
BUFFER_KINDS = ("parameter", "output", "constant", "temporary",
                "parameter+output")

_MAX_STEPS = np.iinfo(np.int32).max  # Schedule steps are int32.
_MAX_BYTES = np.iinfo(np.int64).max  # Live bytes are int64.


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
  """A buffer-assignment instance: N buffers over a schedule of T steps.

  Construction converts every array to the dtype below (read-only copies) and
  validates the instance, raising `ProblemError` naming the offending field and
  index. Accesses are stored sorted by (buffer, instruction), at most one per
  pair; `buffer_values` of all-empty tuples is stored as `()`.

  Attributes:
    name: the instance's name.
    buffer_names: [N] unique names; XLA's "instr{index}" form for HLO problems.
    sizes: [N] int64 bytes, >= 0, adding up to at most 2**63 - 1.
    starts: [N] int32 first schedule step of each live range (inclusive).
    ends: [N] int32 last schedule step of each live range (inclusive),
      start <= end < schedule_length.
    buffer_kinds: [N] each one of `BUFFER_KINDS`.
    instruction_names: [M] unique names, one per schedule step: M is T, or 0
      when the instructions are unknown (CSV and synthetic problems).
    opcodes: [M] HLO opcodes.
    flops: [M] float64 floating-point operations of each instruction.
    transcendentals: [M] float64 transcendental operations.
    bytes_accessed: [M] float64 bytes each instruction moves, as XLA's cost
      analysis counts them.
    executions: [M] float64 times each instruction runs in one run of the
      program (>= 0; a loop body's trip count, 1/n for each of a
      conditional's n branches; default all 1). Flops, bytes and time are
      per execution; totals and the simulator weight them by it.
    copy_buffer: [C] int32 buffer of each asynchronous copy that comes with
      a buffer placed outside the default memory (XLA's time model; default
      none): a prefetch fills it from the default memory, an eviction
      empties it back (`malloc_muzero.windows` makes them).
    copy_kind: [C] int32 `PREFETCH` (0) or `EVICTION` (1).
    copy_start: [C] int32 step before which the copy is issued.
    copy_done: [C] int32 step before which it must have finished,
      copy_start <= copy_done <= schedule_length (schedule_length: by the
      end of the program). A prefetch starts at or after its buffer's start;
      an eviction is done at most one step after its buffer's end.
    copy_earliest: [C] int32 earliest step before which a prefetch may be
      issued (default: its `copy_start`, a fixed prefetch). A prefetch that
      starts its buffer (`copy_start == starts[buffer]`, as every window's
      does) may be retimed (`malloc_muzero.windows.retime`) to any step from
      `copy_earliest` to its latest start (`windows.latest_starts`), its
      buffer's start moving with it: prefetching early hides the copy but
      holds the fast memory longer. An eviction's is its `copy_start`.
    access_buffer: [K] int32 buffer of each access.
    access_instruction: [K] int32 instruction (= schedule step) of each access.
    access_bytes_read: [K] int64 bytes the instruction reads from the buffer.
    access_bytes_written: [K] int64 bytes the instruction writes to the buffer.
    access_bytes_copied: [K] int64 bytes copied between the default memory
      and the buffer's level at the access's instruction, paid only when the
      buffer is in a fast level (0 for ordinary accesses; default all 0).
    schedule_length: T, the number of schedule steps (>= max end + 1).
    source: JSON-serialisable provenance with a string "kind" ("hlo",
      "minimalloc", "synthetic") and e.g. "file", "module", "capacity".
    buffer_values: [N] per buffer, the names of the HloValues it merges; `()`
      when unknown.
    interval_buffer: [I] int32 buffer of each live interval of a buffer whose
      values leave gaps in its `[start, end]` (default none: every buffer is
      live over its whole range). Such a buffer keeps one offset but holds
      its memory only over its intervals, as XLA's buffer assignment does;
      its intervals are sorted, separated by at least one step, and span
      exactly `[start, end]`.
    interval_start: [I] int32 first step of each interval (inclusive).
    interval_end: [I] int32 last step of each interval (inclusive).
    share_operand: [S] int32 buffer whose slot, at `share_step`, its user
      `share_user` may take (default none): XLA's operand-slot reuse
      (`hlo_tools.sharing`). The two buffers' live intervals meet at that step
      only, and the user is no larger than the operand, so the pair may take
      the same bytes there. A buffer is the operand of at most one share at
      each step; a user may have several operands there (it may take the
      bytes of any of them: which one XLA picks depends on its assignment
      order).
    share_user: [S] int32 the buffer defined at `share_step` that may take
      the operand's slot.
    share_step: [S] int32 the step where the operand's last interval ends
      and the user's first begins.

  The checker (`malloc_muzero.placement.check_placement`), `exact`, brute
  force, `first-fit`, `best-fit` and `random` honour intervals and shares
  (`solvers.occupancy.reserved_spans`), and so does the game's legal mask
  (`game.taken_slots`), and with it the agent, `anneal` and `genetic`
  (exactly for buffers of at most two values). `xla-msa`, `xla-msa-prefetch`
  and `pack` keep buffers apart over their whole ranges (valid, not as tight
  as XLA's buffer assignment).
  """
  name: str
  buffer_names: tuple[str, ...]
  sizes: np.ndarray
  starts: np.ndarray
  ends: np.ndarray
  buffer_kinds: tuple[str, ...]
  instruction_names: tuple[str, ...]
  opcodes: tuple[str, ...]
  flops: np.ndarray
  transcendentals: np.ndarray
  bytes_accessed: np.ndarray
  access_buffer: np.ndarray
  access_instruction: np.ndarray
  access_bytes_read: np.ndarray
  access_bytes_written: np.ndarray
  schedule_length: int
  source: dict
  buffer_values: tuple[tuple[str, ...], ...] = ()
  access_bytes_copied: np.ndarray = ()
  executions: np.ndarray = ()
  copy_buffer: np.ndarray = ()
  copy_kind: np.ndarray = ()
  copy_start: np.ndarray = ()
  copy_done: np.ndarray = ()
  copy_earliest: np.ndarray = ()
  interval_buffer: np.ndarray = ()
  interval_start: np.ndarray = ()
  interval_end: np.ndarray = ()
  share_operand: np.ndarray = ()
  share_user: np.ndarray = ()
  share_step: np.ndarray = ()

  def __post_init__(self):
    self._normalise_fields()
    self._check_lengths()
    self._check_ranges()
    _check_unique("buffer_names", self.buffer_names)
    _check_unique("instruction_names", self.instruction_names)
    self._sort_accesses()

  def _set(self, field: str, value) -> None:
    object.__setattr__(self, field, value)

  def _normalise_fields(self) -> None:
    if not isinstance(self.name, str):
      raise ProblemError("a string", where="name", found=self.name)
    self._set("source", _normalise_source(self.source))
    steps = _integer("schedule_length", self.schedule_length)
    if not 0 <= steps <= _MAX_STEPS:
      raise ProblemError(f"an integer in [0, {_MAX_STEPS}]",
                         where="schedule_length", found=steps)
    self._set("schedule_length", steps)
    for field in ("buffer_names", "buffer_kinds", "instruction_names",
                  "opcodes"):
      self._set(field, _strings(field, getattr(self, field)))
    self._set("buffer_values", _buffer_values(self.buffer_values))
    if not len(self.access_bytes_copied):
      self._set("access_bytes_copied", np.zeros(len(self.access_buffer), np.int64))
    if not len(self.executions):
      self._set("executions", np.ones(len(self.instruction_names)))
    if not len(self.copy_earliest):
      self._set("copy_earliest", self.copy_start)
    for field in _COPY_FIELDS + _INTERVAL_FIELDS + _SHARE_FIELDS:
      if not len(getattr(self, field)):
        self._set(field, np.zeros(0, np.int32))
    for field, dtype in _ARRAY_DTYPES.items():
      self._set(field, _array(field, getattr(self, field), dtype))

  def _check_lengths(self) -> None:
    groups = (("buffer_names", _BUFFER_FIELDS, "buffer"),
              ("instruction_names", _INSTRUCTION_FIELDS, "instruction"),
              ("access_buffer", _ACCESS_FIELDS, "access"),
              ("copy_buffer", _COPY_FIELDS, "copy"),
              ("interval_buffer", _INTERVAL_FIELDS, "interval"),
              ("share_operand", _SHARE_FIELDS, "share"))
    for first, fields, noun in groups:
      count = len(getattr(self, first))
      for field in fields:
        if len(getattr(self, field)) != count:
          raise ProblemError(f"{count} entries, one per {noun}", where=field,
                             found=len(getattr(self, field)))
    if self.buffer_values and len(self.buffer_values) != self.num_buffers:
      raise ProblemError(
          f"{self.num_buffers} entries, one per buffer (or none)",
          where="buffer_values", found=len(self.buffer_values))
    if self.num_instructions not in (0, self.schedule_length):
      raise ProblemError(
          f"one instruction per schedule step ({self.schedule_length}) or none",
          where="instruction_names", found=self.num_instructions)

  def _check_ranges(self) -> None:
    steps = self.schedule_length
    _check_all("sizes", self.sizes, self.sizes >= 0, "a non-negative size")
    total = sum(self.sizes.tolist())
    if total > _MAX_BYTES:
      raise ProblemError(f"sizes adding up to at most {_MAX_BYTES} bytes",
                         where="sizes", found=total)
    _check_all("starts", self.starts, self.starts >= 0,
               "a non-negative start")
    _check_all("ends", self.ends, self.ends >= self.starts,
               "an end >= the buffer's start", self.starts, "start")
    _check_all("ends", self.ends, self.ends < steps,
               f"an end < schedule_length ({steps})")
    for field in ("flops", "transcendentals", "bytes_accessed", "executions"):
      values = getattr(self, field)
      _check_all(field, values, np.isfinite(values) & (values >= 0),
                 "a finite non-negative number")
    _check_all("access_buffer", self.access_buffer,
               (self.access_buffer >= 0)
               & (self.access_buffer < self.num_buffers),
               f"a buffer index in [0, {self.num_buffers})")
    _check_all("access_instruction", self.access_instruction,
               (self.access_instruction >= 0)
               & (self.access_instruction < steps),
               f"an instruction index in [0, {steps})")
    for field in ("access_bytes_read", "access_bytes_written",
                  "access_bytes_copied"):
      values = getattr(self, field)
      _check_all(field, values, values >= 0, "a non-negative byte count")
    self._check_copies()
    self._check_intervals()
    self._check_shares()
    for index, name in enumerate(self.buffer_kinds):
      if name not in BUFFER_KINDS:
        raise ProblemError(f"one of {', '.join(BUFFER_KINDS)}",
                           where=f"buffer_kinds[{index}]", found=name)

  def _check_copies(self) -> None:
    if len(self.copy_buffer) and not self.num_instructions:
      raise ProblemError("no copies in a problem without instructions",
                         where="copy_buffer", found=len(self.copy_buffer))
    _check_all("copy_buffer", self.copy_buffer,
               (self.copy_buffer >= 0) & (self.copy_buffer < self.num_buffers),
               f"a buffer index in [0, {self.num_buffers})")
    _check_all("copy_kind", self.copy_kind,
               (self.copy_kind == PREFETCH) | (self.copy_kind == EVICTION),
               f"{PREFETCH} (prefetch) or {EVICTION} (eviction)")
    buffer = self.copy_buffer
    _check_all("copy_start", self.copy_start, self.copy_start >= self.starts[buffer],
               "a start at or after its buffer's start", self.starts[buffer], "start")
    _check_all("copy_done", self.copy_done, self.copy_done >= self.copy_start,
               "a done at or after its start", self.copy_start, "start")
    _check_all("copy_done", self.copy_done, self.copy_done <= self.ends[buffer] + 1,
               "a done at most one step after its buffer's end", self.ends[buffer], "end")
    earliest = self.copy_earliest
    _check_all("copy_earliest", earliest, (earliest >= 0) & (earliest <= self.copy_start),
               "an earliest start in [0, start]", self.copy_start, "start")
    _check_all("copy_earliest", earliest,
               (earliest == self.copy_start) | (self.copy_kind == PREFETCH),
               "an eviction's earliest start equal to its start", self.copy_start, "start")
    _check_all("copy_earliest", earliest,
               (earliest == self.copy_start) | (self.copy_start == self.starts[buffer]),
               "a movable prefetch that starts its buffer", self.starts[buffer],
               "buffer start")

  def _check_intervals(self) -> None:
    buffer = self.interval_buffer
    _check_all("interval_buffer", buffer, (buffer >= 0) & (buffer < self.num_buffers),
               f"a buffer index in [0, {self.num_buffers})")
    start, end = self.interval_start, self.interval_end
    _check_all("interval_start", start, start >= self.starts[buffer],
               "a start at or after its buffer's start", self.starts[buffer], "start")
    _check_all("interval_end", end, end >= start,
               "an end at or after its start", start, "start")
    _check_all("interval_end", end, end <= self.ends[buffer],
               "an end at or before its buffer's end", self.ends[buffer], "end")
    same = buffer[1:] == buffer[:-1]
    first = np.concatenate([[True], ~same]) if len(buffer) else np.zeros(0, bool)
    last = np.concatenate([~same, [True]]) if len(buffer) else np.zeros(0, bool)
    _check_all("interval_buffer", buffer, np.concatenate([[True], buffer[1:] >= buffer[:-1]])
               if len(buffer) else np.zeros(0, bool), "intervals grouped by buffer, in order")
    gap = np.concatenate([[True], ~same | (start[1:] > end[:-1] + 1)]) if len(buffer) \
        else np.zeros(0, bool)
    _check_all("interval_start", start, gap,
               "a start after the previous interval's end + 1 (intervals sorted, with gaps)")
    _check_all("interval_start", start, ~first | (start == self.starts[buffer]),
               "its buffer's start (a buffer's first interval)", self.starts[buffer], "start")
    _check_all("interval_end", end, ~last | (end == self.ends[buffer]),
               "its buffer's end (a buffer's last interval)", self.ends[buffer], "end")

  def _check_shares(self) -> None:
    n = self.num_buffers
    operand, user, step = self.share_operand, self.share_user, self.share_step
    _check_all("share_operand", operand, (operand >= 0) & (operand < n),
               f"a buffer index in [0, {n})")
    _check_all("share_user", user, (user >= 0) & (user < n), f"a buffer index in [0, {n})")
    _check_all("share_user", user, user != operand, "a buffer other than its operand")
    _check_all("share_user", user, self.sizes[user] <= self.sizes[operand],
               "a buffer no larger than its operand", self.sizes[operand], "operand size")
    if not len(operand):
      return
    reserved = self.buffer_intervals(set(operand.tolist()) | set(user.tolist()))
    seen: set[tuple[int, int]] = set()
    for index, (a, b, t) in enumerate(zip(operand.tolist(), user.tolist(), step.tolist())):
      common = _intersection(reserved[a], reserved[b])
      if common != [(t, t)]:
        raise ProblemError(
            "a step where the operand's and the user's live intervals meet, and the "
            "only one they share", where=f"share_step[{index}]", found=t)
      if (a, t) in seen:
        raise ProblemError("one share per operand and step", where=f"share_operand[{index}]",
                           found=a)
      seen.add((a, t))

  def buffer_intervals(self, wanted) -> dict[int, list[tuple[int, int]]]:
    """Buffer -> its live intervals (inclusive, sorted), for the buffers in
    `wanted`: its `interval_*` rows, or its whole `[start, end]`."""
    wanted = {int(b) for b in wanted}
    out = {b: [] for b in wanted}
    for b, s, e in zip(self.interval_buffer.tolist(), self.interval_start.tolist(),
                       self.interval_end.tolist()):
      if b in out:
        out[b].append((s, e))
    for b in wanted:
      if not out[b]:
        out[b] = [(int(self.starts[b]), int(self.ends[b]))]
    return out

  def _sort_accesses(self) -> None:
    """Sorts accesses by (buffer, instruction), rejecting repeated pairs."""
    order = np.lexsort((self.access_instruction, self.access_buffer))
    pairs = np.stack([self.access_buffer[order],
                      self.access_instruction[order]])
    repeated = np.flatnonzero(np.all(pairs[:, 1:] == pairs[:, :-1], axis=0))
    if repeated.size:
      index = int(order[repeated[0] + 1])
      raise ProblemError(
          "at most one access per (buffer, instruction); add up the bytes",
          where=f"access_instruction[{index}]",
          found=int(self.access_instruction[index]))
    for field in _ACCESS_FIELDS:
      self._set(field, _read_only(getattr(self, field)[order]))

  @classmethod
  def from_arrays(cls, sizes, starts, ends, *, name: str = "synthetic",
                  buffer_names=None, buffer_kinds=None,
                  schedule_length: int | None = None,
                  source: dict | None = None) -> Problem:
    """A problem of buffers only: no instructions, no accesses.

    Args:
      sizes: [N] integer bytes.
      starts: [N] integer first step of each live range (inclusive).
      ends: [N] integer last step of each live range (inclusive).
      name: the instance's name.
      buffer_names: [N] names; default "0", "1", ...
      buffer_kinds: [N] kinds; default all "temporary".
      schedule_length: T; default max end + 1 (0 without buffers).
      source: provenance; default {"kind": "synthetic"}.

    Returns:
      The validated `Problem`.
    """
    count = len(_array("ends", ends, np.int32))
    if schedule_length is None:
      schedule_length = int(np.max(ends)) + 1 if count else 0
    return cls(
        name=name,
        buffer_names=(tuple(str(i) for i in range(count))
                      if buffer_names is None else buffer_names),
        sizes=sizes, starts=starts, ends=ends,
        buffer_kinds=(("temporary",) * count
                      if buffer_kinds is None else buffer_kinds),
        instruction_names=(), opcodes=(), flops=(), transcendentals=(),
        bytes_accessed=(), access_buffer=(), access_instruction=(),
        access_bytes_read=(), access_bytes_written=(),
        schedule_length=schedule_length,
        source={"kind": "synthetic"} if source is None else source)

  def __repr__(self) -> str:
    return (f"Problem(name={self.name!r}, buffers={self.num_buffers}, "
            f"instructions={self.num_instructions}, "
            f"schedule_length={self.schedule_length})")

  @property
  def num_buffers(self) -> int:
    """N, the number of buffers."""
    return len(self.buffer_names)

  @property
  def num_instructions(self) -> int:
    """M, the number of instructions (T, or 0 when unknown)."""
    return len(self.instruction_names)

  @property
  def total_flops(self) -> float:
    """Floating-point operations of one run of the program, each instruction
    weighted by its executions."""
    return float(self.flops @ self.executions)

  @property
  def total_transcendentals(self) -> float:
    """Transcendental operations of one run, weighted by executions."""
    return float(self.transcendentals @ self.executions)

  @property
  def total_bytes_accessed(self) -> float:
    """Bytes one run moves, as XLA's cost analysis counts them per
    instruction, weighted by executions."""
    return float(self.bytes_accessed @ self.executions)

  def live_bytes(self) -> np.ndarray:
    """Bytes live at each schedule step, in O(N + T).

    Returns:
      [T] int64: at step t, the total size of the buffers with
      start <= t <= end.
    """
    delta = np.zeros(self.schedule_length + 1, np.int64)
    np.add.at(delta, self.starts, self.sizes)
    np.add.at(delta, self.ends + 1, -self.sizes)
    return np.cumsum(delta[:-1])

  def peak_live_bytes(self) -> tuple[int, int]:
    """The most bytes live at once, and the earliest step where they are.

    In O(N log N), whatever the schedule's length: only the steps where a
    buffer starts or ends change the live bytes.

    Returns:
      (bytes, step); (0, 0) for an empty schedule.
    """
    if not self.schedule_length:
      return 0, 0
    times = np.concatenate([self.starts.astype(np.int64), self.ends.astype(np.int64) + 1])
    deltas = np.concatenate([self.sizes, -self.sizes])
    return _peak(times, deltas)

  def live_intervals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps each buffer reserves memory over.

    Returns:
      (buffer, start, end), each [L] int32, sorted by buffer then start: a
      buffer's `interval_*` rows where it has some, else its whole
      `[start, end]`.
    """
    has = np.zeros(self.num_buffers, bool)
    has[self.interval_buffer] = True
    whole = np.flatnonzero(~has).astype(np.int32)
    buffer = np.concatenate([whole, self.interval_buffer])
    start = np.concatenate([self.starts[whole], self.interval_start])
    end = np.concatenate([self.ends[whole], self.interval_end])
    order = np.lexsort((start, buffer))
    return buffer[order], start[order], end[order]

  def occupied_bytes(self) -> np.ndarray:
    """Bytes occupied at each step by an allocator that uses XLA's rules.

    Each buffer holds its memory over its live intervals only
    (`live_intervals`), and a user that may take its operand's slot counts
    no bytes of its own at that step (of several operands, it takes one).
    With the intervals and shares `hlo_tools` extracts, this is what XLA's
    own buffer assignment occupies at each step, but where XLA leaves a
    permitted share unused.

    Returns:
      [T] int64.
    """
    buffer, start, end = self.live_intervals()
    delta = np.zeros(self.schedule_length + 1, np.int64)
    np.add.at(delta, start, self.sizes[buffer])
    np.add.at(delta, end + 1, -self.sizes[buffer])
    user, step = self._sharing_users()
    np.add.at(delta, step, -self.sizes[user])
    np.add.at(delta, step + 1, self.sizes[user])
    return np.cumsum(delta[:-1])

  def _sharing_users(self) -> tuple[np.ndarray, np.ndarray]:
    """([U] user, [U] step) int64: each (user, step) of the shares once."""
    pairs = np.unique(np.stack([self.share_user.astype(np.int64),
                                self.share_step.astype(np.int64)]), axis=1)
    return pairs[0], pairs[1]

  def peak_occupied_bytes(self) -> tuple[int, int]:
    """The maximum of `occupied_bytes()`, and the earliest step where it is.

    For a problem extracted from HLO, the bytes XLA's buffer assignment
    occupies at its fullest step; at most `peak_live_bytes()`, which charges
    every buffer over its whole range and no share once. In O((N + S) log N).

    Returns:
      (bytes, step); (0, 0) for an empty schedule.
    """
    if not self.schedule_length:
      return 0, 0
    buffer, start, end = self.live_intervals()
    user, step = self._sharing_users()
    shared = self.sizes[user]
    times = np.concatenate([start.astype(np.int64), end.astype(np.int64) + 1, step, step + 1])
    deltas = np.concatenate([self.sizes[buffer], -self.sizes[buffer], -shared, shared])
    return _peak(times, deltas)

  def capacity_for(self, fraction: float) -> int:
    """A fast-memory capacity of `fraction` of the peak live bytes (>= 1 byte)."""
    return max(1, int(self.peak_live_bytes()[0] * fraction))

  def summary(self) -> str:
    """A one-screen human summary, with exact numbers and human units."""
    peak, step = self.peak_live_bytes()
    where = f"step {step}"
    if self.num_instructions:
      where += f" ({self.instruction_names[step]})"
    lines = [
        f"Problem {self.name!r}",
        f"  source:          {_describe_source(self.source)}",
        f"  buffers:         {self.num_buffers:,}, "
        f"{format_bytes(int(self.sizes.sum()))} in total, "
        f"largest {self._largest_buffer()}",
        f"  schedule:        {self.schedule_length:,} steps, "
        f"{self.num_instructions:,} instructions, "
        f"{len(self.access_buffer):,} accesses",
        f"  peak live:       {format_bytes(peak)} at {where}, buffers over their "
        "whole live ranges",
        *self._peak_lines(),
        f"  flops:           {format_count(self.total_flops)}",
        f"  transcendentals: {format_count(self.total_transcendentals)}",
        f"  bytes accessed:  {format_bytes(self.total_bytes_accessed)}",
    ]
    xla = self.source.get("xla_cost_analysis")
    if self.num_instructions and (xla or (self.executions != 1).any()):
      lines[-3:] = [
          f"  {label + ':':<17}{format(total)} executed"
          + (f"; XLA's cost analysis {format(xla.get(key, 0.0))}" if xla else "")
          for label, key, total, format in (
              ("flops", "flops", self.total_flops, format_count),
              ("transcendentals", "transcendentals", self.total_transcendentals,
               format_count),
              ("bytes accessed", "bytes accessed", self.total_bytes_accessed,
               format_bytes))]
      lines.append("  (executed: each instruction times its executions, a loop body its "
                   "trip count" + ("; XLA's cost analysis: a loop body once, a "
                                   "conditional its dearest branch)" if xla else ")"))
    return "\n".join(lines)

  def _peak_lines(self) -> list[str]:
    """The summary's other peak figures: the occupied peak (for a problem
    with shares or intervals, or extracted by a `hlo_tools` that marks them:
    a file extracted before has none, and its occupied peak would only repeat
    the live one) and XLA's own, where the source has them."""
    lines = []
    if (len(self.share_operand) or len(self.interval_buffer)
        or self.source.get("shares_and_intervals") is True):
      occupied, step = self.peak_occupied_bytes()
      where = f"step {step}" + (f" ({self.instruction_names[step]})"
                                if self.num_instructions else "")
      lines.append(
          f"  peak occupied:   {format_bytes(occupied)} at {where}, as XLA's assignment "
          f"holds memory (values' own ranges; {len(self.share_operand):,} shared operand "
          "slots once)")
    xla_peak = self.source.get("xla_peak_live_bytes")
    if isinstance(xla_peak, int) and not isinstance(xla_peak, bool):
      time = self.source.get("xla_peak_time")
      lines.append(f"  XLA diagnostic:  {format_bytes(xla_peak)}"
                   + (f" at step {time}" if isinstance(time, int) else "")
                   + ", the peak XLA's live-range dump prints (a biased sweep, not the "
                   "maximum)")
    temp = self.source.get("xla_temp_bytes")
    if isinstance(temp, int) and not isinstance(temp, bool):
      lines.append(f"  XLA temp:        {format_bytes(temp)}, XLA's largest temporary "
                   "allocation (its buffer assignment)")
    return lines

  def _largest_buffer(self) -> str:
    if not self.num_buffers:
      return "none"
    index = int(np.argmax(self.sizes))
    return f"{format_bytes(int(self.sizes[index]))} ({self.buffer_names[index]!r})"

  def to_json_dict(self) -> dict:
    """The versioned JSON form (see the module docstring), of plain types."""
    accesses = [[] for _ in range(self.num_buffers)]
    copies = bool(self.access_bytes_copied.any())
    for buffer, instruction, read, written, copied in zip(
        self.access_buffer.tolist(), self.access_instruction.tolist(),
        self.access_bytes_read.tolist(), self.access_bytes_written.tolist(),
        self.access_bytes_copied.tolist()):
      accesses[buffer].append([instruction, read, written] + ([copied] if copies else []))
    values = self.buffer_values or ((),) * self.num_buffers
    copy_rows = [[] for _ in range(self.num_buffers)]
    for buffer, kind, start, done, earliest in zip(
        self.copy_buffer.tolist(), self.copy_kind.tolist(), self.copy_start.tolist(),
        self.copy_done.tolist(), self.copy_earliest.tolist()):
      copy_rows[buffer].append([COPY_KINDS[kind], start, done] +
                               ([earliest] if earliest != start else []))
    buffers = [
        {"name": name, "size": size, "start": start, "end": end, "kind": kind,
         "values": list(value), "accesses": access,
         **({"copies": row} if len(self.copy_buffer) else {})}
        for name, size, start, end, kind, value, access, row in zip(
            self.buffer_names, self.sizes.tolist(), self.starts.tolist(),
            self.ends.tolist(), self.buffer_kinds, values, accesses, copy_rows)]
    repeated = bool((self.executions != 1).any())
    instructions = [
        {"name": name, "opcode": opcode, "flops": flops,
         "transcendentals": transcendentals, "bytes_accessed": accessed,
         **({"executions": executions} if repeated else {})}
        for name, opcode, flops, transcendentals, accessed, executions in zip(
            self.instruction_names, self.opcodes, self.flops.tolist(),
            self.transcendentals.tolist(), self.bytes_accessed.tolist(),
            self.executions.tolist())]
    for buffer, start, end in zip(self.interval_buffer.tolist(),
                                  self.interval_start.tolist(), self.interval_end.tolist()):
      buffers[buffer].setdefault("intervals", []).append([start, end])
    shares = [list(row) for row in zip(self.share_operand.tolist(), self.share_user.tolist(),
                                       self.share_step.tolist())]
    return {"format": FORMAT, "version": self._json_version(), "name": self.name,
            "source": self.source, "schedule_length": self.schedule_length,
            "buffers": buffers, "instructions": instructions,
            **({"shares": shares} if shares else {})}

  def _json_version(self) -> int:
    """The oldest version of the JSON form that holds this problem."""
    if len(self.share_operand) or len(self.interval_buffer):
      return 5
    if (self.copy_earliest != self.copy_start).any():
      return 4
    if (self.executions != 1).any() or len(self.copy_buffer):
      return 3
    return 2 if self.access_bytes_copied.any() else 1

  def json_pieces(self, rows_at_once: int = 4096) -> Iterator[str]:
    """The text `save_json` writes, piece by piece: `dump_json(to_json_dict())`
    without that dict or that text in memory. Rows are made `rows_at_once`
    buffers or instructions at a time, from slices of the arrays."""
    shares = len(self.share_operand)
    return json_pieces({
        "format": FORMAT, "version": self._json_version(), "name": self.name,
        "source": self.source, "schedule_length": self.schedule_length,
        "buffers": JsonRows(self.num_buffers, self._buffer_rows(rows_at_once)),
        "instructions": JsonRows(self.num_instructions,
                                 self._instruction_rows(rows_at_once)),
        **({"shares": JsonRows(shares, self._share_rows(rows_at_once))} if shares
           else {})})

  def _buffer_rows(self, chunk: int) -> Iterator[dict]:
    """The buffers of `to_json_dict`, one at a time."""
    copied = bool(self.access_bytes_copied.any())
    with_copies = bool(len(self.copy_buffer))
    values = self.buffer_values
    access_buffer, interval_buffer = self.access_buffer, self.interval_buffer
    copy_order = np.argsort(self.copy_buffer, kind="stable")
    copy_buffer = self.copy_buffer[copy_order]
    for low in range(0, self.num_buffers, chunk):
      high = min(low + chunk, self.num_buffers)
      steps = np.arange(low, high + 1)
      # Each buffer's accesses, copies and intervals: slices [bounds[i], bounds[i + 1]).
      access_bounds = np.searchsorted(access_buffer, steps).tolist()
      first, last = access_bounds[0], access_bounds[-1]
      accesses = [self.access_instruction[first:last].tolist(),
                  self.access_bytes_read[first:last].tolist(),
                  self.access_bytes_written[first:last].tolist()]
      if copied:
        accesses.append(self.access_bytes_copied[first:last].tolist())
      accesses = [list(row) for row in zip(*accesses)] if last > first else []
      interval_bounds = np.searchsorted(interval_buffer, steps).tolist()
      first_interval = interval_bounds[0]
      intervals = [list(row) for row in zip(
          self.interval_start[first_interval:interval_bounds[-1]].tolist(),
          self.interval_end[first_interval:interval_bounds[-1]].tolist())]
      if with_copies:
        copy_bounds = np.searchsorted(copy_buffer, steps).tolist()
        order = copy_order[copy_bounds[0]:copy_bounds[-1]]
        copies = [[COPY_KINDS[kind], start, done] + ([earliest] if earliest != start else [])
                  for kind, start, done, earliest in zip(
                      self.copy_kind[order].tolist(), self.copy_start[order].tolist(),
                      self.copy_done[order].tolist(), self.copy_earliest[order].tolist())]
      for i, (name, size, start, end, kind) in enumerate(zip(
          self.buffer_names[low:high], self.sizes[low:high].tolist(),
          self.starts[low:high].tolist(), self.ends[low:high].tolist(),
          self.buffer_kinds[low:high])):
        row = {"name": name, "size": size, "start": start, "end": end, "kind": kind,
               "values": list(values[low + i]) if values else [],
               "accesses": accesses[access_bounds[i] - first:access_bounds[i + 1] - first]}
        if with_copies:
          row["copies"] = copies[copy_bounds[i] - copy_bounds[0]:
                                 copy_bounds[i + 1] - copy_bounds[0]]
        if interval_bounds[i + 1] > interval_bounds[i]:
          row["intervals"] = intervals[interval_bounds[i] - first_interval:
                                       interval_bounds[i + 1] - first_interval]
        yield row

  def _instruction_rows(self, chunk: int) -> Iterator[dict]:
    """The instructions of `to_json_dict`, one at a time."""
    repeated = bool((self.executions != 1).any())
    for low in range(0, self.num_instructions, chunk):
      high = low + chunk
      for name, opcode, flops, transcendentals, accessed, executions in zip(
          self.instruction_names[low:high], self.opcodes[low:high],
          self.flops[low:high].tolist(), self.transcendentals[low:high].tolist(),
          self.bytes_accessed[low:high].tolist(), self.executions[low:high].tolist()):
        row = {"name": name, "opcode": opcode, "flops": flops,
               "transcendentals": transcendentals, "bytes_accessed": accessed}
        if repeated:
          row["executions"] = executions
        yield row

  def _share_rows(self, chunk: int) -> Iterator[list]:
    """The shares of `to_json_dict`, one at a time."""
    for low in range(0, len(self.share_operand), chunk):
      high = low + chunk
      yield from (list(row) for row in zip(self.share_operand[low:high].tolist(),
                                           self.share_user[low:high].tolist(),
                                           self.share_step[low:high].tolist()))

  @classmethod
  def from_json_dict(cls, data, filename: str = "<memory>") -> Problem:
    """Reads the JSON form, checking every field.

    Args:
      data: the parsed JSON (a dict).
      filename: named in errors.

    Returns:
      The validated `Problem`.

    Raises:
      ProblemError: naming `filename` and the JSON path of the bad field.
    """
    return _JsonReader(filename).problem(data)

  def save_json(self, path: str | os.PathLike) -> None:
    """Writes the JSON form to `path` atomically, one buffer per line."""
    atomic_write_pieces(path, self.json_pieces())

  @classmethod
  def load_json(cls, path: str | os.PathLike) -> Problem:
    """Reads a file written by `save_json`.

    Raises:
      ProblemError: invalid UTF-8 or JSON, or a bad field, naming the file and
        the line and column or JSON path.
      OSError: the file cannot be read.
    """
    return cls.from_json_dict(read_json_file(path), str(path))


# `Problem.copy_kind` values, and their names in the JSON form.
PREFETCH = 0
EVICTION = 1
COPY_KINDS = ("prefetch", "eviction")

# The fields indexed by buffer, by instruction, by access and by copy.
_BUFFER_FIELDS = ("buffer_names", "sizes", "starts", "ends", "buffer_kinds")
_INSTRUCTION_FIELDS = ("instruction_names", "opcodes", "flops",
                       "transcendentals", "bytes_accessed", "executions")
_ACCESS_FIELDS = ("access_buffer", "access_instruction", "access_bytes_read",
                  "access_bytes_written", "access_bytes_copied")
_COPY_FIELDS = ("copy_buffer", "copy_kind", "copy_start", "copy_done", "copy_earliest")
_INTERVAL_FIELDS = ("interval_buffer", "interval_start", "interval_end")
_SHARE_FIELDS = ("share_operand", "share_user", "share_step")
# The dtype of each array field.
_ARRAY_DTYPES = {
    "sizes": np.int64, "starts": np.int32, "ends": np.int32,
    "flops": np.float64, "transcendentals": np.float64,
    "bytes_accessed": np.float64, "executions": np.float64,
    "access_buffer": np.int32, "access_instruction": np.int32,
    "access_bytes_read": np.int64, "access_bytes_written": np.int64,
    "access_bytes_copied": np.int64,
    "copy_buffer": np.int32, "copy_kind": np.int32, "copy_start": np.int32,
    "copy_done": np.int32, "copy_earliest": np.int32,
    "interval_buffer": np.int32, "interval_start": np.int32, "interval_end": np.int32,
    "share_operand": np.int32, "share_user": np.int32, "share_step": np.int32,
}


def _peak(times: np.ndarray, deltas: np.ndarray) -> tuple[int, int]:
  """The largest running sum of `deltas` in order of `times`, and the earliest
  time where it is; (0, 0) if it is never positive."""
  steps, where = np.unique(times, return_inverse=True)
  change = np.zeros(len(steps), np.int64)
  np.add.at(change, where, deltas)  # (in int64: bincount would round big sizes)
  live = np.cumsum(change)
  if not len(live) or live.max() <= 0:
    return 0, 0
  best = int(np.argmax(live))
  return int(live[best]), int(steps[best])


def _intersection(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
  """The common steps of two sorted lists of inclusive intervals."""
  out, i, j = [], 0, 0
  while i < len(a) and j < len(b):
    low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
    if low <= high:
      out.append((low, high))
    if a[i][1] < b[j][1]:
      i += 1
    else:
      j += 1
  return out


def _read_only(array: np.ndarray) -> np.ndarray:
  array.flags.writeable = False
  return array


def _array(field: str, value, dtype) -> np.ndarray:
  """A read-only 1-D copy of `value` as `dtype`, refusing lossy conversions.

  Arrays are checked by dtype and range; other sequences item by item (numpy
  would silently turn `[1, 2**63]` into floats).
  """
  if hasattr(value, "__array__"):
    array = np.asarray(value)
  else:
    array = np.asarray(value, dtype=object)
  if array.ndim != 1:
    raise ProblemError("a 1-D array", where=field, found=array.shape)
  integral = np.issubdtype(dtype, np.integer)
  if array.dtype == object:
    _check_objects(field, array.tolist(), dtype)
  elif array.size and array.dtype.kind not in ("iu" if integral else "iuf"):
    noun = "integers" if integral else "numbers"
    raise ProblemError(f"an array of {noun}", where=field, found=array.dtype)
  elif integral and array.size:
    info = np.iinfo(dtype)
    _check_all(field, array, (array >= info.min) & (array <= info.max),
               f"an integer in [{info.min}, {info.max}]")
  return _read_only(array.astype(dtype))


def _check_objects(field: str, items: list, dtype) -> None:
  """Checks that each item is an integer in range of `dtype`, or a number."""
  if np.issubdtype(dtype, np.integer):
    kind, types = "an integer", (int, np.integer)
    low, high = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
  else:
    kind, types = "a number", (int, float, np.integer, np.floating)
    high = float(np.finfo(dtype).max)
    low = -high
  for index, item in enumerate(items):
    if isinstance(item, bool) or not isinstance(item, types):
      raise ProblemError(kind, where=f"{field}[{index}]", found=item)
    # Floats are converted as they are; non-finite ones are rejected later.
    if not isinstance(item, (float, np.floating)) and not low <= item <= high:
      raise ProblemError(f"{kind} in [{low}, {high}]",
                         where=f"{field}[{index}]", found=item)


def _check_all(field: str, values: np.ndarray, ok: np.ndarray, expected: str,
               other: np.ndarray | None = None, other_name: str = "") -> None:
  """Raises for the first index where `ok` is False."""
  bad = np.flatnonzero(~ok)
  if bad.size:
    index = int(bad[0])
    if other is not None:
      expected = f"{expected} ({other_name} {other[index].item()})"
    raise ProblemError(expected, where=f"{field}[{index}]",
                       found=values[index].item())


def _integer(field: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ProblemError("an integer", where=field, found=value)
  return int(value)


def _strings(field: str, value) -> tuple[str, ...]:
  if not isinstance(value, (list, tuple)):
    raise ProblemError("a list or tuple of strings", where=field, found=value)
  value = tuple(value)
  for index, item in enumerate(value):
    if not isinstance(item, str):
      raise ProblemError("a string", where=f"{field}[{index}]", found=item)
  return value


def _buffer_values(value) -> tuple[tuple[str, ...], ...]:
  if not isinstance(value, (list, tuple)):
    raise ProblemError("a list or tuple of lists or tuples of strings",
                       where="buffer_values", found=value)
  values = tuple(_strings(f"buffer_values[{index}]", item)
                 for index, item in enumerate(value))
  return values if any(values) else ()


def _normalise_source(source) -> dict:
  """A copy of `source` exactly as a JSON round trip returns it."""
  if not isinstance(source, dict) or not isinstance(source.get("kind"), str):
    raise ProblemError('a JSON object with a string "kind"', where="source",
                       found=source)
  try:
    return json.loads(json.dumps(source, allow_nan=False))
  except (TypeError, ValueError) as error:
    raise ProblemError(f"a JSON-serialisable object ({error})",
                       where="source") from None


def _check_unique(field: str, names: tuple[str, ...]) -> None:
  first: dict[str, int] = {}
  for index, name in enumerate(names):
    if name in first:
      raise ProblemError(f"a unique name (also {field}[{first[name]}])",
                         where=f"{field}[{index}]", found=name)
    first[name] = index


def _describe_source(source: dict) -> str:
  details = [f"{key}={value}" for key, value in source.items()
             if key not in ("kind", "shares_and_intervals") and not key.startswith("xla_")
             and value is not None]
  return ", ".join([source["kind"], *details])


# Where `Problem` fields live in the JSON form: in each buffer, each
# instruction, or each access [instruction, bytes_read, bytes_written] (and,
# from version 2, bytes_copied).
_BUFFER_KEYS = {"buffer_names": "name", "sizes": "size", "starts": "start",
                "ends": "end", "buffer_kinds": "kind",
                "buffer_values": "values"}
_INSTRUCTION_KEYS = {"instruction_names": "name", "opcodes": "opcode",
                     "flops": "flops", "transcendentals": "transcendentals",
                     "bytes_accessed": "bytes_accessed",
                     "executions": "executions"}
_ACCESS_COLUMNS = {"access_instruction": 0, "access_bytes_read": 1,
                   "access_bytes_written": 2, "access_bytes_copied": 3}
_TOP_KEYS = ("format", "version", "name", "source", "schedule_length",
             "buffers", "instructions")


class _JsonReader(JsonReader):
  """Reads the JSON form, raising `ProblemError`s that name JSON paths.

  The reader checks the structure (objects, arrays, fields); `Problem` checks
  the values, and its errors are translated to JSON paths.
  """

  def __init__(self, filename: str):
    super().__init__(filename)
    self.access_paths: list[str] = []  # JSON path of each access, in order.
    self.copy_paths: list[str] = []  # JSON path of each copy, in order.
    self.interval_paths: list[str] = []  # JSON path of each interval, in order.

  def rows(self, data: dict, key: str, keys) -> list[dict]:
    return [self.fields(row, f"{key}[{index}]", keys)
            for index, row in enumerate(self.array(data[key], key))]

  def problem(self, data) -> Problem:
    shared = isinstance(data, dict) and "shares" in data
    data = self.fields(data, "", _TOP_KEYS + ("shares",) * shared)
    if data["format"] != FORMAT:
      self.fail("format", f'"{FORMAT}"', data["format"])
    self.check_version(data["version"])
    self.version = data["version"]
    if shared and self.version < 5:
      self.fail("", f"only the fields {', '.join(_TOP_KEYS)} before version 5", "shares")
    buffers = self.optional_rows(data, "buffers", [*_BUFFER_KEYS.values(), "accesses"],
                                 "copies", "intervals")
    instructions = self.optional_rows(
        data, "instructions",
        [key for key in _INSTRUCTION_KEYS.values() if key != "executions"], "executions")
    fields = {field: [row[key] for row in buffers]
              for field, key in _BUFFER_KEYS.items()}
    # Only `executions` may be missing (version 3 makes it optional).
    fields.update({field: [row.get(key, 1.0) for row in instructions]
                   for field, key in _INSTRUCTION_KEYS.items()})
    try:
      return Problem(name=data["name"], source=data["source"],
                     schedule_length=data["schedule_length"],
                     **fields, **self.accesses(buffers), **self.copies(buffers),
                     **self.intervals(buffers), **self.shares(data.get("shares", [])))
    except ProblemError as error:
      raise ProblemError(error.expected, self.filename,
                         self.json_path(error.where), error.found) from None

  def optional_rows(self, data: dict, key: str, keys: list[str], optional: str,
                    newer: str | None = None) -> list[dict]:
    """The rows of `data[key]`, each with `keys` and, from version 3 on,
    perhaps `optional` (from version 5, perhaps also `newer`)."""
    if self.version < 3:
      return self.rows(data, key, keys)
    maybe = [optional] + ([newer] if newer and self.version >= 5 else [])
    return [self.fields(row, f"{key}[{index}]",
                        keys + [k for k in maybe if isinstance(row, dict) and k in row])
            for index, row in enumerate(self.array(data[key], key))]

  def intervals(self, buffers: list[dict]) -> dict:
    """The interval fields of `Problem`, from each buffer's [start, end] pairs."""
    rows = []
    for index, buffer in enumerate(buffers):
      where = f"buffers[{index}].intervals"
      for position, interval in enumerate(self.array(buffer.get("intervals", []), where)):
        if not isinstance(interval, list) or len(interval) != 2:
          self.fail(f"{where}[{position}]", "[start, end]", interval)
        self.interval_paths.append(f"{where}[{position}]")
        rows.append((index, *interval))
    return {field: [row[column] for row in rows]
            for column, field in enumerate(_INTERVAL_FIELDS)}

  def shares(self, shares) -> dict:
    """The share fields of `Problem`, from [operand, user, step] triples."""
    rows = []
    for position, share in enumerate(self.array(shares, "shares")):
      if not isinstance(share, list) or len(share) != 3:
        self.fail(f"shares[{position}]", "[operand, user, step]", share)
      rows.append(share)
    return {field: [row[column] for row in rows]
            for column, field in enumerate(_SHARE_FIELDS)}

  def copies(self, buffers: list[dict]) -> dict:
    """The copy fields of `Problem`, from each buffer's [kind, start, done]
    or [kind, start, done, earliest]."""
    rows = []
    for index, buffer in enumerate(buffers):
      where = f"buffers[{index}].copies"
      for position, copy in enumerate(self.array(buffer.get("copies", []), where)):
        lengths = (3, 4) if self.version >= 4 else (3,)
        if (not isinstance(copy, list) or len(copy) not in lengths
            or copy[0] not in COPY_KINDS):
          self.fail(f"{where}[{position}]",
                    ('[kind, start, done] or, from version 4, [kind, start, done, earliest]'
                     if self.version >= 4 else '[kind, start, done]') +
                    ' with kind "prefetch" or "eviction"', copy)
        self.copy_paths.append(f"{where}[{position}]")
        earliest = copy[3] if len(copy) == 4 else copy[1]
        rows.append((index, COPY_KINDS.index(copy[0]), copy[1], copy[2], earliest))
    return {field: [row[column] for row in rows]
            for column, field in enumerate(_COPY_FIELDS)}

  def check_version(self, version) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
      self.fail("version", "an integer", version)
    if version > VERSION:
      self.fail("version", f"version {VERSION} or older; this file is from a "
                "newer malloc_muzero, upgrade it to read the file", version)
    if version < 1:
      self.fail("version", f"a version in [1, {VERSION}]", version)

  def accesses(self, buffers: list[dict]) -> dict:
    """The access fields of `Problem`, from each buffer's access triples."""
    rows = []
    for index, buffer in enumerate(buffers):
      where = f"buffers[{index}].accesses"
      for position, access in enumerate(self.array(buffer["accesses"], where)):
        lengths = (3, 4) if self.version >= 2 else (3,)
        if not isinstance(access, list) or len(access) not in lengths:
          expected = "[instruction, bytes_read, bytes_written]"
          if self.version >= 2:
            expected += " or [instruction, bytes_read, bytes_written, bytes_copied]"
          self.fail(f"{where}[{position}]", expected, access)
        self.access_paths.append(f"{where}[{position}]")
        rows.append((index, *access, *([0] * (4 - len(access)))))
    return {field: [row[column] for row in rows]
            for column, field in enumerate(_ACCESS_FIELDS)}

  def json_path(self, where: str) -> str:
    """Translates a `Problem` field location (`sizes[3]`) to a JSON path."""
    match = re.fullmatch(r"(\w+)\[(\d+)\](.*)", where)
    if not match:
      return {"sizes": "buffers",
              "instruction_names": "instructions"}.get(where, where)
    field, index, rest = match.group(1), int(match.group(2)), match.group(3)
    if field in _BUFFER_KEYS:
      return f"buffers[{index}].{_BUFFER_KEYS[field]}{rest}"
    if field in _INSTRUCTION_KEYS:
      return f"instructions[{index}].{_INSTRUCTION_KEYS[field]}{rest}"
    if field in _ACCESS_COLUMNS:
      return f"{self.access_paths[index]}[{_ACCESS_COLUMNS[field]}]"
    if field in _COPY_FIELDS:
      return f"{self.copy_paths[index]}[{_COPY_FIELDS.index(field) - 1}]"
    if field in _INTERVAL_FIELDS:
      column = _INTERVAL_FIELDS.index(field) - 1
      return self.interval_paths[index] + (f"[{column}]" if column >= 0 else "")
    if field in _SHARE_FIELDS:
      return f"shares[{index}][{_SHARE_FIELDS.index(field)}]"
    return where
