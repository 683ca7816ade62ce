"""Run starts from packed words (`free_runs.run_starts`) against the
slot-by-slot version it replaced, word for word (bits past the grid
included: the random player counts every set bit of the legal words), and
against a plain loop on the grid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from malloc_muzero import free_runs, slot_bits


def _run_starts(taken: np.ndarray, size: int) -> np.ndarray:
  return np.array([s + size <= len(taken) and not taken[s:s + size].any()
                   for s in range(len(taken))])


def _slot_by_slot(taken, size, num_slots: int):
  """The version before the word-by-word one: the first taken slot at or
  after every slot (from its own word, or the later words), against the
  slot's end."""
  words = taken.shape[-1]
  bits = slot_bits.WORD_BITS
  base = jnp.arange(words, dtype=jnp.int32) * bits
  first_in_word = jnp.where(taken != 0, base + slot_bits.trailing_zeros(taken),
                            words * bits)
  position = jnp.arange(words)
  later = position[None, :] > position[:, None]
  after_word = jnp.where(later, first_in_word[..., None, :], words * bits).min(axis=-1)
  bit = jnp.arange(bits, dtype=jnp.uint32)
  rest = taken[..., None] >> bit
  slot = base[:, None] + bit.astype(jnp.int32)
  nearest = jnp.where(rest != 0, slot + slot_bits.trailing_zeros(rest), after_word[..., None])
  room = nearest.reshape(taken.shape[:-1] + (words * bits,)) - jnp.arange(words * bits)
  return slot_bits.pack(room >= jnp.minimum(size, num_slots + 1), fill=False)


@pytest.mark.parametrize("num_slots", [1, 5, 31, 32, 33, 64, 100, 256, 1000])
def test_run_starts_match_a_loop(num_slots):
  rng = np.random.default_rng(num_slots)

  @jax.jit
  def run_starts(taken, size):
    words = free_runs.run_starts(slot_bits.pack(taken), size, num_slots)
    return slot_bits.unpack(words, num_slots)

  sizes = sorted({0, 1, 2, 3, 31, 32, 33, 40, 64, 65, num_slots - 1, num_slots,
                  num_slots + 1, 2**20})
  for density in (0.0, 0.02, 0.1, 0.5, 1.0):
    taken = rng.random((2, num_slots)) < density
    for size in sizes:
      got = np.asarray(run_starts(taken, size))
      for row, expected in zip(got, taken):
        np.testing.assert_array_equal(row, _run_starts(expected, size),
                                      err_msg=f"size {size}")


@pytest.mark.parametrize("num_slots", [1, 5, 31, 32, 33, 64, 100, 256, 300])
def test_run_starts_equal_the_slot_by_slot_version_word_for_word(num_slots):
  rng = np.random.default_rng(num_slots)
  rows = 200
  density = rng.random((rows, 1)) * rng.choice([0.03, 0.3, 1.0], (rows, 1))
  taken = slot_bits.pack(rng.random((rows, num_slots)) < density)
  taken = taken.at[0].set(slot_bits.pack(np.zeros(num_slots, bool)))
  taken = taken.at[1].set(slot_bits.pack(np.ones(num_slots, bool)))
  sizes = np.array(sorted({0, 1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65,
                           num_slots - 1, num_slots, num_slots + 1, num_slots + 5, 2**20}
                          | set(rng.integers(0, num_slots + 3, 8).tolist())), np.int32)

  def both(fn):
    return jax.jit(jax.vmap(jax.vmap(lambda t, s: fn(t, s, num_slots), (None, 0)),
                            (0, None)))(taken, sizes)

  ours, theirs = np.asarray(both(free_runs.run_starts)), np.asarray(both(_slot_by_slot))
  np.testing.assert_array_equal(ours, theirs)
  unpacked = np.asarray(slot_bits.unpack(taken, num_slots))
  on_grid = np.asarray(slot_bits.unpack(ours, num_slots))
  for row in range(0, rows, 37):
    for column, size in enumerate(sizes):
      np.testing.assert_array_equal(on_grid[row, column], _run_starts(unpacked[row], size),
                                    err_msg=f"size {size}")
