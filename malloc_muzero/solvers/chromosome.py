"""Preference chromosomes, decoded into placements by playing the mallocGame.

The search solvers (`anneal`, `genetic`, `reinforce`) do not search offsets
directly: a candidate is a matrix of level preferences, one row per buffer in
the game's decision order, as in EGRL's Boltzmann chromosomes. Decoding plays
the mallocGame: at each turn the buffer goes to the level its preferences
choose among the levels with room for it (by argmax, or sampled with Gumbel
noise), at that level's lowest legal offset. Decoding is jitted and vmapped,
so a whole population is evaluated in one call through the JAX game and its
simulator-exact rewards, and every decoded placement is valid.
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero import game, players, slot_bits
from malloc_muzero.errors import ProblemError
from malloc_muzero.placement import Placement

MAX_SLOTS = 1024


@dataclasses.dataclass(frozen=True)
class Decoder:
  """A problem set up for decoding chromosomes.

  Attributes:
    problem: the game arrays (buffers in decision order).
    config: the game's static sizes.
    num_levels: memory levels L (0 = default memory).
  """
  problem: game.GameProblem
  config: game.GameConfig
  num_levels: int

  @property
  def shape(self) -> tuple[int, int]:
    """[N, L]: one row of level preferences per (padded) buffer."""
    return (self.config.max_buffers, self.num_levels)

  def decode(self, logits: chex.Array, key: chex.PRNGKey,
             sample: bool) -> tuple[game.State, chex.Array]:
    """Play one game: (final state, return). `logits` is [N, L]."""
    return _decode(self.problem, self.config.num_slots, self.num_levels, logits,
                   key, sample)

  def decode_batch(self, logits: chex.Array, key: chex.PRNGKey,
                   sample: bool) -> tuple[game.State, chex.Array]:
    """Play a population: `logits` [P, N, L] -> (states, returns [P])."""
    keys = jax.random.split(key, logits.shape[0])
    return _decode_batch(self.problem, self.config.num_slots, self.num_levels,
                         logits, keys, sample)

  def placement(self, state: game.State, index: int | None = None) -> Placement:
    """The placement of a final state (of member `index` of a batch)."""
    if index is not None:
      state = jax.tree.map(lambda x: x[index], state)
    levels, offsets = game.placement_of(self.problem, state, self.config)
    return Placement(levels=levels, offsets=offsets)


def grid(hardware, num_slots: int | None = None) -> tuple[int, int]:
  """(granularity, slots) over the largest fast level: the finest slot size
  that is a multiple of every fast level's alignment (so that every offset on
  the grid is aligned) and cuts the level into at most `MAX_SLOTS` slots, or
  at most `num_slots` (a network's action grid; then the grid has exactly
  `num_slots` slots, the last ones past the capacity when it is short)."""
  fast = hardware.levels[1:]
  alignment = int(np.lcm.reduce([level.alignment for level in fast]))
  capacity = max(level.capacity for level in fast)
  most = num_slots or MAX_SLOTS
  granularity = max(alignment, capacity // (most + 1) + 1)  # capacity // g <= most
  granularity = -(-granularity // alignment) * alignment
  return granularity, num_slots or max(1, capacity // granularity)


def make_decoder(problem, hardware, num_slots: int | None = None,
                 num_timings: int = 1) -> Decoder:
  """Set up the game with a slot grid fine enough for the fast levels: at
  most `MAX_SLOTS` slots, or exactly `num_slots` (a network's action grid);
  `num_timings` start steps for each movable prefetch (`game.GameConfig`)."""
  return make_decoders([problem], [hardware], num_slots, num_timings)[0]


def make_decoders(problems, hardwares, num_slots: int | None = None,
                  num_timings: int = 1) -> list[Decoder]:
  """Set up the games of several problems (each on its own hardware) with one
  padded shape, so that one network and one jitted step play them all.

  Each problem keeps its own slot grid over its own fast memory: the same
  number of slots, each of its own granularity.
  """
  if len({len(h.levels) for h in hardwares}) > 1:
    raise ProblemError("hardware with the same number of memory levels for every "
                       "problem of a set", where="hardware",
                       found=sorted({len(h.levels) for h in hardwares}))
  grids = [grid(h, num_slots) for h in hardwares]
  slots = max(count for _, count in grids)
  configs = [game.game_config([p], granularity, slots, h, num_timings)
             for p, h, (granularity, _) in zip(problems, hardwares, grids)]
  shared = {field: max(getattr(c, field) for c in configs)
            for field in ("max_buffers", "max_instructions", "max_accesses", "max_copies",
                          "max_copy_accesses")}
  shared["max_tracked"] = max(c.num_tracked for c in configs)
  if shared["max_copies"]:  # A problem without copies is padded to them too.
    shared["max_copy_accesses"] = max(game.copy_accesses(p, h)
                                      for p, h in zip(problems, hardwares))
  configs = [dataclasses.replace(c, **shared) for c in configs]
  return [Decoder(game.make_game_problem(p, h, c), c, len(h.levels))
          for p, h, c in zip(problems, hardwares, configs)]


def choose_level(scores: chex.Array, state: game.State, num_levels: int,
                 key: chex.PRNGKey, sample: bool):
  """The decoder's decision for the current buffer.

  Args:
    scores: [L] level preferences of the current buffer.
    state: the game state.
    num_levels: L.
    key: for the Gumbel noise when `sample`.
    sample: sample from softmax(scores) instead of taking the argmax.

  Returns:
    (action, allowed [L] bool levels with room, chosen level).
  """
  num_slots = state.busy_until.shape[1]
  has_room, first = slot_bits.lowest(state.legal_slots)
  allowed = jnp.concatenate([jnp.ones(1, bool), has_room])
  if sample:
    scores = scores + jax.random.gumbel(key, scores.shape)
  level = jnp.argmax(jnp.where(allowed, scores, -jnp.inf))
  slot = first[jnp.maximum(level - 1, 0)]
  return game.action_of(level, slot, num_slots), allowed, level


def _player(logits: chex.Array, num_levels: int, sample: bool):
  def choose(problem: game.GameProblem, state: game.State, key: chex.PRNGKey):
    del problem
    return choose_level(logits[state.turn], state, num_levels, key, sample)[0]
  return choose


@functools.partial(jax.jit,
                   static_argnames=("num_slots", "num_levels", "sample"))
def _decode(problem, num_slots, num_levels, logits, key, sample):
  return players.play(problem, num_slots, _player(logits, num_levels, sample), key)


@functools.partial(jax.jit,
                   static_argnames=("num_slots", "num_levels", "sample"))
def _decode_batch(problem, num_slots, num_levels, logits, keys, sample):
  return jax.vmap(lambda l, k: players.play(
      problem, num_slots, _player(l, num_levels, sample), k))(logits, keys)


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
  from malloc_muzero.solvers.best_fit import best_fit
  from malloc_muzero.solvers.registry import SolverOptions
  from malloc_muzero.solvers.xla_msa import xla_msa

  seeds = [greedy_logits(decoder)]
  for solver in (xla_msa, best_fit):
    seeds.append(logits_from_levels(decoder, solver(problem, hardware, SolverOptions()).levels))
  return seeds
