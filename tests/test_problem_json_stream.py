"""`Problem.save_json` streams its text (issue 17), byte for byte the old writer's.

The old writer is `dump_json(problem.to_json_dict())`: the whole dict, then the
whole text, in memory. The streaming one (`Problem.json_pieces`,
`json_file.json_pieces`, `atomic_file.atomic_write_pieces`) must write the
same bytes for every problem: random ones with every optional field (copies,
movable prefetches, copied bytes, executions, intervals, shares), extracted
ones, and at every chunk size (rows made a few at a time, so that a buffer's
accesses, copies and intervals straddle chunk boundaries).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from malloc_muzero import Problem
from malloc_muzero.atomic_file import atomic_write_pieces, atomic_write_text
from malloc_muzero.json_file import JsonRows, dump_json, json_pieces
from tests.test_memory_fidelity import shared
from tests.test_problem import problems, tiny


def old_dump_json(data: dict, row_keys=None) -> str:
  """`dump_json` as it was before it streamed (the reference)."""
  items = []
  for key, value in data.items():
    rows = isinstance(value, list) and value and (row_keys is None or key in row_keys)
    if rows:
      lines = ",\n".join("  " + json.dumps(item, allow_nan=False) for item in value)
      text = f"[\n{lines}\n ]"
    else:
      text = json.dumps(value, allow_nan=False)
    items.append(f" {json.dumps(key)}: {text}")
  return "{\n" + ",\n".join(items) + "\n}\n"


def assert_streams_as_before(problem: Problem) -> None:
  expected = old_dump_json(problem.to_json_dict())
  for rows_at_once in (1, 2, 3, 4096):
    assert "".join(problem.json_pieces(rows_at_once)) == expected
  with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "p.json"
    problem.save_json(path)
    assert path.read_bytes() == expected.encode("utf-8")


@st.composite
def problems_with_everything(draw) -> Problem:
  """`tests.test_problem.problems`, with executions, copied bytes and copies
  (unordered by buffer, movable prefetches among them) drawn too."""
  problem = draw(problems())
  changes = {}
  if problem.num_instructions and draw(st.booleans()):
    changes["executions"] = draw(st.lists(
        st.sampled_from([1.0, 0.5, 5.0, 1e20]), min_size=problem.num_instructions,
        max_size=problem.num_instructions))
  if len(problem.access_buffer) and draw(st.booleans()):
    changes["access_bytes_copied"] = draw(st.lists(
        st.integers(0, 2**40), min_size=len(problem.access_buffer),
        max_size=len(problem.access_buffer)))
  if problem.num_instructions and problem.num_buffers and draw(st.booleans()):
    rows = []
    for _ in range(draw(st.integers(1, 6))):
      b = draw(st.integers(0, problem.num_buffers - 1))
      start, end = int(problem.starts[b]), int(problem.ends[b])
      if draw(st.booleans()):  # a prefetch that starts its buffer, maybe movable
        done = draw(st.integers(start, end + 1))
        rows.append((b, 0, start, done, draw(st.integers(0, start))))
      else:  # an eviction
        copy_start = draw(st.integers(start, end + 1))
        copy_done = draw(st.integers(copy_start, end + 1))
        rows.append((b, 1, copy_start, copy_done, copy_start))
    changes.update(copy_buffer=[r[0] for r in rows], copy_kind=[r[1] for r in rows],
                   copy_start=[r[2] for r in rows], copy_done=[r[3] for r in rows],
                   copy_earliest=[r[4] for r in rows])
  return dataclasses.replace(problem, **changes)


@settings(max_examples=200, deadline=None)
@given(problems_with_everything())
def test_random_problems_stream_as_before(problem):
  assert_streams_as_before(problem)


def test_intervals_shares_and_fixed_problems_stream_as_before():
  assert shared().to_json_dict()["version"] == 5
  for problem in (tiny(), shared(), Problem.from_arrays([], [], []),
                  Problem.from_arrays([8, 8], [0, 2], [2, 4])):
    assert_streams_as_before(problem)
  # Intervals and shares over more buffers than a chunk.
  count = 10
  many = dataclasses.replace(
      Problem.from_arrays([8] * count, [0] * count, [5] * count, name="many"),
      interval_buffer=[1, 1, 4, 4, 4, 9, 9], interval_start=[0, 3, 0, 2, 4, 0, 5],
      interval_end=[1, 5, 0, 2, 5, 3, 5])
  assert_streams_as_before(many)


@pytest.mark.parametrize("name", ["scan_rnn", "while_loop", "cond_branches",
                                  "donated_update"])
def test_extracted_problems_stream_as_before(name):
  from hlo_tools import module_to_problem, parse_hlo
  from tests.xla_dumps import compile_program

  problem = module_to_problem(parse_hlo(compile_program(name).captured.hlo_text))
  assert_streams_as_before(problem)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.text(max_size=4),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                 | st.floats(allow_nan=False, allow_infinity=False),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                 max_leaves=10), max_size=5),
    st.one_of(st.none(), st.lists(st.text(max_size=4), max_size=3).map(tuple)))
def test_dump_json_is_the_old_text(data, row_keys):
  assert dump_json(data, row_keys) == old_dump_json(data, row_keys)
  rows = {key: JsonRows(len(value), iter(value)) if isinstance(value, list) else value
          for key, value in data.items()}
  assert "".join(json_pieces(rows)) == old_dump_json(data)


def test_json_rows_of_the_wrong_count_are_refused():
  with pytest.raises(ValueError, match="2 items, not 3"):
    "".join(json_pieces({"rows": JsonRows(3, iter([1, 2]))}))


def test_pieces_are_written_as_the_whole_text(tmp_path):
  pieces = ["a", "é\r\n", "", "x" * 3_000_000, "ü"]
  atomic_write_pieces(tmp_path / "pieces.txt", iter(pieces))
  atomic_write_text(tmp_path / "text.txt", "".join(pieces))
  assert (tmp_path / "pieces.txt").read_bytes() == (tmp_path / "text.txt").read_bytes()


def test_a_failure_while_streaming_leaves_the_old_file(tmp_path):
  path = tmp_path / "out.json"
  path.write_text("good")

  def pieces():
    yield "x" * 3_000_000  # more than one batch: some of it reached the disk
    raise RuntimeError("generator failed")

  with pytest.raises(RuntimeError, match="generator failed"):
    atomic_write_pieces(path, pieces())
  assert path.read_text() == "good"
  assert os.listdir(tmp_path) == ["out.json"]


def test_a_large_problem_is_written_with_little_memory_beyond_its_arrays(tmp_path):
  """The text of 40,000 buffers and instructions is about 9 MB; writing it
  keeps a bounded amount (a chunk of rows and a batch of text) at once: about
  2 MB, where the old writer held 58 MB (the dict, then the text)."""
  n = 40_000
  problem = Problem(
      name="big", buffer_names=tuple(f"b{i}" for i in range(n)), sizes=np.full(n, 64),
      starts=np.arange(n), ends=np.arange(n), buffer_kinds=("temporary",) * n,
      instruction_names=tuple(f"i{i}" for i in range(n)), opcodes=("add",) * n,
      flops=np.ones(n), transcendentals=np.zeros(n), bytes_accessed=np.full(n, 192.0),
      access_buffer=np.arange(n), access_instruction=np.arange(n),
      access_bytes_read=np.zeros(n, np.int64), access_bytes_written=np.full(n, 64),
      schedule_length=n, source={"kind": "synthetic"})
  tracemalloc.start()
  try:
    problem.save_json(tmp_path / "big.json")
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  size = os.path.getsize(tmp_path / "big.json")
  assert size > 9e6
  assert peak < size / 3, (peak, size)
