"""The mallocGame's instance: a problem and its hardware set up as a game.

`make_decoder` (`make_decoders` for a set sharing one padded shape) chooses
the slot grid over the fast levels (`grid`), pads the problem into the
game's arrays (`game.make_game_problem`) and returns a `Decoder`: the game's
problem, its static sizes and its number of levels, the placement of a final
state, and decoding of per-buffer level preferences by playing the game
(at each turn the level the preferences choose among those with room, at its
lowest legal offset; `choose_level`), jitted and vmapped. The search solvers
(`solvers/chromosome.py`), the agent and `Environment` all play the game
through it.
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


def _fast_memory(hardware) -> tuple[int, int]:
  """(alignment, capacity) a grid must fit: the least common multiple of the
  fast levels' alignments and the largest fast level's capacity."""
  fast = hardware.levels[1:]
  return (int(np.lcm.reduce([level.alignment for level in fast])),
          max(level.capacity for level in fast))


def grid(hardware, num_slots: int | None = None,
         granularity: int | None = None) -> tuple[int, int]:
  """(granularity, slots) over the largest fast level: the finest slot size
  that is a multiple of every fast level's alignment (so that every offset on
  the grid is aligned) and cuts the level into at most `MAX_SLOTS` slots, or
  at most `num_slots` (a network's action grid; then the grid has exactly
  `num_slots` slots, the last ones past the capacity when it is short).
  `granularity`, when given (one of `grid_candidates`), is the slot size."""
  alignment, capacity = _fast_memory(hardware)
  most = num_slots or MAX_SLOTS
  finest = max(alignment, capacity // (most + 1) + 1)  # capacity // g <= most
  finest = -(-finest // alignment) * alignment
  if granularity is None:
    granularity = finest
  elif granularity < finest or granularity % alignment:
    raise ProblemError(f"a slot size of at least {finest} bytes and a multiple of "
                       f"{alignment}", hardware.name, "granularity", granularity)
  return granularity, num_slots or max(1, capacity // granularity)


def grid_candidates(problem, hardware, num_slots: int | None = None,
                    count: int = 5) -> list[int]:
  """Slot sizes a game of `problem` may use: `grid`'s finest and the `count`
  others, multiples of the alignment below twice the finest, that lose the
  least fast memory to rounding; those that lose less than the finest, best
  first, then the finest.

  A grid rounds every buffer up to whole slots and cuts the capacity to whole
  slots. On a coarse grid (a network's 128 slots) the finest size can cost a
  lot: 1 MiB buffers on slots of 126,464 B take 9 slots, 8.5% more than
  their size, where slots of 128 KiB fit them exactly. A size's score is the
  capacity it keeps, divided by how much rounding inflates the problem's
  distinct buffer sizes that fit (weighted by their bytes). Distinct sizes,
  so that a problem and its windows (pieces of the same buffers) score alike.
  """
  finest, _ = grid(hardware, num_slots)
  alignment, capacity = _fast_memory(hardware)
  sizes = np.unique(np.asarray(problem.sizes, np.int64))
  sizes = sizes[(sizes > 0) & (sizes <= capacity)]
  if not len(sizes):
    return [finest]
  sizes_bytes = float(sizes.sum())

  def kept(g: int) -> float:
    usable = (min(capacity, num_slots * g) if num_slots else capacity) // g * g
    return usable * sizes_bytes / float((-(-sizes // g) * g).sum())

  # Every multiple of the alignment, or (past 65,536 of them: a fine
  # alignment under a large memory) as many evenly spaced.
  step = alignment * -(-(finest // alignment) // 65_536)
  others = sorted(range(finest + step, 2 * finest, step), key=lambda g: (-kept(g), g))
  return [g for g in others[:count] if kept(g) > kept(finest)] + [finest]


def make_decoder(problem, hardware, num_slots: int | None = None,
                 num_timings: int = 1, granularity: int | None = None) -> Decoder:
  """Set up the game with a slot grid fine enough for the fast levels: at
  most `MAX_SLOTS` slots, or exactly `num_slots` (a network's action grid),
  of `granularity` bytes if given (`grid`); `num_timings` start steps for
  each movable prefetch (`game.GameConfig`)."""
  return make_decoders([problem], [hardware], num_slots, num_timings, [granularity])[0]


def make_decoders(problems, hardwares, num_slots: int | None = None,
                  num_timings: int = 1, granularities=None) -> list[Decoder]:
  """Set up the games of several problems (each on its own hardware) with one
  padded shape, so that one network and one jitted step play them all.

  Each problem keeps its own slot grid over its own fast memory: the same
  number of slots, each of its own granularity (per problem, that of
  `granularities` if given and not None, else `grid`'s finest).
  """
  if len({len(h.levels) for h in hardwares}) > 1:
    raise ProblemError("hardware with the same number of memory levels for every "
                       "problem of a set", where="hardware",
                       found=sorted({len(h.levels) for h in hardwares}))
  granularities = granularities or [None] * len(problems)
  grids = [grid(h, num_slots, g) for h, g in zip(hardwares, granularities)]
  slots = max(count for _, count in grids)
  configs = [game.game_config([p], granularity, slots, h, num_timings)
             for p, h, (granularity, _) in zip(problems, hardwares, grids)]
  shared = {field: max(getattr(c, field) for c in configs)
            for field in ("max_buffers", "max_instructions", "max_accesses", "max_copies",
                          "max_copy_accesses")}
  shared["max_tracked"] = max(c.num_tracked for c in configs)
  shared["gaps"] = any(c.gaps for c in configs)
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
