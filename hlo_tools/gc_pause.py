"""Pause Python's cyclic garbage collector while building a large structure."""

from __future__ import annotations

import contextlib
import gc

# Objects moved to the oldest generation by `gc_paused(promote=True)` since
# the last full collection it ran; past the limit it runs one, so that a loop
# that parses modules and drops them keeps its memory bounded (promoted
# objects do not count towards CPython's own trigger of full collections).
_PROMOTED_LIMIT = 200_000
_promoted = 0


@contextlib.contextmanager
def gc_paused(promote: bool = False):
  """Pause the cyclic collector while many small objects that live on are
  built (its passes would find nothing to free, and cost a third of a parse).

  With `promote`, the objects made meanwhile join the oldest generation on the
  way out (`gc.freeze` then `gc.unfreeze`), without the pass over all of them
  that re-enabling the collector would start at once: for a structure that
  lives on (a parsed module). Once the objects so moved pass
  `_PROMOTED_LIMIT`, a full collection runs instead. Not where the program
  froze objects itself.
  """
  global _promoted
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      if promote and not gc.get_freeze_count():
        _promoted += gc.get_count()[0]
        gc.freeze()
        gc.unfreeze()
        if _promoted > _PROMOTED_LIMIT:
          _promoted = 0
          gc.collect()
      gc.enable()
