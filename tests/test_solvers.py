"""The baseline solvers: validity on HLO problems, XLA's MSA order, the floors."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.problem_sources import program_problem
from malloc_muzero import (Problem, ProblemError, check_placement, get_hardware,
                           simulate_placement, simulation_bounds)
from malloc_muzero.solvers import SolverOptions, get_solver, solve, solver_names
from malloc_muzero.solvers.xla_msa import memory_boundedness, msa_order

HLO_PROGRAMS = ("transformer_train_step", "conv_net", "scan_rnn", "dus_loop",
                "attention")


@pytest.fixture(scope="module")
def hlo_problems():
  return {name: program_problem(name) for name in HLO_PROGRAMS}


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("solver", ["first-fit", "best-fit", "xla-msa", "random"])
def test_valid_on_hlo_problems(hlo_problems, solver, fraction):
  for name, problem in hlo_problems.items():
    capacity = max(int(problem.peak_live_bytes()[0] * fraction), 1024)
    hardware = get_hardware("tpu-v4", capacity=capacity)
    placement = solve(solver, problem, hardware, SolverOptions(seed=3))
    assert check_placement(problem, hardware, placement) is None, name
    slow, fast = simulation_bounds(problem, hardware)
    time = simulate_placement(problem, hardware, placement.levels)
    assert fast * (1 - 1e-6) <= time <= slow * (1 + 1e-6)
    assert placement.solver == solver


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5])
def test_xla_msa_with_prefetching_is_valid_on_hlo_problems(hlo_problems, fraction):
  from malloc_muzero.windows import split_into_windows

  for name, problem in hlo_problems.items():
    capacity = max(int(problem.peak_live_bytes()[0] * fraction), 1024)
    hardware = get_hardware("tpu-v4", capacity=capacity)
    windows = split_into_windows(problem, min_gap=16).problem
    placement = solve("xla-msa", windows, hardware)
    assert check_placement(windows, hardware, placement) is None, name
    assert simulation_bounds(windows, hardware)[1] <= simulate_placement(
        windows, hardware, placement.levels)


def test_heuristics_beat_random_and_msa_is_at_least_first_fit(hlo_problems):
  problem = hlo_problems["transformer_train_step"]
  hardware = get_hardware("tpu-v4", capacity=problem.peak_live_bytes()[0] // 4)
  times = {name: simulate_placement(problem, hardware,
                                    solve(name, problem, hardware).levels)
           for name in ("random", "first-fit", "xla-msa", "best-fit")}
  assert times["xla-msa"] < times["random"]
  assert times["best-fit"] < times["random"]


def _msa_problem() -> Problem:
  """Four buffers, each read by its own instruction:
  a: 400 B, memory-bound;  b: 100 B, memory-bound, same bytes per size;
  c: 400 B, compute-bound; d: 100 B, memory-bound, the same as b but live
  longer."""
  return Problem(
      name="msa", buffer_names=("a", "b", "c", "d"),
      sizes=np.array([400, 100, 400, 100]), starts=np.array([0, 1, 2, 3]),
      ends=np.array([0, 1, 2, 5]), buffer_kinds=("temporary",) * 4,
      instruction_names=tuple(f"i{i}" for i in range(6)),
      opcodes=("fusion",) * 6,
      flops=np.array([0.0, 0.0, 1e12, 0.0, 0.0, 0.0]),
      transcendentals=np.zeros(6), bytes_accessed=np.zeros(6),
      access_buffer=np.array([0, 1, 2, 3]), access_instruction=np.array([0, 1, 2, 3]),
      access_bytes_read=np.array([400, 100, 400, 100]),
      access_bytes_written=np.zeros(4, np.int64),
      schedule_length=6, source={"kind": "synthetic"})


def test_xla_msa_orders_by_memory_boundedness_over_sqrt_size():
  problem = _msa_problem()
  hardware = get_hardware("tpu-v4")
  boundedness = memory_boundedness(problem, hardware)
  spb = [1 / level.bandwidth for level in hardware.levels]
  saved = spb[0] - spb[1]
  # Benefit = bytes saved / sqrt(size): a: 400 s / 20, b: 100 s / 10.
  assert boundedness[0] == pytest.approx(400 * saved / 20)
  assert boundedness[1] == pytest.approx(100 * saved / 10)
  assert boundedness[2] < 0  # compute-bound: how far from memory-bound
  # a (20 s) before b and d (10 s each); d before b (same benefit and size,
  # longer live range); c last.
  assert list(msa_order(problem, hardware)) == [0, 3, 1, 2]


def test_msa_places_in_its_order_with_best_fit():
  problem = Problem.from_arrays(sizes=[300, 200, 100], starts=[0, 0, 1], ends=[2, 2, 2])
  hardware = get_hardware("tpu-v4", capacity=1024)
  placement = solve("xla-msa", problem, hardware)
  # Sizes are rounded to the 512 B alignment: a at 0, b at 512, c does not fit.
  assert list(placement.levels) == [1, 1, 0]
  assert list(placement.offsets) == [0, 512, -1]


def test_random_is_seeded():
  problem = Problem.from_arrays(sizes=[64] * 20, starts=list(range(20)),
                                ends=[i + 5 for i in range(20)])
  hardware = get_hardware("nnp-i", capacity=256)
  a = solve("random", problem, hardware, SolverOptions(seed=7))
  b = solve("random", problem, hardware, SolverOptions(seed=7))
  c = solve("random", problem, hardware, SolverOptions(seed=8))
  assert list(a.levels) == list(b.levels) and list(a.offsets) == list(b.offsets)
  assert list(a.levels) != list(c.levels) or list(a.offsets) != list(c.offsets)


def test_unknown_solver_and_empty_problem():
  with pytest.raises(ProblemError, match="a solver among"):
    get_solver("nope")
  assert {"first-fit", "best-fit", "xla-msa", "random"} <= set(solver_names())
  empty = Problem.from_arrays(sizes=[], starts=[], ends=[])
  with pytest.raises(ProblemError, match="at least one buffer"):
    solve("first-fit", empty, get_hardware("tpu-v4"))


@pytest.mark.parametrize("solver", ["anneal", "genetic", "reinforce"])
def test_search_solvers_are_valid_and_start_from_the_heuristics(hlo_problems, solver):
  problem = hlo_problems["conv_net"]
  hardware = get_hardware("nnp-i", capacity=problem.peak_live_bytes()[0] // 3)
  placement = solve(solver, problem, hardware, SolverOptions(seed=0, time_limit_s=2))
  assert check_placement(problem, hardware, placement) is None
  time = simulate_placement(problem, hardware, placement.levels)
  slow, fast = simulation_bounds(problem, hardware)
  assert fast * (1 - 1e-6) <= time <= slow
  if solver == "anneal":  # It starts from the best decoded heuristic.
    first_fit = simulate_placement(problem, hardware,
                                   solve("first-fit", problem, hardware).levels)
    assert time <= first_fit * (1 + 1e-6)


def test_best_is_at_least_as_good_as_xla_and_uses_exact_when_small(hlo_problems):
  from malloc_muzero.solvers.best import candidates
  small = Problem.from_arrays(sizes=[1024] * 5, starts=[0, 1, 2, 3, 4],
                              ends=[2, 3, 4, 5, 6])
  assert "exact" in candidates(small)
  problem = hlo_problems["transformer_train_step"]
  assert "anneal" in candidates(problem)
  hardware = get_hardware("tpu-v4", capacity=problem.peak_live_bytes()[0] // 4)
  placement = solve("best", problem, hardware, SolverOptions(time_limit_s=3))
  best = simulate_placement(problem, hardware, placement.levels)
  for name in ("xla-msa", "best-fit"):
    assert best <= simulate_placement(problem, hardware,
                                      solve(name, problem, hardware).levels) * (1 + 1e-6)


def test_the_agent_registers_itself_as_a_plugin_without_loading_the_agent():
  """`muzero` comes from the registry's plugin group (pyproject.toml): the
  solvers never import the agent, listing the solvers loads nothing of it,
  and looking `muzero` up loads the plugin's module and the agent with it."""
  import subprocess
  import sys
  code = ("import sys; import malloc_muzero.solvers as s; "
          "names = s.solver_names(); assert 'muzero' in names, names; "
          "assert not any(m.startswith('malloc_muzero.agent') or m in ('flax', 'orbax') "
          "for m in sys.modules), sorted(sys.modules); "
          "assert s.places_segments('muzero'); "
          "assert {'malloc_muzero.agent.solver', 'flax'} <= set(sys.modules)")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
