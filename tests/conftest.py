"""Test-session settings.

The commands the tests run (in this process or in subprocesses) compile
through JAX's persistent cache (`malloc_muzero.compilation_cache`). The suite
keeps its own directory, out of the user's `~/.cache`, shared by the xdist
workers and the commands they start, so that a computation one of them
compiles is read by the others.
"""

import os
import tempfile

from malloc_muzero import compilation_cache

os.environ.setdefault(compilation_cache.ENV, os.path.join(
    tempfile.gettempdir(), f"malloc_muzero-tests-{os.getuid()}", "jax"))
