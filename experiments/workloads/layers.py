"""The token embedding that BERT and the decoder language model share."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class TokenEmbedding(nn.Module):
  """Token ids [B, S] -> word plus learned position embeddings [B, S, hidden];
  `attend` maps hidden states back to vocabulary logits with the same word
  embeddings (tied input and output embeddings)."""
  vocab_size: int
  max_positions: int
  hidden: int

  def setup(self):
    self.words = nn.Embed(self.vocab_size, self.hidden)
    self.positions = nn.Embed(self.max_positions, self.hidden)

  def __call__(self, tokens: jax.Array) -> jax.Array:
    return self.words(tokens) + self.positions(jnp.arange(tokens.shape[-1])[None])

  def attend(self, x: jax.Array) -> jax.Array:
    """x [..., hidden] -> logits [..., vocab_size]."""
    return self.words.attend(x)
