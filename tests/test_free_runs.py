"""Free runs from bitsets against a plain loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from malloc_muzero import free_runs


def _run_starts(taken: np.ndarray, size: int) -> np.ndarray:
  return np.array([s + size <= len(taken) and not taken[s:s + size].any()
                   for s in range(len(taken))])


@pytest.mark.parametrize("num_slots", [1, 5, 31, 32, 33, 64, 100, 256])
def test_run_starts_match_a_loop(num_slots):
  rng = np.random.default_rng(num_slots)
  next_taken = jax.jit(lambda t: free_runs.next_taken(free_runs.pack(t), num_slots))

  def run_starts(taken, size):  # As the game's legal mask uses it.
    return next_taken(taken) >= np.arange(num_slots) + min(size, num_slots + 1)

  sizes = sorted({0, 1, 2, 31, 32, 33, 40, 64, 65, num_slots - 1, num_slots,
                  num_slots + 1, 2**20})
  for density in (0.0, 0.02, 0.1, 0.5, 1.0):
    taken = rng.random((2, num_slots)) < density
    for size in sizes:
      got = np.asarray(run_starts(taken, size))
      for row, expected in zip(got, taken):
        np.testing.assert_array_equal(row, _run_starts(expected, size),
                                      err_msg=f"size {size}")


def test_pack_sets_one_bit_per_taken_slot_and_pads_as_taken():
  taken = np.zeros(40, bool)
  taken[[0, 3, 31, 32, 39]] = True
  words = np.asarray(free_runs.pack(taken))
  assert words.dtype == np.uint32 and words.shape == (2,)
  assert words[0] == (1 << 0) | (1 << 3) | (1 << 31)
  assert words[1] == (1 << 0) | (1 << 7) | (0xFFFFFFFF << 8 & 0xFFFFFFFF)
