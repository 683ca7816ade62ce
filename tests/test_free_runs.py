"""Run starts from packed words against a plain loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from malloc_muzero import free_runs, slot_bits


def _run_starts(taken: np.ndarray, size: int) -> np.ndarray:
  return np.array([s + size <= len(taken) and not taken[s:s + size].any()
                   for s in range(len(taken))])


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
