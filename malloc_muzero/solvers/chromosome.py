"""Preference chromosomes, decoded into placements by playing the mallocGame.

The search solvers (`anneal`, `genetic`, `reinforce`) do not search offsets
directly: a candidate is a matrix of level preferences, one row per buffer in
the game's decision order, as in EGRL's Boltzmann chromosomes. Decoding plays
the mallocGame (`game_instance.Decoder`): at each turn the buffer goes to the
level its preferences choose among the levels with room for it (by argmax, or
sampled with Gumbel noise), at that level's lowest legal offset. Decoding is
jitted and vmapped, so a whole population is evaluated in one call through
the JAX game and its simulator-exact rewards, and every decoded placement is
valid. Here: the chromosomes a search starts from.
"""

from __future__ import annotations

import numpy as np

from malloc_muzero.game_instance import Decoder
from malloc_muzero.solvers.best_fit import best_fit
from malloc_muzero.solvers.registry import SolverOptions
from malloc_muzero.solvers.xla_msa import xla_msa


def greedy_logits(decoder: Decoder) -> np.ndarray:
  """[N, L] preferences for the fastest level with room (first-fit's choice)."""
  speed = -np.asarray(decoder.problem.seconds_per_byte)  # faster = larger
  ranks = np.argsort(np.argsort(speed)).astype(np.float32)
  return np.broadcast_to(ranks, decoder.shape).copy()


def logits_from_levels(decoder: Decoder, levels: np.ndarray,
                       strength: float = 4.0) -> np.ndarray:
  """[N, L] preferences for a given level per buffer ([N] in problem order),
  e.g. to start a search from a heuristic's decisions."""
  index = np.asarray(decoder.problem.buffer_index)
  logits = np.zeros(decoder.shape, np.float32)
  real = index >= 0
  logits[np.flatnonzero(real), levels[index[real]]] = strength
  return logits


def heuristic_seeds(decoder: Decoder, problem, hardware) -> list[np.ndarray]:
  """Starting chromosomes: first-fit's choice and the decisions of XLA's
  memory space assignment and best-fit heap."""
  seeds = [greedy_logits(decoder)]
  for solver in (xla_msa, best_fit):
    seeds.append(logits_from_levels(decoder, solver(problem, hardware, SolverOptions()).levels))
  return seeds
