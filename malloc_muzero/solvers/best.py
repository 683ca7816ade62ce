"""`best`: the strongest solver for the problem at hand, within the time limit.

Runs XLA's two heuristics (instant), then the solver that suits the problem:
`exact` on small problems (at most `EXACT_BUFFERS` buffers, where CP-SAT
usually proves optimality in seconds), `pack` on problems without
instructions (MiniMalloc's files: placing everything is the goal) when it is
registered, and `anneal` otherwise; it returns the fastest placement by the
simulator (ties: more bytes in fast memory).

Budget and reproducibility. With `options.iterations` (and no time limit)
the searching solver gets that iteration budget (see its docstring) and the
same seed gives the same placement. With a time limit alone (default 30 s)
it gets the time the heuristics leave, which is not reproducible.
"""

from __future__ import annotations

import dataclasses

from malloc_muzero.simulator import simulate_placement
from malloc_muzero.solvers.registry import (get_solver, register, solver_names,
                                            takes_iterations)

EXACT_BUFFERS = 40
DEFAULT_SECONDS = 30.0


def candidates(problem) -> list[str]:
  """The solvers `best` runs on a problem, in order."""
  names = ["xla-msa", "best-fit"]
  if problem.num_buffers <= EXACT_BUFFERS:
    names.append("exact")
  elif problem.num_instructions == 0 and "pack" in solver_names():
    names.append("pack")
  else:
    names.append("anneal")
  return names


@register("best", iterations=True)
def best(problem, hardware, options):
  budget = options.budget(DEFAULT_SECONDS)
  chosen, key = None, None
  for name in candidates(problem):
    remaining = budget.time_limit_s()
    placement = get_solver(name)(problem, hardware, dataclasses.replace(
        options, time_limit_s=None if remaining is None else max(remaining, 1.0),
        iterations=options.iterations if takes_iterations(name) else None))
    placed = int(problem.sizes[placement.levels > 0].sum())
    score = (simulate_placement(problem, hardware, placement.levels), -placed)
    if key is None or score < key:
      chosen, key = placement, score
  return chosen
