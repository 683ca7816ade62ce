"""MiniMalloc's CSV problems and solutions (google/minimalloc).

A file is a header line and one line per buffer:

  id,lower,upper,size[,offset]
  0,995328,1000448,656384

with a half-open lifespan `[lower, upper)` in schedule steps and a size in
bytes; a solution adds each buffer's byte offset. Columns are matched by their
header names, in any order, including MiniMalloc's older spellings `buffer` and
`buffer_id` (for `id`), `begin` and `start` (for `lower`) and `end` (an
inclusive upper bound, `upper = end + 1`). Cells are plain: MiniMalloc's CSV has
no quoting. Its `alignment` and `gaps` columns are not supported.

A buffer becomes a "temporary" of the `Problem` with the inclusive range
`[lower, upper - 1]`; the schedule has `max(upper)` steps and no instructions.
A file name like `A.1048576.csv` gives the fast memory's capacity in bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from malloc_muzero.atomic_file import atomic_write_text, read_input_bytes
from malloc_muzero.errors import ProblemError
from malloc_muzero.problem import Problem

_REQUIRED = ("id", "lower", "upper", "size")
_OFFSET = "offset"
# MiniMalloc's other names for the columns: name -> (column, added to values).
_ALIASES = {"buffer": ("id", 0), "buffer_id": ("id", 0),
            "begin": ("lower", 0), "start": ("lower", 0), "end": ("upper", 1)}
_CAPACITY_RE = re.compile(r".*\.([0-9]+)\.csv", re.IGNORECASE)
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
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
      [row[1:] for row in rows], np.int64).reshape(-1, 4).T
  match = _CAPACITY_RE.fullmatch(Path(path).name)
  capacity = int(match.group(1)) if match else None
  if capacity is not None and not 1 <= capacity <= _MAX_BYTES:
    raise ProblemError(f"a capacity in the file name in [1, {_MAX_BYTES}] bytes",
                       str(path), found=capacity)
  problem = Problem.from_arrays(
      sizes, lowers, uppers - 1, name=Path(path).stem, buffer_names=ids,
      schedule_length=int(uppers.max()) if rows else 0,
      source={"kind": "minimalloc", "file": str(path),
              "capacity": capacity})
  has_offsets = _OFFSET in columns.values()
  return problem, offsets if has_offsets else None


def write_minimalloc_csv(path: str | os.PathLike, problem: Problem,
                         offsets: np.ndarray | None = None) -> None:
  """Writes `problem` (and a solution) as a MiniMalloc CSV, atomically.

  Only ids, sizes and live ranges are written (as half-open `[start, end + 1)`);
  reading the file back gives schedule_length = max end + 1.

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
  lines = [",".join(_REQUIRED)] + [
      f"{name},{start},{end + 1},{size}" for name, start, end, size in zip(
          problem.buffer_names, problem.starts.tolist(), problem.ends.tolist(),
          problem.sizes.tolist())]
  if offsets is not None:
    cells = ["" if offset == -1 else str(offset)
             for offset in _check_offsets(offsets, problem.num_buffers)]
    lines = [f"{line},{cell}" for line, cell in zip(lines, [_OFFSET, *cells])]
  atomic_write_text(path, "\n".join(lines) + "\n")


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
                "optionally offset")
    if not self.lines:
      self.fail(1, expected)
    line, names = self.lines.pop(0)
    columns = {}
    for position, name in enumerate(names):
      column, added = _ALIASES.get(name, (name, 0))
      if column not in (*_REQUIRED, _OFFSET):
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
          columns: dict[int, str]) -> tuple[str, int, int, int, int]:
    """Checks one buffer's line: (id, lower, upper, size, offset or -1)."""
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
    return name, lower, upper, size, offset

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
