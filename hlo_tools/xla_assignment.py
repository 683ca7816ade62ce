"""XLA's own buffer assignment as a `Placement` of a problem ("what XLA did").

XLA's `*-buffer-assignment.txt` (dumped with `--xla_dump_to`) lists its
allocations: one per entry parameter, one per constant, the outputs'
(`maybe-live-out`), thread-local ones for embedded computations and the
temporary one (`preallocated-temp` on CPU and GPU), with each HloValue's
offset in its allocation. `xla_placement` reads it as a placement of a problem
extracted from the same module:

* Level 1 is XLA's temporary allocation, a memory of exactly its size with
  alignment 1 (XLA chose its offsets by its own alignment; the checker does not
  impose a preset's). A buffer whose values XLA put there is in level 1 at
  XLA's offset. With several temporary allocations (backends that do not
  combine them) they are laid end to end in index order.
* Every other buffer is in level 0, the default memory: the parameters, the
  constants and the outputs, and also the temporaries XLA put in one of those
  allocations (it may write a temporary into an output's or a donated
  parameter's allocation). `XlaPlacement.elsewhere` counts them by allocation
  kind, so a report can say what was left out of the fast memory.

So the placement answers "what if XLA's temporary allocation were the fast
memory": it is checked by `check_placement` (shares and live intervals as the
problem marks them) and simulated beside the solvers on a preset whose first
fast level is the temporary allocation (`xla_hardware`).

A problem buffer is joined to XLA's values by its `buffer_values` (or, for a
problem without them, its name, which `hlo_tools.extract` takes from its first
value). All the values XLA assigns of one buffer must be at one allocation and
offset, and every buffer must have one: otherwise the report is not of this
problem's module, and `HloParseError` names the report and the first buffer
that does not match.
"""

from __future__ import annotations

import dataclasses
import os
import stat

import numpy as np

from hlo_tools.errors import HloParseError
from hlo_tools.extract import _beside
from hlo_tools.xla_reports import XlaAllocation, read_buffer_assignment
from malloc_muzero.formatting import format_bytes
from malloc_muzero.placement import Placement

TEMP_LEVEL_NAME = "xla-temp"
# What a non-temporary allocation holds, by the words XLA prints after its size.
_KINDS = (("parameter", "parameter"), ("constant", "constant"),
          ("thread-local", "thread-local"), ("maybe-live-out", "output"),
          ("output shape", "output"))


@dataclasses.dataclass(frozen=True)
class XlaPlacement:
  """XLA's assignment as a placement of a problem.

  Attributes:
    placement: [N] level 1 (XLA's temporary allocation) at XLA's offset, or
      level 0 for buffers in XLA's other allocations; solver "xla".
    temp_bytes: bytes of XLA's temporary allocation(s): level 1's capacity.
    elsewhere: allocation kind ("parameter", "output", "constant",
      "thread-local") -> (buffers, bytes) of the problem's buffers XLA put in
      allocations of that kind, left in level 0.
    temporaries_elsewhere: how many of those are temporaries of the problem
      (buffer kind "temporary") that XLA put in another allocation.
  """
  placement: object
  temp_bytes: int
  elsewhere: dict[str, tuple[int, int]]
  temporaries_elsewhere: int

  def summary(self, problem) -> str:
    """One line: what is in level 1, and what XLA put elsewhere."""
    levels = self.placement.levels
    inside = int(problem.sizes[levels == 1].sum())
    parts = [f"{kind} {count:,} ({format_bytes(size)})"
             for kind, (count, size) in sorted(self.elsewhere.items())]
    line = (f"XLA's temporary allocation ({format_bytes(self.temp_bytes)}) holds "
            f"{int((levels == 1).sum()):,} buffers, {format_bytes(inside)}; in XLA's other "
            "allocations, left in the default memory: " + (", ".join(parts) or "none"))
    if self.temporaries_elsewhere:
      line += f" (of which {self.temporaries_elsewhere:,} temporaries)"
    return line


def read_assignment(path: str | os.PathLike) -> list[XlaAllocation]:
  """XLA's allocations from its `*-buffer-assignment.txt`, refusing a file
  that is not one with an `HloParseError` naming it."""
  path = os.fspath(path)
  if not stat.S_ISREG(os.stat(path).st_mode):  # A FIFO would wait, a device not end.
    raise HloParseError("an XLA buffer-assignment report (a regular file)", path)
  try:
    allocations = read_buffer_assignment(path)
  except UnicodeDecodeError as error:
    raise HloParseError("an XLA buffer-assignment report (text)", path,
                        found=str(error)) from None
  if not allocations:
    raise HloParseError("an XLA buffer-assignment report (*-buffer-assignment.txt, with "
                        "lines 'allocation N: size S, ...:')", path,
                        found="no allocation line")
  return allocations


def buffer_addresses(problem, allocations: list[XlaAllocation],
                     filename: str = "<memory>") -> tuple[np.ndarray, np.ndarray]:
  """Where XLA put each of the problem's buffers.

  Args:
    problem: a `malloc_muzero.Problem` extracted from the module XLA assigned.
    allocations: `read_assignment`'s.
    filename: the report's name, for errors.

  Returns:
    (allocation, offset): [N] int64 each, XLA's allocation number and the
    buffer's byte offset in it.

  Raises:
    HloParseError: a buffer none of whose values XLA assigned, or whose values
      XLA put at two addresses; the message names the report and the buffer.
  """
  address = {}
  for allocation in allocations:
    for value, offset, _ in allocation.values:
      address.setdefault(value, set()).add((allocation.index, offset))
  names = problem.buffer_values or tuple((name,) for name in problem.buffer_names)
  if names and not any(v in address for values in names for v in values):
    raise HloParseError(
        f"XLA's buffer assignment of the module problem {problem.name!r} was extracted "
        f"from (none of its {problem.num_buffers:,} buffers' values is in it)", filename)
  where = np.zeros((2, problem.num_buffers), np.int64)
  for index, values in enumerate(names):
    found = set().union(*(address.get(v, set()) for v in values))
    if len(found) != 1:
      shown = ", ".join(values[:3]) + (", ..." if len(values) > 3 else "")
      raise HloParseError(
          f"one allocation and offset for buffer {index} {problem.buffer_names[index]!r} "
          f"(values {shown}) of problem {problem.name!r}", filename,
          found="no value of it" if not found else
          "; ".join(f"allocation {a} offset {o}" for a, o in sorted(found)[:3]))
    where[:, index] = found.pop()
  return where[0], where[1]


def xla_placement(problem, path: str | os.PathLike) -> XlaPlacement:
  """XLA's assignment in the report `path` as a placement of `problem` (see
  the module docstring).

  Raises:
    HloParseError: the file is not a buffer-assignment report, or not of this
      problem's module (naming the file and the first buffer that differs).
    OSError: the file cannot be read.
  """
  filename = os.fspath(path)
  allocations = read_assignment(filename)
  allocation, offset = buffer_addresses(problem, allocations, filename)
  base, temp_bytes = {}, 0
  for a in allocations:
    if a.is_temp:
      base[a.index] = temp_bytes
      temp_bytes += a.size
  inside = np.array([a in base for a in allocation.tolist()], bool)
  offsets = np.where(inside, offset + np.array([base.get(a, 0) for a in allocation.tolist()],
                                               np.int64), -1)
  kind_of = {a.index: _kind(a) for a in allocations}
  elsewhere: dict[str, tuple[int, int]] = {}
  temporaries = 0
  for index in np.flatnonzero(~inside).tolist():
    kind = kind_of[int(allocation[index])]
    count, size = elsewhere.get(kind, (0, 0))
    elsewhere[kind] = (count + 1, size + int(problem.sizes[index]))
    temporaries += problem.buffer_kinds[index] == "temporary"
  placement = Placement(levels=inside.astype(np.int32), offsets=offsets, solver="xla")
  return XlaPlacement(placement, temp_bytes, elsewhere, temporaries)


def report_beside(module_file: str) -> str | None:
  """XLA's `*-buffer-assignment.txt` dumped beside an optimised module's HLO
  text (`*after_optimizations.txt`), if there is one."""
  return _beside(module_file)


def problem_report(problem) -> str | None:
  """The buffer-assignment report beside the HLO file a problem was extracted
  from (`source["file"]`), if there is one."""
  file = problem.source.get("file")
  return report_beside(file) if problem.source.get("kind") == "hlo" and \
      isinstance(file, str) else None


def xla_hardware(hardware, temp_bytes: int):
  """`hardware` with its first fast level made XLA's temporary allocation:
  `temp_bytes` (at least 1) of capacity, alignment 1, named "xla-temp"; its
  bandwidths stay the preset's, so that the simulator scores the placement
  as it scores a solver's."""
  levels = list(hardware.levels)
  levels[1] = dataclasses.replace(levels[1], name=TEMP_LEVEL_NAME,
                                  capacity=max(int(temp_bytes), 1), alignment=1)
  return dataclasses.replace(hardware, levels=tuple(levels))


def _kind(allocation: XlaAllocation) -> str:
  for word, kind in _KINDS:
    if word in allocation.attributes:
      return kind
  return "temporary"
