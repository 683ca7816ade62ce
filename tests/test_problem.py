"""Tests of `Problem`, its JSON form, `ProblemError` and atomic writes."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from malloc_muzero import Problem, ProblemError, load_problem
from malloc_muzero.atomic_file import atomic_write_bytes, atomic_write_text
from malloc_muzero.problem import BUFFER_KINDS


def tiny_fields() -> dict:
  """A hand-made HLO-like problem: 3 buffers over 4 instructions.

  Live bytes per step: 16, 48, 56, 24; the peak is 56 at step 2 ("mul").
  """
  return dict(
      name="tiny",
      buffer_names=("instr0", "instr1", "instr2"),
      sizes=[16, 32, 8],
      starts=[0, 1, 2],
      ends=[3, 2, 3],
      buffer_kinds=("parameter", "temporary", "output"),
      instruction_names=("p", "add", "mul", "root"),
      opcodes=("parameter", "add", "multiply", "tuple"),
      flops=[0.0, 4.0, 4.0, 0.0],
      transcendentals=[0.0, 0.0, 1.5, 0.0],
      bytes_accessed=[0.0, 48.0, 40.0, 8.0],
      access_buffer=[0, 1, 1, 2, 2],
      access_instruction=[1, 1, 2, 2, 3],
      access_bytes_read=[16, 0, 32, 0, 8],
      access_bytes_written=[0, 32, 0, 8, 0],
      schedule_length=4,
      source={"kind": "hlo", "file": "tiny.hlo", "module": "jit_f"},
      buffer_values=(("p",), ("add",), ("mul", "root")),
  )


def tiny() -> Problem:
  return Problem(**tiny_fields())


def assert_same_problem(actual: Problem, expected: Problem) -> None:
  """Every field equal, arrays with the same dtype."""
  for field in dataclasses.fields(Problem):
    a, b = getattr(actual, field.name), getattr(expected, field.name)
    if isinstance(b, np.ndarray):
      assert a.dtype == b.dtype, field.name
      np.testing.assert_array_equal(a, b, err_msg=field.name)
    else:
      assert a == b, field.name


# --- construction -------------------------------------------------------------


def test_fields_are_converted_to_read_only_arrays_of_the_documented_dtypes():
  problem = tiny()
  dtypes = {"sizes": np.int64, "starts": np.int32, "ends": np.int32,
            "flops": np.float64, "transcendentals": np.float64,
            "bytes_accessed": np.float64, "access_buffer": np.int32,
            "access_instruction": np.int32, "access_bytes_read": np.int64,
            "access_bytes_written": np.int64}
  for field, dtype in dtypes.items():
    array = getattr(problem, field)
    assert array.dtype == dtype, field
    assert not array.flags.writeable, field
  assert problem.num_buffers == 3
  assert problem.num_instructions == 4


def test_construction_copies_the_callers_arrays():
  sizes = np.array([16, 32, 8], np.int64)
  source = {"kind": "hlo"}
  problem = Problem(**{**tiny_fields(), "sizes": sizes, "source": source})
  sizes[0] = 99
  source["kind"] = "changed"
  assert problem.sizes[0] == 16
  assert problem.source == {"kind": "hlo"}
  assert sizes.flags.writeable


def test_accesses_are_sorted_by_buffer_then_instruction():
  fields = tiny_fields()
  order = [4, 2, 0, 3, 1]
  for field in ("access_buffer", "access_instruction", "access_bytes_read",
                "access_bytes_written"):
    fields[field] = [fields[field][i] for i in order]
  assert_same_problem(Problem(**fields), tiny())


def test_all_empty_buffer_values_mean_unknown():
  problem = Problem(**{**tiny_fields(), "buffer_values": ((), (), ())})
  assert problem.buffer_values == ()


def test_source_is_stored_as_its_json_round_trip():
  problem = Problem(**{**tiny_fields(),
                       "source": {"kind": "hlo", "shape": (2, 3), 7: "x"}})
  assert problem.source == {"kind": "hlo", "shape": [2, 3], "7": "x"}


def test_from_arrays_defaults():
  problem = Problem.from_arrays([8, 4], [0, 3], [2, 5])
  assert problem.buffer_names == ("0", "1")
  assert problem.buffer_kinds == ("temporary", "temporary")
  assert problem.schedule_length == 6
  assert problem.num_instructions == 0
  assert problem.source == {"kind": "synthetic"}
  assert problem.access_buffer.shape == (0,)
  assert problem.access_buffer.dtype == np.int32


def test_empty_problem():
  problem = Problem.from_arrays([], [], [])
  assert problem.schedule_length == 0
  assert problem.live_bytes().shape == (0,)
  assert problem.peak_live_bytes() == (0, 0)
  assert "largest none" in problem.summary()


# (field overrides, where, words in the message)
_INVALID = [
    ({"sizes": [16, -5, 8]}, "sizes[1]",
     "expected a non-negative size, found -5"),
    ({"sizes": np.array([16.0, 32.5, 8.0])}, "sizes",
     "an array of integers, found dtype('float64')"),
    ({"sizes": [16, 32.5, 8]}, "sizes[1]", "an integer, found 32.5"),
    ({"sizes": [16, None, 8]}, "sizes[1]", "an integer"),
    ({"sizes": [[16, 32, 8]]}, "sizes", "1-D array"),
    ({"sizes": [16, 32]}, "sizes", "3 entries, one per buffer, found 2"),
    ({"sizes": [16, 2**63, 8]}, "sizes[1]", "integer in"),
    ({"sizes": np.array([16, 2**63, 8], np.uint64)}, "sizes[1]", "integer in"),
    ({"starts": [-1, 1, 2]}, "starts[0]", "non-negative start"),
    ({"starts": [0, 3, 2]}, "ends[1]", "end >= the buffer's start (start 3)"),
    ({"starts": [0, 2**31, 2]}, "starts[1]", "integer in"),
    ({"ends": [3, 2, 4]}, "ends[2]", "end < schedule_length (4), found 4"),
    ({"buffer_names": ("a", "b", "a")}, "buffer_names[2]",
     "unique name (also buffer_names[0]), found 'a'"),
    ({"buffer_names": "abc"}, "buffer_names", "a list or tuple of strings"),
    ({"buffer_names": {"a", "b", "c"}}, "buffer_names", "a list or tuple"),
    ({"buffer_names": ("a", 1, "c")}, "buffer_names[1]", "a string, found 1"),
    ({"buffer_kinds": ("parameter", "temporary", "scratch")}, "buffer_kinds[2]",
     "one of parameter, output"),
    ({"instruction_names": ("p", "add", "p", "root")}, "instruction_names[2]",
     "unique name"),
    ({"instruction_names": ("p", "add", "mul"), "opcodes": ("a", "b", "c"),
      "flops": [0, 0, 0], "transcendentals": [0, 0, 0],
      "bytes_accessed": [0, 0, 0]},
     "instruction_names", "one instruction per schedule step (4) or none"),
    ({"opcodes": ("a", "b", "c")}, "opcodes", "4 entries, one per instruction"),
    ({"flops": [0, -1, 4, 0]}, "flops[1]", "finite non-negative number"),
    ({"transcendentals": [0, float("nan"), 0, 0]}, "transcendentals[1]",
     "finite non-negative number"),
    ({"bytes_accessed": [0, float("inf"), 0, 0]}, "bytes_accessed[1]",
     "finite non-negative number"),
    ({"flops": ["a", "b", "c", "d"]}, "flops[0]", "a number, found 'a'"),
    ({"flops": np.array(["a", "b", "c", "d"])}, "flops", "array of numbers"),
    ({"flops": [0, 2**1100, 0, 0]}, "flops[1]", "a number in"),
    ({"access_buffer": [0, 1, 1, 2, 3]}, "access_buffer[4]",
     "buffer index in [0, 3), found 3"),
    ({"access_instruction": [1, 1, 2, 2, 4]}, "access_instruction[4]",
     "instruction index in [0, 4), found 4"),
    ({"access_bytes_read": [16, 0, -32, 0, 8]}, "access_bytes_read[2]",
     "non-negative byte count"),
    ({"access_bytes_written": [0, 32, 0, 8]}, "access_bytes_written",
     "5 entries, one per access"),
    ({"access_instruction": [1, 2, 2, 2, 3]}, "access_instruction[2]",
     "at most one access per (buffer, instruction)"),
    ({"schedule_length": 5}, "instruction_names",
     "one instruction per schedule step (5) or none, found 4"),
    ({"schedule_length": -1}, "schedule_length", "an integer in [0, "),
    ({"schedule_length": 2.5}, "schedule_length", "an integer, found 2.5"),
    ({"schedule_length": True}, "schedule_length", "an integer"),
    ({"name": 3}, "name", "a string, found 3"),
    ({"source": {"file": "x"}}, "source", 'a string "kind"'),
    ({"source": {"kind": "hlo", "when": object()}}, "source",
     "JSON-serialisable"),
    ({"source": {"kind": "hlo", "ratio": float("nan")}}, "source",
     "JSON-serialisable"),
    ({"buffer_values": (("a",),)}, "buffer_values", "3 entries"),
    ({"buffer_values": (("a",), (2,), ())}, "buffer_values[1][0]", "a string"),
]


@pytest.mark.parametrize("overrides, where, words", _INVALID)
def test_invalid_fields_raise_problem_error_naming_field_and_index(
    overrides, where, words):
  with pytest.raises(ProblemError) as info:
    Problem(**{**tiny_fields(), **overrides})
  assert info.value.where == where
  assert str(info.value).startswith(f"<memory>: {where}: expected ")
  assert words in str(info.value)


@pytest.mark.parametrize("steps", [-1, 2**31])
def test_schedule_length_outside_int32_is_rejected(steps):
  with pytest.raises(ProblemError,
                     match=r"schedule_length: expected an integer in \[0, "):
    Problem.from_arrays([], [], [], schedule_length=steps)


def test_total_size_must_fit_int64():
  with pytest.raises(ProblemError, match="sizes: expected sizes adding up"):
    Problem.from_arrays([2**62, 2**62], [0, 1], [0, 1])


# --- live bytes ---------------------------------------------------------------


def test_peak_live_bytes_hand_computed():
  # Steps:     0   1   2   3   4   5   6   7
  # [0,2] 10:  10  10  10
  # [1,1] 20:      20
  # [2,4]  5:          5   5   5
  # [4,4]  7:                  7
  # [6,6] 30:                          30
  # live:      10  30  15  5   12  0   30  0   -> peak 30, first at step 1.
  problem = Problem.from_arrays([10, 20, 5, 7, 30], [0, 1, 2, 4, 6],
                                [2, 1, 4, 4, 6], schedule_length=8)
  live = problem.live_bytes()
  assert live.dtype == np.int64
  np.testing.assert_array_equal(live, [10, 30, 15, 5, 12, 0, 30, 0])
  assert problem.peak_live_bytes() == (30, 1)


def test_tiny_peak_and_totals():
  problem = tiny()
  np.testing.assert_array_equal(problem.live_bytes(), [16, 48, 56, 24])
  assert problem.peak_live_bytes() == (56, 2)
  assert problem.total_flops == 8.0
  assert problem.total_transcendentals == 1.5
  assert problem.total_bytes_accessed == 96.0


def test_live_bytes_do_not_overflow_with_huge_buffers():
  big = 2**61
  problem = Problem.from_arrays([big, big, big], [0, 0, 1], [1, 1, 1])
  assert problem.peak_live_bytes() == (3 * big, 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 9),
                          st.integers(0, 9)), max_size=12))
def test_live_bytes_match_brute_force(buffers):
  sizes = [size for size, _, _ in buffers]
  starts = [min(a, b) for _, a, b in buffers]
  ends = [max(a, b) for _, a, b in buffers]
  problem = Problem.from_arrays(sizes, starts, ends, schedule_length=10)
  expected = [sum(size for size, start, end in zip(sizes, starts, ends)
                  if start <= step <= end) for step in range(10)]
  np.testing.assert_array_equal(problem.live_bytes(), expected)
  peak = max(expected)
  assert problem.peak_live_bytes() == (peak, expected.index(peak))


# --- summary ------------------------------------------------------------------


def test_summary_reports_the_numbers_with_units():
  text = tiny().summary()
  assert "Problem 'tiny'" in text
  assert "hlo, file=tiny.hlo, module=jit_f" in text
  assert "buffers:         3, 56 B in total, largest 32 B ('instr1')" in text
  assert "4 steps, 4 instructions, 5 accesses" in text
  assert "peak live:       56 B at step 2 (mul)" in text
  assert "flops:           8\n" in text
  assert "transcendentals: 1.50\n" in text
  assert "bytes accessed:  96 B" in text


def test_summary_uses_binary_units_for_bytes_and_si_for_counts():
  fields = tiny_fields()
  fields.update(sizes=[3 * 2**20, 1536, 8], flops=[0, 2.5e9, 0, 0])
  text = Problem(**fields).summary()
  assert "3,147,272 B (3.0 MiB) in total" in text
  assert "largest 3,145,728 B (3.0 MiB) ('instr0')" in text
  assert "peak live:       3,147,272 B (3.0 MiB) at step 2 (mul)" in text
  assert "flops:           2,500,000,000 (2.5 G)" in text


def test_repr_is_short():
  assert repr(tiny()) == ("Problem(name='tiny', buffers=3, instructions=4, "
                          "schedule_length=4)")


# --- JSON ---------------------------------------------------------------------


def test_json_round_trip_is_exact(tmp_path):
  path = tmp_path / "tiny.json"
  tiny().save_json(path)
  loaded = Problem.load_json(path)
  assert_same_problem(loaded, tiny())
  assert loaded.to_json_dict() == tiny().to_json_dict()
  first = path.read_bytes()
  loaded.save_json(path)
  assert path.read_bytes() == first


def test_json_layout():
  data = tiny().to_json_dict()
  assert data["format"] == "malloc_muzero.problem"
  assert data["version"] == 1
  assert data["buffers"][1] == {
      "name": "instr1", "size": 32, "start": 1, "end": 2, "kind": "temporary",
      "values": ["add"], "accesses": [[1, 0, 32], [2, 32, 0]]}
  assert data["instructions"][2] == {
      "name": "mul", "opcode": "multiply", "flops": 4.0,
      "transcendentals": 1.5, "bytes_accessed": 40.0}
  assert json.loads(json.dumps(data)) == data


def test_saved_json_has_one_buffer_per_line(tmp_path):
  path = tmp_path / "tiny.json"
  tiny().save_json(path)
  lines = path.read_text().splitlines()
  assert sum(line.lstrip().startswith('{"name": "instr') for line in lines) == 3
  assert json.loads(path.read_text()) == tiny().to_json_dict()


def _set(path: str, value):
  """A mutation of the JSON dict: set the item at a dotted path."""
  def mutate(data):
    *parents, last = path.split(".")
    for key in parents:
      data = data[int(key)] if key.isdigit() else data[key]
    data[int(last) if last.isdigit() else last] = value
  return mutate


def _delete(path: str):
  def mutate(data):
    *parents, last = path.split(".")
    for key in parents:
      data = data[int(key)] if key.isdigit() else data[key]
    del data[last]
  return mutate


# (mutation, where, words in the message)
_INVALID_JSON = [
    (_set("buffers.1.size", -5), "buffers[1].size",
     "problem.json: buffers[1].size: expected a non-negative size, found -5"),
    (_set("buffers.1.size", "32"), "buffers[1].size", "an integer, found '32'"),
    (_set("buffers.1.size", True), "buffers[1].size", "an integer"),
    (_set("buffers.1.size", 10**30), "buffers[1].size", "an integer in ["),
    (_set("buffers.1.size", 32.0), "buffers[1].size", "an integer"),
    (_delete("buffers.1.size"), "buffers[1]", 'expected a "size" field'),
    (_set("buffers.1.colour", "red"), "buffers[1]",
     "only the fields name, size"),
    (_set("buffers.0.end", 9), "buffers[0].end", "end < schedule_length (4)"),
    (_set("buffers.0.start", 5), "buffers[0].end", "end >= the buffer's start"),
    (_set("buffers.2.name", "instr0"), "buffers[2].name", "unique name"),
    (_set("buffers.1.kind", "scratch"), "buffers[1].kind", "one of parameter"),
    (_set("buffers.1.values", ["a", 3]), "buffers[1].values[1]", "a string"),
    (_set("buffers.1.values", "add"), "buffers[1].values",
     "a list or tuple of strings, found 'add'"),
    (_set("buffers.1.values", {"add": 1}), "buffers[1].values",
     "a list or tuple of strings"),
    (_set("buffers.1.accesses", [[1, 0]]), "buffers[1].accesses[0]",
     "[instruction, bytes_read, bytes_written]"),
    (_set("buffers.1.accesses", [[2, 0, 32], [9, 32, 0]]),
     "buffers[1].accesses[1][0]", "instruction index in [0, 4), found 9"),
    (_set("buffers.1.accesses", [[1, -1, 32]]), "buffers[1].accesses[0][1]",
     "non-negative byte count"),
    (_set("buffers.1.accesses", [[1, 0, 32], [1, 32, 0]]),
     "buffers[1].accesses[1][0]", "at most one access per"),
    (_set("buffers.1.accesses", [[1, 0, "32"]]), "buffers[1].accesses[0][2]",
     "an integer"),
    (_set("buffers.1", [1]), "buffers[1]", "a JSON object"),
    (_set("instructions.2.flops", "many"), "instructions[2].flops", "a number"),
    (_set("instructions.2.flops", 10**400), "instructions[2].flops",
     "a number in ["),
    (_set("instructions.2.flops", -4.0), "instructions[2].flops",
     "finite non-negative"),
    (_set("instructions.2.opcode", None), "instructions[2].opcode", "a string"),
    (_set("instructions.2.name", "p"), "instructions[2].name", "unique name"),
    (_set("instructions", [{"name": "p", "opcode": "parameter", "flops": 0,
                            "transcendentals": 0, "bytes_accessed": 0}]),
     "instructions", "one instruction per schedule step (4) or none"),
    (_set("schedule_length", "4"), "schedule_length", "an integer"),
    (_set("format", "other"), "format", '"malloc_muzero.problem"'),
    (_set("version", 6), "version", "newer malloc_muzero"),
    (_set("version", 0), "version", "a version in [1, 5]"),
    (_set("version", "1"), "version", "an integer"),
    (_set("source", []), "source", "JSON object"),
    (_set("source", {"file": "x"}), "source", '"kind"'),
    (_set("buffers", {}), "buffers", "a JSON array"),
    (_delete("name"), "", 'problem.json: expected a "name" field'),
    (_set("extra", 1), "", "only the fields format, version"),
]


@pytest.mark.parametrize("mutate, where, words", _INVALID_JSON)
def test_invalid_json_fields_name_file_and_json_path(mutate, where, words):
  data = copy.deepcopy(tiny().to_json_dict())
  mutate(data)
  with pytest.raises(ProblemError) as info:
    Problem.from_json_dict(data, "problem.json")
  assert info.value.filename == "problem.json"
  assert info.value.where == where
  assert words in str(info.value)


def test_json_top_level_must_be_an_object():
  with pytest.raises(ProblemError,
                     match="problem.json: expected a JSON object"):
    Problem.from_json_dict([], "problem.json")


def test_invalid_json_text_names_line_and_column(tmp_path):
  path = tmp_path / "broken.json"
  path.write_text('{"format": "malloc_muzero.problem",\n  "version": 1,,\n}')
  with pytest.raises(ProblemError) as info:
    Problem.load_json(path)
  assert info.value.filename == str(path)
  assert info.value.where == "line 2 column 16"
  assert "expected valid JSON (Expecting property name" in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path):
  path = tmp_path / "binary.json"
  path.write_bytes(b'{\n"name": "\xff"}')
  with pytest.raises(ProblemError, match=r"line 2: expected UTF-8 text"):
    Problem.load_json(path)


def test_bad_field_in_a_file_names_the_file(tmp_path):
  path = tmp_path / "bad.json"
  data = tiny().to_json_dict()
  data["buffers"][2]["size"] = -1
  path.write_text(json.dumps(data))
  with pytest.raises(ProblemError) as info:
    Problem.load_json(path)
  assert str(info.value) == (f"{path}: buffers[2].size: expected a "
                             "non-negative size, found -1")


@st.composite
def problems(draw) -> Problem:
  """Random valid problems, with or without instructions and accesses."""
  steps = draw(st.integers(0, 8))
  count = draw(st.integers(0, 6)) if steps else 0
  starts = draw(st.lists(st.integers(0, max(steps - 1, 0)), min_size=count,
                         max_size=count))
  ends = [draw(st.integers(start, steps - 1)) for start in starts]
  names = st.text(max_size=6)
  fields = dict(
      name=draw(names),
      buffer_names=draw(st.lists(names, min_size=count, max_size=count,
                                 unique=True)),
      sizes=draw(st.lists(st.integers(0, 2**59), min_size=count,
                          max_size=count)),
      starts=np.array(starts, np.int64), ends=np.array(ends, np.int64),
      buffer_kinds=draw(st.lists(st.sampled_from(BUFFER_KINDS), min_size=count,
                                 max_size=count)),
      schedule_length=steps,
      source={"kind": draw(st.sampled_from(["hlo", "synthetic"])),
              "file": draw(names), "seed": draw(st.integers())},
      buffer_values=draw(st.one_of(st.just(()), st.lists(
          st.lists(names, max_size=3).map(tuple), min_size=count,
          max_size=count).map(tuple))),
  )
  length = steps if draw(st.booleans()) else 0
  numbers = st.lists(st.floats(0, 1e30, allow_nan=False), min_size=length,
                     max_size=length)
  fields.update(
      instruction_names=draw(st.lists(names, min_size=length, max_size=length,
                                      unique=True)),
      opcodes=draw(st.lists(names, min_size=length, max_size=length)),
      flops=draw(numbers), transcendentals=draw(numbers),
      bytes_accessed=draw(numbers))
  pairs = draw(st.lists(st.tuples(st.integers(0, count - 1),
                                  st.integers(0, steps - 1)),
                        max_size=8, unique=True)) if count else []
  amounts = st.integers(0, 2**62)
  fields.update(
      access_buffer=[buffer for buffer, _ in pairs],
      access_instruction=[instruction for _, instruction in pairs],
      access_bytes_read=[draw(amounts) for _ in pairs],
      access_bytes_written=[draw(amounts) for _ in pairs])
  return Problem(**fields)


@settings(max_examples=100, deadline=None)
@given(problems())
def test_random_problems_round_trip_through_json(problem):
  with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "problem.json"
    problem.save_json(path)
    assert_same_problem(Problem.load_json(path), problem)


# --- load_problem -------------------------------------------------------------


def test_load_problem_dispatches_on_extension(tmp_path):
  json_path = tmp_path / "tiny.JSON"
  tiny().save_json(json_path)
  assert_same_problem(load_problem(json_path), tiny())
  csv_path = tmp_path / "small.csv"
  csv_path.write_text("id,lower,upper,size\na,0,2,8\n")
  assert load_problem(csv_path).buffer_names == ("a",)


def test_load_problem_rejects_other_extensions(tmp_path):
  with pytest.raises(ProblemError) as info:
    load_problem(tmp_path / "problem.txt")
  assert info.value.filename == str(tmp_path / "problem.txt")
  assert ".json" in str(info.value) and ".csv" in str(info.value)
  assert info.value.found == ".txt"


# --- ProblemError -------------------------------------------------------------


def test_problem_error_message_and_attributes():
  error = ProblemError("a non-negative integer", "problem.json",
                       "buffers[3].size", -5)
  assert str(error) == ("problem.json: buffers[3].size: expected a "
                        "non-negative integer, found -5")
  assert (error.filename, error.where, error.expected, error.found) == (
      "problem.json", "buffers[3].size", "a non-negative integer", -5)
  assert isinstance(error, ValueError)
  assert str(ProblemError("a header")) == "<memory>: expected a header"


def test_problem_error_shortens_long_values():
  message = str(ProblemError("a string", found=list(range(1000))))
  assert message.endswith("...")
  assert len(message) < 140


def test_problem_error_pickles():
  error = pickle.loads(pickle.dumps(ProblemError("x", "f.json", "name", 3)))
  assert (str(error), error.where, error.found) == (
      "f.json: name: expected x, found 3", "name", 3)


# --- atomic writes ------------------------------------------------------------


def test_atomic_write_creates_and_replaces(tmp_path):
  path = tmp_path / "out.txt"
  atomic_write_text(path, "first\r\n")
  atomic_write_bytes(path, b"second")
  assert path.read_bytes() == b"second"
  assert os.listdir(tmp_path) == ["out.txt"]
  atomic_write_text(tmp_path / "new.txt", "first\r\n")
  assert (tmp_path / "new.txt").read_bytes() == b"first\r\n"


def _fail(*args, **kwargs):
  raise OSError("disk on fire")


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch, step):
  path = tmp_path / "tiny.json"
  tiny().save_json(path)
  good = path.read_bytes()
  bigger = Problem(**{**tiny_fields(), "name": "bigger" * 1000})
  monkeypatch.setattr(os, step, _fail)  # After the data went to the temp file.
  with pytest.raises(OSError, match="disk on fire"):
    bigger.save_json(path)
  assert path.read_bytes() == good
  assert os.listdir(tmp_path) == ["tiny.json"]


def test_failed_write_midway_leaves_the_old_file_intact(tmp_path, monkeypatch):
  path = tmp_path / "out.txt"
  path.write_text("good")
  real_open = open

  class HalfFile:
    """Writes half the data, then fails."""

    def __init__(self, file):
      self.file = file

    def __enter__(self):
      return self

    def __exit__(self, *exc):
      self.file.close()

    def write(self, data):
      self.file.write(data[:len(data) // 2])
      raise OSError("no space left on device")

  monkeypatch.setattr("builtins.open",
                      lambda *a, **k: HalfFile(real_open(*a, **k)))
  with pytest.raises(OSError, match="no space"):
    atomic_write_text(path, "a much longer replacement text")
  monkeypatch.undo()
  assert path.read_text() == "good"
  assert os.listdir(tmp_path) == ["out.txt"]


def test_capacity_for_a_share_of_peak_live_bytes():
  problem = Problem.from_arrays(sizes=[100, 300], starts=[0, 1], ends=[2, 3])
  assert problem.capacity_for(0.25) == 100   # peak 400 B
  assert problem.capacity_for(0.0) == 1      # never a zero capacity


def test_copied_bytes_round_trip_as_version_2_and_old_files_read_as_zero(tmp_path):
  base = Problem(
      name="copies", buffer_names=("a", "b"), sizes=[64, 32], starts=[0, 1], ends=[2, 2],
      buffer_kinds=("temporary",) * 2, instruction_names=("i0", "i1", "i2"),
      opcodes=("fusion",) * 3, flops=[0.0] * 3, transcendentals=[0.0] * 3,
      bytes_accessed=[0.0] * 3, access_buffer=[0, 0, 1], access_instruction=[0, 2, 2],
      access_bytes_read=[0, 64, 32], access_bytes_written=[64, 0, 0],
      schedule_length=3, source={"kind": "synthetic"})
  assert base.access_bytes_copied.tolist() == [0, 0, 0]
  assert base.to_json_dict()["version"] == 1
  copied = dataclasses.replace(base, access_bytes_copied=[0, 64, 0])
  data = copied.to_json_dict()
  assert data["version"] == 2
  assert data["buffers"][0]["accesses"] == [[0, 0, 64, 0], [2, 64, 0, 64]]
  path = tmp_path / "copies.json"
  copied.save_json(path)
  assert Problem.load_json(path).access_bytes_copied.tolist() == [0, 64, 0]
  data["version"] = 1  # Four numbers need version 2.
  with pytest.raises(ProblemError, match="bytes_written]"):
    Problem.from_json_dict(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 8), st.integers(0, 50)),
                min_size=1, max_size=12))
def test_peak_from_events_equals_the_peak_of_live_bytes(rows):
  starts = [s for s, _, _ in rows]
  ends = [s + d for s, d, _ in rows]
  problem = Problem.from_arrays([z for _, _, z in rows], starts, ends)
  live = problem.live_bytes()
  expected = (int(live.max()), int(np.argmax(live))) if live.max() > 0 else (0, 0)
  assert problem.peak_live_bytes() == expected


def test_peak_of_a_huge_schedule_takes_no_memory_in_its_length():
  problem = Problem.from_arrays([8, 4], [0, 5], [2**31 - 2, 9])
  assert problem.peak_live_bytes() == (12, 5)


def test_a_movable_prefetch_keeps_its_earliest_start_through_json():
  base = Problem(
      name="timed", buffer_names=("a",), sizes=[64], starts=[2], ends=[4],
      buffer_kinds=("temporary",), instruction_names=tuple(f"i{t}" for t in range(5)),
      opcodes=("fusion",) * 5, flops=[0.0] * 5, transcendentals=[0.0] * 5,
      bytes_accessed=[0.0] * 5, access_buffer=[0], access_instruction=[4],
      access_bytes_read=[64], access_bytes_written=[0], schedule_length=5,
      source={"kind": "synthetic"}, copy_buffer=[0], copy_kind=[0], copy_start=[2],
      copy_done=[4], copy_earliest=[1])
  data = base.to_json_dict()
  assert data["version"] == 4
  assert data["buffers"][0]["copies"] == [["prefetch", 2, 4, 1]]
  assert Problem.from_json_dict(data).copy_earliest.tolist() == [1]
  fixed = dataclasses.replace(base, copy_earliest=())
  assert fixed.copy_earliest.tolist() == [2]  # default: its start
  assert fixed.to_json_dict()["version"] == 3  # the oldest version that holds it
  assert fixed.to_json_dict()["buffers"][0]["copies"] == [["prefetch", 2, 4]]
  with pytest.raises(ProblemError, match=r"copies\[0\]"):
    Problem.from_json_dict({**data, "version": 3})  # four entries need version 4
  # An earliest after the start, an eviction that moves, a prefetch that
  # does not start its buffer: each named.
  for changes, words in [(dict(copy_earliest=[3]), "earliest start in"),
                         (dict(copy_kind=[1], copy_start=[2]), "eviction's earliest"),
                         (dict(copy_start=[3], copy_earliest=[2]), "starts its buffer")]:
    with pytest.raises(ProblemError, match=words):
      dataclasses.replace(base, **changes)
  data["buffers"][0]["copies"] = [["prefetch", 2, 4, 1, 0]]
  with pytest.raises(ProblemError, match=r"copies\[0\]"):
    Problem.from_json_dict(data)
