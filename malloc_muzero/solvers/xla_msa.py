"""`xla-msa`: XLA's memory space assignment heuristic, as its source describes it.

XLA's MSA (xla/service/memory_space_assignment) sorts buffers with its
`MemoryBoundednessBufferIntervalComparator` and gives each, in that order, the
best-fitting chunk of alternate memory free over its live range, or leaves it
in default memory. Memory boundedness (`CostAnalysis::GetMemoryBoundedness`)
is the alternate-memory benefit summed over the instructions that use the
buffer, divided by the square root of its size ("empirically better than
dividing by the size"). The benefit at an instruction
(`GetAlternateMemoryBenefit`) is, when the instruction is memory-bound, the
memory time the buffer's bytes would save in alternate memory, and otherwise
how far the instruction is from memory-bound (a negative number). Ties go to
the larger buffer, then the longer live range.

With several fast levels, a buffer goes to the fastest level with room for it.

Prefetches and evictions come from running it on a problem split into windows
around the uses (`malloc_muzero.windows`; `malloc-solve --windows`,
`xla-msa+windows` in the experiments). A window that carries copies is then
placed only if it pays for them: placed alone in the fastest level of an
all-default-memory program, it must save time by the simulator, stalls on its
copies included (XLA prefetches only what its cost analysis says is worth the
asynchronous copy). This is not yet XLA's prefetch algorithm (its interval
picker and asynchronous-copy resource): the windows fix when each copy
starts.
"""

from __future__ import annotations

import numpy as np

from malloc_muzero.simulator import compute_less_other_s, simulate, simulation_inputs
from malloc_muzero.solvers.occupancy import fast_levels_by_speed, place_in_order
from malloc_muzero.solvers.registry import register


def access_costs(problem, hardware):
  """Per access, in float64: its buffer, its instruction's compute seconds
  (less the memory seconds no access accounts for, `compute_less_other_s`)
  and memory seconds with every buffer in the default memory, and its own
  seconds in the default memory and in the fastest level (additive model:
  copies included)."""
  inputs = simulation_inputs(problem, hardware)
  compute = compute_less_other_s(inputs)
  instruction = np.asarray(inputs.access_instruction)
  seconds = np.asarray(inputs.access_seconds, np.float64)  # [K, L]
  fastest = fast_levels_by_speed(hardware)[0]
  memory = np.bincount(instruction, seconds[:, 0], len(compute))
  return (np.asarray(inputs.access_buffer), compute[instruction], memory[instruction],
          seconds[:, 0], seconds[:, fastest])


def memory_boundedness(problem, hardware) -> np.ndarray:
  """[N] float64 XLA's memory boundedness of each buffer (larger goes first)."""
  buffer, compute, memory, slow, fast = access_costs(problem, hardware)
  benefit = np.where(memory > compute, slow - fast, memory - compute)
  total = np.bincount(buffer, benefit, problem.num_buffers)
  return total / np.sqrt(np.maximum(problem.sizes, 1))


def msa_order(problem, hardware) -> np.ndarray:
  """[N] buffer indices in MSA's order: memory boundedness, then size, then
  live-range length, all descending; then index."""
  boundedness = memory_boundedness(problem, hardware)
  duration = problem.ends - problem.starts
  return np.lexsort((np.arange(problem.num_buffers), -duration, -problem.sizes,
                     -boundedness))


def saving_alone(problem, hardware, buffers: np.ndarray) -> np.ndarray:
  """[len(buffers)] seconds each of `buffers` saves in the fastest level when
  all others are in the default memory, by the simulator: copies included
  (their stalls on XLA's model, their charges on the additive one), so
  negative when they cost more."""
  import jax
  import jax.numpy as jnp

  inputs = simulation_inputs(problem, hardware)
  fastest = fast_levels_by_speed(hardware)[0]
  batch = jax.jit(jax.vmap(simulate, in_axes=(None, 0)))
  slow = float(simulate(inputs, jnp.zeros(problem.num_buffers, jnp.int32)))
  saved = []
  for chunk in np.array_split(buffers, max(1, -(-len(buffers) // 256))):
    levels = np.zeros((256, problem.num_buffers), np.int32)  # one shape, one trace
    levels[np.arange(len(chunk)), chunk] = fastest
    saved.append(slow - np.asarray(batch(inputs, jnp.asarray(levels)), np.float64)[:len(chunk)])
  return np.concatenate(saved) if saved else np.zeros(0)


def placement_order(problem, hardware) -> np.ndarray:
  """The buffers xla-msa tries to place, in its order: `msa_order` without the
  windows whose copies cost more than they save."""
  order = msa_order(problem, hardware)
  if hardware.time_model == "xla":
    copies = np.bincount(problem.copy_buffer, minlength=problem.num_buffers) > 0
  else:
    copies = np.bincount(problem.access_buffer, problem.access_bytes_copied,
                         problem.num_buffers) > 0
  if copies.any():
    worth = ~copies
    carriers = np.flatnonzero(copies)
    worth[carriers] = saving_alone(problem, hardware, carriers) > 0
    order = order[worth[order]]
  return order


@register("xla-msa")
def xla_msa(problem, hardware, options):
  del options
  return place_in_order(problem, hardware, placement_order(problem, hardware), "best-fit")
