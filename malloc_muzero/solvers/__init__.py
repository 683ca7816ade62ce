"""Solvers: every one takes a Problem, a Hardware and options, and returns a
Placement, or Segments for those that split buffers (`registry`). Importing
this package registers them all; solvers from higher layers or other
packages (the agent's `muzero`) register through the registry's plugin
group (`registry.PLUGIN_GROUP`), loaded on the first look-up."""

# Each import registers its solver.
from malloc_muzero.solvers import anneal  # noqa: F401
from malloc_muzero.solvers import best  # noqa: F401
from malloc_muzero.solvers import best_fit  # noqa: F401
from malloc_muzero.solvers import exact  # noqa: F401
from malloc_muzero.solvers import first_fit  # noqa: F401
from malloc_muzero.solvers import genetic  # noqa: F401
from malloc_muzero.solvers import mcts  # noqa: F401
from malloc_muzero.solvers import pack  # noqa: F401
from malloc_muzero.solvers import random_placement  # noqa: F401
from malloc_muzero.solvers import reinforce  # noqa: F401
from malloc_muzero.solvers import xla_msa  # noqa: F401
from malloc_muzero.solvers import xla_msa_prefetch  # noqa: F401
from malloc_muzero.solvers.registry import (Budget, SegmentedSolution, SolverOptions,
                                            check_iterations, checked_segments, get_solver,
                                            iterative_solver_names, places_segments,
                                            register, register_segments, solve,
                                            solve_segments, solver_names, takes_iterations)

__all__ = ["Budget", "SegmentedSolution", "SolverOptions", "check_iterations",
           "checked_segments", "get_solver", "iterative_solver_names", "places_segments", "register", "register_segments",
           "solve", "solve_segments", "solver_names", "takes_iterations"]
