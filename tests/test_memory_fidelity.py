"""Memory as XLA uses it (issue 16): operand-slot shares, live intervals, peaks.

* `Problem` stores shares and intervals, validates them naming the field, and
  reads and writes them as JSON version 5 (older files unchanged).
* `peak_occupied_bytes` counts a shared pair once and a buffer over its
  intervals only; on every catalogue program it equals the bytes XLA's own
  buffer assignment occupies at its fullest step (XLA's dumps, made on the fly).
* The checker lets a share's buffers take the same bytes at the shared step,
  and nowhere else, and a buffer's bytes are free in the gaps between its
  intervals.
"""

from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np
import pytest

from experiments.programs import PROGRAMS
from hlo_tools import load_module, module_to_problem, parse_hlo
from hlo_tools.xla_assignment import buffer_addresses, xla_hardware, xla_placement
from hlo_tools.xla_reports import (largest_temp_allocation, live_range_map,
                                   occupied_bytes, read_buffer_assignment)
from malloc_muzero import Problem, ProblemError
from malloc_muzero.hardware import Hardware, MemoryLevel
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.problem import _intersection
from tests.xla_dumps import compile_program

HARDWARE = Hardware(
    name="toy", levels=(MemoryLevel("slow", None, 1, 1.0), MemoryLevel("fast", 64, 1, 10.0)),
    peak_flops=1.0, peak_transcendentals=1.0, copy_bandwidth=1.0)


def shared_fields(**changes) -> dict:
  """Four buffers over 6 steps.

  a [0, 2] 8 B is the operand whose slot b [2, 4] 8 B takes at step 2; c [1, 3]
  6 B; d [0, 5] 4 B lives over [0, 0] and [4, 5] only (a loop's buffer).
  Live bytes (whole ranges): 12 18 26 18 12 4 -> peak 26 at step 2.
  Occupied: 12 14 14 14 12 4 (d's gap; a and b once at step 2) -> peak 14 at
  step 1.
  """
  fields = dict(sizes=[8, 8, 6, 4], starts=[0, 2, 1, 0], ends=[2, 4, 3, 5],
                interval_buffer=[3, 3], interval_start=[0, 4], interval_end=[0, 5],
                share_operand=[0], share_user=[1], share_step=[2])
  fields.update(changes)
  return fields


def shared(**changes) -> Problem:
  fields = shared_fields(**changes)
  sizes, starts, ends = fields.pop("sizes"), fields.pop("starts"), fields.pop("ends")
  return dataclasses.replace(Problem.from_arrays(sizes, starts, ends, name="shared"),
                             **fields)


# --- the problem -----------------------------------------------------------------


def test_occupied_bytes_count_a_share_once_and_gaps_not_at_all():
  problem = shared()
  np.testing.assert_array_equal(problem.live_bytes(), [12, 18, 26, 18, 12, 4])
  np.testing.assert_array_equal(problem.occupied_bytes(), [12, 14, 14, 14, 12, 4])
  assert problem.peak_live_bytes() == (26, 2)
  assert problem.peak_occupied_bytes() == (14, 1)
  buffer, start, end = problem.live_intervals()
  assert list(zip(buffer.tolist(), start.tolist(), end.tolist())) == [
      (0, 0, 2), (1, 2, 4), (2, 1, 3), (3, 0, 0), (3, 4, 5)]


def test_without_shares_or_intervals_the_peaks_agree():
  problem = Problem.from_arrays([8, 8, 4], [0, 2, 1], [2, 4, 3])
  assert problem.peak_occupied_bytes() == problem.peak_live_bytes() == (20, 2)
  assert not len(problem.share_operand) and not len(problem.interval_buffer)


def test_json_round_trip_at_version_5_and_older_files_unchanged(tmp_path):
  problem = shared()
  data = problem.to_json_dict()
  assert data["version"] == 5
  assert data["shares"] == [[0, 1, 2]]
  assert data["buffers"][3]["intervals"] == [[0, 0], [4, 5]]
  path = tmp_path / "p.json"
  problem.save_json(path)
  again = Problem.load_json(path)
  for field in ("share_operand", "share_user", "share_step", "interval_buffer",
                "interval_start", "interval_end"):
    np.testing.assert_array_equal(getattr(again, field), getattr(problem, field))
  assert again.peak_occupied_bytes() == (14, 1)
  # A problem without them stays at the oldest version that holds it.
  plain = Problem.from_arrays([8, 8], [0, 2], [2, 4])
  plain_data = plain.to_json_dict()
  assert plain_data["version"] == 1 and "shares" not in plain_data
  assert "intervals" not in plain_data["buffers"][0]
  assert Problem.from_json_dict(plain_data).peak_occupied_bytes() == plain.peak_live_bytes()


@pytest.mark.parametrize("changes, where, words", [
    (dict(share_operand=[7]), "share_operand[0]", "a buffer index in [0, 4)"),
    (dict(share_user=[0]), "share_user[0]", "a buffer other than its operand"),
    (dict(share_step=[3]), "share_step[0]", "only one they share"),
    (dict(share_operand=[2], share_user=[1], share_step=[2]), "share_user[0]",
     "no larger than its operand"),
    (dict(share_operand=[0, 0], share_user=[1, 1], share_step=[2, 2]), "share_operand[1]",
     "one share per operand and step"),
    (dict(share_step=[2, 2]), "share_step", "one per share"),
    (dict(interval_start=[0, 1]), "interval_start[1]", "after the previous interval"),
    (dict(interval_end=[0, 4]), "interval_end[1]", "its buffer's end"),
    (dict(interval_start=[1, 4], interval_end=[1, 5]), "interval_start[0]",
     "its buffer's start"),
    (dict(interval_buffer=[3, 9]), "interval_buffer[1]", "a buffer index in [0, 4)"),
])
def test_bad_shares_and_intervals_name_the_field(changes, where, words):
  with pytest.raises(ProblemError) as info:
    shared(**changes)
  assert where in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("mutate, where, words", [
    (lambda d: d["shares"][0].__setitem__(2, 3), "shares[0][2]", "only one they share"),
    (lambda d: d["shares"].__setitem__(0, [0, 1]), "shares[0]", "[operand, user, step]"),
    (lambda d: d["buffers"][3]["intervals"].__setitem__(1, [4]), "buffers[3].intervals[1]",
     "[start, end]"),
    (lambda d: d["buffers"][3]["intervals"][1].__setitem__(0, 1), "buffers[3].intervals[1][0]",
     "after the previous interval"),
    (lambda d: (d.pop("shares"), d.__setitem__("version", 4)), "buffers[3]",
     "only the fields"),
])
def test_bad_json_names_the_json_path(mutate, where, words):
  data = shared().to_json_dict()
  mutate(data)
  with pytest.raises(ProblemError) as info:
    Problem.from_json_dict(data, "p.json")
  text = str(info.value)
  assert "p.json" in text and where in text and words in text, text


def test_shares_before_version_5_are_refused():
  data = shared().to_json_dict()
  for buffer in data["buffers"]:
    buffer.pop("intervals", None)
  data["version"] = 4
  with pytest.raises(ProblemError, match="before version 5"):
    Problem.from_json_dict(data, "p.json")


def test_summary_prints_the_three_peaks():
  problem = shared()
  problem = dataclasses.replace(problem, source={
      "kind": "hlo", "xla_peak_live_bytes": 20, "xla_peak_time": 1, "xla_temp_bytes": 12})
  text = problem.summary()
  assert "peak live:       26 B at step 2" in text
  assert "peak occupied:   14 B at step 1" in text and "1 shared operand slots" in text
  assert "XLA diagnostic:  20 B at step 1" in text and "not the maximum" in text
  assert "XLA temp:        12 B" in text
  assert "peak occupied" not in Problem.from_arrays([1], [0], [0]).summary()
  # A file extracted before shares and intervals were marked: its occupied
  # peak would only repeat the live one, so the summary leaves it out.
  old = Problem.from_arrays([8], [0], [1], source={"kind": "hlo", "xla_peak_live_bytes": 8})
  assert "peak occupied" not in old.summary() and "XLA diagnostic:  8 B" in old.summary()
  fresh = dataclasses.replace(old, source={**old.source, "shares_and_intervals": True})
  assert "peak occupied:   8 B at step 0" in fresh.summary()
  assert "shares_and_intervals" not in fresh.summary()


# --- the checker -----------------------------------------------------------------


def _placement(offsets) -> Placement:
  return Placement(levels=np.array([0 if o < 0 else 1 for o in offsets], np.int32),
                   offsets=np.array(offsets, np.int64))


def test_a_share_may_take_its_operands_bytes_at_the_shared_step():
  problem = shared()
  # a and b at the same bytes: they meet at step 2 only, where b takes a's slot.
  assert check_placement(problem, HARDWARE, _placement([0, 0, 8, 16])) is None
  # b half over a's bytes: still only at step 2.
  assert check_placement(problem, HARDWARE, _placement([0, 4, 12, 20])) is None
  # Without the share the same placement overlaps.
  plain = shared(share_operand=[], share_user=[], share_step=[])
  conflict = check_placement(plain, HARDWARE, _placement([0, 0, 8, 16]))
  assert conflict is not None and conflict.buffers == (0, 1)


def test_overlaps_other_than_the_share_are_refused():
  problem = shared()
  # b at a's bytes, but also over c's at steps 2-3.
  conflict = check_placement(problem, HARDWARE, _placement([0, 4, 8, 16]))
  assert conflict is not None and conflict.kind == "overlap"
  assert set(conflict.buffers) == {1, 2}
  # c over a's bytes at steps 1-2: c is no party to the share.
  conflict = check_placement(problem, HARDWARE, _placement([0, 0, 4, 16]))
  assert conflict is not None and set(conflict.buffers) == {0, 2}
  # d (the checker charges its whole range) over the pair's bytes.
  conflict = check_placement(problem, HARDWARE, _placement([0, 0, 8, 4]))
  assert conflict is not None and 3 in conflict.buffers


def test_a_third_buffer_at_the_users_bytes_at_the_shared_step_is_refused():
  # a [0, 2] -> b [2, 4] at step 2; e [1, 2] ends there too, at b's upper bytes.
  problem = dataclasses.replace(Problem.from_arrays([8, 8, 4], [0, 2, 1], [2, 4, 2]),
                                share_operand=[0], share_user=[1], share_step=[2])
  assert check_placement(problem, HARDWARE, _placement([0, 0, 8])) is None
  conflict = check_placement(problem, HARDWARE, _placement([0, 4, 8]))
  assert conflict is not None and conflict.buffers == (1, 2)
  assert "steps [2, 2]" in conflict.message


def test_a_user_may_take_the_bytes_of_any_of_its_dying_operands():
  """b [2, 4] may take a's or e's slot (both die at step 2, where b begins);
  a and e stay apart, and so does o, which lives across."""
  problem = dataclasses.replace(
      Problem.from_arrays([8, 8, 8, 4], [0, 1, 2, 0], [2, 2, 4, 4]),
      share_operand=[0, 1], share_user=[2, 2], share_step=[2, 2])
  # b counts once at step 2 (it takes one of the two).
  np.testing.assert_array_equal(problem.occupied_bytes(), [12, 20, 20, 12, 12])
  assert problem.peak_occupied_bytes() == (20, 1)
  assert check_placement(problem, HARDWARE, _placement([0, 8, 0, 16])) is None
  assert check_placement(problem, HARDWARE, _placement([0, 8, 8, 16])) is None
  conflict = check_placement(problem, HARDWARE, _placement([0, 0, 8, 16]))
  assert conflict is not None and set(conflict.buffers) == {0, 1}
  conflict = check_placement(problem, HARDWARE, _placement([0, 8, 16, 16]))
  assert conflict is not None and set(conflict.buffers) == {2, 3}


def test_a_buffer_with_gaps_leaves_its_bytes_free_in_them():
  problem = shared()
  # c [1, 3] at d's bytes: d is live over [0, 0] and [4, 5] only.
  assert check_placement(problem, HARDWARE, _placement([0, 0, 8, 8])) is None
  whole = shared(interval_buffer=[], interval_start=[], interval_end=[])
  conflict = check_placement(whole, HARDWARE, _placement([0, 0, 8, 8]))
  assert conflict is not None and set(conflict.buffers) == {2, 3}
  # b [2, 4] at d's bytes meets d's [4, 5] at step 4; the message names it.
  conflict = check_placement(problem, HARDWARE, _placement([0, 16, 8, 16]))
  assert conflict is not None and set(conflict.buffers) == {1, 3}
  assert "steps [4, 4]" in conflict.message


def test_a_share_with_a_buffer_of_several_values_is_honoured():
  # b lives over [0, 0] and [2, 4] (two values, one offset); a [1, 2] dies
  # where b's second value begins.
  problem = shared(sizes=[8, 8, 6, 4], starts=[1, 0, 1, 0], ends=[2, 4, 3, 5],
                   interval_buffer=[1, 1, 3, 3], interval_start=[0, 2, 0, 4],
                   interval_end=[0, 4, 0, 5])
  assert problem.peak_occupied_bytes() == (14, 1)
  assert check_placement(problem, HARDWARE, _placement([0, 0, 8, 16])) is None
  plain = shared(sizes=[8, 8, 6, 4], starts=[1, 0, 1, 0], ends=[2, 4, 3, 5],
                 interval_buffer=[1, 1, 3, 3], interval_start=[0, 2, 0, 4],
                 interval_end=[0, 4, 0, 5], share_operand=[], share_user=[], share_step=[])
  conflict = check_placement(plain, HARDWARE, _placement([0, 0, 8, 16]))
  assert conflict is not None and set(conflict.buffers) == {0, 1}
  assert "steps [2, 2]" in conflict.message


# --- extraction ------------------------------------------------------------------

ELEMENTWISE = """\
HloModule m, is_scheduled=true

ENTRY %main (p: f32[16], q: f32[16]) -> f32[4] {
  %p = f32[16]{0} parameter(0)
  %q = f32[16]{0} parameter(1)
  %a = f32[16]{0} add(%p, %q)
  %b = f32[16]{0} exponential(%a)
  %c = f32[16]{0} copy(%b)
  %d = f32[4,4]{1,0} reshape(%c)
  %e = f32[4]{0} reduce(%d, %z), dimensions={1}, to_apply=%sum
  ROOT %f = f32[4]{0} negate(%e)
}
"""


def _extract(text: str) -> Problem:
  return module_to_problem(parse_hlo(text.replace(
      "ENTRY", "%sum (x: f32[], y: f32[]) -> f32[] {\n  %x = f32[] parameter(0)\n"
      "  %y = f32[] parameter(1)\n  ROOT %s = f32[] add(%x, %y)\n}\n\nENTRY").replace(
          "  %e = ", "  %z = f32[] constant(0)\n  %e = ")))


def test_an_elementwise_user_takes_its_dying_operands_slot():
  problem = _extract(ELEMENTWISE)
  names = problem.buffer_names
  pairs = [(names[a], names[b], int(t)) for a, b, t in zip(
      problem.share_operand, problem.share_user, problem.share_step)]
  step = problem.instruction_names.index
  # exp(a) may take a's slot (the heap simulator: two temporaries), and the
  # output negate(e) e's (reusing an allocation: a temporary in the output's).
  # Not: the add (its operands are read-only parameters), the copy, the
  # reshape (another shape), the reduce (not elementwise).
  assert pairs == [("a{}", "b{}", step("b")), ("e{}", "f{}", step("f"))]


# --- against XLA's own buffer assignment ------------------------------------------

NAMES = sorted(PROGRAMS)


def _reports(name):
  compiled = compile_program(name)
  directory = compiled.captured.dump_dir
  path, = glob.glob(os.path.join(directory, "*after_optimizations.txt"))
  assignment, = glob.glob(os.path.join(directory,
                                       "*after_optimizations-buffer-assignment.txt"))
  return compiled, module_to_problem(load_module(path)), read_buffer_assignment(assignment)


@pytest.mark.parametrize("name", NAMES)
def test_peak_occupied_is_what_xla_assignment_occupies(name):
  compiled, problem, allocations = _reports(name)
  xla, _ = occupied_bytes(allocations, live_range_map(compiled.live_range))
  assert problem.peak_occupied_bytes()[0] == xla
  assert problem.peak_occupied_bytes()[0] <= problem.peak_live_bytes()[0]
  assert problem.source["xla_temp_bytes"] == largest_temp_allocation(allocations)


@pytest.mark.parametrize("name", NAMES)
def test_every_slot_xla_shares_is_marked(name):
  """Where XLA's assignment puts a user at its dying operand's bytes, the
  problem marks the pair."""
  compiled, problem, allocations = _reports(name)
  ranges = live_range_map(compiled.live_range)
  buffer = {v: i for i, values in enumerate(problem.buffer_values) for v in values}
  marks = set(zip(problem.share_operand.tolist(), problem.share_user.tolist(),
                  problem.share_step.tolist()))
  for allocation in allocations:
    values = [v for v in allocation.values if v[0] in ranges and v[2]]
    for first, low, size in values:
      for second, low2, size2 in values:
        a, b = buffer.get(first), buffer.get(second)
        if a is None or b is None or a == b:
          continue
        step = ranges[second][0]
        if ranges[first][1] == step and low < low2 + size2 and low2 < low + size:
          assert (a, b, step) in marks, (first, second)


@pytest.mark.parametrize("name", NAMES)
def test_xla_temp_allocation_is_a_valid_placement(name):
  """What `malloc-eval --xla-assignment` checks: XLA's temporary allocation as
  level 1 of its own size (`xla_placement`), valid by the checker with the
  problem's shares and intervals; the rest is in XLA's other allocations."""
  compiled, problem, allocations = _reports(name)
  report, = glob.glob(os.path.join(compiled.captured.dump_dir,
                                   "*after_optimizations-buffer-assignment.txt"))
  xla = xla_placement(problem, report)
  memory = xla_hardware(HARDWARE, xla.temp_bytes)
  assert xla.temp_bytes == largest_temp_allocation(allocations)  # One on CPU.
  placed = xla.placement.levels == 1
  assert sum(n for n, _ in xla.elsewhere.values()) == problem.num_buffers - placed.sum()
  assert "temporary" not in xla.elsewhere
  conflict = check_placement(problem, memory, xla.placement)
  assert conflict is None, conflict.message
  if placed.any():  # The checker can fail: shift one buffer onto another.
    assert _with_overlap(problem, memory, xla.placement) is not None


def _with_overlap(problem, hardware, placement):
  """The first conflict of `placement` with the largest placed buffer moved to
  the offset of a placed buffer whose live intervals meet it, beyond any share."""
  intervals = problem.buffer_intervals(range(problem.num_buffers))
  shared = {frozenset(p) for p in zip(problem.share_operand.tolist(),
                                      problem.share_user.tolist())}
  placed = np.flatnonzero((placement.levels == 1) & (problem.sizes > 0)).tolist()
  for a in sorted(placed, key=lambda b: -int(problem.sizes[b])):
    for b in placed:
      common = _intersection(intervals[a], intervals[b])
      if b != a and common and (frozenset((a, b)) not in shared or common[0][0] < common[-1][1]):
        offsets = placement.offsets.copy()
        offsets[a] = offsets[b]
        return check_placement(problem, hardware, Placement(placement.levels, offsets))
  return "no two placed buffers live at once"


# On alphatensor_matmul XLA filled an allocation greedily:
# multiply_add_fusion.10 took the slot of ynn_fusion.47, its last operand,
# which its allocator had placed first, not that of ynn_fusion.30, the first
# of its operands of its size that die there. Both are marked.
@pytest.mark.parametrize("name", NAMES)
def test_all_of_xla_allocations_end_to_end_are_a_valid_placement(name):
  """XLA's own assignment, its allocations laid end to end in one memory, is
  valid by the checker, which honours shares and intervals."""
  _, problem, allocations = _reports(name)
  allocation, offset = buffer_addresses(problem, allocations)
  base = np.cumsum([0] + [a.size for a in allocations])
  start = dict(zip((a.index for a in allocations), base.tolist()))
  placement = Placement(levels=np.ones(problem.num_buffers, np.int32),
                        offsets=offset + np.array([start[a] for a in allocation.tolist()],
                                                  np.int64))
  memory = Hardware(name="xla", levels=(MemoryLevel("slow", None, 1, 1.0),
                                        MemoryLevel("xla", max(int(base[-1]), 1), 1, 1.0)),
                    peak_flops=1.0, peak_transcendentals=1.0, copy_bandwidth=1.0)
  conflict = check_placement(problem, memory, placement)
  assert conflict is None, conflict.message


def _random_problem(rng) -> Problem:
  """Up to 6 buffers over up to 8 steps, some with gaps, some shares."""
  count, steps = int(rng.integers(1, 7)), int(rng.integers(1, 9))
  starts = rng.integers(0, steps, count)
  ends = np.minimum(starts + rng.integers(0, 4, count), steps - 1)
  sizes = rng.integers(0, 5, count)
  buffer, start, end = [], [], []
  for i in range(count):
    if ends[i] - starts[i] >= 2 and rng.random() < 0.5:
      gap = int(rng.integers(starts[i] + 1, ends[i]))
      buffer += [i, i]
      start += [int(starts[i]), gap + 1]
      end += [gap - 1, int(ends[i])]
  problem = dataclasses.replace(
      Problem.from_arrays(sizes, starts, ends, schedule_length=steps),
      interval_buffer=buffer, interval_start=start, interval_end=end)
  shares = []
  for _ in range(3):
    a, b, t = int(rng.integers(count)), int(rng.integers(count)), int(rng.integers(steps))
    try:
      dataclasses.replace(problem, share_operand=[s[0] for s in shares] + [a],
                          share_user=[s[1] for s in shares] + [b],
                          share_step=[s[2] for s in shares] + [t])
      shares.append((a, b, t))
    except ProblemError:
      pass
  return dataclasses.replace(problem, share_operand=[s[0] for s in shares],
                             share_user=[s[1] for s in shares],
                             share_step=[s[2] for s in shares])


def _conflicts(problem: Problem, placement: Placement) -> set[tuple[int, int]]:
  """Every overlapping pair, step by step and byte by byte."""
  intervals = problem.buffer_intervals(range(problem.num_buffers))
  shared = {(a, b, t) for a, b, t in zip(problem.share_operand.tolist(),
                                         problem.share_user.tolist(),
                                         problem.share_step.tolist())}
  out = set()
  for i in range(problem.num_buffers):
    for j in range(i + 1, problem.num_buffers):
      if placement.levels[i] != placement.levels[j] or placement.levels[i] == 0:
        continue
      bytes_i = set(range(placement.offsets[i], placement.offsets[i] + problem.sizes[i]))
      bytes_j = set(range(placement.offsets[j], placement.offsets[j] + problem.sizes[j]))
      steps = {t for s, e in intervals[i] for t in range(s, e + 1)} & \
          {t for s, e in intervals[j] for t in range(s, e + 1)}
      steps = {t for t in steps if (i, j, t) not in shared and (j, i, t) not in shared}
      if bytes_i & bytes_j and steps:
        out.add((i, j))
  return out


def test_checker_agrees_with_brute_force_on_intervals_and_shares():
  rng = np.random.default_rng(16)
  with_shares = 0
  for _ in range(2000):
    problem = _random_problem(rng)
    with_shares += bool(len(problem.share_operand))
    levels = rng.integers(0, 2, problem.num_buffers)
    offsets = np.where(levels > 0, rng.integers(0, 6, problem.num_buffers), -1)
    placement = Placement(levels=levels.astype(np.int32), offsets=offsets.astype(np.int64))
    expected = _conflicts(problem, placement)
    conflict = check_placement(problem, HARDWARE, placement)
    if expected:
      assert conflict is not None and tuple(sorted(conflict.buffers)) in expected
    else:
      assert conflict is None, conflict.message
  assert with_shares > 200


@pytest.mark.parametrize("solver", ["first-fit", "best-fit", "random"])
def test_heuristics_place_validly_with_intervals_and_shares(solver):
  from malloc_muzero.solvers import SolverOptions, solve
  rng = np.random.default_rng(19)
  for _ in range(300):
    problem = _random_problem(rng)
    hardware = dataclasses.replace(HARDWARE, levels=(
        HARDWARE.levels[0], dataclasses.replace(HARDWARE.levels[1],
                                                capacity=int(rng.integers(1, 9)))))
    placement = solve(solver, problem, hardware, SolverOptions(seed=int(rng.integers(99))))
    conflict = check_placement(problem, hardware, placement)
    assert conflict is None, conflict.message


@pytest.mark.parametrize("solver", ["first-fit", "best-fit"])
def test_heuristics_use_a_shared_slot_and_a_gap(solver):
  """Capacity 4: `b` (4 B) fits only on its dying operand `a`'s bytes, and
  `c` only in the gap between `d`'s two values."""
  from malloc_muzero.solvers import solve
  problem = dataclasses.replace(
      Problem.from_arrays(np.array([4, 4, 4, 4]), np.array([0, 2, 5, 4]),
                          np.array([2, 3, 5, 6]), schedule_length=7),
      share_operand=[0], share_user=[1], share_step=[2],
      interval_buffer=[3, 3], interval_start=[4, 6], interval_end=[4, 6])
  hardware = dataclasses.replace(HARDWARE, levels=(
      HARDWARE.levels[0], dataclasses.replace(HARDWARE.levels[1], capacity=4)))
  placement = solve(solver, problem, hardware)
  assert check_placement(problem, hardware, placement) is None
  assert placement.levels.tolist() == [1, 1, 1, 1]
