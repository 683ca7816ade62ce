"""A decoder-only transformer language model like GPT-2 small, in flax.

12 pre-layer-norm blocks of causal self-attention (12 heads) and a 4x GELU
feed-forward block at width 768, learned position embeddings for up to 1024
tokens, a final layer norm and logits over GPT-2's 50257-token vocabulary
through the transposed token embeddings (124 M parameters; Radford et al.
2019). Input: token ids, int32 [B, S]; the benchmark uses `SEQUENCE_LENGTH` =
128 tokens (the model takes up to 1024; the program's structure, and so its
buffer count, does not depend on the length, only the buffers' sizes do).
Inference is one forward pass over the prompt (no key-value cache); training
predicts the next token at every position. No dropout.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from experiments.workloads.layers import TokenEmbedding
from experiments.workloads.training import ModelSpec, token_model

SEQUENCE_LENGTH = 128
_EPSILON = 1e-5  # GPT-2's layer-norm epsilon.


class DecoderBlock(nn.Module):
  """x + attention(norm(x)), then x + feed-forward(norm(x))."""
  heads: int

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    x = x + nn.MultiHeadDotProductAttention(self.heads)(nn.LayerNorm(epsilon=_EPSILON)(x),
                                                        mask=mask)
    y = nn.gelu(nn.Dense(4 * x.shape[-1])(nn.LayerNorm(epsilon=_EPSILON)(x)))
    return x + nn.Dense(x.shape[-1])(y)


class DecoderLM(nn.Module):
  """tokens [B, S] -> next-token logits [B, S, vocab_size]."""
  vocab_size: int = 50257
  context: int = 1024
  hidden: int = 768
  layers: int = 12
  heads: int = 12

  @nn.compact
  def __call__(self, tokens: jax.Array, train: bool = False) -> jax.Array:
    del train  # No dropout: training and inference run the same layers.
    embed = TokenEmbedding(self.vocab_size, self.context, self.hidden)
    x = embed(tokens)
    mask = nn.make_causal_mask(tokens)  # [B, 1, S, S]
    for _ in range(self.layers):
      x = DecoderBlock(self.heads)(x, mask)
    return embed.attend(nn.LayerNorm(epsilon=_EPSILON)(x))


def decoder_lm(batch: int, sequence_length: int = SEQUENCE_LENGTH) -> ModelSpec:
  """The GPT-2-small-like language model on `batch` sequences of token ids."""
  return token_model(DecoderLM(), batch, sequence_length, 1)
