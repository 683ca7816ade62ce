"""MiniMalloc's CSV problems and solutions (google/minimalloc).

A file is a header line and one line per buffer:

  id,lower,upper,size[,gaps][,offset]
  0,995328,1000448,656384

with a half-open lifespan `[lower, upper)` in schedule steps and a size in
bytes; a solution adds each buffer's byte offset. Columns are matched by their
header names, in any order, including MiniMalloc's older spellings `buffer` and
`buffer_id` (for `id`), `begin` and `start` (for `lower`) and `end` (an
inclusive upper bound, `upper = end + 1`, and likewise for a gap's upper
bound). Cells are plain: MiniMalloc's CSV has no quoting. The `gaps` cell lists
space-separated half-open spans `lower-upper` inside the lifespan where the
buffer holds no memory (MiniMalloc's gaps; its windows, `lower-upper@a:b`, are
not supported, nor is its `alignment` column).

A buffer becomes a "temporary" of the `Problem` with the inclusive range
`[lower, upper - 1]`, and with gaps its live intervals (`interval_*`); the
schedule has `max(upper)` steps and no instructions. A file name like
`A.1048576.csv` gives the fast memory's capacity in bytes.

Writing a problem (`write_minimalloc_csv`) keeps what a MiniMalloc packing must
respect, one row and one offset per buffer (`minimalloc_lifespans`):

* a buffer of several live intervals is one row whose gaps are the steps
  between them (one row per interval would let a solver give each its own
  offset);
* a share (`Problem.share_*`: an operand whose slot its user may take at one
  step) makes the two buffers' half-open ranges touch at the shared step. For
  that the step is cut in two on a finer clock: the operand holds it in the
  first half, the user in the second, and every other buffer live then in
  both, so a third buffer still keeps apart from both of them. With several
  shares at one step, the step gets `m + 2` parts (all operands; for each
  share k, its user and the other operands; all users), the pattern that
  lets each pair meet but the shared ones. Steps without shares keep one
  part, so a problem without shares is written on its own clock as before.
  A share whose buffers do not end and begin at its step (which extraction
  never makes) cannot touch and is written as an overlap: a packing of the
  file is then valid but does not use that share.

So a packing of the written file is a valid placement of the problem, and a
valid placement (one fast level) is a packing of the file. Reading the file
back gives the problem itself when it has no shares, and with shares the same
packing problem on the finer clock.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from malloc_muzero.atomic_file import atomic_write_text, read_input_bytes
from malloc_muzero.errors import ProblemError
from malloc_muzero.problem import Problem

_REQUIRED = ("id", "lower", "upper", "size")
_GAPS = "gaps"
_OFFSET = "offset"
# MiniMalloc's other names for the columns: name -> (column, added to values).
_ALIASES = {"buffer": ("id", 0), "buffer_id": ("id", 0),
            "begin": ("lower", 0), "start": ("lower", 0), "end": ("upper", 1)}
_CAPACITY_RE = re.compile(r".*\.([0-9]+)\.csv", re.IGNORECASE)
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_GAP_RE = re.compile(r"([0-9]+)-([0-9]+)")
_MAX_STEPS = np.iinfo(np.int32).max  # Schedule steps are int32.
_MAX_BYTES = np.iinfo(np.int64).max
_UNQUOTABLE = re.compile(r"[,\r\n]")


def load_minimalloc_csv(path: str | os.PathLike) -> Problem:
  """Reads a MiniMalloc CSV problem, ignoring any offsets.

  Args:
    path: the CSV file.

  Returns:
    The `Problem`; its source is {"kind": "minimalloc", "file": path,
    "capacity": bytes from the file name, or None}.

  Raises:
    ProblemError: a malformed file, naming the file and line.
    OSError: the file cannot be read.
  """
  return read_minimalloc_csv(path)[0]


def read_minimalloc_csv(
    path: str | os.PathLike) -> tuple[Problem, np.ndarray | None]:
  """Reads a MiniMalloc CSV problem and, when present, its solution.

  Args:
    path: the CSV file.

  Returns:
    (problem, offsets): offsets is [N] int64 bytes, -1 where the cell is empty,
    or None without an offset column.

  Raises:
    ProblemError: a malformed file, naming the file and line.
    OSError: the file cannot be read.
  """
  reader = _Reader(str(path))
  columns = reader.header()
  rows = [reader.row(line, cells, columns) for line, cells in reader.lines]
  ids = [row[0] for row in rows]
  lowers, uppers, sizes, offsets = np.array(
      [row[1:5] for row in rows], np.int64).reshape(-1, 4).T
  gaps = [(index, start, end) for index, row in enumerate(rows) if len(row[5]) > 1
          for start, end in row[5]]
  match = _CAPACITY_RE.fullmatch(Path(path).name)
  capacity = int(match.group(1)) if match else None
  if capacity is not None and not 1 <= capacity <= _MAX_BYTES:
    raise ProblemError(f"a capacity in the file name in [1, {_MAX_BYTES}] bytes",
                       str(path), found=capacity)
  starts = [row[5][0][0] for row in rows]
  ends = [row[5][-1][1] for row in rows]
  problem = Problem.from_arrays(
      sizes, starts, ends, name=Path(path).stem, buffer_names=ids,
      schedule_length=int(uppers.max()) if rows else 0,
      source={"kind": "minimalloc", "file": str(path),
              "capacity": capacity})
  if gaps:
    problem = dataclasses.replace(problem, interval_buffer=[g[0] for g in gaps],
                                  interval_start=[g[1] for g in gaps],
                                  interval_end=[g[2] for g in gaps])
  has_offsets = _OFFSET in columns.values()
  return problem, offsets if has_offsets else None


def write_minimalloc_csv(path: str | os.PathLike, problem: Problem,
                         offsets: np.ndarray | None = None) -> None:
  """Writes `problem` (and a solution) as a MiniMalloc CSV, atomically.

  Only ids, sizes and lifespans are written (`minimalloc_lifespans`: half-open,
  with a `gaps` column when some buffer has gaps; see the module docstring for
  intervals and shares). Reading the file back gives schedule_length = the
  largest upper bound.

  Args:
    path: the destination file.
    problem: its buffer names must be non-empty and free of commas, line
      breaks and surrounding spaces.
    offsets: [N] integer byte offsets, -1 for an unplaced buffer (an empty
      cell); None writes no offset column.

  Raises:
    ProblemError: a buffer name or an offset the format cannot hold.
  """
  for index, name in enumerate(problem.buffer_names):
    if not name or name != name.strip() or _UNQUOTABLE.search(name):
      raise ProblemError(
          "a non-empty id without commas, line breaks or surrounding spaces "
          "(MiniMalloc's CSV has no quoting)",
          where=f"buffer_names[{index}]", found=name)
  lowers, uppers, gaps = minimalloc_lifespans(problem)
  lines = [f"{name},{lower},{upper},{size}" for name, lower, upper, size in zip(
      problem.buffer_names, lowers, uppers, problem.sizes.tolist())]
  header = ",".join(_REQUIRED)
  if any(gaps):
    header += f",{_GAPS}"
    lines = [f"{line},{gaps_cell(spans)}" for line, spans in zip(lines, gaps)]
  lines = [header] + lines
  if offsets is not None:
    cells = ["" if offset == -1 else str(offset)
             for offset in _check_offsets(offsets, problem.num_buffers)]
    lines = [f"{line},{cell}" for line, cell in zip(lines, [_OFFSET, *cells])]
  atomic_write_text(path, "\n".join(lines) + "\n")


def minimalloc_lifespans(problem: Problem) -> tuple[list[int], list[int],
                                                    list[list[tuple[int, int]]]]:
  """Each buffer's lifespan as the CSV export writes it (module docstring).

  Returns:
    (lowers, uppers, gaps): per buffer, the half-open `[lower, upper)` and the
    half-open gaps inside it, on the problem's clock, or with shares on the
    finer clock that cuts each shared step.
  """
  lowers, uppers, gaps = [], [], []
  for spans in occupied_spans(problem):
    lowers.append(spans[0][0])
    uppers.append(spans[-1][1])
    gaps.append([(high, low) for (_, high), (low, _) in zip(spans, spans[1:])])
  return lowers, uppers, gaps


def occupied_spans(problem: Problem) -> list[list[tuple[int, int]]]:
  """Per buffer, the half-open spans during which it holds its bytes, as the
  CSV export writes them (`minimalloc_lifespans`): its live intervals, on the
  problem's clock, or with shares on the finer clock that cuts each shared
  step so that a user and each operand whose slot it may take (a share) may
  take the same bytes there and no other buffer may. Two buffers may overlap
  in bytes exactly when their spans are disjoint, as the checker
  (`placement.check_placement`) has it; the solvers that honour shares and
  intervals pack by them (`solvers.exact`).
  """
  intervals = problem.buffer_intervals(range(problem.num_buffers))
  # Step -> buffer that begins there -> the buffers ending there whose bytes
  # it may take (a user with its operands).
  by_step: dict[int, dict[int, list[int]]] = {}
  begins: dict[tuple[int, int], bool] = {}  # (step, buffer) -> begins in a group there.
  for a, b, t in zip(problem.share_operand.tolist(), problem.share_user.tolist(),
                     problem.share_step.tolist()):
    pair = _touching(intervals, a, b, t) or _touching(intervals, b, a, t)
    if pair and (t, pair[0]) not in begins and begins.get((t, pair[1]), True):
      by_step.setdefault(t, {}).setdefault(pair[1], []).append(pair[0])
      begins.update({(t, pair[0]): False, (t, pair[1]): True})
  steps = sorted(by_step)
  extra = np.cumsum([0] + [1 if len(by_step[t]) == 1 else len(by_step[t]) + 1
                           for t in steps]).tolist()

  def clock(t: int) -> int:  # The first part of step t.
    return t + extra[bisect.bisect_left(steps, t)]

  holes: dict[int, list[tuple[int, int]]] = {}  # Buffer -> parts of steps it leaves free.
  for t, groups in by_step.items():
    base, last = clock(t), clock(t + 1) - 1
    middle = range(base + 1, last) if len(groups) > 1 else range(0)
    for k, (beginning, endings) in enumerate(groups.items()):
      own = [middle[k]] if len(groups) > 1 else []
      for ending in endings:
        holes.setdefault(ending, []).extend((p, p + 1) for p in [last, *own])
      holes.setdefault(beginning, []).extend(
          (p, p + 1) for p in [base, *(p for p in middle if p not in own)])
  return [_without([(clock(s), clock(e + 1)) for s, e in intervals[buffer]],
                   sorted(holes.get(buffer, ())))
          for buffer in range(problem.num_buffers)]


def gaps_cell(gaps: list[tuple[int, int]]) -> str:
  """A `gaps` cell: half-open spans as space-separated `lower-upper`."""
  return " ".join(f"{low}-{high}" for low, high in gaps)


def _touching(intervals, ending: int, beginning: int, t: int) -> tuple[int, int] | None:
  """(ending, beginning) when an interval of `ending` ends at step `t` and one
  of `beginning` begins there."""
  if any(e == t for _, e in intervals[ending]) and any(s == t for s, _ in intervals[beginning]):
    return ending, beginning
  return None


def _without(spans: list[tuple[int, int]],
             holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
  """Half-open `spans` (sorted, disjoint) minus the half-open `holes` (sorted
  by start), adjacent pieces merged."""
  out: list[list[int]] = []
  for low, high in spans:
    for hole_low, hole_high in [h for h in holes if h[0] < high and low < h[1]] + [(high, high)]:
      if low < hole_low:
        if out and out[-1][1] == low:
          out[-1][1] = hole_low
        else:
          out.append([low, hole_low])
      low = max(low, hole_high)
  return [(low, high) for low, high in out]


def _check_offsets(offsets, count: int) -> list[int]:
  offsets = np.asarray(offsets)
  if offsets.shape != (count,):
    raise ProblemError(f"an array of shape ({count},)", where="offsets",
                       found=offsets.shape)
  if count and offsets.dtype.kind not in "iu":
    raise ProblemError("an array of integers", where="offsets",
                       found=offsets.dtype)
  bad = np.flatnonzero(offsets < -1)
  if bad.size:
    raise ProblemError("an offset >= 0, or -1 for none",
                       where=f"offsets[{bad[0]}]",
                       found=offsets[bad[0]].item())
  return offsets.tolist()


class _Reader:
  """Splits a file into cells and checks them, naming file and line."""

  def __init__(self, filename: str):
    self.filename = filename
    data = read_input_bytes(filename)
    try:
      text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
      line = data.count(b"\n", 0, error.start) + 1
      self.fail(line, "UTF-8 text", data[error.start:error.end])
    self.lines = [(number, [cell.strip() for cell in line.split(",")])
                  for number, line in enumerate(text.split("\n"), 1)
                  if line.strip()]
    self.added = {}  # Column -> what to add to its values (1 for `end`).
    self.labels = {}  # Column -> its name in the header.
    self.first_line = {}  # Id -> the line that defines it.
    self.total_size = 0  # Bytes of the buffers read so far.

  def fail(self, line: int, expected: str, found=None):
    raise ProblemError(expected, self.filename, f"line {line}", found)

  def header(self) -> dict[int, str]:
    """Consumes the header line; returns {cell position: column}."""
    expected = ("a header naming the columns id, lower, upper, size and "
                "optionally gaps and offset")
    if not self.lines:
      self.fail(1, expected)
    line, names = self.lines.pop(0)
    columns = {}
    for position, name in enumerate(names):
      column, added = _ALIASES.get(name, (name, 0))
      if column not in (*_REQUIRED, _GAPS, _OFFSET):
        self.fail(line, expected, name)
      if column in columns.values():
        self.fail(line, f"the {column} column once", name)
      columns[position] = column
      self.added[column] = added
      self.labels[column] = name
    for column in _REQUIRED:
      if column not in columns.values():
        self.fail(line, f"{expected} (no {column} column)", ",".join(names))
    return columns

  def row(self, line: int, cells: list[str],
          columns: dict[int, str]) -> tuple:
    """Checks one buffer's line: (id, lower, upper, size, offset or -1, live
    intervals: inclusive [start, end] spans of [lower, upper) outside its
    gaps)."""
    if len(cells) != len(columns):
      self.fail(line, f"{len(columns)} cells", len(cells))
    row = {column: cells[position] for position, column in columns.items()}
    name = row["id"]
    if not name:
      self.fail(line, "a non-empty id")
    if name in self.first_line:
      self.fail(line, f"a unique id (also on line {self.first_line[name]})",
                name)
    self.first_line[name] = line
    lower = self.integer(line, row, "lower", _MAX_STEPS - 1)
    upper = self.integer(line, row, "upper", _MAX_STEPS)
    if upper <= lower:
      self.fail(line, f"upper > lower = {lower} (lifespans are [lower, upper))",
                upper)
    size = self.integer(line, row, "size", _MAX_BYTES)
    self.total_size += size
    if self.total_size > _MAX_BYTES:
      self.fail(line, f"sizes adding up to at most {_MAX_BYTES} bytes",
                self.total_size)
    offset = -1
    if row.get(_OFFSET):
      offset = self.integer(line, row, _OFFSET, _MAX_BYTES)
    return name, lower, upper, size, offset, self.live(line, row.get(_GAPS, ""), lower, upper)

  def live(self, line: int, cell: str, lower: int, upper: int) -> list[tuple[int, int]]:
    """The inclusive spans of `[lower, upper)` outside the gaps in `cell`."""
    added = self.added.get("upper", 0)  # An `end` header makes gap ends inclusive too.
    free = []
    for text in cell.split():
      match = _GAP_RE.fullmatch(text)
      low, high = (int(match.group(1)), int(match.group(2)) + added) if match else (0, 0)
      if not match or not lower <= low < high <= upper:
        self.fail(line, f"gaps 'lower-upper' with {lower} <= lower < upper <= {upper} "
                  "(MiniMalloc's windows '@a:b' are not supported)", text)
      free.append((low, high))
    spans = _without([(lower, upper)], sorted(free))
    if not spans:
      self.fail(line, "a lifespan that its gaps do not cover", cell)
    return [(low, high - 1) for low, high in spans]

  def integer(self, line: int, row: dict[str, str], column: str,
              maximum: int) -> int:
    """The cell's value plus what its column adds, in [0, maximum]."""
    cell, label, added = row[column], self.labels[column], self.added[column]
    if not _INTEGER_RE.fullmatch(cell):
      self.fail(line, f"an integer {label}", cell)
    value = int(cell)
    if value < 0:
      self.fail(line, f"a non-negative {label}", value)
    if value > maximum - added:
      self.fail(line, f"{label} <= {maximum - added}", value)
    return value + added
