"""Packed slot sets against plain NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from malloc_muzero import slot_bits


def test_pack_sets_one_bit_per_slot_and_pads_with_the_fill():
  taken = np.zeros(40, bool)
  taken[[0, 3, 31, 32, 39]] = True
  words = np.asarray(slot_bits.pack(taken))
  assert words.dtype == np.uint32 and words.shape == (2,)
  assert words[0] == (1 << 0) | (1 << 3) | (1 << 31)
  assert words[1] == (1 << 0) | (1 << 7) | (0xFFFFFFFF << 8 & 0xFFFFFFFF)
  assert np.asarray(slot_bits.pack(taken, fill=False))[1] == (1 << 0) | (1 << 7)


@pytest.mark.parametrize("num_slots", [1, 31, 32, 33, 100])
def test_unpack_inverts_pack(num_slots):
  bits = np.random.default_rng(num_slots).random((3, num_slots)) < 0.4
  np.testing.assert_array_equal(
      np.asarray(slot_bits.unpack(slot_bits.pack(bits), num_slots)), bits)


def test_below_and_every():
  words = 3
  slot = np.arange(words * 32)
  for limit in (-5, 0, 1, 31, 32, 33, 95, 96, 200):
    got = slot_bits.unpack(slot_bits.below(jnp.int32(limit), words), words * 32)
    np.testing.assert_array_equal(np.asarray(got), slot < limit, err_msg=str(limit))
  for step in (1, 2, 3, 7, 64):
    got = slot_bits.unpack(slot_bits.every(jnp.int32(step), words), words * 32)
    np.testing.assert_array_equal(np.asarray(got), slot % step == 0, err_msg=str(step))


def test_lowest_and_nth_match_flatnonzero():
  rng = np.random.default_rng(0)
  lowest = jax.jit(slot_bits.lowest)
  nth = jax.jit(slot_bits.nth)
  for density in (0.0, 0.01, 0.3, 1.0):
    bits = rng.random((4, 100)) < density
    words = slot_bits.pack(bits, fill=False)
    any_set, first = lowest(words)
    for row, has, low, row_words in zip(bits, any_set, first, words):
      set_slots = np.flatnonzero(row)
      assert bool(has) == bool(set_slots.size)
      if set_slots.size:
        assert int(low) == set_slots[0]
      for n, slot in enumerate(set_slots):
        assert int(nth(row_words, jnp.int32(n))) == slot
