"""One interface for every solver, and the registry of solvers by name.

A solver is a function `(problem, hardware, options) -> Placement`. It
registers itself under a name with `@register("name")`; `get_solver(name)`
finds it and `solve(...)` runs it and checks its answer with the independent
checker, so that no solver can report an invalid placement.

A few solvers decide more than a level and an offset per buffer: they split
buffers into segments with copies between them (`malloc_muzero.segments`),
as XLA's memory space assignment does. They register with
`@register_segments("name")` and return `Segments`. `solve_segments` runs
any solver, of either kind, and checks its answer as segments.
"""

from __future__ import annotations

import dataclasses
import math
import time
from importlib import metadata
from typing import Callable

from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import Hardware
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.problem import Problem
from malloc_muzero.segments import (Segments, check_segments, segment_problem,
                                    whole_buffers)


@dataclasses.dataclass(frozen=True)
class SolverOptions:
  """What every solver is told besides the instance.

  Reproducibility. A solver that searches until a time limit (`anneal`,
  `genetic`, `reinforce`, `mcts`, `pack`, `exact`, `best`) does as much work as
  the machine allows in that time, so the same seed can give different
  placements from run to run: **a time limit alone is not reproducible**.
  With `iterations` set and no time limit, such a solver does exactly that
  much work and the same seed gives the same placement on the same machine
  and versions (`takes_iterations` says which solvers honour it; each one's
  docstring says what an iteration is). With both, whichever ends first
  ends the search; when the time limit does, the run is again not
  reproducible. The other solvers (the heuristics, `random`) do a fixed
  amount of work and are reproducible for a seed as they are.

  Attributes:
    seed: seed of any randomness.
    time_limit_s: wall-clock budget in seconds (None: the solver's own
      default, or no limit when `iterations` is set).
    progress: whether to show a progress bar on long runs.
    checkpoint: a training run's directory, for the solvers that play with a
      trained agent.
    iterations: an iteration budget of a search solver, >= 1 (None: the time
      limit decides).
  """
  seed: int = 0
  time_limit_s: float | None = None
  progress: bool = False
  checkpoint: str | None = None
  iterations: int | None = None

  def __post_init__(self):
    if self.iterations is not None and (isinstance(self.iterations, bool)
                                        or int(self.iterations) != self.iterations
                                        or self.iterations < 1):
      raise ValueError(f"iterations must be a whole number >= 1, got {self.iterations!r}")

  def deadline(self, default_s: float) -> float:
    """`time.monotonic()` value by which the solver must stop."""
    budget = default_s if self.time_limit_s is None else self.time_limit_s
    return time.monotonic() + budget

  def budget(self, default_s: float) -> Budget:
    """The search's budget from now: `iterations` and the time limit; the
    default time limit `default_s` applies only when neither is set."""
    start = time.monotonic()
    if self.time_limit_s is not None:
      deadline = start + self.time_limit_s
    elif self.iterations is None:
      deadline = start + default_s
    else:
      deadline = math.inf
    return Budget(self.iterations, start, deadline)


@dataclasses.dataclass(frozen=True)
class Budget:
  """How long a search may run: a number of iterations, a deadline, or both.

  Attributes:
    iterations: iterations allowed (None: until the deadline).
    start: `time.monotonic()` value at which the search began.
    deadline: `time.monotonic()` value by which it must stop (inf: none).
  """
  iterations: int | None
  start: float
  deadline: float

  def more(self, done: int) -> bool:
    """Whether an iteration may follow the `done` ones run so far."""
    if self.iterations is not None and done >= self.iterations:
      return False
    return time.monotonic() < self.deadline

  def progress(self, done: int) -> float:
    """The share of the budget used after `done` iterations, in [0, 1]: by
    iterations when they are counted (reproducible), else by time."""
    if self.iterations is not None:
      return min(done / self.iterations, 1.0)
    return min((time.monotonic() - self.start) / max(self.deadline - self.start, 1e-9), 1.0)

  def split(self, share: float) -> tuple[Budget, Budget]:
    """Two budgets run one after the other: the first gets `share` of the
    iterations (at least one) and of the time, the second the rest."""
    iterations = None if self.iterations is None else max(round(share * self.iterations), 1)
    middle = (self.deadline if math.isinf(self.deadline)
              else self.start + share * (self.deadline - self.start))
    rest = None if iterations is None else self.iterations - iterations
    return (Budget(iterations, self.start, middle), Budget(rest, middle, self.deadline))

  def time_limit_s(self) -> float | None:
    """Seconds left until the deadline (None: no deadline)."""
    return None if math.isinf(self.deadline) else max(self.deadline - time.monotonic(), 0.0)


Solver = Callable[[Problem, Hardware, SolverOptions], Placement]
SegmentSolver = Callable[[Problem, Hardware, SolverOptions], Segments]

_SOLVERS: dict[str, Solver] = {}
_SEGMENT_SOLVERS: dict[str, SegmentSolver] = {}
_ITERATIVE: set[str] = set()  # The solvers that honour `SolverOptions.iterations`.


# Entry points of this group name modules that register solvers when
# imported (pyproject.toml: the agent's `muzero`), each under the entry
# point's name. Listing the solvers reads the names only; a plugin's module
# (the agent's imports JAX, flax, mctx and orbax) loads when one of its
# solvers is looked up.
PLUGIN_GROUP = "malloc_muzero.solvers"
_plugins_loaded = False


def _plugin_names() -> set[str]:
  """The names of `PLUGIN_GROUP`'s entry points, without loading them."""
  return {entry.name for entry in metadata.entry_points(group=PLUGIN_GROUP)}


def _load_plugins() -> None:
  """Imports the modules of `PLUGIN_GROUP` once, which register their
  solvers."""
  global _plugins_loaded
  if _plugins_loaded:
    return
  _plugins_loaded = True
  for entry in metadata.entry_points(group=PLUGIN_GROUP):
    try:
      entry.load()
    except Exception as error:  # A broken plugin names itself.
      raise RuntimeError(f"the solver plugin {entry.name} ({entry.value}, entry point "
                         f"group {PLUGIN_GROUP}) failed to load: {error}") from error


def _registrar(name: str, table: dict, iterations: bool):
  def add(solver):
    if name in _SOLVERS or name in _SEGMENT_SOLVERS:
      raise ValueError(f"solver {name!r} registered twice")
    table[name] = solver
    if iterations:
      _ITERATIVE.add(name)
    return solver
  return add


def register(name: str, *, iterations: bool = False) -> Callable[[Solver], Solver]:
  """Decorator: make a solver available under `name`; `iterations`: it
  honours `SolverOptions.iterations`."""
  return _registrar(name, _SOLVERS, iterations)


def register_segments(name: str, *, iterations: bool = False,
                      ) -> Callable[[SegmentSolver], SegmentSolver]:
  """Decorator: make a solver that returns `Segments` available under `name`."""
  return _registrar(name, _SEGMENT_SOLVERS, iterations)


def takes_iterations(name: str) -> bool:
  """Whether the solver `name` honours `SolverOptions.iterations`."""
  _load_plugins()
  return name in _ITERATIVE


def iterative_solver_names() -> list[str]:
  """The solvers that honour `SolverOptions.iterations`, sorted."""
  _load_plugins()
  return sorted(_ITERATIVE)


def check_iterations(name: str, iterations: int | None) -> None:
  """ProblemError when `iterations` is set and the solver `name` does not
  take an iteration budget (or is unknown)."""
  get_solver(name)  # An unknown name is reported as such.
  if iterations is not None and not takes_iterations(name):
    raise ProblemError("a solver that takes an iteration budget (--iterations): "
                       f"{', '.join(iterative_solver_names())}", "command line",
                       where="--solver", found=name)


def solver_names() -> list[str]:
  """Every solver's name, sorted: those registered and the plugins' (not
  loaded)."""
  return sorted({*_SOLVERS, *_SEGMENT_SOLVERS, *_plugin_names()})


def places_segments(name: str) -> bool:
  """Whether the solver `name` returns segments (`register_segments`)."""
  _load_plugins()
  return name in _SEGMENT_SOLVERS


def get_solver(name: str) -> Solver | SegmentSolver:
  """The solver registered as `name`; ProblemError listing the names if none."""
  _load_plugins()
  if name not in _SOLVERS and name not in _SEGMENT_SOLVERS:
    raise ProblemError(f"a solver among {', '.join(solver_names())}",
                       "command line", where="--solver", found=name)
  return _SOLVERS.get(name) or _SEGMENT_SOLVERS[name]


def solve(name: str, problem: Problem, hardware: Hardware,
          options: SolverOptions = SolverOptions()) -> Placement:
  """Run a solver and check its placement.

  Raises:
    ProblemError: an unknown solver or a problem it cannot take.
    RuntimeError: the solver returned an invalid placement (a bug).
  """
  if problem.num_buffers == 0:
    raise ProblemError("a problem with at least one buffer", where=problem.name)
  check_iterations(name, options.iterations)
  if places_segments(name):
    raise ProblemError("a solver of whole buffers here (it places segments: "
                       "solve it with solve_segments)", where="--solver", found=name)
  placement = get_solver(name)(problem, hardware, options)
  conflict = check_placement(problem, hardware, placement)
  if conflict is not None:
    raise RuntimeError(f"solver {name!r} returned an invalid placement: {conflict}")
  return dataclasses.replace(placement, solver=name)


@dataclasses.dataclass(frozen=True)
class SegmentedSolution:
  """A checked answer of any solver, as segments.

  Attributes:
    segments: the segments and copies of the problem's buffers.
    problem: `segment_problem`'s problem, one buffer per segment (the
      problem itself for a whole-buffer answer).
    placement: its placement, which the simulator times.
  """
  segments: Segments
  problem: Problem
  placement: Placement


def solve_segments(name: str, problem: Problem, hardware: Hardware,
                   options: SolverOptions = SolverOptions()) -> SegmentedSolution:
  """Runs any solver and checks its answer: the segments' rules
  (`check_segments`), then bytes, capacity and alignment on the problem of
  segments (`check_placement`).

  Raises:
    ProblemError: an unknown solver or a problem it cannot take.
    RuntimeError: the solver returned an invalid answer (a bug).
  """
  if not places_segments(name):
    placement = solve(name, problem, hardware, options)
    return SegmentedSolution(whole_buffers(problem, placement), problem, placement)
  if problem.num_buffers == 0:
    raise ProblemError("a problem with at least one buffer", where=problem.name)
  check_iterations(name, options.iterations)
  return checked_segments(name, problem, hardware,
                          _SEGMENT_SOLVERS[name](problem, hardware, options))


def checked_segments(name: str, problem: Problem, hardware: Hardware,
                     segments: Segments) -> SegmentedSolution:
  """`segments` (the answer of `name`) checked: the segments' rules, then
  bytes, capacity and alignment on the problem of segments.

  Raises:
    RuntimeError: they break a rule (a bug of `name`).
  """
  conflict = check_segments(problem, segments)
  if conflict is None:
    derived, placement = segment_problem(problem, segments)
    conflict = check_placement(derived, hardware, placement)
  if conflict is not None:
    raise RuntimeError(f"solver {name!r} returned invalid segments: {conflict}")
  return SegmentedSolution(segments, derived, dataclasses.replace(placement, solver=name))
