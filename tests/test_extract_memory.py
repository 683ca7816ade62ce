"""Extraction's memory (issue 17): what the rewrites that keep it down must keep.

* `Shape.leaf_indices` leaves no reference cycle behind (the collector is
  paused while a module is analysed, so each cycle stayed until the end).
* `Liveness.peak` (events as integers, not tuples) is the sweep it replaced.
* `operand_shares` takes kinds as a list by buffer id as well as a dict.
* Extracting a chain takes a bounded number of traced bytes per instruction.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from hlo_tools import analyze_liveness, module_to_problem, parse_hlo
from hlo_tools.shapes import Shape
from hlo_tools.sharing import operand_shares
from tests.xla_dumps import compile_program


def _chain(length: int) -> str:
  """`scripts/bench_extract.chain_hlo` (which imports JAX)."""
  lines = ["HloModule chain, is_scheduled=true", "",
           "ENTRY %main (p: f32[16]) -> f32[16] {", "  %p = f32[16]{0} parameter(0)"]
  previous = "%p"
  for i in range(length):
    root = "ROOT " if i == length - 1 else ""
    opcode = ("add", "multiply", "subtract", "maximum")[i % 4]
    lines.append(f"  {root}%x{i} = f32[16]{{0}} {opcode}(f32[16]{{0}} {previous}, "
                 "f32[16]{0} %p)")
    previous = f"%x{i}"
  return "\n".join(lines + ["}", ""])


def _recursive_leaf_indices(shape: Shape, prefix=()) -> list:
  out = [prefix]
  for i, sub in enumerate(shape.tuple_shapes):
    out += _recursive_leaf_indices(sub, prefix + (i,))
  return out


def test_leaf_indices_in_pre_order_and_without_garbage():
  array = Shape("f32", (2,))
  nested = Shape("tuple", tuple_shapes=(
      array, Shape("tuple", tuple_shapes=(array, Shape("tuple", tuple_shapes=()), array)),
      array))
  for shape in (array, nested, Shape("tuple", tuple_shapes=())):
    gc.collect()
    assert shape.leaf_indices() == _recursive_leaf_indices(shape)
    assert gc.collect() == 0  # no cycle left to free
  assert nested.leaf_indices() == [(), (0,), (1,), (1, 0), (1, 1), (1, 2), (2,)]


def _old_peak(liveness):
  """`Liveness.peak` as it was: a tuple per event."""
  events = []
  for v in liveness.dataflow.values:
    if v in liveness.ranges:
      start, end = liveness.ranges[v]
      events.append((start, 0, v.id, v))
      events.append((end + 1, 1, v.id, v))
  events.sort(key=lambda e: e[:3])
  memory = peak = 0
  peak_time = None
  for time, is_end, _, v in events:
    size = v.instruction.shape.byte_size()
    memory += -size if is_end else size
    if peak < memory:
      peak, peak_time = memory, time
  peak_time = peak_time or 0
  rows = [(v, v.shape.byte_size()) for v in liveness.dataflow.values
          if v in liveness.ranges and
          liveness.ranges[v][0] <= peak_time <= liveness.ranges[v][1]]
  rows.sort(key=lambda r: (-r[1], r[0].instruction.name, r[0].index))
  return peak_time, rows


@pytest.mark.parametrize("name", ["scan_rnn", "while_loop", "cond_branches", "conv_net",
                                  "donated_update", "dus_loop"])
def test_peak_is_the_old_sweep(name):
  liveness = analyze_liveness(parse_hlo(compile_program(name).captured.hlo_text))
  assert liveness.peak() == _old_peak(liveness)


def test_peak_of_a_chain_is_the_old_sweep():
  liveness = analyze_liveness(parse_hlo(_chain(50)))
  assert liveness.peak() == _old_peak(liveness)


@pytest.mark.parametrize("name", ["scan_rnn", "donated_update", "dus_loop"])
def test_operand_shares_take_kinds_as_a_list_or_a_dict(name):
  liveness = analyze_liveness(parse_hlo(compile_program(name).captured.hlo_text))
  kinds = {b.id: ("temporary", "output", "parameter+output")[b.id % 3]
           for b in liveness.buffers}
  as_list = [kinds[i] for i in range(len(liveness.buffers))]
  from_dict = list(operand_shares(liveness.dataflow, liveness.buffers, liveness.ranges,
                                  kinds))
  assert from_dict == list(operand_shares(liveness.dataflow, liveness.buffers,
                                          liveness.ranges, as_list))


def test_extracting_a_chain_takes_bounded_memory_per_instruction():
  """About 1,520 traced bytes per instruction at the peak of `module_to_problem`
  (2,300 before the rewrites of issue 17), beside the module's 575."""
  n = 10_000
  module = parse_hlo(_chain(n))
  tracemalloc.start()
  try:
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    problem = module_to_problem(module)
    peak = tracemalloc.get_traced_memory()[1] - start
  finally:
    tracemalloc.stop()
  assert problem.num_instructions == n + 1
  assert peak / n < 1_900, peak / n
