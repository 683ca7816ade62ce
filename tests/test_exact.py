"""The exact (CP-SAT) solver vs brute force, other solvers and its clock."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from malloc_muzero import Problem, ProblemError
from malloc_muzero.hardware import Hardware, MemoryLevel, get_hardware
from malloc_muzero.placement import check_placement
from malloc_muzero.simulator import simulate_placement, simulation_bounds
# Importing the package runs its __init__, when it has one, which registers
# the solvers it imports; importing `exact` registers "exact".
from malloc_muzero.solvers import registry
from malloc_muzero.solvers.brute_force import brute_force
from malloc_muzero.solvers.exact import ExactResult, solve_exact

RTOL = 1e-6


def _hardware(capacity: int, alignment: int, sram: tuple[int, int] | None,
              ) -> Hardware:
  """Slow 1 B/s; fast 4 B/s; optionally an SRAM at 10 B/s; 1 flop/s."""
  levels = [MemoryLevel("slow", None, 1, 1.0),
            MemoryLevel("fast", capacity, alignment, 4.0)]
  if sram is not None:
    levels.append(MemoryLevel("sram", sram[0], sram[1], 10.0))
  return Hardware(name="toy", levels=tuple(levels), peak_flops=1.0,
                  peak_transcendentals=2.0, copy_bandwidth=1.0)


def _problem(sizes, starts, ends, flops, accesses) -> Problem:
  """A problem with one instruction per step; `accesses` maps (buffer,
  instruction) to (bytes read, bytes written)."""
  steps = len(flops)
  keys = sorted(accesses)
  return Problem(
      name="tiny", buffer_names=tuple(f"b{i}" for i in range(len(sizes))),
      sizes=np.array(sizes, np.int64), starts=np.array(starts),
      ends=np.array(ends), buffer_kinds=("temporary",) * len(sizes),
      instruction_names=tuple(f"i{j}" for j in range(steps)),
      opcodes=("fusion",) * steps, flops=np.array(flops, np.float64),
      transcendentals=np.zeros(steps), bytes_accessed=np.zeros(steps),
      access_buffer=np.array([b for b, _ in keys], np.int32),
      access_instruction=np.array([i for _, i in keys], np.int32),
      access_bytes_read=np.array([accesses[k][0] for k in keys], np.int64),
      access_bytes_written=np.array([accesses[k][1] for k in keys], np.int64),
      schedule_length=steps, source={"kind": "synthetic"})


@st.composite
def tiny_instances(draw, max_buffers: int = 5):
  """A tiny problem (instructions with flops and accesses, or sizes and live
  ranges only) and a hardware with 1-2 fast levels too small for it all."""
  steps = draw(st.integers(1, 5))
  count = draw(st.integers(1, max_buffers))
  sizes, starts, ends = [], [], []
  for _ in range(count):
    start = draw(st.integers(0, steps - 1))
    starts.append(start)
    ends.append(draw(st.integers(start, steps - 1)))
    sizes.append(draw(st.sampled_from([0, 1, 3, 4, 7, 8, 12, 16, 20, 31])))
  alignment = draw(st.sampled_from([1, 4, 8]))
  # Capacities between the largest buffer and all of them force choices.
  largest, total = max(sizes), sum(sizes)
  capacity = draw(st.integers(max(largest, 4), max(total, 4)))
  sram = draw(st.none() | st.tuples(st.integers(4, max(total // 2, 4)),
                                    st.sampled_from([1, 4])))
  hardware = _hardware(capacity, alignment, sram)
  # Each buffer is written at its start and read at some later live steps.
  # An access moves up to 40 B: 40 s from slow memory, 10 s from fast; the
  # flops range from idle to compute-bound, so that the max() matters.
  flops = [float(draw(st.sampled_from([0, 5, 10, 20, 40, 80])))
           for _ in range(steps)]
  accesses = {}
  for b in range(count):
    accesses[b, starts[b]] = (0, draw(st.integers(0, 40)))
    for i in range(starts[b] + 1, ends[b] + 1):
      if draw(st.booleans()):
        accesses[b, i] = (draw(st.integers(0, 40)), 0)
  return _problem(sizes, starts, ends, flops, accesses), hardware


@st.composite
def instances(draw, max_buffers: int = 5):
  problem, hardware = draw(tiny_instances(max_buffers))
  if draw(st.integers(0, 3)) == 0:  # Sizes and live ranges only.
    problem = Problem.from_arrays(problem.sizes, problem.starts, problem.ends,
                                  schedule_length=problem.schedule_length)
  return problem, hardware


def _assert_matches_brute_force(problem: Problem, hardware: Hardware,
                                result: ExactResult) -> None:
  best, oracle = brute_force(problem, hardware)
  assert check_placement(problem, hardware, oracle) is None
  assert check_placement(problem, hardware, result.placement) is None
  assert result.optimal, result.status
  assert result.status == "OPTIMAL" or result.status == "TRIVIAL"
  assert result.objective_s == pytest.approx(best, rel=RTOL, abs=1e-9)
  assert result.objective_s == pytest.approx(
      simulate_placement(problem, hardware, result.placement.levels))
  assert result.bound_s <= result.objective_s
  assert result.bound_s == pytest.approx(best, rel=RTOL, abs=1e-9)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_buffers=6))
def test_exact_equals_brute_force(instance):
  problem, hardware = instance
  result = solve_exact(problem, hardware, time_limit_s=20.0, seed=0)
  _assert_matches_brute_force(problem, hardware, result)


@pytest.mark.slow
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_buffers=6))
def test_exact_equals_brute_force_many(instance):
  problem, hardware = instance
  result = solve_exact(problem, hardware, time_limit_s=60.0, seed=1)
  _assert_matches_brute_force(problem, hardware, result)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_buffers=4), st.integers(4, 40), st.sampled_from([4, 8]),
       st.none() | st.tuples(st.integers(4, 20), st.just(4)))
def test_canonical_offsets_lose_nothing(instance, capacity, alignment, sram):
  """Brute force over canonical packings = over every aligned offset."""
  problem, _ = instance
  # At most 11 aligned offsets per buffer and level: every one is tried.
  hardware = _hardware(capacity, alignment, sram)
  canonical, _ = brute_force(problem, hardware)
  every, placement = brute_force(problem, hardware, exhaustive=True)
  assert check_placement(problem, hardware, placement) is None
  assert canonical == pytest.approx(every, rel=RTOL)


def test_hand_made_case_where_the_max_matters():
  # Capacity 8 holds one of a (8 B) and b (8 B) at a time (both live at step
  # 0). Instruction 0 is compute-bound at 10 s whatever happens; instruction 1
  # reads a (16 B) and b (8 B): slow 24 s; a fast: 4 + 8 = 12 s; b fast:
  # 16 + 2 = 18 s. c (4 B, live at step 1 only, after a and b) fits as well.
  problem = _problem(sizes=[8, 8, 4], starts=[0, 0, 1], ends=[1, 1, 1],
                     flops=[10.0, 0.0],
                     accesses={(0, 0): (0, 8), (1, 0): (0, 2), (0, 1): (16, 0),
                               (1, 1): (8, 0), (2, 1): (4, 0)})
  hardware = _hardware(capacity=12, alignment=4, sram=None)
  result = solve_exact(problem, hardware, time_limit_s=10.0)
  assert result.optimal
  # a and c fast: i0 = max(10, 8/4 + 2) = 10; i1 = 16/4 + 8 + 4/4 = 13.
  assert result.objective_s == pytest.approx(23.0)
  assert result.placement.levels.tolist() == [1, 0, 1]
  assert brute_force(problem, hardware)[0] == pytest.approx(23.0)


def _with_memory_fidelity(problem: Problem, intervals=(), shares=()) -> Problem:
  """`problem` with per-value intervals [(buffer, start, end)] and shares
  [(operand, user, step)]."""
  return dataclasses.replace(
      problem, interval_buffer=[i[0] for i in intervals],
      interval_start=[i[1] for i in intervals], interval_end=[i[2] for i in intervals],
      share_operand=[s[0] for s in shares], share_user=[s[1] for s in shares],
      share_step=[s[2] for s in shares])


@pytest.mark.parametrize("fidelity", ["share", "intervals"])
def test_shares_and_intervals_let_two_buffers_take_the_same_bytes(fidelity):
  """Two 8 B buffers, one fast memory of 8 B. Their live ranges meet (at step
  2, or the first's hull spans the second), so without the problem's shares
  or intervals only one of them is fast; with them both are, at offset 0,
  and exact and brute force find it."""
  if fidelity == "share":  # a's last use defines b, in a's slot.
    base = _problem(sizes=[8, 8], starts=[0, 2], ends=[2, 4], flops=[0.0] * 5,
                    accesses={(0, 0): (0, 8), (0, 2): (8, 0), (1, 2): (0, 8),
                              (1, 4): (8, 0)})
    problem = _with_memory_fidelity(base, shares=[(0, 1, 2)])
  else:  # a holds two values, live at [0, 1] and [4, 5]; b lives between.
    base = _problem(sizes=[8, 8], starts=[0, 2], ends=[5, 3], flops=[0.0] * 6,
                    accesses={(0, 0): (0, 8), (0, 5): (8, 0), (1, 2): (0, 8),
                              (1, 3): (8, 0)})
    problem = _with_memory_fidelity(base, intervals=[(0, 0, 1), (0, 4, 5)])
  hardware = _hardware(capacity=8, alignment=1, sram=None)
  hull = solve_exact(base, hardware, time_limit_s=10.0)
  result = solve_exact(problem, hardware, time_limit_s=10.0)
  assert sorted(hull.placement.levels.tolist()) == [0, 1]
  assert result.placement.levels.tolist() == [1, 1]
  assert result.placement.offsets.tolist() == [0, 0]
  assert check_placement(problem, hardware, result.placement) is None
  assert result.optimal and result.objective_s < hull.objective_s
  _assert_matches_brute_force(problem, hardware, result)


def test_exact_equals_brute_force_with_shares_and_intervals():
  """Random problems with per-value intervals and shares (those of
  tests/test_memory_fidelity.py; 40, of which at least 15 have some),
  on one or two fast levels: exact's optimum
  and bound equal brute force's, which packs by the checker's rule; and
  brute force over canonical packings equals brute force over every offset,
  so the canonical argument holds for the checker's rule too."""
  from tests.test_memory_fidelity import _random_problem

  rng = np.random.default_rng(7)
  shared = 0
  for _ in range(40):
    problem = _random_problem(rng)
    problem = dataclasses.replace(problem, sizes=problem.sizes * 4)
    total = int(problem.sizes.sum())
    hardware = _hardware(capacity=int(rng.integers(4, max(total, 4) + 1)), alignment=4,
                         sram=(8, 4) if rng.random() < 0.3 else None)
    result = solve_exact(problem, hardware, time_limit_s=20.0, seed=0)
    _assert_matches_brute_force(problem, hardware, result)
    if max(level.capacity // level.alignment for level in hardware.fast_levels) < 64:
      assert brute_force(problem, hardware, exhaustive=True)[0] == pytest.approx(
          brute_force(problem, hardware)[0])
    shared += bool(len(problem.share_operand) or len(problem.interval_buffer))
  assert shared >= 15


def test_nothing_to_gain_is_trivial():
  problem = _problem(sizes=[8], starts=[0], ends=[0], flops=[5.0],
                     accesses={(0, 0): (1, 1)})
  result = solve_exact(problem, _hardware(16, 1, None))
  assert result.optimal and result.objective_s == pytest.approx(5.0)
  assert result.bound_s == pytest.approx(5.0)


def test_brute_force_refuses_large_problems():
  problem = Problem.from_arrays(sizes=[1] * 7, starts=[0] * 7, ends=[0] * 7)
  with pytest.raises(ProblemError, match="at most 6 buffers"):
    brute_force(problem, _hardware(16, 1, None))


def _random_problem(count: int, seed: int, steps: int | None = None,
                    ) -> Problem:
  """A random program: live ranges of 1-8 steps, 1-3 accesses per step."""
  rng = np.random.default_rng(seed)
  steps = steps or max(4, count // 2)
  starts = rng.integers(0, steps, count)
  ends = np.minimum(starts + rng.integers(0, 8, count), steps - 1)
  sizes = rng.integers(1, 64, count) * 1024
  flops = rng.uniform(0, 3e9, steps)
  accesses = {}
  for b in range(count):
    for i in range(starts[b], ends[b] + 1):
      if i in (starts[b], ends[b]) or rng.random() < 0.3:
        accesses[b, i] = (int(rng.integers(0, sizes[b] * 4)),
                          int(rng.integers(0, sizes[b])))
  return _problem(sizes.tolist(), starts.tolist(), ends.tolist(),
                  flops.tolist(), accesses)


def _small_hardware(problem: Problem, fraction: float = 0.4) -> Hardware:
  """NNP-I's three levels with capacities a fraction of the peak live bytes."""
  peak, _ = problem.peak_live_bytes()
  hardware = get_hardware("nnp-i")
  hardware = hardware.with_capacity(max(int(peak * fraction), 64), level=1)
  return hardware.with_capacity(max(int(peak * fraction / 2), 64), level=2)


def test_registered_and_checked_by_solve():
  problem = _random_problem(8, seed=3)
  hardware = _small_hardware(problem)
  placement = registry.solve("exact", problem, hardware,
                             registry.SolverOptions(seed=1, time_limit_s=10.0))
  assert placement.solver == "exact"
  result = solve_exact(problem, hardware, time_limit_s=10.0, seed=1)
  assert result.optimal
  assert simulate_placement(problem, hardware, placement.levels) == \
      pytest.approx(result.objective_s, rel=RTOL)


def _other_solvers() -> list[str]:
  """Every registered solver but "exact", at collection time (or a skip)."""
  names = [name for name in registry.solver_names() if name != "exact"]
  return names or [pytest.param(None, marks=pytest.mark.skip(
      reason="no other solver is registered"))]


def _check_not_better_than_exact(name: str, problems,
                                 time_limit_s: float) -> None:
  options = registry.SolverOptions(seed=0, time_limit_s=time_limit_s)
  for problem, hardware in problems:
    result = solve_exact(problem, hardware, time_limit_s=30.0)
    assert result.optimal
    try:
      placement = registry.solve(name, problem, hardware, options)
    except ProblemError:
      continue  # A problem this solver does not take.
    time_s = simulate_placement(problem, hardware, placement.levels)
    assert time_s >= result.objective_s * (1 - RTOL), (
        f"{name} ({time_s} s) beat the proved optimum "
        f"({result.objective_s} s) on {problem!r}")


@pytest.mark.parametrize("name", _other_solvers())
def test_no_solver_beats_exact(name):
  # Search solvers run to their time limit (plus compilation): keep it short.
  problem = _random_problem(10, seed=1)
  _check_not_better_than_exact(name, [(problem, _small_hardware(problem))],
                               time_limit_s=0.2)


@pytest.mark.slow
@pytest.mark.parametrize("name", _other_solvers())
def test_no_solver_beats_exact_many(name):
  problems = []
  for seed in range(8):
    problem = _random_problem(6 + 2 * seed, seed + 100)
    problems.append((problem, _small_hardware(problem, 0.2 + 0.05 * seed)))
  csv_like = Problem.from_arrays(sizes=[300, 500, 200, 700, 100],
                                 starts=[0, 1, 2, 2, 4], ends=[2, 3, 4, 5, 5])
  problems.append((csv_like, _hardware(1024, 64, (512, 64))))
  _check_not_better_than_exact(name, problems, time_limit_s=1.0)


def test_time_limit_is_respected_with_a_bound():
  problem = _random_problem(200, seed=7, steps=60)
  hardware = _small_hardware(problem, 0.3)
  limit = 1.5
  began = time.monotonic()
  result = solve_exact(problem, hardware, time_limit_s=limit, seed=0)
  elapsed = time.monotonic() - began
  assert elapsed < limit + 1.0, elapsed
  assert check_placement(problem, hardware, result.placement) is None
  assert not result.optimal
  assert result.status in ("FEASIBLE", "UNKNOWN")
  slow, fast = simulation_bounds(problem, hardware)
  assert fast * (1 - RTOL) <= result.bound_s <= result.objective_s
  assert result.objective_s <= slow * (1 + RTOL)
  assert 0 < result.gap < 1


def test_registered_solver_respects_options_time_limit():
  problem = _random_problem(200, seed=8, steps=60)
  hardware = _small_hardware(problem, 0.3)
  began = time.monotonic()
  placement = registry.solve("exact", problem, hardware,
                             registry.SolverOptions(time_limit_s=1.0))
  assert time.monotonic() - began < 2.0
  assert check_placement(problem, hardware, placement) is None
