"""How long a program runs for a given placement of its buffers: a pure-JAX model.

Two time models, chosen by `Hardware.time_model`.

"xla" (the default) is XLA's own, as memory space assignment measures itself
(`xla/service/memory_space_assignment/`: `simulator.cc`'s RuntimeSimulator,
`cost_analysis.cc`):

* Instruction `i` takes `elapsed_i = max(compute_i, memory_i)` seconds, with
  `compute_i = max(flops_i / peak_flops, transcendentals_i /
  peak_transcendentals)` and `memory_i = default_i / BWd + sum over its
  accesses to buffers in fast levels of bytes / bandwidth(level)`, where
  `default_i = max(bytes_accessed_i - bytes it moves in fast levels, 0)`
  (XLA's B - Ra - Wa) and BWd is the default memory's (level 0) bandwidth.
* Asynchronous copies (`Problem.copy_*`: the prefetch or eviction of a whole
  buffer, issued when the buffer is outside the default memory) wait in two
  FIFO queues, prefetches and evictions, in order of start step, then of
  done step (XLA's `ScheduleAsynchronousCopies` keeps copy starts in the
  order of their dones), then of
  their order in the problem. Before instruction `i` the copies that start
  at `i` join their queue; then each copy done at `i` stalls the program
  until it and every copy before it in its queue is through. While both
  queues hold bytes, each front moves at BWd / 2; one queue alone moves at
  BWd. During instruction `i` the queues drain the same way, in the idle
  default-memory time `elapsed_i - default_i / BWd` (compute-bound slack and
  time spent on fast levels). A copy done at `schedule_length` stalls at the
  end of the program.
* The program takes `sum_i executions_i * (elapsed_i + stall before i)`:
  each instruction runs `Problem.executions` times (a loop body its trip
  count), and queue progress during an instruction counts once, as in XLA's
  simulator. (XLA's newest `ProcessAsyncCopyLikesInIdleTime` halves the
  bandwidth again on every pass of its loop; this follows its stated intent
  and its tests, one halving while both queues are busy.)

"additive" is the model of this project's results before XLA's (kept so
that they reproduce): `compute_i = flops / peak_flops + transcendentals /
peak_transcendentals`, `memory_i` the sum over accesses of bytes / bandwidth
of the buffer's level, no executions (a loop body counts once), and a copy
(`Problem.access_bytes_copied`) charged at `copy_bandwidth` to the
instructions it overlaps, when the buffer is in a fast level.

Without copies both are a sum of per-instruction `max(compute, memory)`
terms; `SimulationInputs` holds them weighted by executions, so that the
game and the solvers that add up savings per instruction read one set of
arrays for both models. `other_memory_s` is XLA's default-memory time of the
bytes an instruction moves that no access of a problem buffer accounts for.

Two bounds frame every placement: all buffers in the default memory (level 0,
the worst case) and all in the fastest level with unlimited capacity and no
copies (no valid placement can beat it).

A problem without instructions (a MiniMalloc CSV: sizes and lifespans only) is
scored as if each buffer were written once and read once by an instruction of
no compute: the time saved is then proportional to the bytes placed in fast
memory, and a perfect packing reaches the all-fast bound.

Everything below `simulation_inputs` is jittable and vmappable over a batch of
placements; `simulate_relaxed` takes a probability of each level per buffer and
is differentiable in it (it leaves out copies).
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

  Seconds are per run of the program: each instruction's are multiplied by
  its executions (in the "xla" model; executions are 1 in "additive").

  Attributes:
    compute_s: [M] float32 seconds of compute of each instruction at peak.
    other_memory_s: [M] float32 seconds of the default-memory bytes of each
      instruction that no access accounts for (0 in "additive").
    executions: [M] float32 times each instruction runs (> 0 or 0).
    access_instruction: [K] int32 instruction of each access.
    access_buffer: [K] int32 buffer of each access.
    access_seconds: [K, L] float32 memory seconds of each access when its
      buffer is in each level ("additive": copies included).
    fastest_s: [K] float32 memory seconds of each access in the fastest
      level, without copies (the all-fast bound).
    seconds_per_byte: [L] float32 `1 / bandwidth` of each memory level.
    copy_buffer: [C] int32 buffer of each asynchronous copy, sorted by
      (kind, start step, done step, order in the problem); C = 0 in
      "additive".
    copy_kind: [C] int32 0 prefetch, 1 eviction.
    copy_bytes: [C] float32 bytes each copy moves.
    copy_start: [C] int32 step before which each copy is issued.
    copy_done: [C] int32 step before which it must be through (<= M).
  """
  compute_s: chex.Array
  other_memory_s: chex.Array
  executions: chex.Array
  access_instruction: chex.Array
  access_buffer: chex.Array
  access_seconds: chex.Array
  fastest_s: chex.Array
  seconds_per_byte: chex.Array
  copy_buffer: chex.Array
  copy_kind: chex.Array
  copy_bytes: chex.Array
  copy_start: chex.Array
  copy_done: chex.Array


def simulation_inputs(problem: Problem, hardware: Hardware) -> SimulationInputs:
  """The simulator's arrays for a problem on a hardware model."""
  xla = hardware.time_model == "xla"
  seconds_per_byte = np.array([1.0 / level.bandwidth for level in hardware.levels])
  if problem.num_instructions:
    flops_s = problem.flops / hardware.peak_flops
    transcendentals_s = problem.transcendentals / hardware.peak_transcendentals
    compute = np.maximum(flops_s, transcendentals_s) if xla else flops_s + transcendentals_s
    instruction = problem.access_instruction
    buffer = problem.access_buffer
    moved = (problem.access_bytes_read + problem.access_bytes_written).astype(np.float64)
    copied = problem.access_bytes_copied
    unaccounted = problem.bytes_accessed - np.bincount(
        instruction, moved, minlength=problem.num_instructions)
    executions = problem.executions if xla else np.ones(problem.num_instructions)
  else:
    # Sizes and lifespans only: each buffer is written once and read once.
    compute = np.zeros(problem.num_buffers)
    instruction = buffer = np.arange(problem.num_buffers, dtype=np.int32)
    moved = 2.0 * problem.sizes
    copied = np.zeros(problem.num_buffers)
    unaccounted = np.zeros(problem.num_buffers)
    executions = np.ones(problem.num_buffers)
  weight = executions[instruction][:, None]
  seconds = moved[:, None] * seconds_per_byte[None, :]
  if not xla:
    in_fast = np.arange(len(seconds_per_byte)) > 0
    seconds = seconds + (np.asarray(copied, np.float64)[:, None] * in_fast[None, :] /
                         hardware.copy_bandwidth)
  other = (np.maximum(unaccounted, 0.0) * seconds_per_byte[0] if xla
           else np.zeros_like(compute))
  copies = _copies(problem) if xla else _copies(None)
  return SimulationInputs(
      compute_s=jnp.asarray(compute * executions, jnp.float32),
      other_memory_s=jnp.asarray(other * executions, jnp.float32),
      executions=jnp.asarray(executions, jnp.float32),
      access_instruction=jnp.asarray(instruction, jnp.int32),
      access_buffer=jnp.asarray(buffer, jnp.int32),
      access_seconds=jnp.asarray(seconds * weight, jnp.float32).reshape(
          len(moved), len(seconds_per_byte)),
      fastest_s=jnp.asarray(moved * seconds_per_byte.min() * weight[:, 0], jnp.float32),
      seconds_per_byte=jnp.asarray(seconds_per_byte, jnp.float32),
      **copies)


def queue_order(problem: Problem) -> np.ndarray:
  """[C] the problem's copies in queue order: by kind, start step, done step,
  then order in the problem (`SimulationInputs.copy_*` hold them so)."""
  return np.lexsort((np.arange(len(problem.copy_buffer)), problem.copy_done,
                     problem.copy_start, problem.copy_kind))


def _copies(problem: Problem | None) -> dict:
  """The copy fields of `SimulationInputs`, in queue order."""
  if problem is None:
    empty = np.zeros(0, np.int32)
    return dict(copy_buffer=empty, copy_kind=empty, copy_bytes=np.zeros(0, np.float32),
                copy_start=empty, copy_done=empty)
  order = queue_order(problem)
  buffer = problem.copy_buffer[order]
  return dict(copy_buffer=jnp.asarray(buffer, jnp.int32),
              copy_kind=jnp.asarray(problem.copy_kind[order], jnp.int32),
              copy_bytes=jnp.asarray(problem.sizes[buffer], jnp.float32),
              copy_start=jnp.asarray(problem.copy_start[order], jnp.int32),
              copy_done=jnp.asarray(problem.copy_done[order], jnp.int32))


def compute_less_other_s(inputs: SimulationInputs) -> np.ndarray:
  """[M] float64 `compute_s - other_memory_s`.

  Since `max(c, o + m) = o + max(c - o, m)`, an instruction's time is its
  `other_memory_s` plus `max(this, the seconds of its accesses)`: the form
  in which the game and the solvers that add up per-instruction savings
  read the model (the `other_memory_s` part no placement changes).
  """
  return (np.asarray(inputs.compute_s, np.float64) -
          np.asarray(inputs.other_memory_s, np.float64))


def _access_seconds(inputs: SimulationInputs, levels: chex.Array) -> chex.Array:
  """[K] seconds of each access with buffers at `levels`."""
  level = levels[inputs.access_buffer]
  return jnp.take_along_axis(inputs.access_seconds, level[:, None], axis=1)[:, 0]


def instruction_times(inputs: SimulationInputs, levels: chex.Array) -> chex.Array:
  """Seconds of each instruction, without copy stalls.

  Args:
    inputs: from `simulation_inputs`.
    levels: [N] int memory level of each buffer (0 = default memory).

  Returns:
    [M] float32 `executions * max(compute, memory)` of each instruction.
  """
  return _times(inputs, _access_seconds(inputs, levels))


def _times(inputs: SimulationInputs, per_access: chex.Array) -> chex.Array:
  """[M] `max(compute, memory)` for given seconds of each access ([K])."""
  memory = inputs.other_memory_s + jax.ops.segment_sum(
      per_access, inputs.access_instruction, num_segments=inputs.compute_s.shape[0])
  return jnp.maximum(inputs.compute_s, memory)


def copy_stalls(inputs: SimulationInputs, levels: chex.Array,
                copy_start: chex.Array | None = None) -> chex.Array:
  """Seconds the program waits on asynchronous copies before each step.

  Args:
    inputs: from `simulation_inputs`.
    levels: [N] int memory level of each buffer; a buffer's copies run when
      it is outside the default memory.
    copy_start: [C] int step before which each copy is issued, in place of
      `inputs.copy_start` (a placement that chooses when its prefetches
      start); the queues are then sorted again (O(C log C)).

  Returns:
    [M + 1] float32: before each instruction (weighted by its executions)
    and, last, at the end of the program.
  """
  steps = inputs.compute_s.shape[0]
  per_access = _access_seconds(inputs, levels)
  elapsed = _times(inputs, per_access)
  in_default = levels[inputs.access_buffer] == 0
  default = inputs.other_memory_s + jax.ops.segment_sum(
      jnp.where(in_default, per_access, 0.0), inputs.access_instruction,
      num_segments=steps)
  runs = inputs.executions
  idle = jnp.where(runs > 0, (elapsed - default) / jnp.where(runs > 0, runs, 1.0), 0.0)
  idle = jnp.append(jnp.maximum(idle, 0.0), 0.0)           # [M + 1]
  runs = jnp.append(runs, 1.0)

  moves = jnp.where(levels[inputs.copy_buffer] > 0, inputs.copy_bytes, 0.0)
  kind, start, done = inputs.copy_kind, inputs.copy_start, inputs.copy_done
  if copy_start is not None:
    order = _queue_order(kind, copy_start, done, steps)
    moves, kind, start, done = moves[order], kind[order], copy_start[order], done[order]
  # Bytes through the queue up to and including each copy (queue order).
  through = jnp.cumsum(moves)
  through = through - jnp.where(kind == 1, jnp.sum(jnp.where(kind == 0, moves, 0.0)), 0.0)
  joins = jax.ops.segment_sum(moves, kind * (steps + 1) + start,
                              num_segments=2 * (steps + 1)).reshape(2, steps + 1)
  needs = jax.ops.segment_max(jnp.where(moves > 0, through, 0.0),
                              kind * (steps + 1) + done,
                              num_segments=2 * (steps + 1)).reshape(2, steps + 1)
  needs = jnp.maximum(needs, 0.0)
  bandwidth = 1.0 / inputs.seconds_per_byte[0]

  def step(carry, x):
    joined, drained = carry                                  # [2] cumulative bytes
    join, need, idle_s = x
    joined = joined + join
    backlog = jnp.maximum(joined - drained, 0.0)
    wanted = jnp.maximum(need - drained, 0.0)
    stall_s = jnp.max(wanted + jnp.minimum(wanted, backlog[::-1])) / bandwidth
    drained = drained + _drain(backlog, stall_s * bandwidth)
    backlog = jnp.maximum(joined - drained, 0.0)
    drained = drained + _drain(backlog, idle_s * bandwidth)
    return (joined, drained), stall_s

  zeros = jnp.zeros(2, jnp.float32)
  _, stalls = jax.lax.scan(step, (zeros, zeros), (joins.T, needs.T, idle))
  return stalls * runs


def _queue_order(kind: chex.Array, start: chex.Array, done: chex.Array,
                 steps: int) -> chex.Array:
  """[C] `queue_order` of copies in JAX: one stable sort of a combined int32
  key while it fits (twice as fast as `lexsort` on the CPU), else `lexsort`."""
  span = steps + 2
  if 2 * span * span < 2 ** 31:
    return jnp.argsort((kind * span + start) * span + done, stable=True)
  return jnp.lexsort((jnp.arange(kind.shape[0]), done, start, kind))


def _drain(backlog: chex.Array, budget: chex.Array) -> chex.Array:
  """[2] bytes each queue moves with `budget` bytes of default bandwidth:
  half each while both hold bytes, all of it for one alone."""
  return jnp.minimum(backlog, jnp.maximum(budget / 2, budget - backlog[::-1]))


def simulate(inputs: SimulationInputs, levels: chex.Array) -> chex.Array:
  """Seconds the program takes with buffers at `levels` ([N] int); a scalar."""
  total = instruction_times(inputs, levels).sum()
  if inputs.copy_buffer.shape[0]:
    total = total + copy_stalls(inputs, levels).sum()
  return total


def simulate_relaxed(inputs: SimulationInputs, level_probs: chex.Array) -> chex.Array:
  """Expected-bandwidth time for a soft placement; differentiable in it.

  Args:
    inputs: from `simulation_inputs`.
    level_probs: [N, L] float probability (or weight) of each level per buffer.

  Returns:
    A scalar: the time when each access costs the expectation of its seconds
    over the levels, copy stalls left out. Equal to `simulate` for one-hot
    `level_probs` on a problem without asynchronous copies.
  """
  per_access = (level_probs[inputs.access_buffer] * inputs.access_seconds).sum(axis=1)
  return _times(inputs, per_access).sum()


def bounds(inputs: SimulationInputs, num_buffers: int) -> tuple[chex.Array, chex.Array]:
  """(all in the default memory, all in the fastest level without copies)
  seconds."""
  slow = simulate(inputs, jnp.zeros(num_buffers, jnp.int32))
  fast = _times(inputs, inputs.fastest_s).sum()
  return slow, fast


@functools.partial(jax.jit, static_argnames="num_buffers")
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


def gap_closed(time_s: float, slow_s: float, fast_s: float) -> float:
  """The share of the all-slow to all-fast gap a placement closes:
  `(slow_s - time_s) / (slow_s - fast_s)`, 0 when the bounds coincide.

  Args:
    time_s: the placement's simulated seconds.
    slow_s, fast_s: the bounds, as `simulation_bounds` gives them (seconds).
  """
  return (slow_s - time_s) / (slow_s - fast_s) if slow_s > fast_s else 0.0
