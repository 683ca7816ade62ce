"""An event-driven NumPy version of XLA's RuntimeSimulator, for tests only.

Written from `xla/service/memory_space_assignment/simulator.cc` independently
of `malloc_muzero.simulator` (which works on cumulative bytes per queue in one
`lax.scan`): here each queue is a list of copies with their remaining bytes,
and time advances from one copy's completion to the next, in float64.
"""

from __future__ import annotations

import collections

import numpy as np

from malloc_muzero import Hardware, Problem


def reference_time(problem: Problem, hardware: Hardware, levels) -> float:
  """Seconds of `problem` with buffers at `levels`, on XLA's model."""
  levels = np.asarray(levels)
  bandwidth = [level.bandwidth for level in hardware.levels]
  default_bandwidth = bandwidth[0]
  steps = problem.num_instructions
  # Per instruction: bytes in each level.
  elapsed, default_s = np.zeros(steps), np.zeros(steps)
  for i in range(steps):
    compute = max(problem.flops[i] / hardware.peak_flops,
                  problem.transcendentals[i] / hardware.peak_transcendentals)
    fast_bytes, fast_s = 0.0, 0.0
    for k in np.flatnonzero(problem.access_instruction == i):
      level = levels[problem.access_buffer[k]]
      if level > 0:
        moved = float(problem.access_bytes_read[k] + problem.access_bytes_written[k])
        fast_bytes += moved
        fast_s += moved / bandwidth[level]
    default_s[i] = max(problem.bytes_accessed[i] - fast_bytes, 0.0) / default_bandwidth
    elapsed[i] = max(compute, default_s[i] + fast_s)

  # Copies of buffers outside the default memory, by step.
  starting = collections.defaultdict(list)
  finishing = collections.defaultdict(list)
  order = sorted(range(len(problem.copy_buffer)),
                 key=lambda c: (problem.copy_start[c], problem.copy_done[c], c))
  for c in order:
    if levels[problem.copy_buffer[c]] > 0:
      starting[int(problem.copy_start[c])].append(c)
      finishing[int(problem.copy_done[c])].append(c)
  # Prefetches, evictions: [copy, remaining bytes, bytes] in FIFO order.
  queues = ([], [])

  def advance(seconds: float | None, until=None) -> float:
    """Drains the queues for `seconds` (or until copy `until` is through);
    returns the seconds it took."""
    spent = 0.0
    while True:
      for q in queues:
        while q and q[0][1] <= 1e-12 * q[0][2]:
          q.pop(0)
      if not (queues[0] or queues[1]):
        break
      if until is not None and not any(entry[0] == until for q in queues for entry in q):
        break
      busy = [q for q in queues if q]
      rate = default_bandwidth / len(busy)
      step = min(q[0][1] for q in busy) / rate  # to the next completion
      if seconds is not None:
        step = min(step, seconds - spent)
      if step <= 0:
        break
      for q in busy:
        q[0][1] -= step * rate
      spent += step
    return spent

  total = 0.0
  for i in range(steps + 1):
    for c in starting[i]:
      size = float(problem.sizes[problem.copy_buffer[c]])
      queues[int(problem.copy_kind[c])].append([c, size, size])
    stall = 0.0
    for c in finishing[i]:
      stall += advance(None, until=c)
    if i == steps:
      total += stall
      break
    runs = problem.executions[i]
    total += runs * (elapsed[i] + stall)
    advance(max(elapsed[i] - default_s[i], 0.0))
  return total
