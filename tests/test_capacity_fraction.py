"""`--capacity-fraction` on malloc-solve and malloc-eval (`--capacity_fraction`
on malloc-demo): a share of the problem's peak live bytes, exclusive with
`--capacity`, refused in one line naming the flag (exit 2) outside (0, 1]."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from malloc_muzero import Problem, write_minimalloc_csv
from malloc_muzero.eval_cli import main as eval_main
from malloc_muzero.solve_cli import main as solve_main

BIN = pathlib.Path(sys.executable).parent


@pytest.fixture
def problem_file(tmp_path):
  # Peak live bytes: 4,096 (steps 2 and 3).
  problem = Problem.from_arrays(sizes=[1024, 2048, 1024], starts=[0, 1, 2],
                                ends=[3, 4, 5], name="tiny")
  path = tmp_path / "tiny.json"
  problem.save_json(path)
  return problem, path


@pytest.mark.parametrize("fraction", [0.5, 0.25, 1])
def test_solve_and_eval_take_a_share_of_the_peak(problem_file, tmp_path, capsys, fraction):
  problem, path = problem_file
  out = tmp_path / "out.json"
  assert solve_main([str(path), "--solver", "first-fit", "--capacity-fraction",
                     str(fraction), "-o", str(out)]) == 0
  capacity = problem.capacity_for(fraction)
  assert capacity == int(4096 * fraction)
  assert json.loads(out.read_text())["capacity"][0] == capacity
  capsys.readouterr()
  # malloc-eval: the same share gives the same capacity as the file records,
  # and overrides it (a half of a half-peak placement does not fit).
  assert eval_main([str(path), str(out), "--capacity-fraction", str(fraction)]) == 0
  assert f"{capacity:,} B" in capsys.readouterr().out
  if fraction == 1:
    assert eval_main([str(path), str(out), "--capacity-fraction", "0.25"]) == 1


def test_csv_input_takes_a_share_of_its_peak_not_its_file_capacity(tmp_path, capsys):
  problem = Problem.from_arrays(sizes=[1024, 2048, 1024], starts=[0, 1, 2],
                                ends=[3, 4, 5], name="tiny")
  source = tmp_path / "tiny.8192.csv"
  write_minimalloc_csv(source, problem)
  assert solve_main([str(source), "--solver", "first-fit", "--capacity-fraction", "0.5",
                     "-o", str(tmp_path / "out.csv")]) == 0
  assert "memory 2,048 B" in capsys.readouterr().out


@pytest.mark.parametrize("main", [solve_main, eval_main], ids=["solve", "eval"])
@pytest.mark.parametrize("flags, words", [
    (["--capacity-fraction", "0"], "--capacity-fraction: expected a share"),
    (["--capacity-fraction", "1.5"], "--capacity-fraction: expected a share"),
    (["--capacity-fraction", "-0.25"], "--capacity-fraction: expected a share"),
    (["--capacity-fraction", "nan"], "--capacity-fraction: expected a share"),
    (["--capacity-fraction", "half"], "--capacity-fraction: expected a share"),
    (["--capacity-fraction", "0.5", "--capacity", "4096"], "--capacity"),
])
def test_bad_fractions_are_one_line_and_exit_2(problem_file, tmp_path, capsys, main,
                                              flags, words):
  _, path = problem_file
  out = tmp_path / "out.json"
  args = ([str(path), "--solver", "first-fit", *flags, "-o", str(out)]
          if main is solve_main else [str(path), str(out), *flags])
  assert main(args) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and words in err, err
  assert not out.exists()


@pytest.mark.parametrize("value", ["0", "1.5", "x"])
def test_demo_refuses_a_bad_fraction_in_one_line(value):
  result = subprocess.run([str(BIN / "malloc-demo"), f"--capacity_fraction={value}"],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.count("\n") == 1, result.stderr
  assert result.stderr.startswith("malloc-demo: error: flag --capacity_fraction=")
  assert "Traceback" not in result.stderr
