"""JAX's persistent compilation cache for the project's commands.

The agent's self-play and update compile for 20 to 50 s each on programs of
thousands of buffers (docs/agent/README.md, "Set-up cost"); a second command
on a problem of the same shapes (a rerun of `malloc-solve --solver muzero`,
a report continued, a resumed training run) reads the executables from disk
instead. Every command calls `enable()` once its flags are parsed; the
library itself never changes JAX's configuration.

Where: `MALLOC_MUZERO_COMPILATION_CACHE` (a directory, or `off`), else JAX's
own `JAX_COMPILATION_CACHE_DIR` when the user set it, else
`$XDG_CACHE_HOME/malloc_muzero/jax` (`~/.cache/malloc_muzero/jax`). Only
computations that take at least `MIN_COMPILE_S` to compile are stored.

A program captured for its HLO (`hlo_tools.capture_jax`) is compiled outside
the cache (`bypassed`): an executable read from the cache dumps nothing (XLA's
dump flags are not part of the cache key) and its compile time is not XLA's.
"""

from __future__ import annotations

import contextlib
import os

ENV = "MALLOC_MUZERO_COMPILATION_CACHE"
MIN_COMPILE_S = 1.0


def cache_dir(environ=None) -> str | None:
  """The directory the commands cache compiled computations in, or None when
  `MALLOC_MUZERO_COMPILATION_CACHE=off`."""
  environ = os.environ if environ is None else environ
  chosen = environ.get(ENV, "").strip()
  if chosen.lower() == "off":
    return None
  if chosen:
    return os.path.expanduser(chosen)
  if environ.get("JAX_COMPILATION_CACHE_DIR"):
    return environ["JAX_COMPILATION_CACHE_DIR"]
  base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "malloc_muzero", "jax")


def enable(environ=None) -> str | None:
  """Turn JAX's persistent compilation cache on at `cache_dir()`; returns the
  directory (None: off). A directory that cannot be made leaves the cache off
  (a command never fails for want of a cache). Before JAX is imported this
  only sets the environment JAX reads its options from, so that a command
  that never compiles (`malloc-extract` on an HLO file) does not load JAX."""
  import sys

  directory = cache_dir(environ)
  if directory is None:
    return None
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError:
    return None
  options = {"jax_compilation_cache_dir": directory,
             "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_S}
  if "jax" in sys.modules:
    for name, value in options.items():
      sys.modules["jax"].config.update(name, value)
  else:
    os.environ.update({name.upper(): str(value) for name, value in options.items()})
  return directory


@contextlib.contextmanager
def bypassed():
  """Compile without the persistent cache inside the block (neither read nor
  written), and with it again after, when it is on."""
  import jax
  from jax.experimental.compilation_cache import compilation_cache

  if not (jax.config.jax_enable_compilation_cache and jax.config.jax_compilation_cache_dir):
    yield
    return
  # JAX decides whether to use the cache at a process's first compilation and
  # keeps that answer until `reset_cache`.
  jax.config.update("jax_enable_compilation_cache", False)
  compilation_cache.reset_cache()
  try:
    yield
  finally:
    jax.config.update("jax_enable_compilation_cache", True)
    compilation_cache.reset_cache()
