"""Leaf values by rollout: finish the game with the reference heuristic.

Classic MCTS valued a leaf by playing the game out with a fast default policy;
Bertsekas's rollout algorithm does the same with a good heuristic as the
default, and a policy that looks ahead over such rollouts is never worse than
the heuristic alone on a deterministic problem. Here the default policy
follows the reference placement (`agent.reference`, XLA's memory space
assignment on the game's grid): at each remaining turn it takes the reference
action when it is legal; when an earlier departure has taken its slots, the
lowest free slot of the same level (or the default memory if there is none).
A buffer the reference leaves in the default memory goes to the lowest slot
that is free and that no later buffer of the reference claims during its live
range, if there is one: space a departure freed is used, and nothing the
reference still needs is taken. From the initial state the play-out is the
reference itself (everything it leaves out conflicts with something it
keeps). The value of a state is the sum of the rewards of that play-out: the
exact share of all-slow time the rest of the game saves if the compiler's
heuristic finishes it. With `SearchConfig.leaf_value = "rollout"`, the
true-dynamics search uses it instead of the value network.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from malloc_muzero import free_runs, game, slot_bits
from malloc_muzero.agent.reference import Reference


def _room(legal: chex.Array, claims: chex.Array, size: chex.Array,
          end: chex.Array) -> chex.Array:
  """[L-1, W] packed slots (`slot_bits`) where a buffer of `size` slots, live
  until `end`, is legal and takes no slot the reference claims before `end`
  ends."""
  num_slots = claims.shape[1]
  unclaimed = free_runs.run_starts(slot_bits.pack(claims <= end), size, num_slots)
  return legal & unclaimed


def default_action(problem: game.GameProblem, state: game.State,
                   reference: Reference) -> chex.Array:
  """[] int32 the default policy's action in `state` (one game)."""
  num_slots = state.busy_until.shape[1]
  turn = jnp.minimum(state.turn, reference.actions.shape[0] - 1)
  wanted = reference.actions[turn]
  has_free, lowest_free = slot_bits.lowest(state.legal_slots)
  # Where the reference wanted the buffer: the lowest free slot of its level.
  level = jnp.maximum(game.level_and_slot(wanted, num_slots)[0] - 1, 0)  # fast index
  moved = game.action_of(level + 1, lowest_free[level], num_slots)
  # Where the reference left it in the default memory: the lowest slot, of the
  # fastest level that has one, that no later reference buffer needs.
  has_room, lowest_room = slot_bits.lowest(
      _room(state.legal_slots, reference.next_claim[turn], problem.size_slots[turn],
            problem.ends[turn]))
  speed = jnp.where(has_room, problem.seconds_per_byte[1:], jnp.inf)
  fill_level = jnp.argmin(speed)
  filled = game.action_of(fill_level + 1, lowest_room[fill_level], num_slots)
  action = jnp.where(
      wanted > 0,
      jnp.where(game.is_legal(state, wanted), wanted,
                jnp.where(has_free[level], moved, 0)),
      jnp.where(has_room.any(), filled, 0))
  return action.astype(jnp.int32)


def rollout_value(problem: game.GameProblem, state: game.State,
                  reference: Reference) -> chex.Array:
  """[] float32 the return of finishing one game with the default policy."""
  def unfinished(carry):
    return ~carry[0].terminated

  def move(carry):
    state, total = carry
    state = game.step(problem, state, default_action(problem, state, reference))
    return state, total + state.reward

  _, total = jax.lax.while_loop(unfinished, move, (state, jnp.float32(0)))
  return total
