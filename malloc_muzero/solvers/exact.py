"""`exact`: the provably optimal placement of a small problem, by CP-SAT.

The model, one per (problem, hardware):

* Per buffer `b` and fast level `l` where it may help (it fits, and some access
  of it is cheaper there than in the default memory) a boolean `x[b, l]`; at
  most one per buffer; none means level 0. Buffers that no fast level can
  speed up stay in level 0, which never costs time nor breaks validity.
* Per such pair an offset `k[b, l]` in units of the level's alignment `a`:
  the buffer sits at byte `a * k` and, in these units, occupies
  `[k, k + ceil(size / a))`, with `0 <= k <= (capacity - size) // a`. Two
  buffers are disjoint in bytes exactly when they are disjoint in these units
  (offsets are multiples of `a`), so nothing is lost by the change of unit.
* Per fast level one `AddNoOverlap2D` of optional rectangles: time
  `[start, end + 1)` (fixed) by address `[k, k + ceil(size / a))`, present
  iff `x[b, l]`. Zero-size buffers occupy no bytes: they get no rectangle.
  A buffer of several values holds its bytes only over its values'
  intervals, and a share's two buffers may take the same bytes at the
  shared step (`Problem.intervals`, `Problem.shares`): such a buffer gets a
  rectangle per interval, all at its one offset, on a clock that cuts each
  shared step in parts (`minimalloc_csv.occupied_spans`), so that the model's
  placements are exactly the checker's valid ones and its bound stays a
  lower bound.
* Redundant, for the LP bound: per fast level and every maximal set of
  buffers live at one step, `sum ceil(size / a) * x <= ceil(capacity / a)`.
* The objective is the simulator's (`malloc_muzero.simulator`), exactly:
  `sum_i max(compute_i, memory_i)` with `memory_i = other_memory_s_i + sum
  over the accesses of i of the access's seconds at the level of its buffer`
  (bytes / bandwidth, each weighted by the instruction's executions; in the
  additive model plus its copy outside the default memory), linear in `x`.
  Under XLA's time model a problem with asynchronous copies (windows) also
  waits on them; the model leaves those stalls out, so on such a problem
  `bound_s` bounds the relaxation without stalls (still a valid lower
  bound: stalls are never negative) and `objective_s`, the simulator's time
  of the placement, includes them. An
  instruction whose memory time can never exceed its compute time is a
  constant; one whose memory time can never fall below it is its (linear)
  memory time; otherwise a variable `t_i >= compute_i`, `t_i >= memory_i`.
  Problems without instructions are scored by `simulation_inputs` (each buffer
  written and read once), and so are they here.

Scaling. CP-SAT needs integers. Seconds are scaled by `scale = 2**30 / W`,
where `W` is an upper bound of any placement's time (each instruction at its
slowest), and every per-access cost (its seconds at each level) and every
`compute_i` is rounded to the nearest integer. The integer model is then
solved exactly, and optimality is exact up to this rounding: a placement's
integer time differs from `scale *` its real time by at most `(K + M) / 2`
(K accesses, M instructions), so the returned placement's real time is within
`(K + M) / scale` seconds (a relative `(K + M) * 2**-30` of `W`) of the true
optimum, and `bound_s` subtracts `(K + M) / (2 * scale)` so that it stays a
valid lower bound. The costs are taken from the simulator's own float32
inputs, and `objective_s` is the real simulator's time of the placement.

Time and determinism. The search stops at the time limit (from
`options.deadline`, minus the time spent building the model and a small
reserve for checking the answer) and reports what it proved: `optimal`, or
the best placement found and a lower bound. It runs `NUM_WORKERS` = 2 workers
seeded with `options.seed`. With two workers CP-SAT's choice among equally
fast placements can vary from run to run (the optimal time does not);
`solve_exact(..., num_workers=1)` is reproducible (short of the time limit)
but up to ~4x slower to prove optimality on 80-buffer problems. A first-fit
greedy placement is the search's hint and, should the search find nothing in
time, the answer.

Budget and reproducibility. A time limit alone (default 60 s) is not
reproducible when it ends the search: how far CP-SAT gets depends on the
machine. An iteration is one conflict of CP-SAT's search: with
`options.iterations` (and no time limit) the search runs one worker and stops
after that many conflicts (`max_number_of_conflicts`), or sooner when it
proves optimality, and the same seed gives the same placement.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from ortools.sat.python import cp_model

from malloc_muzero.hardware import Hardware
from malloc_muzero.minimalloc_csv import occupied_spans
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.problem import Problem
from malloc_muzero.simulator import simulate_placement, simulation_inputs
from malloc_muzero.solvers.occupancy import lowest_free_offset
from malloc_muzero.solvers.registry import SolverOptions, register

DEFAULT_TIME_LIMIT_S = 60.0
NUM_WORKERS = 2
RESOLUTION = 2**30  # Integer units of the slowest possible program time.
# Seconds kept back from the time limit for checking and timing the answer.
_RESERVE_S = 0.05
_MIN_SEARCH_S = 0.01


@dataclasses.dataclass(frozen=True)
class ExactResult:
  """What `solve_exact` found and proved.

  Attributes:
    placement: a valid placement (checked with `check_placement`).
    optimal: whether CP-SAT proved it optimal (up to the scaling, see the
      module docstring).
    objective_s: seconds the simulator gives the placement.
    bound_s: a lower bound on the time of any valid placement (seconds),
      at most `objective_s`; equal up to the scaling when `optimal`.
    status: CP-SAT's status name ("OPTIMAL", "FEASIBLE", "UNKNOWN", ...);
      "TRIVIAL" when no buffer can be sped up and no search ran.
    resolution_s: seconds per integer unit of the model (1 / scale).
    rounding_error_s: `(K + M) * resolution_s`: how far, at most, an
      `optimal` placement's real time is from the true optimum.
    wall_time_s: seconds spent in `solve_exact`.
  """
  placement: Placement
  optimal: bool
  objective_s: float
  bound_s: float
  status: str
  resolution_s: float
  rounding_error_s: float
  wall_time_s: float

  @property
  def gap(self) -> float:
    """Relative gap `(objective - bound) / objective`; 0 when optimal."""
    if self.objective_s <= 0:
      return 0.0
    return max(0.0, (self.objective_s - self.bound_s) / self.objective_s)


@dataclasses.dataclass(frozen=True)
class _Costs:
  """The simulator's time model as integers (see the module docstring).

  Attributes:
    compute: [M] int64 scaled compute time of each instruction.
    other: [M] int64 scaled memory time of each instruction that no access
      accounts for (`SimulationInputs.other_memory_s`).
    access_instruction: [K] int instruction of each access.
    access_buffer: [K] int buffer of each access.
    access_cost: [K, L] int64 scaled time of each access at each level.
    scale: integer units per second.
  """
  compute: np.ndarray
  other: np.ndarray
  access_instruction: np.ndarray
  access_buffer: np.ndarray
  access_cost: np.ndarray
  scale: float


def _costs(problem: Problem, hardware: Hardware) -> _Costs:
  inputs = simulation_inputs(problem, hardware)
  compute = np.asarray(inputs.compute_s, np.float64)
  other = np.asarray(inputs.other_memory_s, np.float64)
  instruction = np.asarray(inputs.access_instruction, np.int64)
  buffer = np.asarray(inputs.access_buffer, np.int64)
  seconds = np.asarray(inputs.access_seconds, np.float64)
  slowest = other.copy()
  np.add.at(slowest, instruction, seconds.max(axis=1) if seconds.size else 0.0)
  worst = float(np.maximum(compute, slowest).sum())
  scale = RESOLUTION / worst if worst > 0 else 1.0
  return _Costs(compute=np.rint(compute * scale).astype(np.int64),
                other=np.rint(other * scale).astype(np.int64),
                access_instruction=instruction, access_buffer=buffer,
                access_cost=np.rint(seconds * scale).astype(np.int64),
                scale=scale)


def _useful_levels(problem: Problem, hardware: Hardware,
                   costs: _Costs) -> list[list[int]]:
  """Per buffer, the fast levels it fits in and where some access is cheaper.

  Moving a buffer from such a level to level 0 never lowers any instruction's
  memory time and frees space, so leaving the others out loses nothing.
  """
  cheaper = costs.access_cost < costs.access_cost[:, :1]  # [K, L]
  helps = np.zeros((problem.num_buffers, hardware.num_levels), bool)
  np.logical_or.at(helps, costs.access_buffer, cheaper)
  useful = []
  for b, size in enumerate(problem.sizes.tolist()):
    useful.append([l for l in range(1, hardware.num_levels)
                   if helps[b, l] and size <= hardware.levels[l].capacity])
  return useful


def _greedy(problem: Problem, hardware: Hardware, costs: _Costs,
            useful: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
  """A quick valid placement: by saving per byte, first fit, best level first.

  Returns:
    ([N] int32 levels, [N] int64 offsets in bytes, -1 in level 0).
  """
  n = problem.num_buffers
  saving = np.zeros((n, hardware.num_levels))
  np.add.at(saving, costs.access_buffer,
            costs.access_cost[:, :1] - costs.access_cost)
  sizes, starts = problem.sizes.tolist(), problem.starts.tolist()
  ends = problem.ends.tolist()
  levels = np.zeros(n, np.int32)
  offsets = np.full(n, -1, np.int64)
  placed: dict[int, list[int]] = {}
  best = [max((saving[b, l] for l in useful[b]), default=0.0) for b in range(n)]
  order = sorted((b for b in range(n) if useful[b]),
                 key=lambda b: (-best[b] / max(sizes[b], 1), b))
  for b in order:
    for level in sorted(useful[b], key=lambda l: (-saving[b, l], l)):
      memory = hardware.levels[level]
      offset = _first_fit(b, placed.get(level, []), sizes, starts, ends,
                          offsets, memory.alignment)
      if offset + sizes[b] <= memory.capacity:
        levels[b], offsets[b] = level, offset
        placed.setdefault(level, []).append(b)
        break
  return levels, offsets


def _first_fit(b, others, sizes, starts, ends, offsets, alignment) -> int:
  """The lowest aligned offset where `b` overlaps none of `others`."""
  size = sizes[b]
  busy = [(offsets[o], offsets[o] + sizes[o]) for o in others
          if sizes[o] and starts[o] <= ends[b] and starts[b] <= ends[o]]
  return lowest_free_offset(size, busy, alignment)


def _maximal_live_sets(spans: list[list[tuple[int, int]]],
                       members: list[int]) -> list[list[int]]:
  """The sets of `members` live at one step (`occupied_spans`) that no
  other such set contains, in the order of their steps.

  A sweep over the spans' ends: the live set is maximal just before the first
  span that ends after a span began.
  """
  began: dict[int, list[int]] = {}
  ended: dict[int, list[int]] = {}
  for b in members:
    for low, high in spans[b]:
      began.setdefault(low, []).append(b)
      ended.setdefault(high, []).append(b)
  sets, live, grown = [], {}, False
  for t in sorted(began.keys() | ended.keys()):
    if t in ended:
      if grown:
        sets.append(sorted(live))
        grown = False
      for b in ended[t]:
        del live[b]
    if t in began:
      live.update(dict.fromkeys(began[t]))
      grown = True
  if grown:
    sets.append(sorted(live))
  return sets


def solve_exact(problem: Problem, hardware: Hardware,
                time_limit_s: float = DEFAULT_TIME_LIMIT_S, seed: int = 0,
                *, num_workers: int = NUM_WORKERS,
                max_conflicts: int | None = None,
                log_search_progress: bool = False) -> ExactResult:
  """The best placement CP-SAT finds and proves within a time limit.

  Args:
    problem: the instance, N buffers.
    hardware: the memory levels and peak compute.
    time_limit_s: wall-clock seconds for the whole call (model building,
      search, and checking the answer); inf: none.
    seed: CP-SAT's random seed.
    num_workers: CP-SAT search workers (default 2).
    max_conflicts: stop after this many conflicts (None: no limit); with
      one worker a reproducible budget.
    log_search_progress: print CP-SAT's log.

  Returns:
    An `ExactResult`: the placement, whether it is proved optimal, its
    simulated time and a lower bound on the optimum.
  """
  began = time.monotonic()
  deadline = began + time_limit_s
  n = problem.num_buffers
  # Compiles the simulator for this problem's shapes now, so that timing the
  # answer after the search is quick and the search's budget is honest.
  simulate_placement(problem, hardware, np.zeros(n, np.int32))
  costs = _costs(problem, hardware)
  useful = _useful_levels(problem, hardware, costs)
  hint_levels, hint_offsets = _greedy(problem, hardware, costs, useful)
  error_units = len(costs.access_buffer) + len(costs.compute)
  resolution = 1.0 / costs.scale

  if not any(useful):
    placement = Placement(levels=hint_levels, offsets=hint_offsets,
                          solver="exact")
    objective = simulate_placement(problem, hardware, placement.levels)
    return ExactResult(placement, True, objective, objective, "TRIVIAL",
                       resolution, error_units * resolution,
                       time.monotonic() - began)

  model = cp_model.CpModel()
  sizes = problem.sizes.tolist()
  occupancy = occupied_spans(problem)
  x: dict[tuple[int, int], cp_model.IntVar] = {}
  k: dict[tuple[int, int], cp_model.IntVar] = {}
  for b in range(n):
    for level in useful[b]:
      memory = hardware.levels[level]
      x[b, level] = model.new_bool_var(f"x_{b}_{level}")
      top = (memory.capacity - sizes[b]) // memory.alignment
      k[b, level] = model.new_int_var(0, top if sizes[b] else 0,
                                      f"k_{b}_{level}")
      model.add_hint(x[b, level], int(hint_levels[b] == level))
      model.add_hint(k[b, level], int(hint_offsets[b]) // memory.alignment
                     if hint_levels[b] == level else 0)
    if len(useful[b]) > 1:
      model.add_at_most_one(x[b, level] for level in useful[b])

  for level in range(1, hardware.num_levels):
    memory = hardware.levels[level]
    members = [b for b in range(n) if (b, level) in x and sizes[b]]
    if not members:
      continue
    units = {b: -(-sizes[b] // memory.alignment) for b in members}
    times, addresses = [], []
    for b in members:
      present = x[b, level]
      address = model.new_optional_fixed_size_interval_var(
          k[b, level], units[b], present, f"a_{b}_{level}")
      for part, (low, high) in enumerate(occupancy[b]):
        times.append(model.new_optional_fixed_size_interval_var(
            low, high - low, present, f"t_{b}_{level}" + f"_{part}" * (part > 0)))
        addresses.append(address)
    if len(times) > 1:
      model.add_no_overlap_2d(times, addresses)
    room = -(-memory.capacity // memory.alignment)
    for live in _maximal_live_sets(occupancy, members):
      if sum(units[b] for b in live) > room:
        model.add(sum(units[b] * x[b, level] for b in live) <= room)

  # The objective: per instruction max(compute, memory), memory linear in x.
  objective_terms = []
  constant = 0
  by_instruction: dict[int, list[int]] = {}
  for a, i in enumerate(costs.access_instruction.tolist()):
    by_instruction.setdefault(i, []).append(a)
  for i, (compute, other) in enumerate(zip(costs.compute.tolist(), costs.other.tolist())):
    accesses = by_instruction.get(i, [])
    base = low = high = other
    terms: dict[tuple[int, int], int] = {}
    for a in accesses:
      b = int(costs.access_buffer[a])
      slow = int(costs.access_cost[a, 0])
      base += slow
      deltas = [int(costs.access_cost[a, l]) - slow for l in useful[b]]
      low += slow + min([0] + deltas)
      high += slow + max([0] + deltas)
      for level, delta in zip(useful[b], deltas):
        if delta:
          terms[b, level] = terms.get((b, level), 0) + delta
    memory = base + sum(delta * x[key] for key, delta in terms.items())
    if not terms:  # No access it makes can be sped up.
      constant += max(compute, base)
    elif high <= compute:  # Compute-bound whatever the placement.
      constant += compute
    elif low >= compute:
      objective_terms.append(memory)
    else:
      t = model.new_int_var(max(compute, low), high, f"time_{i}")
      model.add(t >= memory)
      objective_terms.append(t)
  model.minimize(sum(objective_terms) + constant)

  solver = cp_model.CpSolver()
  remaining = deadline - time.monotonic() - _RESERVE_S
  if math.isfinite(remaining):
    solver.parameters.max_time_in_seconds = max(remaining, _MIN_SEARCH_S)
  if max_conflicts is not None:
    solver.parameters.max_number_of_conflicts = int(max_conflicts)
  solver.parameters.num_workers = num_workers
  solver.parameters.random_seed = int(seed) % 2**31
  solver.parameters.log_search_progress = log_search_progress
  status = solver.solve(model)
  status_name = solver.status_name(status)

  if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
    levels = np.zeros(n, np.int32)
    offsets = np.full(n, -1, np.int64)
    for (b, level), var in x.items():
      if solver.boolean_value(var):
        levels[b] = level
        alignment = hardware.levels[level].alignment
        offsets[b] = solver.value(k[b, level]) * alignment
    bound_units = solver.best_objective_bound
  else:  # No solution in time (or an unexpected status): the greedy hint.
    levels, offsets = hint_levels, hint_offsets
    bound_units = (solver.best_objective_bound
                   if status == cp_model.UNKNOWN else -np.inf)
  placement = Placement(levels=levels, offsets=offsets, solver="exact")
  conflict = check_placement(problem, hardware, placement)
  if conflict is not None:
    raise RuntimeError(
        f"exact: CP-SAT returned an invalid placement: {conflict}")
  objective = simulate_placement(problem, hardware, placement.levels)
  bound = (bound_units - error_units / 2) * resolution
  bound = min(max(bound, _all_fast_bound(costs)), objective)
  optimal = status == cp_model.OPTIMAL
  if optimal:
    # Proved optimal for the integer model: the bound is the objective, up to
    # the rounding that `rounding_error_s` accounts for.
    bound = min(objective, max(bound, objective - error_units * resolution))
  return ExactResult(placement=placement, optimal=optimal,
                     objective_s=objective, bound_s=float(bound),
                     status=status_name, resolution_s=resolution,
                     rounding_error_s=error_units * resolution,
                     wall_time_s=time.monotonic() - began)


def _all_fast_bound(costs: _Costs) -> float:
  """Seconds with every access at its cheapest level, capacity aside."""
  memory = costs.other.astype(np.float64)
  if costs.access_cost.size:
    np.add.at(memory, costs.access_instruction,
              costs.access_cost.min(axis=1).astype(np.float64))
  units = np.maximum(costs.compute.astype(np.float64), memory).sum()
  error = (len(costs.access_buffer) + len(costs.compute)) / 2
  return float((units - error) / costs.scale)


@register("exact", iterations=True)
def exact(problem: Problem, hardware: Hardware,
          options: SolverOptions) -> Placement:
  """CP-SAT's best placement within `options`' budget (default 60 s; with
  `options.iterations`, that many conflicts on one worker); see
  `solve_exact`."""
  budget = options.budget(DEFAULT_TIME_LIMIT_S)
  limit = budget.time_limit_s()
  result = solve_exact(problem, hardware,
                       time_limit_s=math.inf if limit is None else limit,
                       seed=options.seed,
                       num_workers=NUM_WORKERS if budget.iterations is None else 1,
                       max_conflicts=budget.iterations)
  return result.placement
