"""When to start a prefetch: XLA's `CostAnalysisPrefetchIntervalPicker`.

From `xla/service/memory_space_assignment/prefetch_interval_picker.cc`. The
time between steps `s` and `e` is `elapsed(s, e)`, the elapsed times of the
instructions strictly between them, each weighted by how often it runs and
divided by the fewest runs in the range (XLA: `5^nest level` over `5^min
level`). A prefetch of a buffer whose copy takes `copy_s` seconds, for a use
at step `use`, may start at a step `t`:

* no later than the latest `t < use` with `elapsed(t, use) + reduction >=
  min_ratio * copy_s` (`reduction`: what the use saves in alternate memory);
* no earlier than the first `t >= start` with `elapsed(t, use) <=
  max_interval`, where `max_interval` is `max_ratio` times the copy time of
  the whole alternate memory;
* preferably where `elapsed(t, use)` is closest to `preferred_ratio *
  copy_s` (the earliest such `t`).

Like XLA, only steps that run as often as the use are candidates (XLA: the
same computation nest level). `candidates` lists them in XLA's order: the
preferred step, then one later, one earlier, alternating, and once the
later side is exhausted the earlier side in jumps of at least 1/100 of
`elapsed(earliest, use)`. The ratios default to XLA's tests' (0.8, 1.5, 10).
"""

from __future__ import annotations

import dataclasses
import itertools

import jax.numpy as jnp
import numpy as np

from malloc_muzero.simulator import instruction_times, simulation_inputs
from malloc_muzero.windows import latest_starts

MIN_RATIO = 0.8
PREFERRED_RATIO = 1.5
MAX_RATIO = 10.0


@dataclasses.dataclass(frozen=True)
class PrefetchIntervalPicker:
  """XLA's prefetch interval picker over one schedule.

  Attributes:
    elapsed_s: [T] float64 elapsed seconds of each step's instruction, once.
    executions: [T] float64 times each instruction runs.
    max_interval_s: the longest overlap a prefetch may have (`max_ratio`
      times the copy time of the whole alternate memory).
    min_ratio: shortest overlap, in copy times.
    preferred_ratio: preferred overlap, in copy times.
    seconds_per_byte: of a copy (`1 / default memory bandwidth`).
  """
  elapsed_s: np.ndarray
  executions: np.ndarray
  max_interval_s: float
  min_ratio: float = MIN_RATIO
  preferred_ratio: float = PREFERRED_RATIO
  seconds_per_byte: float = 0.0

  def copy_seconds(self, size: int) -> float:
    """Seconds a copy of `size` bytes takes."""
    return float(size) * self.seconds_per_byte

  def __post_init__(self):
    runs = np.asarray(self.executions, np.float64)
    weighted = np.asarray(self.elapsed_s, np.float64) * runs
    object.__setattr__(self, "_cumsum", np.concatenate([[0.0], np.cumsum(weighted)]))
    # A sparse table of range minima of the executions: `_fewest[k][i]` is
    # the fewest runs among steps i .. i + 2^k - 1, so any range is two reads.
    table = [runs]
    while 2 ** len(table) <= len(runs):
      half = 2 ** (len(table) - 1)
      table.append(np.minimum(table[-1][:-half], table[-1][half:]))
    object.__setattr__(self, "_fewest", table)

  def interval(self, start: int, end: int) -> float:
    """Seconds of the steps strictly between `start` and `end`, each weighted
    by its executions over the fewest executions among them."""
    if end - start <= 1:
      return 0.0
    low, high = start + 1, end  # the steps [low, high)
    k = (high - low).bit_length() - 1
    fewest = max(min(self._fewest[k][low], self._fewest[k][high - 2 ** k]), 1e-30)
    return float(self._cumsum[high] - self._cumsum[low]) / fewest

  def no_copy(self, start: int, end: int) -> bool:
    """Whether a buffer may stay in alternate memory from `start` to `end`
    without a copy: XLA's `CanAllocateInAlternateMemoryNoCopy`, the time
    between them shorter than the longest overlap (`max_interval_s`)."""
    return self.max_interval_s > self.interval(start, end)

  def preferred_eviction_end(self, copy_s: float, start: int, latest_end: int) -> int:
    """XLA's `PreferredEvictionEndTime`: the first end after `start` whose
    time since `start` is at least `preferred_ratio` copy times, else
    `latest_end + 1`."""
    end = start + 1
    while end <= latest_end and self.interval(start, end) < self.preferred_ratio * copy_s:
      end += 1
    return end

  def _intervals(self, start: int, use: int) -> np.ndarray:
    """[use - start] `interval(t, use)` for t in [start, use), at once."""
    low = max(start, 0)
    sums = self._cumsum[use] - self._cumsum[low + 1:use + 1]
    runs = np.asarray(self.executions, np.float64)[low + 1:use]
    fewest = np.minimum.accumulate(runs[::-1])[::-1] if len(runs) else runs
    fewest = np.append(np.maximum(fewest, 1e-30), 1.0)
    return np.where(np.arange(low, use) >= use - 1, 0.0, sums / fewest)

  def latest(self, copy_s: float, start: int, use: int, reduction_s: float = 0.0) -> int:
    """The latest start step (may be < `start`: no room)."""
    intervals, same = self._intervals(start, use), self._same_runs(start, use)
    return self._latest(intervals, same, copy_s, start, reduction_s)

  def _same_runs(self, start: int, use: int) -> np.ndarray:
    """[use - start] whether each step of [start, use) runs as often as `use`."""
    return np.asarray(self.executions)[start:use] == self.executions[use]

  def _latest(self, intervals, same, copy_s: float, start: int, reduction_s: float) -> int:
    fit = np.flatnonzero(same & (intervals + reduction_s >= self.min_ratio * copy_s))
    return start + int(fit[-1]) if len(fit) else start - 1

  def candidates(self, copy_s: float, start: int, use: int,
                 reduction_s: float = 0.0) -> list[int]:
    """Start steps for a prefetch of a copy of `copy_s` seconds for the use
    at `use`, no earlier than `start`, in XLA's order of preference."""
    return list(self.iter_candidates(copy_s, start, use, reduction_s))

  def bounds(self, copy_s: float, start: int, use: int,
             reduction_s: float = 0.0) -> tuple[int, int, int] | None:
    """(earliest, preferred, latest) start steps, or None when none fits."""
    found = self._bounds(copy_s, start, use, reduction_s)
    return None if found is None else found[:3]

  def _bounds(self, copy_s: float, start: int, use: int, reduction_s: float):
    intervals, same = self._intervals(start, use), self._same_runs(start, use)
    latest = self._latest(intervals, same, copy_s, start, reduction_s)
    if latest < start:
      return None
    early = np.flatnonzero(same[:latest - start] &
                           (intervals[:latest - start] <= self.max_interval_s))
    earliest = start + int(early[0]) if len(early) else latest
    target = self.preferred_ratio * copy_s
    gaps = np.where(same, np.abs(target - intervals), np.inf)[earliest - start:latest - start + 1]
    preferred = earliest + int(np.argmin(gaps)) if np.isfinite(gaps).any() else earliest
    return earliest, preferred, latest, intervals, same

  def iter_candidates(self, copy_s: float, start: int, use: int, reduction_s: float = 0.0):
    """`candidates`, one at a time (a long range need not be listed whole)."""
    found = self._bounds(copy_s, start, use, reduction_s)
    if found is None:
      return
    earliest, preferred, latest, intervals, same = found
    yield from self._order(preferred, earliest, latest, lambda t: intervals[t - start],
                           lambda t: bool(same[t - start]))

  @staticmethod
  def _order(preferred: int, earliest: int, latest: int, interval, same_level):
    """XLA's `Begin` and `Next`: alternate around `preferred`, then jump."""
    def later(t: int) -> int:
      while t <= latest and not same_level(t):
        t += 1
      return t

    increasing, decreasing = later(preferred + 1), preferred
    use_increasing = False
    while increasing <= latest or decreasing >= earliest:
      if use_increasing:
        yield increasing
        increasing = later(increasing + 1)
        use_increasing = decreasing < earliest
        continue
      t = decreasing
      yield t
      decreasing -= 1
      floor = (interval(t) + interval(earliest) / 100 if increasing > latest else -np.inf)
      while decreasing >= earliest and (not same_level(decreasing) or
                                        interval(decreasing) < floor):
        decreasing -= 1
      use_increasing = increasing <= latest

  def preferred(self, copy_s: float, start: int, use: int, reduction_s: float = 0.0) -> int | None:
    """The first candidate, or None when no start fits."""
    return next(self.iter_candidates(copy_s, start, use, reduction_s), None)


def xla_picker(problem, hardware, max_ratio: float = MAX_RATIO, min_ratio: float = MIN_RATIO,
               preferred_ratio: float = PREFERRED_RATIO) -> PrefetchIntervalPicker:
  """The picker of a problem on a hardware model, as XLA builds it: each
  step's elapsed time with every buffer in the default memory
  (`GetInstructionElapsed`), copies at the default memory's bandwidth, and a
  longest overlap of `max_ratio` copy times of the fastest level's capacity."""
  inputs = simulation_inputs(problem, hardware)
  runs = np.asarray(inputs.executions, np.float64)
  weighted = np.asarray(instruction_times(inputs, jnp.zeros(problem.num_buffers, jnp.int32)),
                        np.float64)
  elapsed = np.where(runs > 0, weighted / np.where(runs > 0, runs, 1.0), 0.0)
  per_byte = 1.0 / hardware.levels[0].bandwidth
  fastest = max(hardware.levels[1:], key=lambda level: level.bandwidth)
  return PrefetchIntervalPicker(elapsed_s=elapsed, executions=runs,
                                max_interval_s=max_ratio * fastest.capacity * per_byte,
                                min_ratio=min_ratio, preferred_ratio=preferred_ratio,
                                seconds_per_byte=per_byte)


def candidate_starts(problem, picker: PrefetchIntervalPicker, count: int) -> np.ndarray:
  """[C, count] steps before which each copy of a windowed problem may be
  issued, -1 padding: first its own start, then for a movable prefetch
  (`Problem.copy_earliest`) the picker's preferred, latest and earliest
  start, the latest and the earliest of its range (`windows.latest_starts`,
  `copy_earliest`: when the picker finds no start with room for the copy,
  these), then others in XLA's order of preference, then steps spread
  evenly over the range; all within the range, none twice.

  XLA's start times are exclusive (a copy started after step `t` overlaps
  `t + 1 .. use - 1`), so the picker's `t` is the step `t + 1` here.
  """
  if count < 1:
    raise ValueError(f"count must be at least 1, not {count}")
  out = np.full((len(problem.copy_buffer), count), -1, np.int64)
  out[:, 0] = problem.copy_start
  latest = latest_starts(problem)
  movable = np.flatnonzero(latest > problem.copy_earliest) if count > 1 else []
  for c in movable:
    low, high = int(problem.copy_earliest[c]), int(latest[c])
    copy_s = picker.copy_seconds(int(problem.sizes[problem.copy_buffer[c]]))
    # A prefetch done at the program's end is timed as if for its last step.
    after, use = max(low - 1, 0), min(int(problem.copy_done[c]), problem.schedule_length - 1)
    bounds = picker.bounds(copy_s, after, use)
    first = [] if bounds is None else [bounds[1] + 1, bounds[2] + 1, bounds[0] + 1]
    spread = np.linspace(low, high, count + 1).round().astype(int).tolist()
    chosen = [int(problem.copy_start[c])]
    for t in itertools.chain(first, [high, low],
                             (t + 1 for t in picker.iter_candidates(copy_s, after, use)),
                             spread):
      if len(chosen) == count:
        break
      t = min(max(int(t), low), high)
      if t not in chosen:
        chosen.append(t)
    out[c, :len(chosen)] = chosen
  return out
