"""Placements saved and loaded as JSON and as MiniMalloc CSV solutions."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from malloc_muzero import Problem, ProblemError
from malloc_muzero.minimalloc_csv import read_minimalloc_csv
from malloc_muzero.placement import Placement
from malloc_muzero.placement_io import (load_placement, load_placement_csv,
                                        load_placement_json,
                                        save_placement_csv,
                                        save_placement_json)
from tests.test_placement import HARDWARE  # the same three-level toy

PROBLEM = Problem.from_arrays([64, 32, 16, 0], [0, 1, 2, 0], [3, 4, 5, 5],
                              name="toy", buffer_names=["a", "b", "c", "z"])
PLACEMENT = Placement([1, 0, 2, 1], [64, -1, 8, 0], solver="hand")


def _save(path, placement=PLACEMENT, time_s=1.5, bounds=(2.0, 1.0)):
  save_placement_json(path, PROBLEM, HARDWARE, placement, time_s, bounds)


def test_json_round_trip(tmp_path):
  path = tmp_path / "p.json"
  _save(path)
  loaded = load_placement_json(path, PROBLEM)
  assert loaded.levels.tolist() == [1, 0, 2, 1]
  assert loaded.offsets.tolist() == [64, -1, 8, 0]
  assert loaded.solver == "hand"
  assert load_placement(path, PROBLEM).offsets.tolist() == [64, -1, 8, 0]
  data = json.loads(path.read_text())
  assert data["format"] == "malloc_muzero.placement" and data["version"] == 3
  assert data["copies"] == [] and data["hardware_model"]["levels"][1] == {
      "name": HARDWARE.levels[1].name, "read_bandwidth": HARDWARE.levels[1].bandwidth,
      "write_bandwidth": HARDWARE.levels[1].bandwidth, "capacity": 256,
      "alignment": HARDWARE.levels[1].alignment}
  assert data["problem"] == "toy" and data["hardware"] == "toy3"
  assert data["capacity"] == [256, 64]
  assert data["simulated_time_s"] == 1.5
  assert data["bounds"] == {"all_slow_s": 2.0, "all_fast_s": 1.0}
  assert data["buffers"][1] == {"name": "b", "size": 32, "start": 1, "end": 4,
                                "level": 0, "offset": None}
  assert data["buffers"][0]["offset"] == 64
  # One buffer per line, and no temporary file left behind.
  assert len(path.read_text().splitlines()) > len(data["buffers"])
  assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_save_refuses_bad_times_and_lengths(tmp_path):
  path = tmp_path / "p.json"
  with pytest.raises(ProblemError, match="simulated_time_s"):
    _save(path, time_s=math.nan)
  with pytest.raises(ProblemError, match="all_fast_s"):
    _save(path, bounds=(1.0, math.inf))
  with pytest.raises(ProblemError, match="placement.levels"):
    _save(path, placement=Placement([0], [-1]))
  assert not path.exists()


def _as_version_1(data: dict) -> dict:
  """A version-3 file of whole buffers, as version 1 wrote it."""
  del data["copies"], data["hardware_model"]
  data["version"] = 1
  return data


def _edit(tmp_path, change):
  path = tmp_path / "p.json"
  _save(path)
  data = json.loads(path.read_text())
  change(data)
  path.write_text(json.dumps(data))
  return path


@pytest.mark.parametrize("change, where, expected", [
    (lambda d: d.update(format="other"), "format", "malloc_muzero.placement"),
    (lambda d: d.update(version=4), "version", "newer"),
    (lambda d: d.update(version=True), "version", "an integer"),
    (lambda d: d.pop("solver"), "", '"solver"'),
    (lambda d: d.update(extra=1), "", "only the fields"),
    (lambda d: d.update(capacity=[1.5]), r"capacity\[0\]", "an integer"),
    (lambda d: d["bounds"].update(all_slow_s="1"), "bounds.all_slow_s",
     "seconds"),
    (lambda d: d["buffers"].pop(), "buffers", "no segment"),
    (lambda d: d["buffers"][2].update(name="q"), r"buffers\[2\]\.name",
     "the name of a buffer"),
    # Found by tests/test_fuzz_inputs.py: a list was a TypeError traceback.
    (lambda d: d["buffers"][0].update(name=[]), r"buffers\[0\]\.name",
     "the name of a buffer"),
    (lambda d: d["buffers"][2].update(size=17), r"buffers\[2\]\.size", "16"),
    (lambda d: d["buffers"][1].update(end=9), "buffers", "do not cover"),
    (lambda d: d["buffers"][0].update(level=True), r"buffers\[0\]\.level",
     "an integer"),
    (lambda d: d["buffers"][0].update(level=-1), r"buffers\[0\]\.level",
     "an integer in"),
    (lambda d: d["buffers"][0].update(offset=None), r"buffers\[0\]\.offset",
     "byte offset"),
    (lambda d: d["buffers"][0].update(offset=1.0), r"buffers\[0\]\.offset",
     "an integer"),
    (lambda d: _as_version_1(d)["buffers"][1].update(offset=0), r"buffers\[1\]\.offset",
     "null"),
    (lambda d: d["copies"].append({"name": "a", "kind": "prefetch", "start": 0,
                                   "done": 9}), r"copies\[0\]\.done", "an integer in"),
    (lambda d: d["copies"].append({"name": "a", "kind": "prefetch", "start": 1,
                                   "done": 2}), "buffers", "no fast segment begins"),
    (lambda d: d["hardware_model"].update(peak_flops=-1), "hardware_model.peak_flops",
     "positive"),
    (lambda d: d["buffers"][1].pop("offset"), r"buffers\[1\]", '"offset"'),
])
def test_json_errors_name_file_and_path(tmp_path, change, where, expected):
  path = _edit(tmp_path, change)
  with pytest.raises(ProblemError, match=expected) as info:
    load_placement_json(path, PROBLEM)
  assert info.value.filename == str(path)
  assert re.fullmatch(where, info.value.where)
  assert str(info.value).startswith(str(path))


def test_invalid_json_and_text(tmp_path):
  path = tmp_path / "p.json"
  path.write_text('{"format": \n')
  with pytest.raises(ProblemError, match="line 2"):
    load_placement_json(path, PROBLEM)
  path.write_bytes(b'{"a": "\xff"}')
  with pytest.raises(ProblemError, match="UTF-8"):
    load_placement_json(path, PROBLEM)
  path.write_text("[]")
  with pytest.raises(ProblemError, match="JSON object"):
    load_placement_json(path, PROBLEM)
  with pytest.raises(FileNotFoundError):
    load_placement_json(tmp_path / "missing.json", PROBLEM)


def test_csv_round_trip_with_offsets(tmp_path):
  path = tmp_path / "p.csv"
  placement = Placement([1, 0, 1, 1], [64, -1, 128, 0])
  save_placement_csv(path, PROBLEM, placement)
  lines = path.read_text().splitlines()
  assert lines[0] == "id,lower,upper,size,offset"
  assert lines[1] == "a,0,4,64,64"
  assert lines[2] == "b,1,5,32,"  # Empty cell: slow memory.
  _, offsets = read_minimalloc_csv(path)
  assert offsets.tolist() == [64, -1, 128, 0]
  loaded = load_placement(path, PROBLEM)
  assert loaded.levels.tolist() == [1, 0, 1, 1]
  assert loaded.offsets.tolist() == [64, -1, 128, 0]


def test_csv_rows_match_by_id_in_any_order(tmp_path):
  path = tmp_path / "p.csv"
  path.write_text("id,lower,upper,size,offset\n"
                  "z,0,6,0,0\nc,2,6,16,32\na,0,4,64,\nb,1,5,32,64\n")
  loaded = load_placement_csv(path, PROBLEM)
  assert loaded.levels.tolist() == [0, 1, 1, 1]
  assert loaded.offsets.tolist() == [-1, 64, 32, 0]


def test_csv_errors(tmp_path):
  path = tmp_path / "p.csv"
  with pytest.raises(ProblemError, match="one fast level"):
    save_placement_csv(path, PROBLEM, PLACEMENT)  # Uses level 2.
  assert not path.exists()
  path.write_text("id,lower,upper,size\na,0,4,64\nb,1,5,32\nc,2,6,16\n"
                  "z,0,6,0\n")
  with pytest.raises(ProblemError, match="offset column"):
    load_placement_csv(path, PROBLEM)
  path.write_text("id,lower,upper,size,offset\na,0,4,64,\nb,1,5,32,\n"
                  "c,2,6,16,\nq,0,6,0,\n")
  with pytest.raises(ProblemError, match="id 'z'"):
    load_placement_csv(path, PROBLEM)
  path.write_text("id,lower,upper,size,offset\na,0,4,64,\nb,1,5,32,\n"
                  "c,2,7,16,\nz,0,6,0,\n")
  with pytest.raises(ProblemError, match="upper 6 for id 'c'"):
    load_placement_csv(path, PROBLEM)
  path.write_text("id,lower,upper,size,offset\na,0,4,64,\n")
  with pytest.raises(ProblemError, match="4 buffers"):
    load_placement_csv(path, PROBLEM)


def test_load_placement_dispatches_on_extension(tmp_path):
  with pytest.raises(ProblemError, match=r"\.json placement.*found '\.txt'"):
    load_placement(tmp_path / "p.txt", PROBLEM)
  path = tmp_path / "P.JSON"
  _save(path)
  assert load_placement(path, PROBLEM).solver == "hand"


def test_json_round_trip_of_a_problem_without_buffers(tmp_path):
  empty = Problem.from_arrays([], [], [], name="empty")
  path = tmp_path / "e.json"
  save_placement_json(path, empty, HARDWARE, Placement([], []), 0.0,
                      (0.0, 0.0))
  loaded = load_placement_json(path, empty)
  assert loaded.num_buffers == 0 and loaded.levels.dtype == np.int32
