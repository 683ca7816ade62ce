"""Simple mallocGame players, and whole episodes under `lax.scan`.

A player maps `(problem, state, key)` to an action, for one game:
* `random_legal`: uniform over the legal actions (timings included);
* `first_fit`: the lowest legal offset of the fastest level that has one, else
  the default memory;
* `greedy`: the level whose immediate reward is largest (at its lowest legal
  offset), or the default memory when no fast level saves time.
`first_fit` and `greedy` keep each prefetch where its problem starts it
(timing 0).
"""

from __future__ import annotations

import functools
from typing import Callable

import chex
import jax
import jax.numpy as jnp

from malloc_muzero import game, slot_bits

Player = Callable[[game.GameProblem, game.State, chex.PRNGKey], chex.Array]


def random_legal(problem: game.GameProblem, state: game.State,
                 key: chex.PRNGKey) -> chex.Array:
  """A random legal action, uniform over the legal actions.

  It draws `n` below the number of legal actions (1 for the default memory,
  plus the set bits of `state.legal_slots` and `state.timed_slots`) and
  takes the `n`-th, read from the packed words (`slot_bits.nth`) without a
  bool or a random number per action. The draw is a 24-bit fraction times
  the count: its bias, at most
  count / 2^24, is far below what any test of uniformity can see.

  The key's own words seed the draw through murmur3's finaliser: keys made by
  `jax.random.split` (as `play` makes them) are already threefry outputs, so
  hashing them once more with `jax.random.bits` (a threefry per decision,
  about a tenth of a random episode's time on the CPU, scripts/bench_game.py)
  adds only time.
  """
  del problem
  # One row of words per (timing, level): timing 0's, then the others'
  # (`game.State.timed_slots`).
  rows = jnp.concatenate([state.legal_slots, state.timed_slots.reshape(
      -1, state.legal_slots.shape[-1])])                              # [K (L-1), W]
  per_row = slot_bits.popcount(rows).sum(axis=1)
  count = 1 + per_row.sum()
  key_words = jax.random.key_data(key).reshape(-1).astype(jnp.uint32)
  h = functools.reduce(jnp.bitwise_xor, list(key_words))
  h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
  h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
  h = h ^ (h >> 16)
  fraction = (h >> 8).astype(jnp.float32) / (1 << 24)
  n = jnp.minimum((fraction * count).astype(jnp.int32), count - 1)
  num_fast, num_slots = state.busy_until.shape
  # The row of the n-th fast slot, then the slot within it (`nth` over one
  # row's words: its cost grows with the square of the words it reads).
  index = jnp.arange(rows.shape[0])
  before = jnp.where(index[None, :] < index[:, None], per_row[None, :], 0).sum(axis=1)
  fast_n = jnp.maximum(n - 1, 0)
  row = jnp.maximum(jnp.sum(before <= fast_n) - 1, 0)
  slot = slot_bits.nth(rows[row], fast_n - before[row])
  timing, level = jnp.divmod(row, num_fast)
  placement = game.action_of(1 + level, slot, num_slots)
  return jnp.where(n == 0, 0, timing * game.num_placements(num_fast, num_slots) + placement)


def first_fit(problem: game.GameProblem, state: game.State,
              key: chex.PRNGKey) -> chex.Array:
  """Lowest legal offset in the fastest level that has room, else level 0."""
  del key
  has_room, first = slot_bits.lowest(state.legal_slots)
  speed_order = jnp.argsort(problem.seconds_per_byte[1:])  # fastest first
  usable = has_room[speed_order]
  pick = speed_order[jnp.argmax(usable)]
  level = jnp.where(usable.any(), pick + 1, 0)
  return game.action_of(level, first[pick], state.busy_until.shape[1])


def greedy(problem: game.GameProblem, state: game.State,
           key: chex.PRNGKey) -> chex.Array:
  """The legal level with the largest immediate saving, at its lowest offset."""
  del key
  has_room, first = slot_bits.lowest(state.legal_slots)
  savings = game.level_savings(problem, state, state.turn)[1:]
  savings = jnp.where(has_room, savings, -jnp.inf)
  pick = jnp.argmax(savings)
  level = jnp.where(savings[pick] > 0, pick + 1, 0)
  return game.action_of(level, first[pick], state.busy_until.shape[1])


PLAYERS: dict[str, Player] = {
    "random": random_legal, "first-fit": first_fit, "greedy": greedy}


def play(problem: game.GameProblem, num_slots: int, player: Player,
         key: chex.PRNGKey) -> tuple[game.State, chex.Array]:
  """One whole episode with `lax.scan`: (final state, return).

  The scan runs one step per padded buffer; a step after the end changes
  nothing (`game.step` of a terminated state is a no-op).
  """
  state = game.init(problem, num_slots)
  keys = jax.random.split(key, problem.valid.shape[0])

  def body(state, key):
    state = game.step(problem, state, player(problem, state, key))
    return state, state.reward

  state, rewards = jax.lax.scan(body, state, keys)
  return state, rewards.sum()
