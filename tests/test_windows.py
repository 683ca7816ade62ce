"""Windows around uses: prefetches and evictions as copies, against hand counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from malloc_muzero import Problem
from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import Hardware, MemoryLevel
from malloc_muzero.problem import EVICTION, PREFETCH
from malloc_muzero.simulator import simulate_placement, simulation_bounds
from malloc_muzero.windows import latest_starts, retime, split_into_windows


def _problem(length=40):
  # "a" is written at 0, read at 2 and at 30; "b" is read at 1..3 only.
  return Problem(
      name="gaps", buffer_names=("a", "b"), sizes=[4096, 1024], starts=[0, 1],
      ends=[35, 3], buffer_kinds=("temporary",) * 2,
      instruction_names=tuple(f"i{t}" for t in range(length)),
      opcodes=("fusion",) * length, flops=np.full(length, 1e6),
      transcendentals=np.zeros(length), bytes_accessed=np.zeros(length),
      access_buffer=[0, 0, 0, 1, 1, 1], access_instruction=[0, 2, 30, 1, 2, 3],
      access_bytes_read=[0, 4096, 4096, 1024, 1024, 1024],
      access_bytes_written=[4096, 0, 0, 0, 0, 0], schedule_length=length,
      source={"kind": "synthetic"})


def _hardware():
  return Hardware(name="test", levels=(MemoryLevel("slow", None, 1, 1e9),
                                       MemoryLevel("fast", 1 << 20, 1, 1e10)),
                  peak_flops=1e12, peak_transcendentals=1e12, copy_bandwidth=2e9)


def test_a_distant_use_gets_its_own_window_with_eviction_and_prefetch():
  windows = split_into_windows(_problem(), min_gap=16, prefetch_steps=4)
  p = windows.problem
  assert p.buffer_names == ("a@0", "a@1", "b")
  assert windows.buffer.tolist() == [0, 0, 1]
  # a@0: defined at 0, used at 2, evicted over steps 3..6.
  # a@1: prefetched over 26..29, used at 30, kept to the buffer's end.
  assert p.starts.tolist() == [0, 26, 1] and p.ends.tolist() == [6, 35, 3]
  copies = {(int(b), int(i)): int(c) for b, i, c in zip(
      p.access_buffer, p.access_instruction, p.access_bytes_copied) if c}
  assert copies == {(0, 3): 1024, (0, 4): 1024, (0, 5): 1024, (0, 6): 1024,
                    (1, 26): 1024, (1, 27): 1024, (1, 28): 1024, (1, 29): 1024}
  # The same copies, asynchronous: a@0's eviction issued after its last use
  # (3) and done one step after its end (7); a@1's prefetch issued at its start.
  assert list(zip(p.copy_buffer.tolist(), p.copy_kind.tolist(), p.copy_start.tolist(),
                  p.copy_done.tolist())) == [(0, EVICTION, 3, 7), (1, PREFETCH, 26, 30)]
  assert p.access_bytes_read.sum() == _problem().access_bytes_read.sum()
  assert p.access_bytes_written.sum() == _problem().access_bytes_written.sum()


def test_copies_cost_only_in_fast_memory_and_the_bounds_keep_their_meaning():
  original = _problem()
  windowed = split_into_windows(original, min_gap=16, prefetch_steps=4).problem
  read_saving = max(1e-6, 4096 / 1e9) - max(1e-6, 4096 / 1e10)
  for model in ("additive", "xla"):
    hardware = dataclasses.replace(_hardware(), time_model=model)
    assert simulation_bounds(windowed, hardware) == pytest.approx(
        simulation_bounds(original, hardware))
    slow = simulate_placement(windowed, hardware, [0, 0, 0])
    fast = simulate_placement(windowed, hardware, [0, 1, 0])
    if model == "additive":
      # Only a@1 in fast memory: its read at 30 gets faster, its prefetch costs
      # 1024 bytes at 2 GB/s on each of steps 26..29 (1 us of compute there).
      copy_cost = 4 * (max(1e-6, 1024 / 2e9) - 1e-6)
    else:
      # XLA's: the 4096 B prefetch, issued before step 26, moves on the idle
      # default bandwidth of steps 26..29 (1 us each at 1 GB/s: 4000 B); the
      # last 96 B stall the read at 30.
      copy_cost = 96 / 1e9
    assert slow - fast == pytest.approx(read_saving - copy_cost, rel=1e-5)


def test_a_gap_as_long_as_the_schedule_changes_nothing():
  original = _problem()
  windowed = split_into_windows(original, min_gap=original.schedule_length).problem
  a, b = original.to_json_dict(), windowed.to_json_dict()
  assert b["source"].pop("windows") == {"min_gap": 40, "prefetch_steps": 4}
  assert a == b


def test_problems_without_instructions_are_returned_as_they_are():
  problem = Problem.from_arrays(sizes=[8, 8], starts=[0, 1], ends=[3, 4])
  assert split_into_windows(problem).problem is problem


@pytest.mark.parametrize("arguments", [{"min_gap": 0}, {"prefetch_steps": -1},
                                       {"min_gap": 2.5}])
def test_bad_parameters_are_named(arguments):
  with pytest.raises(ProblemError, match=next(iter(arguments))):
    split_into_windows(_problem(), **arguments)


@pytest.mark.parametrize("copy_bandwidth,placed", [(2e9, True), (1e8, False)])
def test_xla_msa_prefetches_a_window_only_when_the_copy_pays(copy_bandwidth, placed):
  import dataclasses

  from malloc_muzero.solvers import solve

  hardware = dataclasses.replace(_hardware(), copy_bandwidth=copy_bandwidth,
                                 time_model="additive")
  windowed = split_into_windows(_problem(), min_gap=16, prefetch_steps=4).problem
  levels = solve("xla-msa", windowed, hardware).levels
  # a@0 carries an eviction and a@1 a prefetch: each is worth it only where
  # the copy hides behind compute (1 us per step here, 0.5 us per copy share
  # at 2 GB/s, 10 us at 0.1 GB/s). "b" has no copies and always fits.
  assert levels.tolist() == ([1, 1, 1] if placed else [0, 0, 1])


@pytest.mark.parametrize("flops,placed", [(1e6, True), (1e3, False)])
def test_xla_msa_on_xla_model_prefetches_only_what_its_stalls_allow(flops, placed):
  from malloc_muzero.solvers import solve

  problem = dataclasses.replace(_problem(), flops=np.full(40, flops))
  windowed = split_into_windows(problem, min_gap=16, prefetch_steps=4).problem
  levels = solve("xla-msa", windowed, _hardware()).levels
  # With 1 us of compute per step the 4 KiB copies hide on idle bandwidth.
  # With 1 ns there is no idle bandwidth: a@1's prefetch stalls 4.1 us for a
  # read that saves 3.7 us, so it stays in the default memory; a@0's
  # eviction stalls too, but a@0 saves a write and a read.
  assert levels.tolist() == ([1, 1, 1] if placed else [1, 0, 1])


def test_xla_picker_times_the_prefetch():
  from malloc_muzero.prefetch_picker import PrefetchIntervalPicker, xla_picker

  # 1 s per step, a copy of a's 4096 B takes 4 s: XLA prefers an overlap of
  # 1.5 copies, 6 steps strictly between the copy's start and the use at 30,
  # so the copy starts after step 23 and the window at 24.
  picker = PrefetchIntervalPicker(elapsed_s=np.ones(40), executions=np.ones(40),
                                  max_interval_s=100.0, seconds_per_byte=1 / 1024)
  windows = split_into_windows(_problem(), min_gap=16, prefetch_steps=4, picker=picker)
  p = windows.problem
  assert p.buffer_names[1] == "a@1" and p.starts[1] == 24
  assert p.copy_start[p.copy_kind == PREFETCH].tolist() == [24]
  assert p.source["windows"]["prefetch_timing"] == "xla"
  # The picker of a problem on a hardware model: elapsed times with every
  # buffer in the default memory, copies at its bandwidth.
  picker = xla_picker(_problem(), _hardware())
  assert picker.copy_seconds(1e9) == pytest.approx(1.0)
  assert picker.elapsed_s[30] == pytest.approx(4096 / 1e9)


def test_a_later_window_may_be_prefetched_from_the_end_of_the_one_before():
  p = split_into_windows(_problem(), min_gap=16, prefetch_steps=4).problem
  # a@1's prefetch: issued at 26 as cut, as early as 8 (a@0 ends at 6 and
  # its eviction is done before 7: the prefetch reads what it wrote), as
  # late as its use at 30; a@0's eviction stays where it is.
  assert p.copy_earliest.tolist() == [3, 8]
  assert latest_starts(p).tolist() == [3, 30]


def test_retiming_moves_the_window_with_its_prefetch():
  p = split_into_windows(_problem(), min_gap=16, prefetch_steps=4).problem
  early = retime(p, [3, 8])
  assert early.starts.tolist() == [0, 8, 1] and early.copy_start.tolist() == [3, 8]
  assert early.copy_earliest.tolist() == [3, 8]
  late = retime(p, [3, 29])
  assert late.starts.tolist() == [0, 29, 1]
  # The additive model's bytes of the steps before the new start go to it.
  copied = {int(i): int(c) for b, i, c in zip(late.access_buffer, late.access_instruction,
                                               late.access_bytes_copied) if b == 1 and c}
  assert copied == {29: 4096}
  assert retime(p, p.copy_start) is p
  for starts, words in [([3, 7], r"copy_start\[1\]"), ([3, 31], r"\[8, 30\]"),
                        ([4, 26], r"copy_start\[0\]")]:
    with pytest.raises(ProblemError, match=words):
      retime(p, starts)
  with pytest.raises(ProblemError, match="2 copy starts"):
    retime(p, [3])


def test_prefetch_candidates_are_the_pickers_then_the_range():
  from malloc_muzero.prefetch_picker import candidate_starts, xla_picker

  p = split_into_windows(_problem(), min_gap=16, prefetch_steps=4).problem
  picker = xla_picker(p, _hardware())
  candidates = candidate_starts(p, picker, 5)
  # The eviction has only its own start; the prefetch its own, then XLA's
  # picker's preferred, latest and earliest (one step later here, XLA's
  # starts being exclusive), then the range's ends, all in [8, 30].
  assert candidates[0].tolist() == [3, -1, -1, -1, -1]
  bounds = picker.bounds(picker.copy_seconds(4096), 7, 30)
  assert bounds is not None
  earliest, preferred, latest = bounds
  expected = list(dict.fromkeys([26, preferred + 1, latest + 1, earliest + 1, 30, 8]))
  assert len(expected) < 5  # the rest in XLA's order of preference
  row = candidates[1].tolist()
  assert row[:len(expected)] == expected
  assert len(set(row)) == 5 and all(8 <= t <= 30 for t in row)
  assert candidate_starts(p, picker, 1).tolist() == [[3], [26]]


def test_latest_starts_against_their_definition_on_random_problems():
  rng = np.random.default_rng(0)
  for _ in range(300):
    n, length = int(rng.integers(1, 5)), 12
    starts = rng.integers(0, 6, n)
    ends = np.minimum(starts + rng.integers(0, 6, n), length - 1)
    copies = []
    for b in range(n):
      for _ in range(int(rng.integers(0, 3))):
        start = int(starts[b]) if rng.random() < 0.4 else int(rng.integers(starts[b],
                                                                            ends[b] + 1))
        copies.append((b, int(rng.integers(0, 2)), start, int(rng.integers(start, ends[b] + 2))))
    problem = Problem(
        name="random", buffer_names=tuple(f"b{i}" for i in range(n)), sizes=[8] * n,
        starts=starts, ends=ends, buffer_kinds=("temporary",) * n,
        instruction_names=tuple(f"i{t}" for t in range(length)), opcodes=("fusion",) * length,
        flops=np.zeros(length), transcendentals=np.zeros(length),
        bytes_accessed=np.zeros(length), access_buffer=list(range(n)),
        access_instruction=list(ends), access_bytes_read=[8] * n, access_bytes_written=[0] * n,
        schedule_length=length, source={"kind": "synthetic"},
        copy_buffer=[c[0] for c in copies], copy_kind=[c[1] for c in copies],
        copy_start=[c[2] for c in copies], copy_done=[c[3] for c in copies])
    latest = latest_starts(problem)
    for c, (b, kind, start, done) in enumerate(copies):
      expected = start
      if kind == PREFETCH and start == starts[b]:  # it starts its window
        others = [o[2] for i, o in enumerate(copies) if i != c and o[0] == b]
        # (its only read is at the window's end)
        expected = max(start, min([done, int(ends[b])] + others))
      assert latest[c] == expected, (copies, c)
