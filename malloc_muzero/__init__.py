"""malloc_muzero: learned memory mapping with the mallocGame and MuZero.

Problem (`problem`, `minimalloc_csv`) -> Hardware (`hardware`) -> simulator
(`simulator`: seconds of a placement) -> the mallocGame (`game`, `players`;
`Environment`, jumanji-style) ->
Placement (`placement`, `placement_io`, `viz`).
"""

from __future__ import annotations

from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import PRESETS, Hardware, MemoryLevel, get_hardware
from malloc_muzero.minimalloc_csv import (load_minimalloc_csv,
                                          read_minimalloc_csv,
                                          write_minimalloc_csv)
from malloc_muzero.placement import Conflict, Placement, all_slow, check_placement
from malloc_muzero.placement_io import (load_placement, load_placement_csv,
                                        load_placement_json, save_placement_csv,
                                        save_placement_json)
from malloc_muzero.problem import Problem
from malloc_muzero.problem_io import load_problem
from malloc_muzero.viz import plot_memory_map

# The simulator imports JAX; load it on first use so that reading and writing
# problems (and `malloc-extract`) stay quick to start.
_LAZY = {"simulate_placement": "malloc_muzero.simulator",
         "simulation_bounds": "malloc_muzero.simulator",
         "solve": "malloc_muzero.solvers", "solver_names": "malloc_muzero.solvers",
         "Environment": "malloc_muzero.environment"}


def __getattr__(name: str):
  if name in _LAZY:
    import importlib
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'malloc_muzero' has no attribute {name!r}")

__all__ = [
    "Conflict", "Environment", "Hardware", "MemoryLevel", "PRESETS", "Placement", "Problem",
    "ProblemError", "all_slow", "check_placement", "get_hardware",
    "load_minimalloc_csv", "load_placement", "load_placement_csv",
    "load_placement_json", "load_problem", "plot_memory_map",
    "read_minimalloc_csv", "save_placement_csv", "save_placement_json", "solve",
    "solver_names",
    "simulate_placement", "simulation_bounds", "write_minimalloc_csv",
]
