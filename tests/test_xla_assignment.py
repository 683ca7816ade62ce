"""XLA's own buffer assignment as a placement (issue 16): `hlo_tools.xla_assignment`,
`malloc-eval --xla-assignment` and `malloc-extract --placement-out`.

The catalogue-wide check (every program's assignment valid by the checker) is in
`test_memory_fidelity.py`, beside the other comparisons with XLA's dumps.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import numpy as np
import pytest

from hlo_tools import HloParseError
from hlo_tools.cli import main as extract_main
from hlo_tools.xla_assignment import buffer_addresses, read_assignment, xla_hardware, xla_placement
from malloc_muzero import Problem
from malloc_muzero.eval_cli import main as eval_main
from malloc_muzero.hardware import get_hardware
from malloc_muzero.placement import check_placement
from tests.xla_dumps import compile_program

# Two temporary allocations (laid end to end), a parameter and an output that
# holds a temporary too. Values are named as the live-range dump names them.
REPORT = """\
BufferAssignment:
allocation 0: size 64, output shape is |f32[16]|, maybe-live-out:
 value: <3 out @0> (size=64,offset=0): f32[16]{0}
 value: <4 scratch @0> (size=64,offset=0): f32[16]{0}
allocation 1: size 64, parameter 0, shape |f32[16]| at ShapeIndex {}:
 value: <0 p @0> (size=64,offset=0): f32[16]{0}
allocation 2: size 128, preallocated-temp:
 value: <1 a @0> (size=64,offset=0): f32[16]{0}
 value: <2 b @0> (size=64,offset=64): f32[16]{0}
 value: <5 t{} @0> (size=8,offset=0): (f32[16]{0})
allocation 3: size 32, preallocated-temp:
 value: <6 c @0> (size=32,offset=0): f32[8]{0}

Total bytes used: 288
"""


def _problem(**changes) -> Problem:
  """p, a, b, out, scratch, t, c: the report's values, as extraction names them."""
  problem = Problem.from_arrays(
      [64, 64, 64, 64, 64, 8, 32], [0, 1, 1, 3, 2, 0, 2], [1, 2, 3, 4, 2, 4, 3],
      name="toy", buffer_names=["p{}", "a{}", "b{}", "out{}", "scratch{}", "t{}", "c{}"])
  problem = dataclasses.replace(problem, buffer_kinds=(
      "parameter", "temporary", "temporary", "output", "temporary", "temporary", "temporary"))
  return dataclasses.replace(problem, **changes)


@pytest.fixture
def report(tmp_path):
  path = tmp_path / "toy-buffer-assignment.txt"
  path.write_text(REPORT)
  return str(path)


def test_temporary_allocations_are_level_1_at_xlas_offsets(report):
  problem = _problem()
  xla = xla_placement(problem, report)
  assert xla.placement.levels.tolist() == [0, 1, 1, 0, 0, 1, 1]
  # The second temporary allocation starts where the first ends (128 B).
  assert xla.placement.offsets.tolist() == [-1, 0, 64, -1, -1, 0, 128]
  assert xla.temp_bytes == 160
  assert xla.elsewhere == {"parameter": (1, 64), "output": (2, 128)}
  assert xla.temporaries_elsewhere == 1
  assert xla.placement.solver == "xla"
  line = xla.summary(problem)
  assert "4 buffers" in line and "output 2" in line and "parameter 1" in line
  assert "1 temporaries" in line
  hardware = xla_hardware(get_hardware("tpu-v4"), xla.temp_bytes)
  assert (hardware.levels[1].name, hardware.levels[1].capacity,
          hardware.levels[1].alignment) == ("xla-temp", 160, 1)
  # t and a share bytes 0..8 over steps 1..2: the checker refuses it, as it must.
  conflict = check_placement(problem, hardware, xla.placement)
  assert conflict is not None and conflict.kind == "overlap"
  assert set(conflict.buffers) == {1, 5}
  apart = _problem(starts=np.array([0, 1, 1, 3, 2, 3, 2]))
  assert check_placement(apart, hardware, xla_placement(apart, report).placement) is None


def test_buffers_are_joined_by_their_values(report):
  # Buffer "a{}" of two values: both in the report at one address.
  problem = _problem(buffer_values=(("p{}",), ("a{}", "a{}"), ("b{}",), ("out{}",),
                                    ("scratch{}",), ("t{}",), ("c{}",)))
  allocation, offset = buffer_addresses(problem, read_assignment(report))
  assert allocation.tolist() == [1, 2, 2, 0, 0, 2, 3]
  assert offset.tolist() == [0, 0, 64, 0, 0, 0, 0]


@pytest.mark.parametrize("names, words", [
    (["p{}", "a{}", "b{}", "out{}", "scratch{}", "t{}", "zz{}"], ["'zz{}'", "no value of it"]),
    (["x{}", "y{}", "z{}", "u{}", "v{}", "w{}", "q{}"], ["none of its 7 buffers"]),
])
def test_a_report_of_another_module_names_the_file_and_buffer(report, names, words):
  with pytest.raises(HloParseError) as error:
    xla_placement(_problem(buffer_names=names), report)
  message = str(error.value)
  assert message.startswith(report + ": expected") and "\n" not in message
  for word in words:
    assert word in message


def test_a_buffer_at_two_addresses_is_refused(report):
  problem = _problem(buffer_values=(("p{}",), ("a{}", "b{}"), ("b{}",), ("out{}",),
                                    ("scratch{}",), ("t{}",), ("c{}",)))
  with pytest.raises(HloParseError, match="one allocation and offset for buffer 1 'a{}'"):
    xla_placement(problem, report)


def test_a_file_that_is_not_a_report_is_refused(tmp_path):
  path = tmp_path / "problem.json"
  path.write_text("{}\n")
  with pytest.raises(HloParseError, match="no allocation line"):
    read_assignment(path)
  with pytest.raises(HloParseError, match="a regular file"):
    read_assignment(tmp_path)
  os.mkfifo(tmp_path / "fifo")
  with pytest.raises(HloParseError, match="a regular file"):
    read_assignment(tmp_path / "fifo")


# --- the commands, on a catalogue program's dump ----------------------------------


@pytest.fixture(scope="module")
def dump():
  directory = compile_program("cond_branches").captured.dump_dir
  report, = glob.glob(os.path.join(directory, "*after_optimizations-buffer-assignment.txt"))
  other = compile_program("while_loop").captured.dump_dir
  wrong, = glob.glob(os.path.join(other, "*after_optimizations-buffer-assignment.txt"))
  return directory, report, wrong


def test_extract_writes_xlas_placement_and_eval_checks_it(dump, tmp_path, capsys):
  directory, report, _ = dump
  problem, placement = str(tmp_path / "p.json"), str(tmp_path / "xla.json")
  assert extract_main([directory, "-o", problem, "--placement-out", placement]) == 0
  out = capsys.readouterr().out
  assert "XLA's temporary allocation (196 B) holds 4 buffers" in out
  assert f"wrote {placement}" in out
  saved = json.load(open(placement))
  assert saved["solver"] == "xla" and saved["capacity"] == [196]
  # malloc-eval with the placement file (its recorded model) or with the report.
  assert eval_main([problem, placement]) == 0
  from_file = capsys.readouterr().out
  assert eval_main([problem, "--xla-assignment", report]) == 0
  from_report = capsys.readouterr().out
  for out in (from_file, from_report):
    assert "valid:          yes" in out and "xla-temp 196 B" in out
    assert "in xla-temp:    4 of 9 buffers" in out
  time = [line for line in from_file.splitlines() if line.startswith("simulated time")]
  assert time and time[0] in from_report
  assert "left in the default memory: output 2" in from_report


def test_eval_refuses_a_report_of_another_module(dump, tmp_path, capsys):
  directory, report, wrong = dump
  problem = str(tmp_path / "p.json")
  assert extract_main([directory, "-o", problem]) == 0
  capsys.readouterr()
  assert eval_main([problem, "--xla-assignment", wrong]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith(f"malloc-eval: error: {wrong}: expected")
  assert extract_main([directory, "--xla-assignment", wrong]) == 1
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and f"{wrong}: expected" in err


@pytest.mark.parametrize("args, words", [
    ([], "a placement file or --xla-assignment FILE"),
    (["placement.json", "--xla-assignment", "R"], "a placement file or --xla-assignment"),
    (["--xla-assignment", "R", "--capacity", "4096"], "--capacity does not apply"),
    (["--xla-assignment", "R", "--windows"], "--windows does not apply"),
])
def test_eval_flags_with_xla_assignment(args, words, capsys):
  assert eval_main(["problem.json", *args]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and words in err


def test_extract_placement_out_needs_a_report_and_json(dump, tmp_path, capsys):
  directory, _, _ = dump
  module, = glob.glob(os.path.join(directory, "*after_optimizations.txt"))
  lone = tmp_path / "lone.txt"
  lone.write_text(open(module).read())
  out = str(tmp_path / "xla.json")
  assert extract_main([str(lone), "--placement-out", out]) == 1
  assert "--placement-out: expected --xla-assignment FILE" in capsys.readouterr().err
  assert extract_main([directory, "--placement-out", str(tmp_path / "xla.csv")]) == 1
  assert "a .json file" in capsys.readouterr().err
  assert not os.path.exists(out)
