"""Saving and loading placements: malloc_muzero's JSON and MiniMalloc's CSV.

The JSON form records a placement with what it was evaluated on:

  {"format": "malloc_muzero.placement", "version": 1, "problem": NAME,
   "solver": NAME, "hardware": NAME, "capacity": [bytes per fast level],
   "simulated_time_s": seconds,
   "bounds": {"all_slow_s": seconds, "all_fast_s": seconds},
   "buffers": [{"name", "size", "start", "end", "level", "offset"}]}

with one entry per buffer of the problem, in its order; `offset` is null for
buffers in level 0 (the default memory) and `capacity` is null for a fast
level without a limit. A MiniMalloc CSV solution has one fast level: a buffer
with an offset is in level 1, one with an empty offset cell in level 0.

Version 3 (written on XLA's time model) records allocation segments and
copies (`malloc_muzero.segments`) and the whole model it was simulated on:

  {..., "version": 3, "hardware_model": {"name", "time_model", "peak_flops",
   "peak_transcendentals", "copy_bandwidth", "levels": [{"name",
   "read_bandwidth", "write_bandwidth", "capacity", "alignment"}]},
   "buffers": [{"name", "size", "start", "end", "level", "offset"}, ...],
   "copies": [{"name", "kind": "prefetch"|"eviction", "start", "done"}]}

where `buffers` lists each buffer's segments in the problem's order (one per
buffer for a whole-buffer placement), so a placement of windows is written
in terms of the original problem. `load_segments` reads it; versions 1 and 2
are still read.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.errors import ProblemError
from malloc_muzero.json_file import JsonReader, dump_json, read_json_file
from malloc_muzero.minimalloc_csv import (gaps_cell, minimalloc_lifespans,
                                          read_minimalloc_csv, write_minimalloc_csv)
from malloc_muzero.hardware import hardware_from_json, hardware_to_json
from malloc_muzero.placement import Placement
from malloc_muzero.problem import COPY_KINDS, Problem
from malloc_muzero.segments import (Segments, check_segments, from_windows,
                                    whole_buffers)

FORMAT = "malloc_muzero.placement"
VERSION = 3
_TOP_KEYS = ("format", "version", "problem", "solver", "hardware", "capacity",
             "simulated_time_s", "bounds", "buffers")
_TOP_KEYS_3 = _TOP_KEYS + ("hardware_model", "copies")
_COPY_KEYS = ("name", "kind", "start", "done")
_BOUND_KEYS = ("all_slow_s", "all_fast_s")
_BUFFER_KEYS = ("name", "size", "start", "end", "level", "offset")
_MAX_BYTES = np.iinfo(np.int64).max
_MAX_LEVEL = np.iinfo(np.int32).max


def save_placement_json(path: str | os.PathLike, problem: Problem, hardware,
                        placement: Placement, simulated_time_s: float,
                        bounds: tuple[float, float], windows=None) -> None:
  """Writes a placement and its evaluation as JSON, atomically.

  The placement is written as it is, valid or not (`check_placement`
  decides), except that offsets of buffers in level 0 are written as null.
  On XLA's time model it is written as version 3: segments and copies of
  `windows.original`'s buffers when `windows` is given, else one segment per
  buffer of `problem`, with the whole hardware model. On the additive model
  (results from before XLA's) it is written as version 1, of `problem`'s
  buffers (windows included).

  Args:
    path: the destination file.
    problem: the instance, N buffers (`windows.problem` when windowed).
    hardware: a `malloc_muzero.hardware.Hardware`; its name and the capacity
      of each fast level (`levels[1:]`) are recorded.
    placement: N levels and offsets.
    simulated_time_s: the placement's simulated time, seconds.
    bounds: (all_slow_s, all_fast_s) seconds, from `simulation_bounds`.
    windows: the `malloc_muzero.windows.Windows` that `problem` comes from,
      or None.

  Raises:
    ProblemError: the placement does not have one entry per buffer, or a time
      is not a finite number.
  """
  placement.check_matches(problem)
  times = _times(simulated_time_s, bounds)
  if hardware.time_model == "additive":
    _write(path, problem, hardware, placement.solver, whole_buffers(problem, placement),
           times, version=1)
    return
  owner = windows.original if windows is not None else problem
  segments = (from_windows(windows, placement) if windows is not None
              else whole_buffers(problem, placement))
  _write(path, owner, hardware, placement.solver, segments, times, VERSION)


def save_segments_json(path: str | os.PathLike, problem: Problem, hardware, solver: str,
                       segments: Segments, simulated_time_s: float,
                       bounds: tuple[float, float]) -> None:
  """Writes the segments and copies of `problem`'s buffers and their
  evaluation as JSON version 3, atomically (see `save_placement_json`).

  Raises:
    ProblemError: a time that is not a finite number, or the additive model
      (version 1 holds whole buffers only).
  """
  if hardware.time_model == "additive":
    raise ProblemError("XLA's time model (segments are written as version 3)",
                       where="hardware", found=hardware.time_model)
  _write(path, problem, hardware, solver, segments, _times(simulated_time_s, bounds), VERSION)


def _times(simulated_time_s, bounds) -> dict:
  times = {"simulated_time_s": simulated_time_s}
  if len(bounds) != 2:
    raise ProblemError("(all_slow_s, all_fast_s)", where="bounds", found=bounds)
  times.update(zip(_BOUND_KEYS, bounds))
  for name, value in times.items():
    if (isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not math.isfinite(value)):
      raise ProblemError("a finite number of seconds", where=name, found=value)
  return times


def _write(path, owner: Problem, hardware, solver: str, segments: Segments, times: dict,
           version: int) -> None:
  buffers = [
      {"name": owner.buffer_names[b], "size": int(owner.sizes[b]), "start": start,
       "end": end, "level": level, "offset": None if level == 0 else offset}
      for b, start, end, level, offset in zip(
          segments.buffer.tolist(), segments.start.tolist(), segments.end.tolist(),
          segments.level.tolist(), segments.offset.tolist())]
  data = {
      "format": FORMAT, "version": version, "problem": owner.name,
      "solver": solver, "hardware": hardware.name,
      "capacity": [None if level.capacity is None else int(level.capacity)
                   for level in hardware.levels[1:]],
      "simulated_time_s": float(times["simulated_time_s"]),
      "bounds": {key: float(times[key]) for key in _BOUND_KEYS},
      "buffers": buffers,
  }
  if version == 3:
    data["hardware_model"] = hardware_to_json(hardware)
    data["copies"] = [
        {"name": owner.buffer_names[b], "kind": COPY_KINDS[kind], "start": start,
         "done": done}
        for b, kind, start, done in zip(
            segments.copy_buffer.tolist(), segments.copy_kind.tolist(),
            segments.copy_start.tolist(), segments.copy_done.tolist())]
  atomic_write_text(path, dump_json(data, row_keys=("buffers", "copies")))


def load_placement_json(path: str | os.PathLike, problem: Problem) -> Placement:
  """Reads a whole-buffer placement written by `save_placement_json`.

  The hardware, capacities and times in the file are informational and not
  returned; the buffers must be the problem's, in its order. A version-3
  file of several segments per buffer, or with copies, is refused here:
  read it with `load_segments`.

  Args:
    path: the JSON file.
    problem: the instance the placement is for.

  Returns:
    The `Placement`, with the file's solver name.

  Raises:
    ProblemError: invalid JSON, a wrong format or version, a missing or
      mistyped field, or buffers that differ from the problem's, naming the
      file and the JSON path.
    OSError: the file cannot be read.
  """
  segments, solver, _ = load_segments(path, problem)
  if not segments.whole:
    raise ProblemError("one segment per buffer and no copies (this file places "
                       "segments: read it with load_segments)", str(path), "buffers")
  order = np.argsort(segments.buffer)
  return Placement(levels=segments.level[order].astype(np.int32),
                   offsets=segments.offset[order], solver=solver)


def load_segments(path: str | os.PathLike, problem: Problem):
  """Reads any placement JSON for `problem` as segments.

  Returns:
    (`malloc_muzero.segments.Segments`, the solver's name, the recorded
    `Hardware` or None for a file before version 3).

  Raises:
    ProblemError: a malformed file, or segments and copies that do not fit
      the problem's buffers (`check_segments`), naming the file.
    OSError: the file cannot be read.
  """
  reader = _JsonReader(str(path), problem)
  segments, hardware = reader.segments(read_json_file(path))
  broken = check_segments(problem, segments)
  if broken:
    reader.fail("buffers", "segments and copies that follow the rules of "
                "malloc_muzero.segments", broken)
  return segments, reader.solver, hardware


def save_placement_csv(path: str | os.PathLike, problem: Problem,
                       placement: Placement) -> None:
  """Writes a one-fast-level placement as a MiniMalloc CSV solution.

  Args:
    path: the destination file.
    problem: the instance; its buffer names become the CSV ids.
    placement: levels 0 and 1 only.

  Raises:
    ProblemError: a level other than 0 and 1, a length mismatch, or a name or
      offset the format cannot hold.
  """
  placement.check_matches(problem)
  bad = np.flatnonzero((placement.levels != 0) & (placement.levels != 1))
  if bad.size:
    raise ProblemError("level 0 or 1 (a MiniMalloc CSV has one fast level)",
                       where=f"placement.levels[{bad[0]}]",
                       found=int(placement.levels[bad[0]]))
  offsets = np.where(placement.levels == 1, placement.offsets, -1)
  write_minimalloc_csv(path, problem, offsets)


def load_placement_csv(path: str | os.PathLike, problem: Problem) -> Placement:
  """Reads a MiniMalloc CSV solution for `problem`.

  Rows are matched to the problem's buffers by id (= buffer name), in any
  order; each must have the problem's size and lifespan as
  `write_minimalloc_csv` writes them (`minimalloc_lifespans`).

  Args:
    path: a CSV file with an offset column.
    problem: the instance the solution is for.

  Returns:
    The `Placement`: level 1 at the offset, or level 0 for an empty cell.

  Raises:
    ProblemError: a malformed file, no offset column, or buffers that differ
      from the problem's, naming the file.
    OSError: the file cannot be read.
  """
  filename = str(path)
  solved, offsets = read_minimalloc_csv(path)
  if offsets is None:
    raise ProblemError("an offset column (a MiniMalloc solution)", filename)
  if solved.num_buffers != problem.num_buffers:
    raise ProblemError(f"{problem.num_buffers} buffers, as in problem "
                       f"{problem.name!r}", filename,
                       found=solved.num_buffers)
  row_of = {name: row for row, name in enumerate(solved.buffer_names)}
  lowers, uppers, gaps = minimalloc_lifespans(problem)
  solved_intervals = solved.buffer_intervals(range(solved.num_buffers))
  result = np.full(problem.num_buffers, -1, np.int64)
  for index, name in enumerate(problem.buffer_names):
    row = row_of.get(name)
    if row is None:
      raise ProblemError(f"a row with id {name!r} (buffer {index} of problem "
                         f"{problem.name!r})", filename)
    spans = solved_intervals[row]
    fields = (("size", int(solved.sizes[row]), int(problem.sizes[index])),
              ("lower", int(solved.starts[row]), lowers[index]),
              ("upper", int(solved.ends[row]) + 1, uppers[index]),
              ("gaps", gaps_cell([(e + 1, s) for (_, e), (s, _) in zip(spans, spans[1:])]),
               gaps_cell(gaps[index])))
    for field, found, expected in fields:
      if found != expected:
        raise ProblemError(
            f"{field} {expected!r} for id {name!r}, as problem {problem.name!r} is "
            "written (write_minimalloc_csv: CSV lifespans are [lower, upper))",
            filename, f"id {name!r}", found)
    result[index] = offsets[row]
  return Placement.from_offsets(result)


def load_placement(path: str | os.PathLike, problem: Problem) -> Placement:
  """Loads a placement for `problem`, choosing the reader by extension.

  Args:
    path: a `.json` file (`save_placement_json`) or a `.csv` MiniMalloc
      solution.
    problem: the instance the placement is for.

  Returns:
    The `Placement`.

  Raises:
    ProblemError: an unknown extension, or a malformed or mismatched file.
    OSError: the file cannot be read.
  """
  suffix = Path(path).suffix.lower()
  if suffix == ".json":
    return load_placement_json(path, problem)
  if suffix == ".csv":
    return load_placement_csv(path, problem)
  raise ProblemError(
      "a .json placement (save_placement_json) or a .csv MiniMalloc solution",
      str(path), found=suffix or "no extension")


class _JsonReader(JsonReader):
  """Checks the JSON form against a problem, naming file and JSON path."""

  def __init__(self, filename: str, problem: Problem):
    super().__init__(filename)
    self.problem = problem

  def integer(self, value, where: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
      self.fail(where, "an integer", value)
    if not minimum <= value <= maximum:
      self.fail(where, f"an integer in [{minimum}, {maximum}]", value)
    return value

  def string(self, value, where: str) -> str:
    if not isinstance(value, str):
      self.fail(where, "a string", value)
    return value

  def seconds(self, value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      self.fail(where, "a number of seconds", value)

  def segments(self, data):
    """(Segments, Hardware or None) of a placement file of any version."""
    if not isinstance(data, dict) or "version" not in data:
      self.fields(data, "", _TOP_KEYS)  # Names what is missing.
    version = self.integer(data.get("version"), "version", 1, 2**31)
    if version > VERSION:
      self.fail("version", f"version {VERSION} or older; this file is from a "
                "newer malloc_muzero, upgrade it to read the file", version)
    data = self.fields(data, "", _TOP_KEYS_3 if version >= 3 else _TOP_KEYS)
    if data["format"] != FORMAT:
      self.fail("format", f'"{FORMAT}"', data["format"])
    for key in ("problem", "solver", "hardware"):
      self.string(data[key], key)
    capacity = data["capacity"]
    if not isinstance(capacity, list):
      self.fail("capacity", "a JSON array of bytes per fast level", capacity)
    for index, value in enumerate(capacity):
      if value is not None:
        self.integer(value, f"capacity[{index}]", 0, _MAX_BYTES)
    self.seconds(data["simulated_time_s"], "simulated_time_s")
    bounds = self.fields(data["bounds"], "bounds", _BOUND_KEYS)
    for key in _BOUND_KEYS:
      self.seconds(bounds[key], f"bounds.{key}")
    self.solver = data["solver"]
    buffers = data["buffers"]
    if not isinstance(buffers, list):
      self.fail("buffers", "a JSON array", buffers)
    problem = self.problem
    if version < 3 and len(buffers) != problem.num_buffers:
      self.fail("buffers", f"{problem.num_buffers} buffers, one per buffer of "
                f"problem {problem.name!r}", len(buffers))
    rows = [self.buffer(index, buffer, version) for index, buffer in enumerate(buffers)]
    copies = []
    if version >= 3:
      if not isinstance(data["copies"], list):
        self.fail("copies", "a JSON array", data["copies"])
      copies = [self.copy(index, copy) for index, copy in enumerate(data["copies"])]
    columns = list(zip(*rows)) or [()] * 5
    copy_columns = list(zip(*copies)) or [()] * 4
    segments = Segments(*columns, *copy_columns)
    hardware = None
    if version >= 3:
      try:
        hardware = hardware_from_json(data["hardware_model"])
      except ProblemError as error:
        raise ProblemError(error.expected, self.filename, error.where, error.found) from None
    return segments, hardware

  def buffer_index(self, name, where: str) -> int:
    """The problem's buffer named `name` (version 3 names rows by name)."""
    if not hasattr(self, "_index"):
      self._index = {n: i for i, n in enumerate(self.problem.buffer_names)}
    index = self._index.get(name) if isinstance(name, str) else None
    if index is None:
      self.fail(where, f"the name of a buffer of problem {self.problem.name!r}", name)
    return index

  def copy(self, index: int, copy) -> tuple[int, int, int, int]:
    where = f"copies[{index}]"
    copy = self.fields(copy, where, _COPY_KEYS)
    b = self.buffer_index(copy["name"], f"{where}.name")
    if copy["kind"] not in COPY_KINDS:
      self.fail(f"{where}.kind", '"prefetch" or "eviction"', copy["kind"])
    steps = self.problem.schedule_length
    return (b, COPY_KINDS.index(copy["kind"]),
            self.integer(copy["start"], f"{where}.start", 0, steps),
            self.integer(copy["done"], f"{where}.done", 0, steps))

  def buffer(self, index: int, buffer, version: int) -> tuple[int, int, int, int, int]:
    """Checks `buffers[index]` against the problem; returns (buffer, start,
    end, level, offset)."""
    where = f"buffers[{index}]"
    buffer = self.fields(buffer, where, _BUFFER_KEYS)
    problem = self.problem
    if version >= 3:
      b = self.buffer_index(buffer["name"], f"{where}.name")
      name = problem.buffer_names[b]
      expected = {"size": problem.sizes}
    else:
      b, name = index, problem.buffer_names[index]
      if buffer["name"] != name:
        self.fail(f"{where}.name", f"{name!r}, the name of buffer {index} of "
                  f"problem {problem.name!r}", buffer["name"])
      expected = {"size": problem.sizes, "start": problem.starts, "end": problem.ends}
    for key, values in expected.items():
      value = self.integer(buffer[key], f"{where}.{key}", 0, _MAX_BYTES)
      if value != values[b]:
        self.fail(f"{where}.{key}", f"{int(values[b])}, the {key} of "
                  f"buffer {name!r} in problem {problem.name!r}", value)
    span = (self.integer(buffer["start"], f"{where}.start", 0, _MAX_LEVEL),
            self.integer(buffer["end"], f"{where}.end", 0, _MAX_LEVEL))
    level = self.integer(buffer["level"], f"{where}.level", 0, _MAX_LEVEL)
    offset = buffer["offset"]
    if level == 0:
      if offset is not None and version < 3:  # Version 3 ignores it.
        self.fail(f"{where}.offset", "null for a buffer in level 0", offset)
      return b, *span, level, -1
    if offset is None:
      self.fail(f"{where}.offset", f"a byte offset in level {level}")
    return b, *span, level, self.integer(offset, f"{where}.offset", 0, _MAX_BYTES)

