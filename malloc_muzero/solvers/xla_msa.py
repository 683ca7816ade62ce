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
all-default-memory program, it must save time (XLA prefetches only what its
cost analysis says is worth the asynchronous copy).
"""

from __future__ import annotations

import numpy as np

from malloc_muzero.simulator import simulation_inputs
from malloc_muzero.solvers.occupancy import fast_levels_by_speed, place_in_order
from malloc_muzero.solvers.registry import register


def _per_access(problem, hardware):
  """Per access, in float64: its buffer, its instruction's compute seconds and
  memory seconds with every buffer in the default memory, and its own seconds
  in the default memory and in the fastest level (copies included)."""
  inputs = simulation_inputs(problem, hardware)
  compute = np.asarray(inputs.compute_s, np.float64)
  instruction = np.asarray(inputs.access_instruction)
  seconds = np.asarray(inputs.access_seconds, np.float64)  # [K, L]
  fastest = fast_levels_by_speed(hardware)[0]
  memory = np.bincount(instruction, seconds[:, 0], len(compute))
  return (np.asarray(inputs.access_buffer), compute[instruction], memory[instruction],
          seconds[:, 0], seconds[:, fastest])


def memory_boundedness(problem, hardware) -> np.ndarray:
  """[N] float64 XLA's memory boundedness of each buffer (larger goes first)."""
  buffer, compute, memory, slow, fast = _per_access(problem, hardware)
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


def saving_alone(problem, hardware) -> np.ndarray:
  """[N] seconds each buffer saves in the fastest level when all others are in
  the default memory (copies included: negative when they cost more)."""
  buffer, compute, memory, slow, fast = _per_access(problem, hardware)
  # Each access alone: its instruction's time with the buffer moved. A buffer
  # has at most one access per instruction, so its accesses add up.
  saved = np.maximum(compute, memory) - np.maximum(compute, memory + fast - slow)
  return np.bincount(buffer, saved, problem.num_buffers)


def placement_order(problem, hardware) -> np.ndarray:
  """The buffers xla-msa tries to place, in its order: `msa_order` without the
  windows whose copies cost more than they save."""
  order = msa_order(problem, hardware)
  copies = np.bincount(problem.access_buffer, problem.access_bytes_copied,
                       problem.num_buffers) > 0
  if copies.any():
    worth = ~copies | (saving_alone(problem, hardware) > 0)
    order = order[worth[order]]
  return order


@register("xla-msa")
def xla_msa(problem, hardware, options):
  del options
  return place_in_order(problem, hardware, placement_order(problem, hardware), "best-fit")
