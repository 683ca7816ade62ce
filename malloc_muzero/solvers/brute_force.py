"""Brute force: the optimal placement of a tiny problem, by enumeration.

The oracle the exact solver is tested against (not a registered solver: its
time grows as `L**N * N!`). Every assignment of levels to buffers is tried;
for each, every fast level's buffers are packed if they can be, and the
fastest packable assignment, by the simulator, wins.

Whether a set `S` of buffers fits one fast level is decided exactly in one of
two ways:

* `exhaustive=True`: backtracking over every offset on the alignment grid
  (`0, a, 2a, ...` up to `capacity - size`) of every buffer of `S`.
* by default, canonical packings: every permutation of `S`, each buffer put
  at the lowest aligned offset free of the buffers before it (first fit).
  This loses nothing. Take any valid packing of `S` and visit its buffers by
  increasing offset, lowering each to the lowest aligned offset free of the
  buffers already visited (which only moved down). Its own old offset is
  still free, so it only moves down and stays within capacity; and it cannot
  meet a buffer not yet visited: one that shares a step with it sits at or
  above its old offset, hence (their bytes were disjoint) at or above its old
  end, which is at or above its new end. The result is valid and is exactly
  first fit in that order. And
  first fit's "jump past the highest blocking buffer, rounded up to the
  alignment" finds the lowest free aligned offset: a blocker `j` overlaps
  `[n, n + size)`, so any free `n' > n` has `n' >= end of j`.

"Shares a step" is the checker's: over the buffers' live intervals, but for
the step at which an operand's slot may be shared with its user
(`minimalloc_csv.occupied_spans`); the argument holds for any such relation.
Sets are memoised per level, so each is decided once.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import Hardware
from malloc_muzero.minimalloc_csv import occupied_spans
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.problem import Problem
from malloc_muzero.solvers.occupancy import lowest_free_offset, spans_meet
from malloc_muzero.simulator import (simulate, simulate_placement,
                                     simulation_inputs)

MAX_BUFFERS = 6
MAX_GRID = 64  # Offsets per buffer and level that `exhaustive=True` accepts.


def brute_force(problem: Problem, hardware: Hardware, *,
                exhaustive: bool = False,
                max_buffers: int = MAX_BUFFERS) -> tuple[float, Placement]:
  """The fastest valid placement, by trying them all.

  Args:
    problem: the instance, at most `max_buffers` buffers.
    hardware: the memory levels (at most a few fast ones: `L**N` level
      assignments are tried).
    exhaustive: try every aligned offset instead of canonical packings (see
      the module docstring); slower, for checking the canonical argument.
    max_buffers: refuse larger problems.

  Returns:
    (seconds, placement): the simulator's time of the optimal placement (the
    first one found, in lexicographic order of level assignments, among ties
    in the simulator's float32 time) and the placement, checked valid.

  Raises:
    ProblemError: too many buffers, or a grid too fine for `exhaustive`.
  """
  n = problem.num_buffers
  if n > max_buffers:
    raise ProblemError(f"at most {max_buffers} buffers for brute force",
                       where=problem.name, found=n)
  sizes = problem.sizes.tolist()
  spans = occupied_spans(problem)
  meets = [[spans_meet(spans[a], spans[b]) for b in range(n)] for a in range(n)]
  num_levels = hardware.num_levels
  if exhaustive:
    for level in hardware.fast_levels:
      grid = level.capacity // level.alignment + 1
      if grid > MAX_GRID:
        raise ProblemError(
            f"at most {MAX_GRID} aligned offsets per level for exhaustive "
            f"brute force", where=f"level {level.name}", found=grid)
  pack = _pack_exhaustive if exhaustive else _pack_canonical
  packed: dict[tuple[int, tuple[int, ...]], dict[int, int] | None] = {}

  def packing(level: int, members: tuple[int, ...]) -> dict[int, int] | None:
    key = (level, members)
    if key not in packed:
      memory = hardware.levels[level]
      packed[key] = pack(members, sizes, meets, memory.capacity, memory.alignment)
    return packed[key]

  candidates = []
  layouts = []
  for assignment in itertools.product(range(num_levels), repeat=n):
    offsets = [-1] * n
    for level in range(1, num_levels):
      members = tuple(b for b in range(n) if assignment[b] == level)
      if not members:
        continue
      found = packing(level, members)
      if found is None:
        break
      for b, offset in found.items():
        offsets[b] = offset
    else:
      candidates.append(assignment)
      layouts.append(offsets)
  # Every buffer in level 0 always fits, so there is at least one candidate.
  times = _times(problem, hardware, np.array(candidates, np.int32)
                 .reshape(len(candidates), n))
  best = int(np.argmin(times))
  placement = Placement(levels=list(candidates[best]), offsets=layouts[best],
                        solver="brute-force")
  conflict = check_placement(problem, hardware, placement)
  if conflict is not None:
    raise RuntimeError(f"brute force built an invalid placement: {conflict}")
  return simulate_placement(problem, hardware, placement.levels), placement


_simulate_batch = jax.jit(jax.vmap(simulate, in_axes=(None, 0)))


def _times(problem: Problem, hardware: Hardware,
           levels: np.ndarray) -> np.ndarray:
  """The simulator's seconds of each row of `levels` ([B, N] int32).

  Pads every array to a power of two first (instructions of no compute,
  accesses of no bytes, buffers and rows in level 0: none changes a time) so
  that the many tiny problems of a test share a few compilations.
  """
  inputs = simulation_inputs(problem, hardware)
  count, n = levels.shape
  instructions = inputs.compute_s.shape[0]
  accesses = inputs.access_buffer.shape[0]

  def pad(array, length):
    return jnp.pad(array, [(0, _bucket(length) - array.shape[0])] +
                   [(0, 0)] * (array.ndim - 1))

  padded = dataclasses.replace(
      inputs,
      compute_s=pad(inputs.compute_s, instructions),
      other_memory_s=pad(inputs.other_memory_s, instructions),
      # Padding runs once, so that a copy done at the end still stalls.
      executions=jnp.pad(inputs.executions, (0, _bucket(instructions) - instructions),
                         constant_values=1.0),
      fastest_s=pad(inputs.fastest_s, accesses),
      access_instruction=pad(inputs.access_instruction, accesses),
      access_buffer=pad(inputs.access_buffer, accesses),
      access_seconds=pad(inputs.access_seconds, accesses))
  rows = np.zeros((_bucket(count), _bucket(n)), np.int32)
  rows[:count, :n] = levels
  return np.asarray(_simulate_batch(padded, jnp.asarray(rows)))[:count]


def _bucket(length: int) -> int:
  """The power of two >= length (at least 8)."""
  return max(8, 1 << max(length - 1, 0).bit_length())


def _pack_canonical(members, sizes, meets, capacity, alignment) -> dict[int, int] | None:
  """Offsets packing `members` by first fit in some order, or None."""
  for order in itertools.permutations(members):
    offsets: dict[int, int] = {}
    for b in order:
      size = sizes[b]
      busy = [(offsets[o], offsets[o] + sizes[o]) for o in offsets
              if sizes[o] and meets[o][b]]
      offset = lowest_free_offset(size, busy, alignment)
      if offset + size > capacity:
        break
      offsets[b] = offset
    else:
      return offsets
  return None


def _pack_exhaustive(members, sizes, meets, capacity, alignment) -> dict[int, int] | None:
  """Offsets packing `members`, trying every aligned offset, or None."""
  offsets: dict[int, int] = {}

  def place(position: int) -> bool:
    if position == len(members):
      return True
    b = members[position]
    size = sizes[b]
    if size > capacity:
      return False
    for offset in range(0, capacity - size + 1, alignment):
      if all(not sizes[o] or not size
             or not meets[o][b]
             or offset + size <= offsets[o] or offsets[o] + sizes[o] <= offset
             for o in offsets):
        offsets[b] = offset
        if place(position + 1):
          return True
        del offsets[b]
    return False

  return dict(offsets) if place(0) else None
