"""The game's word-by-word run starts (`game._run_starts`) against
`free_runs.run_starts`, word for word (bits past the grid included: the
random player counts every set bit of the legal words), and against a plain
loop on the grid."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from malloc_muzero import free_runs, game, slot_bits
from tests.test_free_runs import _run_starts


@pytest.mark.parametrize("num_slots", [1, 5, 31, 32, 33, 64, 100, 256, 300])
def test_run_starts_equal_free_runs_word_for_word(num_slots):
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

  ours, theirs = np.asarray(both(game._run_starts)), np.asarray(both(free_runs.run_starts))
  np.testing.assert_array_equal(ours, theirs)
  unpacked = np.asarray(slot_bits.unpack(taken, num_slots))
  on_grid = np.asarray(slot_bits.unpack(ours, num_slots))
  for row in range(0, rows, 37):
    for column, size in enumerate(sizes):
      np.testing.assert_array_equal(on_grid[row, column], _run_starts(unpacked[row], size),
                                    err_msg=f"size {size}")
