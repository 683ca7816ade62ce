"""`best-fit`: XLA's GlobalDecreasingSizeBestFitHeap, in both its orders.

The heap (xla/service/heap_simulator) sorts buffers, then gives each the
smallest free chunk that holds it whenever it holds its bytes: over its
values' own intervals, and sharing an operand's slot where XLA's heap
simulator may (`occupancy.reserved_spans`). Its spatial order is by
size, largest first, ties by longer live range; its temporal order is by live
range, longest first, ties by larger size. XLA runs both and keeps the
better; so does this solver, judging by simulated time (then by bytes placed).
When not all buffers fit, those that find no chunk stay in default memory.
"""

from __future__ import annotations

import numpy as np

from malloc_muzero.simulator import simulate_placement
from malloc_muzero.solvers.occupancy import place_in_order, reserved_spans
from malloc_muzero.solvers.registry import register


def heap_orders(problem) -> dict[str, np.ndarray]:
  """XLA's spatial and temporal orders as [N] buffer indices."""
  index = np.arange(problem.num_buffers)
  duration = problem.ends - problem.starts
  return {"spatial": np.lexsort((index, -duration, -problem.sizes)),
          "temporal": np.lexsort((index, -problem.sizes, -duration))}


@register("best-fit")
def best_fit(problem, hardware, options):
  del options
  best, best_key = None, None
  spans = reserved_spans(problem)
  for order in heap_orders(problem).values():
    placement = place_in_order(problem, hardware, order, "best-fit", spans)
    placed = int(problem.sizes[placement.levels > 0].sum())
    key = (simulate_placement(problem, hardware, placement.levels), -placed)
    if best_key is None or key < best_key:
      best, best_key = placement, key
  return best
