"""How long a program runs for a given placement of its buffers: a pure-JAX model.

The model, in the spirit of XLA's cost analysis for memory space assignment:

* Instruction `i` takes `max(compute_i, memory_i)` seconds: compute and memory
  traffic overlap, and the slower of the two bounds it.
* `compute_i = flops_i / peak_flops + transcendentals_i / peak_transcendentals`.
* `memory_i` adds, over every access of instruction `i` to a buffer `b` (the
  bytes it reads from and writes to `b`, from XLA's cost analysis),
  `bytes / bandwidth(level of b)`.
* An access may also carry an asynchronous copy (`Problem.access_bytes_copied`:
  the prefetches and evictions of a buffer split into windows, see
  `malloc_muzero.windows`). When `b` is in a fast level, the copy adds
  `bytes_copied / copy_bandwidth` to `memory_i`: copies share the memory
  system with the instruction's own traffic and are hidden only where the
  instruction is compute-bound. In the default memory nothing is copied.
* The program takes the sum over its instructions.

Two bounds frame every placement: all buffers in the default memory (level 0,
the worst case) and all in the fastest level with unlimited capacity and no
copies (no valid placement can beat it, windowed or not).

A problem without instructions (a MiniMalloc CSV: sizes and lifespans only) is
scored as if each buffer were written once and read once by an instruction of
no compute: the time saved is then proportional to the bytes placed in fast
memory, and a perfect packing reaches the all-fast bound.

Everything below `simulation_inputs` is jittable and vmappable over a batch of
placements; `simulate_relaxed` takes a probability of each level per buffer and
is differentiable in it.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero.hardware import Hardware
from malloc_muzero.problem import Problem


@chex.dataclass(frozen=True)
class SimulationInputs:
  """A problem and a hardware model as the arrays the simulator reads.

  Attributes:
    compute_s: [M] float32 seconds of compute of each instruction at peak.
    access_instruction: [K] int32 instruction of each access.
    access_buffer: [K] int32 buffer of each access.
    access_bytes: [K] float32 bytes read plus written by each access.
    access_seconds: [K, L] float32 memory seconds of each access when its
      buffer is in each level, copies included.
    seconds_per_byte: [L] float32 `1 / bandwidth` of each memory level.
  """
  compute_s: chex.Array
  access_instruction: chex.Array
  access_buffer: chex.Array
  access_bytes: chex.Array
  access_seconds: chex.Array
  seconds_per_byte: chex.Array


def simulation_inputs(problem: Problem, hardware: Hardware) -> SimulationInputs:
  """The simulator's arrays for a problem on a hardware model."""
  seconds_per_byte = np.array([1.0 / level.bandwidth for level in hardware.levels],
                              np.float32)
  if problem.num_instructions:
    compute = (problem.flops / hardware.peak_flops +
               problem.transcendentals / hardware.peak_transcendentals)
    instruction = problem.access_instruction
    buffer = problem.access_buffer
    moved = problem.access_bytes_read + problem.access_bytes_written
    copied = problem.access_bytes_copied
  else:
    # Sizes and lifespans only: each buffer is written once and read once.
    compute = np.zeros(problem.num_buffers)
    instruction = buffer = np.arange(problem.num_buffers, dtype=np.int32)
    moved = 2 * problem.sizes
    copied = np.zeros(problem.num_buffers)
  in_fast = np.arange(len(seconds_per_byte)) > 0
  seconds = (np.asarray(moved, np.float64)[:, None] * seconds_per_byte[None, :] +
             np.asarray(copied, np.float64)[:, None] * in_fast[None, :] /
             hardware.copy_bandwidth)
  return SimulationInputs(
      compute_s=jnp.asarray(compute, jnp.float32),
      access_instruction=jnp.asarray(instruction, jnp.int32),
      access_buffer=jnp.asarray(buffer, jnp.int32),
      access_bytes=jnp.asarray(moved, jnp.float32),
      access_seconds=jnp.asarray(seconds, jnp.float32).reshape(len(moved), -1),
      seconds_per_byte=jnp.asarray(seconds_per_byte))


def instruction_times(inputs: SimulationInputs, levels: chex.Array) -> chex.Array:
  """Seconds of each instruction.

  Args:
    inputs: from `simulation_inputs`.
    levels: [N] int memory level of each buffer (0 = default memory).

  Returns:
    [M] float32 `max(compute, memory)` of each instruction.
  """
  level = levels[inputs.access_buffer]
  per_access = jnp.take_along_axis(inputs.access_seconds, level[:, None], axis=1)[:, 0]
  return _times(inputs, per_access)


def _times(inputs: SimulationInputs, per_access: chex.Array) -> chex.Array:
  """[M] `max(compute, memory)` for given seconds of each access ([K])."""
  memory = jax.ops.segment_sum(per_access, inputs.access_instruction,
                               num_segments=inputs.compute_s.shape[0])
  return jnp.maximum(inputs.compute_s, memory)


def simulate(inputs: SimulationInputs, levels: chex.Array) -> chex.Array:
  """Seconds the program takes with buffers at `levels` ([N] int); a scalar."""
  return instruction_times(inputs, levels).sum()


def simulate_relaxed(inputs: SimulationInputs, level_probs: chex.Array) -> chex.Array:
  """Expected-bandwidth time for a soft placement; differentiable in it.

  Args:
    inputs: from `simulation_inputs`.
    level_probs: [N, L] float probability (or weight) of each level per buffer.

  Returns:
    A scalar: the time when each access costs the expectation of its seconds
    over the levels. Equal to `simulate` for one-hot `level_probs`.
  """
  per_access = (level_probs[inputs.access_buffer] * inputs.access_seconds).sum(axis=1)
  return _times(inputs, per_access).sum()


def bounds(inputs: SimulationInputs, num_buffers: int) -> tuple[chex.Array, chex.Array]:
  """(all in the default memory, all in the fastest level without copies)
  seconds."""
  slow = simulate(inputs, jnp.zeros(num_buffers, jnp.int32))
  fast = _times(inputs, inputs.access_bytes * inputs.seconds_per_byte.min()).sum()
  return slow, fast


@functools.partial(jax.jit, static_argnums=1)
def _bounds_jit(inputs: SimulationInputs, num_buffers: int):
  return bounds(inputs, num_buffers)


_simulate_jit = jax.jit(simulate)


def simulate_placement(problem: Problem, hardware: Hardware, levels) -> float:
  """Seconds for a placement's levels ([N] int), as a Python float."""
  levels = np.asarray(levels, np.int32)
  return float(_simulate_jit(simulation_inputs(problem, hardware), levels))


def simulation_bounds(problem: Problem, hardware: Hardware) -> tuple[float, float]:
  """(all_slow_s, all_fast_s) of a problem on a hardware model."""
  slow, fast = _bounds_jit(simulation_inputs(problem, hardware), problem.num_buffers)
  return float(slow), float(fast)
