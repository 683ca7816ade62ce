"""Read XLA's own reports from a dump directory, to compare hlo_tools with them.

`XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text` (or `capture_jax(...,
dump_dir=DIR)`) writes, beside each module's HLO, `*-live-range.txt`: the
flattened schedule, one `name{index}:start-end` line per HloValue and the peak;
and `*-buffer-assignment.txt`: XLA's allocations (parameters, constants,
outputs, the preallocated temporary one) and each value's offset in one.
"""

from __future__ import annotations

import dataclasses
import re

from hlo_tools.jax_capture import capture_jax

_PEAK_RE = re.compile(r"^\s*Live ranges at (\d+) \(peak\):")
_PEAK_LINE_RE = re.compile(r"^\s+(\S+): (\d+) bytes \(cumulative: (\d+) bytes\)")


@dataclasses.dataclass(frozen=True)
class XlaLiveRange:
  """The parts of XLA's `-live-range.txt` the tests compare with."""
  max_time: int
  sequence: list[str]
  lines: list[str]          # BufferLiveRange lines: "name{index}:start-end"
  peak_time: int
  peak_bytes: int


def read_live_range(path: str) -> XlaLiveRange:
  """Parse XLA's `-live-range.txt` (the parts before its stack-trace breakdown)."""
  sequence, lines = [], []
  peak_time, peak_bytes, max_time = -1, 0, -1
  section = None
  with open(path) as f:
    for raw in f:
      line = raw.rstrip("\n")
      if line.startswith("HloLiveRange (max"):
        max_time = int(re.findall(r"\d+", line)[0])
      elif line.strip() == "InstructionSequence:":
        section = "sequence"
      elif line.strip() == "BufferLiveRange:":
        section = "values"
      elif _PEAK_RE.match(line):
        section = "peak"
        peak_time = int(_PEAK_RE.match(line).group(1))
      elif line.strip().startswith("Stack trace breakdown"):
        section = None
      elif section == "sequence":
        sequence.append(line.strip().split(":", 1)[1])
      elif section == "values":
        lines.append(line.strip())
      elif section == "peak" and _PEAK_LINE_RE.match(line):
        peak_bytes = int(_PEAK_LINE_RE.match(line).group(3))
  return XlaLiveRange(max_time, sequence, lines, peak_time, peak_bytes)


def compile_with_reports(fn, *args, donate_argnums=(), dump_dir: str | None = None):
  """Compile `fn` with XLA's dumps on; return (`Captured`, `XlaLiveRange`).

  Args:
    fn, *args, donate_argnums: as for `capture_jax`.
    dump_dir: where XLA writes its dumps (a new temporary directory if None).
  """
  import glob
  import os
  import tempfile

  dump_dir = dump_dir or tempfile.mkdtemp(prefix="xla_dump_")
  captured = capture_jax(fn, *args, donate_argnums=donate_argnums, dump_dir=dump_dir)
  reports = glob.glob(os.path.join(glob.escape(dump_dir),
                                   "*after_optimizations-live-range.txt"))
  if len(reports) != 1:
    raise RuntimeError(f"expected one live-range report in {dump_dir}, "
                       f"found {len(reports)}")
  return captured, read_live_range(reports[0])


# --- XLA's buffer assignment (`*-buffer-assignment.txt`) -----------------------

_ALLOCATION_RE = re.compile(r"^allocation (\d+): size (\d+)(.*):\s*$")
_VALUE_RE = re.compile(r"^\s+value: <(\d+) (\S+)(?: \(phi\))? @\d+> \(size=(\d+),offset=(\d+)\)")
# Allocation kinds that are not temporary buffers (what XLA prints after the size).
_NOT_TEMP = ("parameter", "constant", "thread-local", "maybe-live-out", "output shape")


@dataclasses.dataclass(frozen=True)
class XlaAllocation:
  """One allocation of XLA's buffer assignment.

  Attributes:
    index: XLA's allocation number.
    size: bytes.
    attributes: what XLA prints after the size ("parameter 0, shape ...",
      "maybe-live-out", "preallocated-temp", "thread-local", "constant", ...).
    values: (value name in the live-range dump's `name{index}` form, offset in
      the allocation, bytes) of each value assigned to it.
  """
  index: int
  size: int
  attributes: str
  values: tuple[tuple[str, int, int], ...]

  @property
  def is_temp(self) -> bool:
    """A temporary allocation: none of parameter, constant, thread-local or
    (maybe) live-out; on CPU and GPU the one "preallocated-temp"."""
    return not any(word in self.attributes for word in _NOT_TEMP)


def read_buffer_assignment(path: str) -> list[XlaAllocation]:
  """Parse the allocations of XLA's `-buffer-assignment.txt`.

  A value's name is given as the live-range dump prints it (`name{index}`,
  `{}` for an array-shaped instruction), so the two reports can be joined.
  """
  allocations = []
  current = None
  with open(path) as f:
    for line in f:
      match = _ALLOCATION_RE.match(line)
      if match:
        current = [int(match.group(1)), int(match.group(2)),
                   match.group(3).strip(" ,"), []]
        allocations.append(current)
        continue
      match = _VALUE_RE.match(line)
      if match and current is not None:
        name = match.group(2)
        if not name.endswith("}"):
          name += "{}"
        current[3].append((name, int(match.group(4)), int(match.group(3))))
      elif line.strip() and not line.startswith((" ", "BufferAssignment")):
        current = None  # A later section (statistics, ...).
  return [XlaAllocation(i, size, attributes, tuple(values))
          for i, size, attributes, values in allocations]


def largest_temp_allocation(allocations: list[XlaAllocation]) -> int:
  """Bytes of XLA's largest temporary allocation (0 if it has none)."""
  return max((a.size for a in allocations if a.is_temp), default=0)


def occupied_bytes(allocations: list[XlaAllocation],
                   ranges: dict[str, tuple[int, int]]) -> tuple[int, int]:
  """The most bytes XLA's assignment occupies at one step, and the step.

  At each step of the flattened schedule, the bytes covered by the values live
  then (`ranges`: value name -> inclusive [start, end], as the live-range dump
  gives them), each at its offset in its allocation; values at the same bytes
  (an operand whose slot its user took, values of one buffer) count once.
  Values without a range (those of fused or other embedded computations) are
  left out.

  Returns:
    (bytes, earliest step where they are); (0, 0) when nothing is live.
  """
  chunks = []  # (start, end, allocation, offset, size)
  for allocation in allocations:
    for name, offset, size in allocation.values:
      if name in ranges and size:
        start, end = ranges[name]
        chunks.append((start, end, allocation.index, offset, offset + size))
  if not chunks:
    return 0, 0
  steps = sorted({c[0] for c in chunks})
  best = best_step = 0
  for step in steps:  # Occupancy only grows where some value starts.
    live = sorted((c[2], c[3], c[4]) for c in chunks if c[0] <= step <= c[1])
    total, current = 0, None
    for allocation, low, high in live:
      if current is not None and current[0] == allocation and low <= current[2]:
        current[2] = max(current[2], high)
        continue
      if current is not None:
        total += current[2] - current[1]
      current = [allocation, low, high]
    total += current[2] - current[1]
    if total > best:
      best, best_step = total, step
  return best, best_step


def live_range_map(live_range: XlaLiveRange) -> dict[str, tuple[int, int]]:
  """Value name -> (start, end) from the BufferLiveRange lines."""
  out = {}
  for line in live_range.lines:
    name, _, span = line.rpartition(":")
    start, _, end = span.partition("-")
    out[name] = (int(start), int(end))
  return out
