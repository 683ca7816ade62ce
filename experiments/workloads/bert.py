"""BERT-base (Devlin et al. 2019) with its masked-language-model head, in flax.

12 post-layer-norm encoder layers of hidden size 768 with 12 attention heads
and a 3072-wide GELU feed-forward block; word (30522), position (512) and
token-type (2) embeddings; the masked-LM head (dense, GELU, layer norm, and
the word embeddings transposed plus a bias) giving logits over the vocabulary
at every position (110 M parameters). Inputs: token ids, token types and an
attention mask, int32 [B, S]; the benchmark uses sequences of
`SEQUENCE_LENGTH` = 128 tokens (BERT's pre-training length for 90% of its
steps). Training predicts a token at every position (a real masked-LM step
weights 15% of them; the program differs by one multiply). No dropout.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from experiments.workloads.layers import TokenEmbedding
from experiments.workloads.training import ModelSpec, token_model

SEQUENCE_LENGTH = 128
_EPSILON = 1e-12  # BERT's layer-norm epsilon.


class EncoderLayer(nn.Module):
  """Self-attention and a feed-forward block, each added then normalised."""
  heads: int
  intermediate: int

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    x = nn.LayerNorm(epsilon=_EPSILON)(x + nn.MultiHeadDotProductAttention(self.heads)(
        x, mask=mask))
    y = nn.gelu(nn.Dense(self.intermediate)(x), approximate=False)
    return nn.LayerNorm(epsilon=_EPSILON)(x + nn.Dense(x.shape[-1])(y))


class Bert(nn.Module):
  """(tokens, token_types, attention_mask) [B, S] -> logits [B, S, vocab_size]."""
  vocab_size: int = 30522
  hidden: int = 768
  layers: int = 12
  heads: int = 12
  intermediate: int = 3072
  max_positions: int = 512
  token_types: int = 2

  @nn.compact
  def __call__(self, tokens: jax.Array, token_types: jax.Array, attention_mask: jax.Array,
               train: bool = False) -> jax.Array:
    del train  # No dropout: training and inference run the same layers.
    embed = TokenEmbedding(self.vocab_size, self.max_positions, self.hidden)
    x = embed(tokens) + nn.Embed(self.token_types, self.hidden)(token_types)
    x = nn.LayerNorm(epsilon=_EPSILON)(x)
    mask = nn.make_attention_mask(attention_mask > 0, attention_mask > 0)  # [B, 1, S, S]
    for _ in range(self.layers):
      x = EncoderLayer(self.heads, self.intermediate)(x, mask)
    y = nn.LayerNorm(epsilon=_EPSILON)(nn.gelu(nn.Dense(self.hidden)(x), approximate=False))
    return embed.attend(y) + self.param("output_bias", nn.initializers.zeros,
                                        (self.vocab_size,))


def bert_base(batch: int, sequence_length: int = SEQUENCE_LENGTH) -> ModelSpec:
  """BERT-base with its masked-LM head on `batch` sequences of token ids."""
  return token_model(Bert(), batch, sequence_length, 3)
