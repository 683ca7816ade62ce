"""Which slots start a run of free slots long enough for a buffer.

The mallocGame's legal offsets for a buffer of `k` slots are the slots `s`
such that slots `s .. s + k - 1` are all free over its live range. The taken
slots come packed into 32-bit words (`slot_bits`), and the answer is computed
word by word, a few integer operations per word rather than per slot:

* A slot at or above the highest taken slot of its word starts a run that
  goes on into the next words, up to the first taken slot after its word (a
  running minimum over the `S / 32` words): it fits when that run reaches
  `k`, which is a range of bits per word.
* A slot below it fits only inside its word: the AND of the word's free
  bits shifted by 0 .. k - 1 (for k under 32), by doubling.

At batch 4096 and 256 slots, packing and run starts took 0.252 ms a
decision against 0.442 for the version before it, which found the next taken
slot of every slot (from its own word, shifted and counted, or from the
later words) and compared it slot by slot (one process, CPU time;
docs/game_speed.md, third round). That version is the tests' word-for-word
oracle (`tests/test_free_runs.py`). (Doubling across words, with the words
kept as separate arrays, was no faster in whole episodes and its compile
time grew steeply with the grid: minutes at 4,096 slots. It was dropped.)
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from malloc_muzero import slot_bits


def run_starts(taken: chex.Array, size: chex.Array, num_slots: int) -> chex.Array:
  """[..., W] words: the slots `s` with `s .. s + size - 1` all free and on
  the grid.

  Args:
    taken: [..., W] packed taken slots (`slot_bits.pack`, slots past the grid
      taken).
    size: [...] int run length in slots; 0 fits everywhere.
    num_slots: S, the grid's length.
  """
  words = taken.shape[-1]
  bits = slot_bits.WORD_BITS
  every = jnp.uint32(slot_bits.ALL)
  k = jnp.minimum(jnp.asarray(size, jnp.int32), num_slots + 1)[..., None]  # [..., 1]
  base = jnp.arange(words, dtype=jnp.int32) * bits
  first = jnp.where(taken != 0, base + slot_bits.trailing_zeros(taken), words * bits)
  # The first taken slot after each word (W * 32: none), a running minimum
  # over the later words (`cummin`; a [W, W] minimum, fused into the rest,
  # made XLA's loop over the words 2x slower).
  later = jnp.concatenate([first[..., 1:], jnp.full(first.shape[:-1] + (1,), words * bits,
                                                    first.dtype)], axis=-1)
  after = jax.lax.cummin(later, axis=later.ndim - 1, reverse=True)   # [..., W]
  low = bits - jax.lax.clz(taken).astype(jnp.int32)  # 1 + the highest taken bit (0: none)
  high = jnp.minimum(after - base - k, bits - 1)     # the last start whose run fits
  upper = jnp.where(low < bits, every << jnp.minimum(low, bits - 1).astype(jnp.uint32),
                    jnp.uint32(0))
  lower = jnp.where(high >= 0, every >> (bits - 1 - jnp.maximum(high, 0)).astype(jnp.uint32),
                    jnp.uint32(0))
  # Runs inside the word: g_{2^i} = the free bits with the next 2^i - 1 free.
  runs = [~taken]
  for shift in (1, 2, 4, 8):
    runs.append(runs[-1] & (runs[-1] >> jnp.uint32(shift)))
  short = jnp.clip(k, 1, bits - 1)
  power = (bits - 1 - jax.lax.clz(short)).astype(jnp.int32)          # floor(log2 k)
  pick = runs[0]
  for i in range(1, len(runs)):
    pick = jnp.where(power == i, runs[i], pick)
  inside = pick & (pick >> (short - (1 << power)).astype(jnp.uint32))
  inside = jnp.where(k < bits, inside, jnp.uint32(0))
  return jnp.where(k <= 0, every, inside | (upper & lower))
