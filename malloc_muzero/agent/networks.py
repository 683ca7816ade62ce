"""mallocMuZero's networks (flax linen): representation, dynamics, prediction.

Flax linen rather than NNX: its modules are pure functions of explicit
parameter pytrees, which is what `mctx`'s `recurrent_fn(params, ...)`, optax
and orbax checkpoints all pass around, and what `jax.jit`/`vmap`/sharding
take without wrappers.

* Representation: the current and upcoming buffers (`game.Observation.buffers`)
  are tokens of a small Transformer encoder; the free slots of each fast level
  over the current buffer's lifetime are pooled into a few bins per level; both
  and the progress make the latent, normalised to [0, 1] (MuZero's min-max
  scaling of hidden states).
* Dynamics: latent and action (its level, and its slot as a position in the
  level) -> next latent and reward logits, through residual MLP blocks.
* Prediction: latent -> policy logits over the actions and value logits. The
  policy is factorised: the logit of "level l at slot s" is a level logit plus
  a slot logit of that level; action 0 (default memory) has its own logit.
  Illegal actions can be masked to `finfo.min` (`masked_policy`).

Values and rewards are categorical (`value_transform.CategoricalSupport`).
Shapes are fixed by the game's padding, so problems of different sizes share
one network.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from malloc_muzero import game
from malloc_muzero.game import Observation

SLOT_BINS = 32  # Free-slot summary per fast level in the representation.


def _normalise(latent: chex.Array) -> chex.Array:
  """Min-max scale each latent vector to [0, 1]."""
  low = latent.min(axis=-1, keepdims=True)
  high = latent.max(axis=-1, keepdims=True)
  return (latent - low) / jnp.maximum(high - low, 1e-5)


class _Block(nn.Module):
  width: int

  @nn.compact
  def __call__(self, x):
    y = nn.LayerNorm()(x)
    y = nn.Dense(self.width)(nn.relu(nn.Dense(self.width)(y)))
    return x + y


class Representation(nn.Module):
  """Observation -> latent [latent_size]."""
  latent_size: int = 128
  heads: int = 4
  layers: int = 2

  @nn.compact
  def __call__(self, observation: Observation) -> chex.Array:
    tokens = nn.Dense(self.latent_size)(observation.buffers)            # [K, D]
    position = self.param("position", nn.initializers.normal(0.02),
                          tokens.shape[-2:])
    tokens = tokens + position
    valid = observation.buffers[..., 0] > 0                             # [K]
    attention_mask = nn.make_attention_mask(valid, valid)
    for _ in range(self.layers):
      attended = nn.MultiHeadDotProductAttention(num_heads=self.heads)(
          nn.LayerNorm()(tokens), mask=attention_mask)
      tokens = _Block(self.latent_size)(tokens + attended)
    current = tokens[..., 0, :]
    free = observation.free_slots                                       # [L-1, S]
    bins = min(SLOT_BINS, free.shape[-1])
    pooled = free[..., : free.shape[-1] // bins * bins].reshape(
        *free.shape[:-1], bins, -1).mean(axis=-1)                       # [L-1, bins]
    slots = nn.Dense(self.latent_size)(pooled.reshape(*pooled.shape[:-2], -1))
    latent = nn.Dense(self.latent_size)(jnp.concatenate(
        [current, slots, observation.progress[..., None]], axis=-1))
    return _normalise(_Block(self.latent_size)(latent))


class Dynamics(nn.Module):
  """(latent, action) -> (next latent, reward logits)."""
  num_fast_levels: int
  num_slots: int
  latent_size: int = 128
  num_atoms: int = 51
  blocks: int = 2

  @nn.compact
  def __call__(self, latent: chex.Array, action: chex.Array):
    level, slot = game.level_and_slot(action, self.num_slots)
    slot = jnp.maximum(slot, 0)  # (the default memory reads as slot 0)
    features = jnp.concatenate([
        jax.nn.one_hot(level, self.num_fast_levels + 1),
        (slot / self.num_slots)[..., None],
    ], axis=-1)
    x = nn.Dense(self.latent_size)(jnp.concatenate([latent, features], axis=-1))
    for _ in range(self.blocks):
      x = _Block(self.latent_size)(x)
    reward_logits = nn.Dense(self.num_atoms)(nn.relu(nn.Dense(self.latent_size)(x)))
    return _normalise(x), reward_logits


class Prediction(nn.Module):
  """latent -> (policy logits [1 + L_fast * S], value logits [num_atoms])."""
  num_fast_levels: int
  num_slots: int
  latent_size: int = 128
  num_atoms: int = 51

  @nn.compact
  def __call__(self, latent: chex.Array):
    x = _Block(self.latent_size)(latent)
    level_logits = nn.Dense(self.num_fast_levels + 1)(x)                # [L]
    slot_logits = nn.Dense(self.num_fast_levels * self.num_slots)(x).reshape(
        *x.shape[:-1], self.num_fast_levels, self.num_slots)
    fast = level_logits[..., 1:, None] + slot_logits
    policy = jnp.concatenate([level_logits[..., :1],
                              fast.reshape(*x.shape[:-1], -1)], axis=-1)
    value_logits = nn.Dense(self.num_atoms)(nn.relu(nn.Dense(self.latent_size)(x)))
    return policy, value_logits


def masked_policy(logits: chex.Array, legal: chex.Array) -> chex.Array:
  """Policy logits with illegal actions at `finfo.min` (mctx's convention)."""
  return jnp.where(legal, logits, jnp.finfo(logits.dtype).min)


class MuZeroNetwork(nn.Module):
  """The three networks, with `initial_inference` and `recurrent_inference`."""
  num_fast_levels: int
  num_slots: int
  latent_size: int = 128
  num_atoms: int = 51

  def setup(self):
    self.representation = Representation(self.latent_size)
    self.dynamics = Dynamics(self.num_fast_levels, self.num_slots, self.latent_size,
                             self.num_atoms)
    self.prediction = Prediction(self.num_fast_levels, self.num_slots,
                                 self.latent_size, self.num_atoms)

  def __call__(self, observation: Observation, action: chex.Array):
    """Initialises every parameter: one initial and one recurrent step."""
    latent, policy, value = self.initial_inference(observation)
    return self.recurrent_inference(latent, action), (latent, policy, value)

  def initial_inference(self, observation: Observation):
    """(latent, policy logits, value logits) of an observation."""
    latent = self.representation(observation)
    policy, value = self.prediction(latent)
    return latent, policy, value

  def recurrent_inference(self, latent: chex.Array, action: chex.Array):
    """(next latent, reward logits, policy logits, value logits)."""
    next_latent, reward = self.dynamics(latent, action)
    policy, value = self.prediction(next_latent)
    return next_latent, reward, policy, value
