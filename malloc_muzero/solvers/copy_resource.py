"""XLA's asynchronous-copy resource: may one more copy start and end when asked?

From `AsynchronousCopyResource` in XLA's memory space assignment
(`xla/service/memory_space_assignment/algorithm.cc`). Each step `t` of the
schedule offers `initial[t]` seconds of copy time (XLA: the instruction's
elapsed time, 0 for `while` and `conditional`). A copy `(start, end, work)`
(both ends exclusive, as XLA's times are) may use the steps `start + 1 ..
end - 1`, and copies are served first in, first out, in order of `start`
(then of when they were added). A copy that finds earlier work still queued
when it starts waits behind it; whatever of it is unfinished when a later
copy starts delays that one. The resource holds when every copy finishes
its work within its own steps.

`fits` asks whether a new copy and every copy it delays would still finish;
`add` commits it. Both walk only the steps where the new copy changes the
queue: from its start to where the backlog is again what it was without it.
"""

from __future__ import annotations

import bisect
import collections

import numpy as np

# Work below this share of a copy counts as done (float round-off).
_TOLERANCE = 1e-9


class AsyncCopyResource:
  """One FIFO of copies over a schedule.

  Args:
    initial: [T] seconds of copy time each step offers (>= 0).
  """

  def __init__(self, initial):
    self.initial = np.asarray(initial, np.float64)
    # `_backlog[t]`: seconds of copy work queued at the beginning of step t
    # (copies with start < t, before step t serves any), without new copies.
    self._backlog = np.zeros(len(self.initial) + 1)
    self._starts: list[int] = []
    self._copies: list[tuple[int, int, float]] = []

  @property
  def copies(self) -> list[tuple[int, int, float]]:
    """The committed copies `(start, end, work)`, in queue order."""
    return list(self._copies)

  def fits(self, start: int, end: int, work: float) -> bool:
    """Whether a copy of `work` seconds over steps `start + 1 .. end - 1`
    finishes in time, and so does every copy queued after it."""
    return self._walk(start, end, work, commit=False)

  def add(self, start: int, end: int, work: float) -> None:
    """Commits a copy that `fits`.

    Raises:
      ValueError: it does not fit.
    """
    if not self._walk(start, end, work, commit=True):
      raise ValueError(f"copy ({start}, {end}, {work}) does not fit the resource")
    at = bisect.bisect_right(self._starts, start)
    self._starts.insert(at, start)
    self._copies.insert(at, (start, end, float(work)))

  def remove(self, start: int, end: int, work: float) -> None:
    """Takes back a committed copy (the last added of equal ones)."""
    at = len(self._copies) - 1 - self._copies[::-1].index((start, end, float(work)))
    del self._starts[at], self._copies[at]
    copies = self._copies
    self._backlog[:] = 0.0
    self._starts, self._copies = [], []
    for copy in copies:
      self.add(*copy)

  def _walk(self, start: int, end: int, work: float, commit: bool) -> bool:
    steps = len(self.initial)
    if work <= 0:
      return True
    if not 0 <= start < end <= steps:
      return False
    later = bisect.bisect_right(self._starts, start)
    # The queue from step start + 1: the work ahead of the new copy (its
    # deadlines are unchanged by it), then the new copy, then later ones.
    queue = collections.deque([[float(self._backlog[start + 1]), None, 0.0],
                               [float(work), end, float(work)]])
    walked = []
    t = start + 1
    while True:
      while later < len(self._copies) and self._copies[later][0] == t - 1:
        _, copy_end, copy_work = self._copies[later]
        queue.append([copy_work, copy_end, copy_work])
        later += 1
      for remaining, deadline, size in queue:
        if deadline is not None and deadline <= t and remaining > _TOLERANCE * size:
          return False
      pending = sum(entry[0] for entry in queue)
      old = float(self._backlog[t]) if t <= steps else 0.0
      if t > start + 1 and abs(pending - old) <= _TOLERANCE * (work + old):
        break  # From here on the queue is what it was without the new copy.
      if t >= steps:
        break  # Past the last step: every deadline (<= steps) was checked.
      walked.append(pending)
      budget = float(self.initial[t])
      while queue and budget > 0:
        served = min(queue[0][0], budget)
        queue[0][0] -= served
        budget -= served
        if queue[0][0] <= _TOLERANCE * max(queue[0][2], 1e-300):
          queue.popleft()
      t += 1
    if commit:
      self._backlog[start + 1:start + 1 + len(walked)] = walked
    return True
