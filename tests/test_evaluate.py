"""experiments.evaluate: the table, CSV and plot, and bad input."""

from __future__ import annotations

import csv
import subprocess
import sys

from experiments.evaluate import evaluate, format_pivot, format_table, plot, write_csv
from experiments.problem_sources import load_problems
from malloc_muzero import Problem


def _problem(n: int, seed: int) -> Problem:
  import numpy as np
  rng = np.random.default_rng(seed)
  starts = rng.integers(0, 20, n)
  return Problem.from_arrays(sizes=rng.integers(1, 8, n) * 1024, starts=starts,
                             ends=starts + rng.integers(0, 6, n), name=f"p{seed}")


def test_rows_csv_and_plot(tmp_path):
  problems = [("a", _problem(30, 0)), ("b", _problem(40, 1))]
  solvers = ["first-fit", "xla-msa", "xla-msa+windows"]
  rows = evaluate(problems, solvers, "tpu-v4", 0.3, progress=False)
  assert [(r.problem, r.solver) for r in rows] == [(p, s) for p in "ab" for s in solvers]
  # Buffers without uses (a MiniMalloc-like problem) have no windows to split.
  assert rows[1].time_over_slow == rows[2].time_over_slow
  for r in rows:
    assert r.fast_over_slow - 1e-6 <= r.time_over_slow <= 1 + 1e-6
    assert 0 <= r.gap_closed <= 1 + 1e-6
  assert "gap closed" in format_table(rows)
  pivot = format_pivot(rows).splitlines()
  assert pivot[0] == "| problem | first-fit | xla-msa | xla-msa+windows |"
  mean = sum(r.gap_closed for r in rows if r.solver == "xla-msa") / 2
  assert pivot[-1].split(" | ")[2] == f"{mean:.1%}"
  write_csv(rows, tmp_path / "e.csv")
  with open(tmp_path / "e.csv") as f:
    assert len(list(csv.DictReader(f))) == 6
  plot(rows, tmp_path / "e.png")
  assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_command_on_files_and_bad_solver(tmp_path):
  _problem(20, 2).save_json(tmp_path / "p.json")
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.evaluate", f"--problem_files={tmp_path}/*.json",
       "--solvers=first-fit,best-fit", f"--out={out}"],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert (out / "evaluation.csv").exists() and (out / "evaluation.png").exists()
  result = subprocess.run(
      [sys.executable, "-m", "experiments.evaluate", f"--problems={tmp_path}/*.json",
       "--solvers=nope+windows", f"--out={out}"], capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 2
  assert "a solver among" in result.stderr and "Traceback" not in result.stderr
  # The former name of --problem_files still works, saying the new one.
  assert "evaluate: --problems is deprecated; use --problem_files" in result.stderr


def test_a_row_for_xlas_own_assignment(tmp_path, caplog):
  import dataclasses
  import math

  import numpy as np

  from experiments.evaluate import XLA_ROW

  xla = {}
  (name, problem), = load_problems("", ["cond_branches"], xla)
  assert name == "cond_branches" and set(xla) == {name}
  assert problem.source["xla_temp_bytes"] == xla[name].temp_bytes == 196
  rows = evaluate([(name, problem)], ["first-fit"], "tpu-v4", 0.25, progress=False, xla=xla)
  assert [r.solver for r in rows] == ["first-fit", XLA_ROW]
  row = rows[1]
  assert row.capacity == 196 and math.isnan(row.solve_s)
  assert row.fast_over_slow == rows[0].fast_over_slow
  assert row.fast_over_slow - 1e-6 <= row.time_over_slow < 1 and 0 < row.gap_closed < 1
  assert format_table(rows).splitlines()[-1].split()[-1] == "-"
  # A placement the checker refuses gives no row, and says why.
  placement = xla[name].placement
  bad = dataclasses.replace(placement, offsets=np.where(placement.levels == 1, 0, -1))
  xla[name] = dataclasses.replace(xla[name], placement=bad)
  rows = evaluate([(name, problem)], ["first-fit"], "tpu-v4", 0.25, progress=False, xla=xla)
  assert [r.solver for r in rows] == ["first-fit"]
  assert "not valid by the checker" in caplog.text


def test_a_problem_from_an_xla_dump_takes_the_report_beside_it(tmp_path):
  import glob
  import os

  from tests.xla_dumps import compile_program

  directory = compile_program("while_loop").captured.dump_dir
  module, = glob.glob(os.path.join(directory, "*after_optimizations.txt"))
  xla = {}
  (name, problem), = load_problems(module, [], xla)
  assert set(xla) == {name} and xla[name].temp_bytes == problem.source["xla_temp_bytes"]
  problem.save_json(tmp_path / "moved.json")
  xla = {}
  (name, _), = load_problems(str(tmp_path / "moved.json"), [], xla)
  assert set(xla) == {"moved.json"}  # Its source file is still the dumped module.
  _problem(5, 3).save_json(tmp_path / "synthetic.json")
  xla = {}
  load_problems(str(tmp_path / "synthetic.json"), [], xla)
  assert xla == {}
