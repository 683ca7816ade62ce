"""Sets of slots packed into 32-bit words, and the few operations the game needs.

Bit `j` of word `w` stands for slot `32 w + j`. The mallocGame keeps each fast
level's legal offsets this way (`game.State.legal_slots`): a player that only
needs one legal action, or the lowest one, reads a handful of words instead of a
bool per slot, and the per-slot mask (`unpack`) is made only where it is read.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

WORD_BITS = 32
ALL = 0xFFFFFFFF


def num_words(num_slots: int) -> int:
  return -(-num_slots // WORD_BITS)


def pack(bits: chex.Array, fill: bool = True) -> chex.Array:
  """[..., S] bool to [..., W] uint32 words; slots past S get `fill`."""
  num_slots = bits.shape[-1]
  words = num_words(num_slots)
  padded = jnp.pad(bits, [(0, 0)] * (bits.ndim - 1) +
                   [(0, words * WORD_BITS - num_slots)], constant_values=fill)
  grouped = padded.reshape(bits.shape[:-1] + (words, WORD_BITS)).astype(jnp.uint32)
  weights = jnp.left_shift(jnp.uint32(1), jnp.arange(WORD_BITS, dtype=jnp.uint32))
  return (grouped * weights).sum(axis=-1, dtype=jnp.uint32)


def unpack(words: chex.Array, num_slots: int) -> chex.Array:
  """[..., W] uint32 words to [..., S] bool."""
  bit = jnp.arange(WORD_BITS, dtype=jnp.uint32)
  bits = ((words[..., None] >> bit) & jnp.uint32(1)).astype(bool)
  return bits.reshape(words.shape[:-1] + (-1,))[..., :num_slots]


def below(limit: chex.Array, words: int) -> chex.Array:
  """[..., W] words with the slots `s < limit` set (`limit` of shape [...])."""
  count = jnp.clip(limit[..., None] - jnp.arange(words) * WORD_BITS, 0, WORD_BITS)
  count = count.astype(jnp.uint32)
  return jnp.where(count >= WORD_BITS, jnp.uint32(ALL),
                   (jnp.uint32(1) << count) - jnp.uint32(1))


def every(step: chex.Array, words: int) -> chex.Array:
  """[..., W] words with the slots that are multiples of `step` set."""
  slot = jnp.arange(words * WORD_BITS)
  return pack((slot % step[..., None]) == 0)


def popcount(words: chex.Array) -> chex.Array:
  return jax.lax.population_count(words).astype(jnp.int32)


def trailing_zeros(words: chex.Array) -> chex.Array:
  """Trailing zero bits of each word (32 for 0), as int32."""
  lowest = words & (~words + jnp.uint32(1))
  return popcount(lowest - jnp.uint32(1))


def lowest(words: chex.Array) -> tuple[chex.Array, chex.Array]:
  """(whether any slot is set, the lowest set slot or 0), over the last axis."""
  nonzero = words != 0
  first_word = jnp.argmax(nonzero, axis=-1)
  word = jnp.take_along_axis(words, first_word[..., None], axis=-1)[..., 0]
  slot = first_word * WORD_BITS + jnp.where(word != 0, trailing_zeros(word), 0)
  return nonzero.any(axis=-1), slot.astype(jnp.int32)


def nth(words: chex.Array, n: chex.Array) -> chex.Array:
  """The slot of the `n`-th set bit (from 0) of a 1-d array of words.

  `n` must be below the number of set bits. The word comes from the running
  count of set bits (a sum over a [W, W] triangle: a `cumsum` is a slow
  `reduce_window` on the CPU), the bit within it from a binary search on
  counts of its low halves.
  """
  count = popcount(words)
  index = jnp.arange(words.shape[0])
  upto = jnp.where(index[None, :] <= index[:, None], count[None, :], 0).sum(axis=1)
  word = jnp.minimum(jnp.sum(upto <= n), words.shape[0] - 1)
  n = n - (upto[word] - count[word])
  bits = words[word]
  position = jnp.int32(0)
  for width in (16, 8, 4, 2, 1):
    low = popcount((bits >> position.astype(jnp.uint32)) & jnp.uint32((1 << width) - 1))
    skip = n >= low
    n = jnp.where(skip, n - low, n)
    position = jnp.where(skip, position + width, position)
  return (word * WORD_BITS + position).astype(jnp.int32)
