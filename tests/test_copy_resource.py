"""XLA's asynchronous-copy resource against hand cases and a full replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from malloc_muzero.solvers.copy_resource import AsyncCopyResource


def _replay_ok(initial, copies) -> bool:
  """Serves `copies` (start, end, work), in FIFO order of start then of the
  list, one step at a time; whether each is through before its end."""
  order = sorted(range(len(copies)), key=lambda k: (copies[k][0], k))
  queue, remaining = [], {k: copies[k][2] for k in order}
  joined = 0
  for t in range(len(initial) + 1):
    while joined < len(order) and copies[order[joined]][0] == t - 1:
      queue.append(order[joined])
      joined += 1
    for k in queue:
      if copies[k][1] <= t and remaining[k] > 1e-9:
        return False
    if t == len(initial):
      break
    budget = initial[t]
    for k in list(queue):
      served = min(remaining[k], budget)
      remaining[k] -= served
      budget -= served
      if remaining[k] <= 1e-9:
        queue.remove(k)
  return all(remaining[k] <= 1e-9 for k in order)


def test_a_copy_needs_the_steps_strictly_between_its_ends():
  resource = AsyncCopyResource(np.ones(10))
  assert resource.fits(0, 4, 3.0)        # steps 1, 2, 3
  assert not resource.fits(0, 4, 3.5)
  assert not resource.fits(3, 4, 0.5)    # no step between: any work fails
  assert resource.fits(3, 4, 0.0)


def test_a_later_copy_waits_behind_an_earlier_one():
  resource = AsyncCopyResource(np.ones(10))
  resource.add(0, 5, 4.0)                # steps 1..4
  assert not resource.fits(1, 6, 2.0)    # behind 3 s of queued work: done at 6 > 5
  assert resource.fits(1, 7, 2.0)
  # An earlier start is ahead in the queue and delays the first copy.
  assert not AsyncCopyResource(np.ones(10)).fits(0, 2, 2.0)


def test_an_added_copy_may_not_push_a_later_one_past_its_end():
  resource = AsyncCopyResource(np.ones(10))
  resource.add(3, 8, 4.0)                # steps 4..7, exactly full
  assert resource.fits(2, 9, 1.0)        # ahead of it, through at step 3
  assert not resource.fits(2, 9, 2.0)    # ahead of it, through at 4: the other at 9 > 8
  assert resource.fits(0, 4, 3.0)        # done by step 3, before the other starts
  resource.add(0, 4, 3.0)
  resource.remove(0, 4, 3.0)
  assert resource.copies == [(3, 8, 4.0)]
  assert not resource.fits(2, 9, 2.0)


def test_steps_without_copy_time_serve_nothing():
  resource = AsyncCopyResource(np.array([1.0, 0.0, 0.0, 1.0, 1.0]))
  assert not resource.fits(0, 4, 1.5)
  assert resource.fits(0, 5, 2.0)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=3, max_size=14),
       st.lists(st.tuples(st.integers(0, 13), st.integers(1, 6), st.floats(0.1, 4.0)),
                min_size=1, max_size=8))
def test_fits_agrees_with_replaying_every_copy(initial, proposals):
  resource, committed = AsyncCopyResource(initial), []
  for start, length, work in proposals:
    end = start + length
    if end > len(initial):
      continue
    expected = _replay_ok(initial, committed + [(start, end, work)])
    assert resource.fits(start, end, work) == expected
    if expected:
      resource.add(start, end, work)
      committed.append((start, end, work))
  with pytest.raises(ValueError):
    resource.add(0, 1, 1.0)
