"""Tests of reading and writing MiniMalloc's CSV problems and solutions."""

from __future__ import annotations

import dataclasses
import itertools
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from malloc_muzero import (Problem, ProblemError, load_minimalloc_csv,
                           read_minimalloc_csv, write_minimalloc_csv)
from malloc_muzero.hardware import minimalloc_hardware
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.placement_io import load_placement_csv, save_placement_csv

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHALLENGING = DATA / "minimalloc" / "challenging"
CAPACITY = 2**20
_ONE_MEMORY = minimalloc_hardware(2**40)  # One memory, alignment 1.


def challenging_files() -> list[Path]:
  if not CHALLENGING.is_dir():
    pytest.skip(f"MiniMalloc's benchmark is not at {CHALLENGING} (the shared "
                "data folder next to the project)")
  return sorted(CHALLENGING.glob("*.csv"))


def write(tmp_path: Path, text: str, name: str = "problem.csv") -> Path:
  path = tmp_path / name
  path.write_text(text)
  return path


# --- the challenging benchmark ------------------------------------------------


def test_challenging_benchmark_matches_its_readme():
  files = challenging_files()
  assert [path.name for path in files] == [
      f"{letter}.1048576.csv" for letter in "ABCDEFGHIJK"]
  counts, tight = [], 0
  for path in files:
    problem = load_minimalloc_csv(path)
    assert 154 <= problem.num_buffers <= 454, path.name
    assert np.all(problem.sizes % 1024 == 0), path.name
    assert problem.source == {"kind": "minimalloc", "file": str(path),
                              "capacity": CAPACITY}
    peak, _ = problem.peak_live_bytes()
    assert peak <= CAPACITY, path.name
    tight += peak == CAPACITY
    counts.append(problem.num_buffers)
  assert (min(counts), max(counts)) == (154, 454)
  assert tight == 8  # "In 8 of the 11 files the peak equals the capacity."


def test_challenging_files_are_rewritten_byte_for_byte(tmp_path):
  for path in challenging_files():
    problem, offsets = read_minimalloc_csv(path)
    assert offsets is None
    write_minimalloc_csv(tmp_path / path.name, problem)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


# --- reading ------------------------------------------------------------------


def test_read_converts_half_open_lifespans_to_inclusive_ranges(tmp_path):
  path = write(tmp_path, "id,lower,upper,size\na,0,3,1024\nb,2,7,8\n")
  problem = load_minimalloc_csv(path)
  assert problem.name == "problem"
  assert problem.buffer_names == ("a", "b")
  np.testing.assert_array_equal(problem.sizes, [1024, 8])
  np.testing.assert_array_equal(problem.starts, [0, 2])
  np.testing.assert_array_equal(problem.ends, [2, 6])
  assert problem.buffer_kinds == ("temporary", "temporary")
  assert problem.schedule_length == 7
  assert problem.num_instructions == 0
  assert problem.source == {"kind": "minimalloc", "file": str(path),
                            "capacity": None}
  np.testing.assert_array_equal(problem.live_bytes(),
                                [1024, 1024, 1032, 8, 8, 8, 8])


def test_capacity_comes_from_the_file_name(tmp_path):
  path = write(tmp_path, "id,lower,upper,size\n0,0,1,8\n", "X.4096.csv")
  problem = load_minimalloc_csv(path)
  assert problem.name == "X.4096"
  assert problem.source["capacity"] == 4096


def test_columns_are_matched_by_header_name(tmp_path):
  reordered = write(tmp_path, "size, upper ,id,lower\n1024,3,a,0\n8,7,b,2\n",
                    "reordered.csv")
  plain = write(tmp_path, "id,lower,upper,size\na,0,3,1024\nb,2,7,8\n")
  for field in ("buffer_names", "sizes", "starts", "ends", "schedule_length"):
    np.testing.assert_array_equal(
        getattr(load_minimalloc_csv(reordered), field),
        getattr(load_minimalloc_csv(plain), field))


def test_minimallocs_old_column_names_with_an_inclusive_end(tmp_path):
  path = write(tmp_path, "buffer_id,start,end,size\na,0,2,1024\nb,2,6,8\n")
  problem = load_minimalloc_csv(path)
  np.testing.assert_array_equal(problem.starts, [0, 2])
  np.testing.assert_array_equal(problem.ends, [2, 6])
  assert problem.schedule_length == 7


def test_offsets_are_returned_with_minus_one_for_empty_cells(tmp_path):
  path = write(tmp_path, "id,lower,upper,size,offset\n"
                         "a,0,3,1024,0\nb,2,7,8,\nc,1,2,8,1024\n")
  problem, offsets = read_minimalloc_csv(path)
  assert offsets.dtype == np.int64
  np.testing.assert_array_equal(offsets, [0, -1, 1024])
  assert problem.num_buffers == 3


def test_header_only_is_an_empty_problem(tmp_path):
  problem, offsets = read_minimalloc_csv(
      write(tmp_path, "id,lower,upper,size,offset\n"))
  assert problem.num_buffers == 0
  assert problem.schedule_length == 0
  assert problem.peak_live_bytes() == (0, 0)
  assert offsets.shape == (0,) and offsets.dtype == np.int64


def test_blank_lines_and_crlf_are_tolerated(tmp_path):
  path = write(tmp_path, "id,lower,upper,size\r\n\r\na,0,3,8\r\n\r\n")
  assert load_minimalloc_csv(path).buffer_names == ("a",)


_HEADER = "id,lower,upper,size\n"

# (file text, where, words in the message)
_INVALID = [
    ("", "line 1", "expected a header naming the columns id, lower, upper"),
    ("id,lower,upper\n", "line 1", "(no size column), found 'id,lower,upper'"),
    ("id,lower,upper,size,colour\n", "line 1", "found 'colour'"),
    ("id,lower,upper,size,alignment\n", "line 1", "found 'alignment'"),
    ("id,lower,start,size\n", "line 1", "the lower column once, found 'start'"),
    (_HEADER + "0,0,5,abc\n", "line 2",
     "expected an integer size, found 'abc'"),
    (_HEADER + "0,0,5,1.5\n", "line 2", "an integer size, found '1.5'"),
    (_HEADER + "0,0,5,\n", "line 2", "an integer size, found ''"),
    (_HEADER + "0,0,5,-8\n", "line 2",
     "expected a non-negative size, found -8"),
    (_HEADER + "0,-1,5,8\n", "line 2", "a non-negative lower, found -1"),
    (_HEADER + "0,5,5,8\n", "line 2",
     "expected upper > lower = 5 (lifespans are [lower, upper)), found 5"),
    (_HEADER + "0,6,5,8\n", "line 2", "upper > lower = 6"),
    (_HEADER + "0,0,4294967296,8\n", "line 2",
     "expected upper <= 2147483647, found 4294967296"),
    (_HEADER + "0,0,5,99999999999999999999\n", "line 2", "expected size <= "),
    (_HEADER + f"0,0,5,{2**62}\n1,0,5,{2**62}\n", "line 3",
     "expected sizes adding up to at most 9223372036854775807 bytes"),
    (_HEADER + "0,0,5\n", "line 2", "expected 4 cells, found 3"),
    (_HEADER + "0,0,5,8,\n", "line 2", "expected 4 cells, found 5"),
    (_HEADER + ",0,5,8\n", "line 2", "a non-empty id"),
    (_HEADER + "a,0,5,8\nb,0,5,8\n\na,1,2,8\n", "line 5",
     "expected a unique id (also on line 2), found 'a'"),
    (_HEADER + "\n\n0,0,5,x\n", "line 4", "an integer size"),
    ("id,lower,upper,size,offset\n0,0,5,8,-3\n", "line 2",
     "a non-negative offset, found -3"),
    ("buffer,begin,end,size\n0,0,2147483647,8\n", "line 2",
     "expected end <= 2147483646"),
]


@pytest.mark.parametrize("text, where, words", _INVALID)
def test_malformed_files_name_file_line_and_expectation(tmp_path, text, where,
                                                        words):
  path = write(tmp_path, text)
  with pytest.raises(ProblemError) as info:
    read_minimalloc_csv(path)
  assert info.value.filename == str(path)
  assert info.value.where == where
  assert str(info.value).startswith(f"{path}: {where}: expected ")
  assert words in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path):
  path = tmp_path / "binary.csv"
  path.write_bytes(b"id,lower,upper,size\n\xff,0,1,8\n")
  with pytest.raises(ProblemError, match=r"line 2: expected UTF-8 text"):
    load_minimalloc_csv(path)


# --- writing ------------------------------------------------------------------


def test_write_with_offsets_round_trips(tmp_path):
  problem = Problem.from_arrays([1024, 8, 8], [0, 2, 1], [2, 6, 1],
                                buffer_names=["a", "b", "c"])
  path = tmp_path / "solution.csv"
  write_minimalloc_csv(path, problem, np.array([0, -1, 1024]))
  assert path.read_text() == ("id,lower,upper,size,offset\n"
                              "a,0,3,1024,0\nb,2,7,8,\nc,1,2,8,1024\n")
  loaded, offsets = read_minimalloc_csv(path)
  np.testing.assert_array_equal(offsets, [0, -1, 1024])
  for field in ("buffer_names", "sizes", "starts", "ends", "schedule_length"):
    np.testing.assert_array_equal(getattr(loaded, field),
                                  getattr(problem, field))


def test_write_drops_what_the_format_cannot_hold(tmp_path):
  problem = Problem.from_arrays([8], [0], [1], schedule_length=10,
                                buffer_kinds=["parameter"])
  path = tmp_path / "p.csv"
  write_minimalloc_csv(path, problem)
  loaded = load_minimalloc_csv(path)
  assert loaded.schedule_length == 2
  assert loaded.buffer_kinds == ("temporary",)


@pytest.mark.parametrize("name", ["a,b", "a\nb", " a", "a\r", ""])
def test_write_rejects_ids_the_format_cannot_hold(tmp_path, name):
  problem = Problem.from_arrays([8, 8], [0, 0], [1, 1],
                                buffer_names=["ok", name])
  with pytest.raises(ProblemError, match=r"buffer_names\[1\]: expected a "
                                         "non-empty id without commas"):
    write_minimalloc_csv(tmp_path / "p.csv", problem)
  assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("offsets, where, words", [
    ([0], "offsets", "an array of shape (2,), found (1,)"),
    ([0.0, 1.5], "offsets", "an array of integers"),
    ([0, -2], "offsets[1]", "an offset >= 0, or -1 for none, found -2"),
])
def test_write_rejects_bad_offsets(tmp_path, offsets, where, words):
  problem = Problem.from_arrays([8, 8], [0, 0], [1, 1])
  with pytest.raises(ProblemError) as info:
    write_minimalloc_csv(tmp_path / "p.csv", problem, offsets)
  assert info.value.where == where
  assert words in str(info.value)


def _disk_full(descriptor):
  raise OSError("disk full")


def test_write_keeps_the_old_file_when_it_fails(tmp_path, monkeypatch):
  path = tmp_path / "p.csv"
  path.write_text("good")
  monkeypatch.setattr("os.fsync", _disk_full)
  with pytest.raises(OSError, match="disk full"):
    write_minimalloc_csv(path, Problem.from_arrays([8], [0], [1]))
  assert path.read_text() == "good"
  assert [entry.name for entry in tmp_path.iterdir()] == ["p.csv"]


_IDS = st.text("abcXYZ019_-.:", min_size=1, max_size=6)


@st.composite
def solved_problems(draw) -> tuple[Problem, np.ndarray]:
  """Random problems that MiniMalloc's CSV holds, with random offsets."""
  count = draw(st.integers(0, 8))
  starts = draw(st.lists(st.integers(0, 50), min_size=count, max_size=count))
  ends = [draw(st.integers(start, 60)) for start in starts]
  problem = Problem.from_arrays(
      draw(st.lists(st.integers(0, 2**40), min_size=count, max_size=count)),
      starts, ends,
      buffer_names=draw(st.lists(_IDS, min_size=count, max_size=count,
                                 unique=True)))
  offsets = draw(st.lists(st.integers(-1, 2**40), min_size=count,
                          max_size=count))
  return problem, np.array(offsets, np.int64)


@settings(max_examples=100, deadline=None)
@given(solved_problems(), st.booleans())
def test_random_problems_round_trip_through_csv(solved, with_offsets):
  problem, offsets = solved
  with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "problem.csv"
    write_minimalloc_csv(path, problem, offsets if with_offsets else None)
    loaded, loaded_offsets = read_minimalloc_csv(path)
  for field in ("buffer_names", "buffer_kinds", "schedule_length",
                "instruction_names"):
    assert getattr(loaded, field) == getattr(problem, field), field
  for field in ("sizes", "starts", "ends", "access_buffer"):
    expected, actual = getattr(problem, field), getattr(loaded, field)
    assert actual.dtype == expected.dtype, field
    np.testing.assert_array_equal(actual, expected, err_msg=field)
  if with_offsets:
    np.testing.assert_array_equal(loaded_offsets, offsets)
  else:
    assert loaded_offsets is None


@pytest.mark.parametrize("name", ["A.0.csv", "A.9223372036854775808.csv"])
def test_a_capacity_in_the_name_out_of_range_is_refused(tmp_path, name):
  """Found by tests/test_fuzz_inputs.py: 10**23 in a name was an OverflowError
  traceback in the solvers."""
  path = tmp_path / name
  path.write_text("id,lower,upper,size\n0,0,1,1\n")
  with pytest.raises(ProblemError, match=rf"{re.escape(name)}: expected a capacity in "
                     r"the file name in \[1, 9223372036854775807\] bytes"):
    load_minimalloc_csv(path)


# --- live intervals and shares --------------------------------------------------


def _shared() -> Problem:
  """a [0, 2] 8 B whose slot b [2, 4] 8 B takes at step 2; c [1, 3] 6 B; d [0, 5]
  4 B live over [0, 0] and [4, 5] only."""
  from tests.test_memory_fidelity import shared

  return dataclasses.replace(shared(), buffer_names=("a", "b", "c", "d"))


def test_a_share_touches_at_its_step_and_gaps_are_one_row(tmp_path):
  path = tmp_path / "p.csv"
  write_minimalloc_csv(path, _shared(), np.array([0, 0, 8, 14]))
  # Step 2 is cut in two: a holds the first half, b the second, c both.
  assert path.read_text() == ("id,lower,upper,size,gaps,offset\n"
                              "a,0,3,8,,0\nb,3,6,8,,0\nc,1,5,6,,8\nd,0,7,4,1-5,14\n")
  loaded, offsets = read_minimalloc_csv(path)
  buffer, start, end = loaded.live_intervals()
  assert list(zip(buffer.tolist(), start.tolist(), end.tolist())) == [
      (0, 0, 2), (1, 3, 5), (2, 1, 4), (3, 0, 0), (3, 5, 6)]
  assert not len(loaded.share_operand)
  placement = Placement.from_offsets(offsets)
  assert check_placement(loaded, _ONE_MEMORY, placement) is None
  assert check_placement(_shared(), _ONE_MEMORY, placement) is None
  # A solution file of the problem reads back against the problem itself.
  np.testing.assert_array_equal(load_placement_csv(path, _shared()).offsets, [0, 0, 8, 14])
  # c at a's bytes at step 2 is refused by both: the share is a's and b's only.
  moved = Placement.from_offsets([0, 0, 0, 14])
  assert check_placement(_shared(), _ONE_MEMORY, moved) is not None
  assert check_placement(loaded, _ONE_MEMORY, moved) is not None


def test_without_shares_intervals_round_trip_on_the_same_clock(tmp_path):
  problem = dataclasses.replace(_shared(), share_operand=[], share_user=[], share_step=[])
  path = tmp_path / "p.csv"
  write_minimalloc_csv(path, problem)
  assert path.read_text().splitlines()[-1] == "d,0,6,4,1-4"
  loaded = load_minimalloc_csv(path)
  for field in ("starts", "ends", "interval_buffer", "interval_start", "interval_end"):
    np.testing.assert_array_equal(getattr(loaded, field), getattr(problem, field))


def test_several_shares_at_one_step_keep_every_other_pair_apart(tmp_path):
  # e1 -> s1 and e2 -> s2 at step 2; o lives across it.
  problem = dataclasses.replace(
      Problem.from_arrays([8, 8, 8, 8, 8], [0, 2, 1, 2, 0], [2, 4, 2, 3, 4],
                          buffer_names=["e1", "s1", "e2", "s2", "o"]),
      share_operand=[0, 2], share_user=[1, 3], share_step=[2, 2])
  _only_these_may_overlap(problem, {(0, 1), (2, 3)}, tmp_path)


def test_a_user_with_two_operands_may_take_either_slot(tmp_path):
  # e1 and e2 die at step 2, where s begins and may take either's bytes; o
  # lives across it.
  problem = dataclasses.replace(
      Problem.from_arrays([8, 8, 8, 8], [0, 1, 2, 0], [2, 2, 4, 4],
                          buffer_names=["e1", "e2", "s", "o"]),
      share_operand=[0, 1], share_user=[2, 2], share_step=[2, 2])
  _only_these_may_overlap(problem, {(0, 2), (1, 2)}, tmp_path)


def _only_these_may_overlap(problem: Problem, pairs: set[tuple[int, int]], tmp_path):
  """Of the placements that put two of `problem`'s 8-byte buffers at the same
  bytes, the checker accepts those of `pairs` only, on the problem and on its
  CSV export alike."""
  path = tmp_path / "p.csv"
  write_minimalloc_csv(path, problem)
  loaded = load_minimalloc_csv(path)
  count = problem.num_buffers
  for i, j in itertools.combinations(range(count), 2):
    offsets = np.array([8 * k for k in range(count)])
    offsets[j] = offsets[i]
    placement = Placement.from_offsets(offsets)
    expected = check_placement(problem, _ONE_MEMORY, placement) is None
    assert expected == ((i, j) in pairs)
    assert (check_placement(loaded, _ONE_MEMORY, placement) is None) == expected, (i, j)


def test_random_problems_with_shares_are_the_same_packing_problem(tmp_path):
  """A placement is valid for the problem if and only if it is a packing of its
  CSV (but where a share's buffers do not end and begin at its step, which the
  file cannot express: then a packing of the file is still valid)."""
  from tests.test_memory_fidelity import _random_problem

  rng = np.random.default_rng(4)
  path = tmp_path / "p.csv"
  checked = 0
  for _ in range(600):
    problem = _random_problem(rng)
    write_minimalloc_csv(path, problem)
    loaded = load_minimalloc_csv(path)
    expressible = _all_shares_touch(problem)
    for _ in range(4):
      levels = rng.integers(0, 2, problem.num_buffers)
      offsets = np.where(levels > 0, rng.integers(0, 6, problem.num_buffers), -1)
      placement = Placement.from_offsets(offsets)
      valid = check_placement(problem, _ONE_MEMORY, placement) is None
      packed = check_placement(loaded, _ONE_MEMORY, placement) is None
      assert valid or not packed
      if expressible:
        assert valid == packed
        checked += bool(len(problem.share_operand))
  assert checked > 300


def _all_shares_touch(problem: Problem) -> bool:
  """Every share's buffers: one ends at its step and the other begins there,
  and no buffer is in two shares at a step but one that begins there (a user
  with several operands)."""
  intervals = problem.buffer_intervals(range(problem.num_buffers))
  begins_at: dict[tuple[int, int], bool] = {}
  for a, b, t in zip(problem.share_operand.tolist(), problem.share_user.tolist(),
                     problem.share_step.tolist()):
    ends = {x for x in (a, b) if any(e == t for _, e in intervals[x])}
    begins = {x for x in (a, b) if any(s == t for s, _ in intervals[x])}
    pair = next(((x, y) for x, y in ((a, b), (b, a)) if x in ends and y in begins), None)
    if pair is None or (t, pair[0]) in begins_at or not begins_at.get((t, pair[1]), True):
      return False
    begins_at.update({(t, pair[0]): False, (t, pair[1]): True})
  return True


@pytest.mark.parametrize("name", ["attention", "mlp_train_step"])
def test_xlas_own_assignment_is_a_packing_of_the_export(tmp_path, name):
  import glob
  import os

  from hlo_tools import load_module, module_to_problem
  from hlo_tools.xla_assignment import xla_placement
  from tests.xla_dumps import compile_program

  directory = compile_program(name).captured.dump_dir
  module, = glob.glob(os.path.join(directory, "*after_optimizations.txt"))
  problem = module_to_problem(load_module(module))
  assert len(problem.share_operand)
  xla = xla_placement(problem, module[:-len(".txt")] + "-buffer-assignment.txt").placement
  path = tmp_path / "xla.csv"
  save_placement_csv(path, problem, xla)
  assert check_placement(problem, _ONE_MEMORY, xla) is None
  assert check_placement(load_minimalloc_csv(path), _ONE_MEMORY, xla) is None
  np.testing.assert_array_equal(load_placement_csv(path, problem).offsets, xla.offsets)


@pytest.mark.parametrize("cell, words", [
    ("2-1", "gaps 'lower-upper' with 0 <= lower < upper <= 9"),
    ("0-10", "lower < upper <= 9"),
    ("1-2@0:4", "windows '@a:b' are not supported"),
    ("0-9", "a lifespan that its gaps do not cover"),
])
def test_bad_gaps_name_the_line(tmp_path, cell, words):
  path = write(tmp_path, f"id,lower,upper,size,gaps\na,0,9,8,{cell}\n")
  with pytest.raises(ProblemError, match=re.escape(words)) as info:
    read_minimalloc_csv(path)
  assert info.value.where == "line 2"


def test_gaps_with_an_inclusive_end_column(tmp_path):
  path = write(tmp_path, "id,start,end,size,gaps\na,0,8,8,2-3 5-5\n")
  loaded = load_minimalloc_csv(path)
  assert (loaded.starts.tolist(), loaded.ends.tolist()) == ([0], [8])
  assert loaded.interval_start.tolist() == [0, 4, 6]
  assert loaded.interval_end.tolist() == [1, 4, 8]


def test_a_solution_with_other_gaps_is_not_of_the_problem(tmp_path):
  path = tmp_path / "p.csv"
  write_minimalloc_csv(path, _shared(), np.array([0, 0, 8, 14]))
  path.write_text(path.read_text().replace("1-5", "1-4"))
  with pytest.raises(ProblemError, match="gaps '1-5' for id 'd'.*found '1-4'"):
    load_placement_csv(path, _shared())
