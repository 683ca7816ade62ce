"""Search with the mallocGame's real dynamics: MCTS whose model is the game.

`mctx.gumbel_muzero_policy` needs a root (prior logits, value, embedding) and
a `recurrent_fn` (embedding, action -> reward, discount, prior, value, next
embedding). Here the embedding is the game `State` itself and `recurrent_fn`
is `game.step`, as in pgx's AlphaZero example: the ablation of mallocMuZero
that knows the rules and needs no learned model, and a strong player.

Until a prediction network is trained, priors and values come from a
heuristic (`heuristic_prior`): every legal action gets the same base logit;
the lowest legal offset of each fast level gets a bonus (first-fit), scaled by
the share of time that level would save; illegal actions get `finfo.min`, so
they are never explored (mctx masks them at the root through
`invalid_actions` too). Leaf values are 0: the search compares actions by the
simulated time they save over its horizon.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import mctx

from malloc_muzero import game

FIRST_FIT_BONUS = 4.0


def heuristic_prior(problem: game.GameProblem, state: game.State) -> chex.Array:
  """[A] prior logits of one state."""
  num_fast, num_slots = state.busy_until.shape
  mask = state.legal_action_mask
  fast = mask[1:].reshape(num_fast, num_slots)
  first = jnp.argmax(fast, axis=1)
  savings = game.level_savings(problem, state, jnp.minimum(state.turn,
                                                          problem.valid.shape[0] - 1))
  scale = jnp.maximum(savings[1:] / jnp.maximum(savings.max(), 1e-12), 0.0)
  bonus = jnp.zeros((num_fast, num_slots)).at[jnp.arange(num_fast), first].set(
      FIRST_FIT_BONUS * (1.0 + scale))
  logits = jnp.concatenate([jnp.zeros(1), bonus.reshape(-1)])
  return jnp.where(mask, logits, jnp.finfo(jnp.float32).min)


def _recurrent_fn(problem: game.GameProblem):
  def recurrent_fn(params, key, action, state):
    del params, key
    next_state = jax.vmap(game.step, in_axes=(None, 0, 0))(problem, state, action)
    prior = jax.vmap(heuristic_prior, in_axes=(None, 0))(problem, next_state)
    output = mctx.RecurrentFnOutput(
        reward=next_state.reward,
        discount=jnp.where(next_state.terminated, 0.0, 1.0),
        prior_logits=prior,
        value=jnp.zeros_like(next_state.reward))
    return output, next_state
  return recurrent_fn


def search(problem: game.GameProblem, states: game.State, key: chex.PRNGKey,
           num_simulations: int, max_considered: int) -> mctx.PolicyOutput:
  """Gumbel MuZero search from a batch of states ([B] leading axis)."""
  prior = jax.vmap(heuristic_prior, in_axes=(None, 0))(problem, states)
  root = mctx.RootFnOutput(prior_logits=prior,
                           value=jnp.zeros(prior.shape[0]), embedding=states)
  return mctx.gumbel_muzero_policy(
      params=(), rng_key=key, root=root, recurrent_fn=_recurrent_fn(problem),
      num_simulations=num_simulations,
      invalid_actions=~states.legal_action_mask,
      max_num_considered_actions=max_considered)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def search_moves(problem: game.GameProblem, states: game.State, key: chex.PRNGKey,
                 moves: int, num_simulations: int, max_considered: int):
  """`moves` moves of a batch of games, searching before each: (states,
  rewards summed [B]). Finished games stay as they are."""
  def move(states, key):
    output = search(problem, states, key, num_simulations, max_considered)
    states = jax.vmap(game.step, in_axes=(None, 0, 0))(problem, states, output.action)
    return states, states.reward

  states, rewards = jax.lax.scan(move, states, jax.random.split(key, moves))
  return states, rewards.sum(axis=0)


@jax.jit
def finish(problem: game.GameProblem, states: game.State):
  """Finish a batch of games without search, each move the heuristic prior's
  favourite: (states, rewards summed [B])."""
  def unfinished(carry):
    return ~carry[0].terminated.all()

  def move(carry):
    states, total = carry
    action = jnp.argmax(jax.vmap(heuristic_prior, in_axes=(None, 0))(problem, states),
                        axis=-1)
    states = jax.vmap(game.step, in_axes=(None, 0, 0))(problem, states, action)
    return states, total + states.reward

  return jax.lax.while_loop(unfinished, move,
                            (states, jnp.zeros(states.turn.shape[0])))


def play(problem: game.GameProblem, num_slots: int, key: chex.PRNGKey,
         batch: int, num_simulations: int, max_considered: int):
  """`batch` whole games, searching before every move: (final states [B],
  returns [B])."""
  states = jax.vmap(lambda _: game.init(problem, num_slots))(jnp.arange(batch))
  return search_moves(problem, states, key, problem.valid.shape[0], num_simulations,
                      max_considered)
