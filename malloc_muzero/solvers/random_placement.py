"""`random`: a random legal placement, the lowest floor.

Buffers in a random order; each goes, with probability 1/2, to a random
canonical offset (the start of a free range that holds it whenever it holds
its bytes, `occupancy.reserved_spans`) of a random fast level with room for
it, else to the default memory. Seeded.
"""

from __future__ import annotations

import numpy as np

from malloc_muzero.placement import Placement
from malloc_muzero.solvers.occupancy import occupancies, reserved_spans
from malloc_muzero.solvers.registry import register


@register("random")
def random_placement(problem, hardware, options):
  rng = np.random.default_rng(options.seed)
  levels = np.zeros(problem.num_buffers, np.int32)
  offsets = np.full(problem.num_buffers, -1, np.int64)
  memories = occupancies(hardware)
  spans = reserved_spans(problem)
  for b in rng.permutation(problem.num_buffers).tolist():
    if rng.random() < 0.5:
      continue
    size = int(problem.sizes[b])
    choices = [(level, offset) for level, memory in memories.items()
               for offset in memory.candidate_offsets(size, spans[b])]
    if choices:
      level, offset = choices[rng.integers(len(choices))]
      memories[level].place(size, spans[b], offset)
      levels[b], offsets[b] = level, offset
  return Placement(levels=levels, offsets=offsets)
