"""`reinforce`: ConfuciuX-style REINFORCE on the mallocGame, then genetic fine-tuning.

ConfuciuX (Kao et al., MICRO 2020) trains a policy with REINFORCE to assign
hardware resources, then fine-tunes its best answers with a genetic
algorithm. Here the policy is a table of level preferences, one row per
buffer in the game's decision order (the same chromosome the genetic solver
evolves): at each turn the buffer's level is sampled from the softmax of its
row over the levels with room for it, at that level's lowest legal offset.
A batch of episodes is played in one jitted, vmapped call; the policy
gradient uses the batch's mean return as baseline, with Adam (optax). After
60% of the budget the genetic solver takes over from the learned policy's
preferences. The best placement of either phase is returned.

Budget and reproducibility. An iteration is one batch of episodes (policy
phase) or one generation (genetic phase). With `options.iterations` (and no
time limit) the first 60% of them (at least one) are batches and the rest
generations, and the same seed gives the same placement. With a time limit
alone (default 20 s) the phases split the time, so a seed does not fix the
placement.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from malloc_muzero import game
from malloc_muzero.game_instance import choose_level, make_decoder
from malloc_muzero.solvers.genetic import evolve
from malloc_muzero.solvers.registry import register

BATCH = 64
LEARNING_RATE = 0.1
POLICY_SHARE = 0.6
DEFAULT_SECONDS = 20.0


@functools.partial(jax.jit, static_argnames=("num_slots", "num_levels"))
def _episodes(problem, num_slots, num_levels, logits, keys):
  """Play a batch with the policy: (final states, per turn (allowed [B, T, L],
  levels [B, T], active [B, T], rewards [B, T]))."""
  def one(key):
    def body(state, key):
      action, allowed, level = choose_level(logits[state.turn], state, num_levels,
                                            key, sample=True)
      active = ~state.terminated
      state = game.step(problem, state, action)
      return state, (allowed, level, active, state.reward)

    state = game.init(problem, num_slots)
    final, trajectory = jax.lax.scan(body, state,
                                     jax.random.split(key, problem.valid.shape[0]))
    return final, trajectory
  finals, trajectories = jax.vmap(one)(keys)
  return finals, trajectories


def _loss(logits, allowed, levels, active, advantages):
  """REINFORCE: -E[advantage * sum of log pi(level | allowed levels)]."""
  masked = jnp.where(allowed, logits[None], -jnp.inf)       # [B, T, L]
  log_probs = jax.nn.log_softmax(masked, axis=-1)
  chosen = jnp.take_along_axis(log_probs, levels[..., None], axis=-1)[..., 0]
  return -(advantages[:, None] * jnp.where(active, chosen, 0.0)).sum(axis=1).mean()


@register("reinforce", iterations=True)
def reinforce(problem, hardware, options):
  from tqdm import tqdm

  policy_budget, genetic_budget = options.budget(DEFAULT_SECONDS).split(POLICY_SHARE)
  decoder = make_decoder(problem, hardware)
  rng = np.random.default_rng(options.seed)
  key = jax.random.key(options.seed)
  logits = jnp.zeros(decoder.shape, jnp.float32)
  optimizer = optax.adam(LEARNING_RATE)
  opt_state = optimizer.init(logits)
  grad_fn = jax.jit(jax.grad(_loss))
  best = (None, -np.inf)
  batches = 0
  with tqdm(disable=not options.progress, desc="reinforce", unit="batch",
            total=policy_budget.iterations) as bar:
    while best[0] is None or policy_budget.more(batches):
      key, batch_key = jax.random.split(key)
      finals, (allowed, levels, active, rewards) = _episodes(
          decoder.problem, decoder.config.num_slots, decoder.num_levels, logits,
          jax.random.split(batch_key, BATCH))
      returns = np.asarray(rewards.sum(axis=1))
      top = int(np.argmax(returns))
      if returns[top] > best[1]:
        best = (decoder.placement(finals, top), float(returns[top]))
      advantages = jnp.asarray(returns - returns.mean(), jnp.float32)
      grads = grad_fn(logits, allowed, levels, active, advantages)
      updates, opt_state = optimizer.update(grads, opt_state)
      logits = optax.apply_updates(logits, updates)
      batches += 1
      bar.update()
      bar.set_postfix(best=f"{best[1]:.4f}", mean=f"{returns.mean():.4f}")
  if not genetic_budget.more(0):
    return best[0]
  tuned, value, _ = evolve(decoder, [np.asarray(logits)], genetic_budget, rng,
                           options.progress)
  return tuned if value > best[1] else best[0]

