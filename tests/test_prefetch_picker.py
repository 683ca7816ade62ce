"""XLA's prefetch interval picker, on XLA's own test case."""

from __future__ import annotations

import numpy as np

from malloc_muzero.prefetch_picker import PrefetchIntervalPicker


def test_xla_prefetch_interval_order():
  # prefetch_interval_picker_test.cc, PrefetchIntervalOrder: every instruction
  # takes 1 s (0.5 s in alternate memory), a copy 3 s; ratios 1, 2 and 4 of a
  # memory whose copy takes 3 s; the use is at 22.
  picker = PrefetchIntervalPicker(elapsed_s=np.ones(30), executions=np.ones(30),
                                  max_interval_s=3 * 4.0, min_ratio=1.0, preferred_ratio=2.0)
  assert picker.latest(3.0, 0, 22, reduction_s=0.5) == 18
  assert picker.candidates(3.0, 0, 22, reduction_s=0.5) == [
      15, 16, 14, 17, 13, 18, 12, 11, 10, 9]
  assert picker.preferred(3.0, 0, 22, reduction_s=0.5) == 15
  # No room between a start at 20 and the use.
  assert picker.candidates(3.0, 20, 22, reduction_s=0.5) == []


def test_intervals_weigh_loop_bodies_and_candidates_stay_at_the_use_level():
  # Steps 5..9 run 4 times (a loop body); the use at 8 is in the loop.
  runs = np.ones(12)
  runs[5:10] = 4
  picker = PrefetchIntervalPicker(elapsed_s=np.ones(12), executions=runs, max_interval_s=100)
  # Between 2 and 8: steps 3, 4 once and 5, 6, 7 four times, over the fewest (1).
  assert picker.interval(2, 8) == 2 + 12
  # Inside the loop only, normalised to one iteration.
  assert picker.interval(5, 8) == 2
  assert all(runs[t] == 4 for t in picker.candidates(1.0, 0, 8))
