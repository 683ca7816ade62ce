"""`first-fit`: buffers by start of live range, each at the lowest free offset.

The floor every other solver should beat: the mallocGame's order (start, then
larger first) and the lowest offset of the fastest level that is free
whenever the buffer holds its bytes (its values' own intervals; an output
may take the slot of the operand whose range ends where its own begins,
`occupancy.reserved_spans`), else the default memory.
"""

from __future__ import annotations

from malloc_muzero.game import decision_order
from malloc_muzero.solvers.occupancy import place_in_order, reserved_spans
from malloc_muzero.solvers.registry import register


@register("first-fit")
def first_fit(problem, hardware, options):
  del options
  return place_in_order(problem, hardware, decision_order(problem), "first-fit",
                        reserved_spans(problem))
