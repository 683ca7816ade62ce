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
import time
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

  Attributes:
    seed: seed of any randomness; the same seed gives the same placement.
    time_limit_s: wall-clock budget in seconds (None: the solver's own default).
    progress: whether to show a progress bar on long runs.
    checkpoint: a training run's directory, for the solvers that play with a
      trained agent.
  """
  seed: int = 0
  time_limit_s: float | None = None
  progress: bool = False
  checkpoint: str | None = None

  def deadline(self, default_s: float) -> float:
    """`time.monotonic()` value by which the solver must stop."""
    budget = default_s if self.time_limit_s is None else self.time_limit_s
    return time.monotonic() + budget


Solver = Callable[[Problem, Hardware, SolverOptions], Placement]
SegmentSolver = Callable[[Problem, Hardware, SolverOptions], Segments]

_SOLVERS: dict[str, Solver] = {}
_SEGMENT_SOLVERS: dict[str, SegmentSolver] = {}


def _registrar(name: str, table: dict):
  def add(solver):
    if name in _SOLVERS or name in _SEGMENT_SOLVERS:
      raise ValueError(f"solver {name!r} registered twice")
    table[name] = solver
    return solver
  return add


def register(name: str) -> Callable[[Solver], Solver]:
  """Decorator: make a solver available under `name`."""
  return _registrar(name, _SOLVERS)


def register_segments(name: str) -> Callable[[SegmentSolver], SegmentSolver]:
  """Decorator: make a solver that returns `Segments` available under `name`."""
  return _registrar(name, _SEGMENT_SOLVERS)


def solver_names() -> list[str]:
  return sorted([*_SOLVERS, *_SEGMENT_SOLVERS])


def places_segments(name: str) -> bool:
  """Whether the solver `name` returns segments (`register_segments`)."""
  return name in _SEGMENT_SOLVERS


def get_solver(name: str) -> Solver | SegmentSolver:
  """The solver registered as `name`; ProblemError listing the names if none."""
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
