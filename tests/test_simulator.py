"""The simulator on hand-computed cases and on XLA's own simulator tests."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from malloc_muzero import Problem
from malloc_muzero.hardware import Hardware, MemoryLevel
from malloc_muzero.simulator import (bounds, instruction_times, simulate,
                                     simulate_placement, simulate_relaxed,
                                     simulation_bounds, simulation_inputs)

# Slow memory 100 B/s, fast 1000 B/s, 10 flops/s, 5 transcendentals/s; the
# additive model (the hand-computed cases below predate XLA's).
HARDWARE = Hardware(
    name="toy",
    levels=(MemoryLevel("slow", None, 1, 100.0), MemoryLevel("fast", 1000, 1, 1000.0)),
    peak_flops=10.0, peak_transcendentals=5.0, copy_bandwidth=100.0,
    time_model="additive")
XLA = dataclasses.replace(HARDWARE, time_model="xla")


def _problem() -> Problem:
  # Two instructions; buffer a (100 B) is written by 0 and read by 1; b (300 B)
  # is read by 1.
  return Problem(
      name="toy", buffer_names=("a", "b"), sizes=np.array([100, 300]),
      starts=np.array([0, 0]), ends=np.array([1, 1]),
      buffer_kinds=("temporary", "parameter"),
      instruction_names=("i0", "i1"), opcodes=("fusion", "dot"),
      flops=np.array([20.0, 10.0]), transcendentals=np.array([5.0, 0.0]),
      bytes_accessed=np.array([100.0, 400.0]),
      access_buffer=np.array([0, 0, 1]), access_instruction=np.array([0, 1, 1]),
      access_bytes_read=np.array([0, 100, 300]),
      access_bytes_written=np.array([100, 0, 0]),
      schedule_length=2, source={"kind": "synthetic"})


def test_hand_computed_times():
  inputs = simulation_inputs(_problem(), HARDWARE)
  # i0: compute 20/10 + 5/5 = 3 s; memory 100/100 = 1 s (slow) -> 3 s.
  # i1: compute 1 s; memory (100 + 300)/100 = 4 s (slow) -> 4 s.
  np.testing.assert_allclose(instruction_times(inputs, jnp.array([0, 0])), [3.0, 4.0])
  # b fast: i1 memory = 100/100 + 300/1000 = 1.3 s.
  np.testing.assert_allclose(instruction_times(inputs, jnp.array([0, 1])), [3.0, 1.3])
  # Both fast: i1 = max(1, 0.4) = 1 s; i0 = 3 s (compute bound either way).
  assert float(simulate(inputs, jnp.array([1, 1]))) == pytest.approx(4.0)
  assert simulation_bounds(_problem(), HARDWARE) == pytest.approx((7.0, 4.0))
  # a fast: i1 memory = 100/1000 + 300/100 = 3.1 s; i0 stays 3 s.
  assert simulate_placement(_problem(), HARDWARE, [1, 0]) == pytest.approx(6.1)


def test_batched_and_relaxed():
  inputs = simulation_inputs(_problem(), HARDWARE)
  levels = jnp.array([[0, 0], [0, 1], [1, 0], [1, 1]])
  times = jax.jit(jax.vmap(simulate, in_axes=(None, 0)))(inputs, levels)
  np.testing.assert_allclose(times, [7.0, 4.3, 6.1, 4.0], rtol=1e-6)
  one_hot = jax.nn.one_hot(jnp.array([0, 1]), 2)
  assert float(simulate_relaxed(inputs, one_hot)) == pytest.approx(4.3)
  grad = jax.grad(simulate_relaxed, argnums=1)(inputs, jnp.full((2, 2), 0.5))
  # Moving b's weight to the fast level lowers the time; a's is compute-bound
  # at i0 but still shortens i1.
  assert grad[1, 1] < grad[1, 0]


def test_problem_without_instructions_scores_bytes_placed():
  problem = Problem.from_arrays(sizes=[100, 300], starts=[0, 1], ends=[2, 3])
  slow, fast = simulation_bounds(problem, HARDWARE)
  assert slow == pytest.approx(2 * 400 / 100)
  assert fast == pytest.approx(2 * 400 / 1000)
  assert simulate_placement(problem, HARDWARE, [0, 1]) == \
      pytest.approx(2 * 100 / 100 + 2 * 300 / 1000)


def test_bounds_frame_every_placement():
  inputs = simulation_inputs(_problem(), HARDWARE)
  slow, fast = bounds(inputs, 2)
  for levels in ([0, 0], [0, 1], [1, 0], [1, 1]):
    assert fast - 1e-6 <= float(simulate(inputs, jnp.array(levels))) <= slow + 1e-6


def test_xla_model_takes_the_larger_of_flops_and_transcendentals():
  inputs = simulation_inputs(_problem(), XLA)
  # i0: compute max(20/10, 5/5) = 2 s against memory 1 s; i1 as before.
  np.testing.assert_allclose(instruction_times(inputs, jnp.array([0, 0])), [2.0, 4.0])
  np.testing.assert_allclose(instruction_times(inputs, jnp.array([0, 1])), [2.0, 1.3])


def test_xla_model_charges_unaccounted_bytes_to_the_default_memory():
  # i1 accesses 400 B of buffers but XLA counts 600: 200 B more at 100 B/s.
  problem = dataclasses.replace(_problem(), bytes_accessed=np.array([100.0, 600.0]))
  inputs = simulation_inputs(problem, XLA)
  np.testing.assert_allclose(instruction_times(inputs, jnp.array([1, 1])), [2.0, 2.4])
  assert simulation_bounds(problem, XLA)[1] == pytest.approx(2.0 + 2.4)


def test_executions_weight_each_instruction():
  problem = dataclasses.replace(_problem(), executions=np.array([3.0, 0.5]))
  inputs = simulation_inputs(problem, XLA)
  np.testing.assert_allclose(instruction_times(inputs, jnp.array([0, 0])), [6.0, 2.0])
  # The additive model counts each instruction once, as results before it did.
  assert simulation_bounds(problem, HARDWARE) == simulation_bounds(_problem(), HARDWARE)


# --- XLA's simulator_test.cc (memory_space_assignment) -----------------------
# Its fixture: default memory 1 B/s, alternate memory 2 B/s, 1 flop/s.
UNIT = Hardware(
    name="xla-test",
    levels=(MemoryLevel("default", None, 1, 1.0), MemoryLevel("alternate", 2**40, 1, 2.0)),
    peak_flops=1.0, peak_transcendentals=1.0, copy_bandwidth=1.0)


def _copies_problem(instructions, buffers, copies) -> Problem:
  """A problem of instructions (name, flops, bytes_accessed), buffers (name,
  size, start, end, [(instruction, read, written)]) and copies (buffer,
  kind, start, done)."""
  access = [(b, *a) for b, (_, _, _, _, accesses) in enumerate(buffers) for a in accesses]
  return Problem(
      name="xla-test", buffer_names=tuple(b[0] for b in buffers),
      sizes=[b[1] for b in buffers], starts=[b[2] for b in buffers],
      ends=[b[3] for b in buffers], buffer_kinds=("temporary",) * len(buffers),
      instruction_names=tuple(x[0] for x in instructions),
      opcodes=("fusion",) * len(instructions), flops=[x[1] for x in instructions],
      transcendentals=[0.0] * len(instructions),
      bytes_accessed=[x[2] for x in instructions],
      access_buffer=[a[0] for a in access], access_instruction=[a[1] for a in access],
      access_bytes_read=[a[2] for a in access], access_bytes_written=[a[3] for a in access],
      copy_buffer=[c[0] for c in copies], copy_kind=[c[1] for c in copies],
      copy_start=[c[2] for c in copies], copy_done=[c[3] for c in copies],
      schedule_length=len(instructions), source={"kind": "synthetic"})


def _time(problem, levels) -> float:
  return simulate_placement(problem, UNIT, levels)


def test_xla_single_async_copy_overhead():
  # SingleAsyncCopyOverhead: a 8 MiB prefetch alone, done at the end: 8388608 s.
  problem = _copies_problem([("nop", 0.0, 0.0)], [("p0", 8388608, 0, 0, [])],
                            [(0, 0, 0, 1)])
  assert _time(problem, [1]) == pytest.approx(8388608)
  assert _time(problem, [0]) == 0.0  # In the default memory nothing is copied.


def test_xla_async_copy_with_computation_overhead():
  # AsyncCopyWithComputationOverhead: negate moves 16 B (16 s at 1 B/s, no
  # idle bandwidth), then the 32 B prefetch is done: 16 + 32 = 48 s.
  problem = _copies_problem(
      [("neg", 2.0, 16.0)],
      [("p1", 8, 0, 0, [(0, 8, 0)]), ("neg", 8, 0, 0, [(0, 0, 8)]),
       ("p0", 32, 0, 0, [])],
      [(2, 0, 0, 1)])
  assert _time(problem, [0, 0, 1]) == pytest.approx(48.0)


def test_xla_async_copies_and_compute_overhead():
  # AsyncCopyAndAsyncSliceAndComputeOverhead: two 256 B prefetches done before
  # the add (512 s in one queue), a 512 B one issued before it and done at the
  # end. The add reads 512 B and writes 256 B of alternate memory at 2 B/s:
  # 384 s, all of it idle default bandwidth, which moves 384 B of the third
  # copy; the last 128 B wait at the end. 512 + 384 + 128 = 1024 s.
  problem = _copies_problem(
      [("add", 64.0, 768.0)],
      [("slice", 256, 0, 0, [(0, 256, 0)]), ("copy", 256, 0, 0, [(0, 256, 0)]),
       ("add", 256, 0, 0, [(0, 0, 256)]), ("overlap", 512, 0, 0, [])],
      [(0, 0, 0, 0), (1, 0, 0, 0), (3, 0, 0, 1)])
  assert _time(problem, [1, 1, 1, 1]) == pytest.approx(1024.0)


def test_xla_shared_bandwidth_between_the_queues():
  # AsyncCopySharedBandwidth and AsyncCopyTransferPartialProcess: a 512 B
  # prefetch and a 128 B eviction; the eviction's done moves 128 B of each at
  # half rate (256 s), the prefetch's the last 384 B alone (384 s).
  problem = _copies_problem(
      [("a", 0.0, 0.0), ("b", 0.0, 0.0)],
      [("prefetched", 512, 0, 1, []), ("evicted", 128, 0, 0, [])],
      [(0, 0, 0, 1), (1, 1, 0, 0)])
  assert _time(problem, [1, 1]) == pytest.approx(256.0 + 384.0)
  # The figure: two 128 B copies in opposite directions, done together.
  both = _copies_problem([("a", 0.0, 0.0)],
                         [("in", 128, 0, 0, []), ("out", 128, 0, 0, [])],
                         [(0, 0, 0, 0), (1, 1, 0, 0)])
  assert _time(both, [1, 1]) == pytest.approx(256.0)


def test_xla_compute_instruction_with_shared_bandwidth():
  # SimulateComputeInstructionWithSharedBandwidth: negate reads 128 B of
  # alternate memory (64 s) and writes 128 B of default memory (128 s):
  # elapsed 192 s, idle 64 s, which moves 32 B of each queue (512 B prefetch,
  # 128 B eviction). Then the eviction's done (96 B with the prefetch busy:
  # 192 s, which also moves 96 B of the prefetch) and at the end the
  # prefetch's last 384 B: 192 + 192 + 384 = 768 s.
  problem = _copies_problem(
      [("neg", 32.0, 256.0), ("nop", 0.0, 0.0)],
      [("p1", 128, 0, 0, [(0, 128, 0)]), ("neg", 128, 0, 0, [(0, 0, 128)]),
       ("prefetched", 512, 0, 1, []), ("evicted", 128, 0, 0, [])],
      [(2, 0, 0, 2), (3, 1, 0, 1)])
  assert _time(problem, [1, 0, 1, 1]) == pytest.approx(768.0)
  # SimulateComputeInstructionWithFullBandwidth: without the eviction the
  # idle 64 s move 64 B of the prefetch; 192 + 448 = 640 s.
  alone = _copies_problem(
      [("neg", 32.0, 256.0)],
      [("p1", 128, 0, 0, [(0, 128, 0)]), ("neg", 128, 0, 0, [(0, 0, 128)]),
       ("prefetched", 512, 0, 0, [])],
      [(2, 0, 0, 1)])
  assert _time(alone, [1, 0, 1]) == pytest.approx(640.0)


def test_xla_empty_queues():
  # SimulateComputeInstructionWithEmptyQueues: negate f32[128] moves 1024 B.
  problem = _copies_problem([("neg", 128.0, 1024.0)],
                            [("p0", 512, 0, 0, [(0, 512, 0)]),
                             ("neg", 512, 0, 0, [(0, 0, 512)])], [])
  assert _time(problem, [0, 0]) == pytest.approx(1024.0)


# XLA's simulator_test.cc, SingleLayerLoop and NestedLayerLoop, with the trip
# counts (42, 27) that XLA's while-loop analysis finds written as
# `known_trip_count`. Its fixture: 1 flop/s, 1 B/s; everything in the default
# memory. XLA asserts 1226 s and 33893 s.
_LOOP_BODY = """\
%{prefix}body (param: (s32[])) -> (s32[]) {{
  %constant.1 = s32[] constant(1)
  %param = (s32[]) parameter(0)
  %count = s32[] get-tuple-element(%param), index=0
  %increment = s32[] add(s32[] %count, s32[] %constant.1)
  ROOT %loop_result = (s32[]) tuple(%increment)
}}

%{prefix}condition (param.1: (s32[])) -> pred[] {{
  %param.1 = (s32[]) parameter(0)
  %constant.42 = s32[] constant({limit})
  %condition_input = s32[] get-tuple-element(%param.1), index=0
  ROOT %greater = pred[] compare(s32[] %constant.42, s32[] %condition_input), direction=GT
}}
"""
_SINGLE_LOOP = "HloModule module, is_scheduled=true\n\n" + _LOOP_BODY.format(
    prefix="", limit=42) + """
ENTRY %Entry (dummy_input: s32[]) -> (s32[]) {
  %dummy_input = s32[] parameter(0)
  %constant.0 = s32[] constant(0)
  %tuple = (s32[]) tuple(%constant.0)
  ROOT %while = (s32[]) while(%tuple), condition=%condition, body=%body, backend_config={"known_trip_count":{"n":"42"}}
}
"""
_NESTED_LOOP = "HloModule module, is_scheduled=true\n\n" + _LOOP_BODY.format(
    prefix="inner.", limit=42) + """
%outer.body (param.2: (s32[])) -> (s32[]) {
  %zero.outer = s32[] constant(0)
  %one.outer = s32[] constant(1)
  %param.2 = (s32[]) parameter(0)
  %tuple.in = (s32[]) tuple(%zero.outer)
  %inner_while = (s32[]) while(%tuple.in), condition=%inner.condition, body=%inner.body, backend_config={"known_trip_count":{"n":"42"}}
  %count.outer = s32[] get-tuple-element(%param.2), index=0
  %increment.outer = s32[] add(s32[] %count.outer, s32[] %one.outer)
  ROOT %loop_result.outer = (s32[]) tuple(%increment.outer)
}

%outer.condition (param.3: (s32[])) -> pred[] {
  %param.3 = (s32[]) parameter(0)
  %limit.outer = s32[] constant(27)
  %condition_input.outer = s32[] get-tuple-element(%param.3), index=0
  ROOT %greater.outer = pred[] compare(s32[] %limit.outer, s32[] %condition_input.outer), direction=GT
}

ENTRY %Entry () -> (s32[]) {
  %zero.entry = s32[] constant(0)
  %tuple = (s32[]) tuple(%zero.entry)
  ROOT %while_outer = (s32[]) while(%tuple), condition=%outer.condition, body=%outer.body, backend_config={"known_trip_count":{"n":"27"}}
}
"""


@pytest.mark.parametrize("text, expected", [(_SINGLE_LOOP, 1226.0), (_NESTED_LOOP, 33893.0)])
def test_xla_loop_times_weight_bodies_by_trip_count(text, expected):
  from hlo_tools import module_to_problem, parse_hlo
  problem = module_to_problem(parse_hlo(text))
  slow, _ = simulation_bounds(problem, UNIT)
  assert slow == pytest.approx(expected)
