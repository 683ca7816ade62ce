"""Iteration budgets: a search solver given `iterations` (and no time limit)
gives the same placement twice for a seed; a time limit alone is documented
as not reproducible."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from malloc_muzero import ProblemError, get_hardware
from malloc_muzero.generator import ProblemGenerator
from malloc_muzero.solve_cli import main
from malloc_muzero.solvers import (SolverOptions, iterative_solver_names, solve,
                                   takes_iterations)
from malloc_muzero.solvers.registry import Budget

# The iteration budget of each search solver in the test: small, so that the
# test is quick, and large enough to search (CP-SAT's are conflicts, pack's
# nodes).
ITERATIONS = {"anneal": 6, "genetic": 3, "reinforce": 4, "mcts": 1, "exact": 200,
              "pack": 500, "best": 4}


@pytest.fixture(scope="module")
def instance():
  problem = ProblemGenerator(min_instructions=24, max_instructions=24)(5)
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.3))
  return problem, hardware


def test_every_search_solver_takes_iterations():
  assert set(ITERATIONS) == set(iterative_solver_names())
  for name in ("xla-msa", "best-fit", "first-fit", "random", "muzero"):
    assert not takes_iterations(name)


@pytest.mark.parametrize("solver", sorted(ITERATIONS))
def test_same_iterations_and_seed_give_the_same_placement(instance, solver):
  problem, hardware = instance
  options = SolverOptions(seed=3, iterations=ITERATIONS[solver])
  first = solve(solver, problem, hardware, options)
  second = solve(solver, problem, hardware, options)
  np.testing.assert_array_equal(first.levels, second.levels)
  np.testing.assert_array_equal(first.offsets, second.offsets)


@pytest.mark.parametrize("solver", sorted(ITERATIONS))
def test_docstrings_say_a_time_limit_alone_is_not_reproducible(solver):
  from malloc_muzero.solvers import registry

  module = importlib.import_module(registry.get_solver(solver).__module__)
  assert "Budget and reproducibility" in module.__doc__
  assert "options.iterations" in module.__doc__
  assert "a time limit alone is not reproducible" in SolverOptions.__doc__


def test_iterations_are_counted_not_timed(monkeypatch):
  """With iterations and no time limit there is no deadline, and progress
  counts iterations."""
  budget = SolverOptions(iterations=4).budget(default_s=0.0)
  assert budget.more(3) and not budget.more(4)
  assert budget.progress(2) == 0.5
  policy, rest = budget.split(0.6)
  assert (policy.iterations, rest.iterations) == (2, 2)
  assert budget.time_limit_s() is None
  timed = SolverOptions(time_limit_s=5.0).budget(default_s=1.0)
  assert timed.iterations is None and timed.time_limit_s() <= 5.0
  assert isinstance(timed, Budget)


@pytest.mark.parametrize("iterations", [0, -1, 1.5, True])
def test_bad_iterations_are_refused(iterations):
  with pytest.raises(ValueError, match="iterations"):
    SolverOptions(iterations=iterations)


def test_a_solver_without_iterations_refuses_a_budget(instance):
  problem, hardware = instance
  with pytest.raises(ProblemError, match="--solver: expected a solver that takes an "
                     "iteration budget"):
    solve("xla-msa", problem, hardware, SolverOptions(iterations=3))


def test_cli_iterations_reproduce_and_bad_ones_are_one_line(instance, tmp_path, capsys):
  problem, _ = instance
  source = tmp_path / "p.json"
  problem.save_json(source)
  outputs = []
  for run in range(2):
    out = tmp_path / f"out{run}.json"
    assert main([str(source), "--solver", "anneal", "--iterations", "5", "--seed", "2",
                 "--capacity", str(problem.capacity_for(0.3)), "-o", str(out)]) == 0
    outputs.append(json.loads(out.read_text())["buffers"])
  assert outputs[0] == outputs[1]
  capsys.readouterr()
  for flags, words in ((["--solver", "xla-msa", "--iterations", "3"], "--solver"),
                       (["--solver", "anneal", "--iterations", "0"], "--iterations")):
    assert main([str(source), *flags, "-o", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
  assert not (tmp_path / "bad.json").exists()
