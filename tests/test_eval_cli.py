"""`malloc-eval`: reports, exit codes and one-line errors.

Needs `malloc_muzero.simulator` (and `hardware`) for the times it prints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from malloc_muzero import Problem, load_minimalloc_csv
from malloc_muzero.eval_cli import main
from malloc_muzero.hardware import get_hardware
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.placement_io import save_placement_csv, save_placement_json
from malloc_muzero.simulator import simulate_placement, simulation_bounds
from tests.test_placement import first_fit

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHALLENGING = sorted((DATA / "minimalloc" / "challenging").glob("*.csv"))
TPU = get_hardware("tpu-v4")


def _program() -> Problem:
  """Two instructions reading and writing three 1 KiB buffers."""
  return Problem(
      name="prog", buffer_names=("a", "b", "c"),
      sizes=np.array([1024, 1024, 1024]), starts=np.array([0, 0, 1]),
      ends=np.array([1, 1, 1]),
      buffer_kinds=("parameter", "temporary", "output"),
      instruction_names=("i0", "i1"), opcodes=("fusion", "dot"),
      flops=np.array([1.0, 1.0]), transcendentals=np.array([0.0, 0.0]),
      bytes_accessed=np.array([2048.0, 3072.0]),
      access_buffer=np.array([0, 1, 0, 1, 2]),
      access_instruction=np.array([0, 0, 1, 1, 1]),
      access_bytes_read=np.array([1024, 0, 1024, 1024, 0]),
      access_bytes_written=np.array([0, 1024, 0, 0, 1024]),
      schedule_length=2, source={"kind": "synthetic"})


@pytest.fixture
def files(tmp_path):
  problem = _program()
  problem_path = tmp_path / "prog.json"
  problem.save_json(problem_path)

  def placement(levels, offsets, name="placement.json"):
    path = tmp_path / name
    save_placement_json(path, problem, TPU, Placement(levels, offsets), 0.0,
                        (0.0, 0.0))
    return str(path)

  return problem, str(problem_path), placement


def test_valid_placement_reports_and_exits_0(files, capsys):
  problem, problem_path, placement = files
  assert main([problem_path, placement([1, 1, 0], [0, 1024, -1])]) == 0
  out = capsys.readouterr().out
  assert "valid:          yes" in out
  assert "2 of 3 buffers, 2,048 B" in out
  time_s = simulate_placement(problem, TPU, [1, 1, 0])
  slow_s, fast_s = simulation_bounds(problem, TPU)
  assert slow_s > time_s > fast_s
  assert f"({time_s:.6g} s)" in out
  assert f"({slow_s:.6g} s)" in out and f"({fast_s:.6g} s)" in out
  assert f"gap closed:     {(slow_s - time_s) / (slow_s - fast_s):.1%}" in out


def test_all_slow_closes_none_of_the_gap(files, capsys):
  _, problem_path, placement = files
  assert main([problem_path, placement([0, 0, 0], [-1, -1, -1])]) == 0
  assert "gap closed:     0.0%" in capsys.readouterr().out


def test_invalid_placement_prints_the_conflict_and_exits_1(files, capsys):
  _, problem_path, placement = files
  assert main([problem_path, placement([1, 1, 0], [0, 512, -1])]) == 1
  out = capsys.readouterr().out
  assert "valid:          NO, overlap: buffer 0 'a'" in out
  assert "buffer 1 'b'" in out
  assert main([problem_path, placement([1, 0, 0], [100, -1, -1])]) == 1
  assert "alignment of 512 bytes" in capsys.readouterr().out
  assert main([problem_path, placement([5, 0, 0], [0, -1, -1])]) == 1
  out = capsys.readouterr().out
  assert "level" in out and "simulated time" not in out


def test_capacity_option_overrides_level_1(files, capsys):
  _, problem_path, placement = files
  path = placement([1, 1, 0], [0, 1024, -1])
  assert main([problem_path, path, "--capacity", "2048"]) == 0
  capsys.readouterr()
  assert main([problem_path, path, "--capacity", "1_536"]) == 1
  assert "capacity of 1536 bytes" in capsys.readouterr().out
  assert main([problem_path, path, "--hardware", "h100"]) == 0
  assert "L2 " in capsys.readouterr().out


def _one_line_error(capsys, *needles):
  captured = capsys.readouterr()
  assert captured.out == ""
  assert captured.err.startswith("malloc-eval: error: ")
  assert captured.err.count("\n") == 1
  for needle in needles:
    assert needle in captured.err, (needle, captured.err)


def test_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys):
  _, problem_path, placement = files
  good = placement([0, 0, 0], [-1, -1, -1])
  missing = str(tmp_path / "missing.json")
  assert main([missing, good]) == 2
  _one_line_error(capsys, "missing.json")
  assert main([problem_path, missing]) == 2
  _one_line_error(capsys, "missing.json", "No such file")
  bad = tmp_path / "bad.json"
  bad.write_text('{"format": "malloc_muzero.placement"')
  assert main([problem_path, str(bad)]) == 2
  _one_line_error(capsys, "bad.json", "valid JSON")
  assert main([problem_path, good, "--hardware", "tpu-v99"]) == 2
  _one_line_error(capsys, "tpu-v4", "tpu-v99")
  assert main([problem_path, good, "--capacity", "lots"]) == 2
  _one_line_error(capsys, "lots")
  assert main([problem_path, good, "--capacity", "0"]) == 2
  _one_line_error(capsys, "capacity")
  assert main([problem_path]) == 2
  _one_line_error(capsys, "placement")
  assert main([problem_path, str(tmp_path / "p.txt")]) == 2
  _one_line_error(capsys, "p.txt", ".json")
  assert main([problem_path, good, "--windows", "--min-gap", "0"]) == 2
  _one_line_error(capsys, "--min-gap", "a number of steps")


def test_inputs_that_are_not_regular_files_are_refused_without_waiting(files, tmp_path,
                                                                        capsys):
  """A FIFO would make the command wait for a writer for ever, /dev/zero fill
  its memory: both are refused, naming the path."""
  import os

  _, problem_path, placement = files
  good = placement([0, 0, 0], [-1, -1, -1])
  for name in ("fifo.json", "fifo.csv"):
    os.mkfifo(tmp_path / name)
    assert main([str(tmp_path / name), good]) == 2
    _one_line_error(capsys, name, "a regular file to read", "a FIFO")
    assert main([problem_path, str(tmp_path / name)]) == 2
    _one_line_error(capsys, name, "a regular file to read", "a FIFO")
  os.symlink("/dev/zero", tmp_path / "zero.json")
  assert main([problem_path, str(tmp_path / "zero.json")]) == 2
  _one_line_error(capsys, "zero.json", "a device")


def test_command_has_no_traceback(tmp_path):
  missing = str(tmp_path / "missing.csv")
  result = subprocess.run(
      [sys.executable, "-m", "malloc_muzero.eval_cli", missing, missing],
      capture_output=True, text=True, timeout=120,
      cwd=Path(__file__).resolve().parents[1])
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  assert result.stderr.count("\n") == 1


@pytest.mark.skipif(not CHALLENGING, reason=f"no MiniMalloc files in {DATA}")
@pytest.mark.parametrize("path", CHALLENGING, ids=lambda path: path.name)
def test_minimalloc_first_fit_is_valid(path, tmp_path, capsys):
  problem = load_minimalloc_csv(path)
  capacity = problem.source["capacity"]
  assert capacity == 1048576
  hardware = get_hardware("tpu-v4", capacity=capacity)
  placement = first_fit(problem, hardware)
  assert 0 < np.count_nonzero(placement.levels) <= problem.num_buffers
  assert check_placement(problem, hardware, placement) is None
  solution = tmp_path / path.name
  save_placement_csv(solution, problem, placement)
  # The capacity comes from the problem's file name.
  assert main([str(path), str(solution)]) == 0
  out = capsys.readouterr().out
  assert "valid:          yes" in out
  assert "1,048,576 B (1.0 MiB)" in out
  placed = int(problem.sizes[placement.levels == 1].sum())
  assert f"{np.count_nonzero(placement.levels):,} of " \
      f"{problem.num_buffers:,} buffers, {placed:,} B" in out
  # One byte less than the placement's top address is too little.
  top = int((placement.offsets + problem.sizes)[placement.levels == 1].max())
  assert main([str(path), str(solution), "--capacity", str(top - 1)]) == 1
  assert "NO, capacity:" in capsys.readouterr().out


@pytest.mark.skipif(not CHALLENGING, reason=f"no MiniMalloc files in {DATA}")
def test_minimalloc_capacity_from_a_renamed_file(tmp_path, capsys):
  # Without a capacity in the file name, the preset's 128 MiB applies.
  problem = load_minimalloc_csv(CHALLENGING[0])
  renamed = tmp_path / "plain.csv"
  shutil.copy(CHALLENGING[0], renamed)
  everything = Placement(np.ones(problem.num_buffers, np.int32),
                         np.concatenate([[0], np.cumsum(problem.sizes)[:-1]]))
  solution = tmp_path / "solution.csv"
  save_placement_csv(solution, problem, everything)
  assert main([str(renamed), str(solution)]) == 0
  assert "minimalloc: memory 134,217,728 B (128.0 MiB)" in capsys.readouterr().out
  assert main([str(CHALLENGING[0]), str(solution)]) == 1
  assert "capacity of 1048576 bytes" in capsys.readouterr().out


def test_minimalloc_semantics_for_csv_files(tmp_path, capsys):
  # Issue 16's packing: one memory, alignment 1, half-open ranges. Offsets
  # 0, 4, 0, 8 at capacity 10 are valid; moving b onto a, or d past 10, is not.
  problem = tmp_path / "p.csv"
  problem.write_text("id,lower,upper,size\na,0,4,4\nb,2,6,4\nc,6,8,8\nd,0,8,2\n")
  for offsets, status, words in (((0, 4, 0, 8), 0, "valid:          yes"),
                                 ((0, 2, 0, 8), 1, "NO, overlap"),
                                 ((0, 4, 0, 9), 1, "NO, capacity")):
    solution = tmp_path / "s.csv"
    solution.write_text("id,lower,upper,size,offset\n" + "".join(
        f"{n},{lo},{up},{size},{o}\n" for (n, lo, up, size), o in zip(
            (("a", 0, 4, 4), ("b", 2, 6, 4), ("c", 6, 8, 8), ("d", 0, 8, 2)), offsets)))
    assert main([str(problem), str(solution), "--capacity", "10"]) == status
    out = capsys.readouterr().out
    assert words in out and "minimalloc: memory 10 B" in out
  # A hardware preset brings its own alignment (512 B on tpu-v4).
  assert main([str(problem), str(solution), "--capacity", "10", "--hardware", "tpu-v4"]) == 1
  assert "alignment of 512 bytes" in capsys.readouterr().out
