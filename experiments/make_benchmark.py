"""Build the benchmark: one buffer-assignment problem per workload, and a manifest.

    python -m experiments.make_benchmark --out=DIR [--workloads=a,b,...]
        [--alphatensor=2x2x2:2:2048,3x3x3:1:1536,...] [--force]

The command line of `experiments.benchmark`, whose docstring says what is built,
when a problem is skipped, and the manifest's format.
"""

from __future__ import annotations

import sys

from absl import app
from absl import flags
from absl import logging

from experiments.benchmark import DEFAULT_ALPHATENSOR, UsageError, make_benchmark
from experiments.flag_parsing import one_line_flags

_OUT = flags.DEFINE_string("out", None, "directory of the benchmark (problems + manifest.json)")
_WORKLOADS = flags.DEFINE_list("workloads", [], "names to build (default: all)")
_ALPHATENSOR = flags.DEFINE_list("alphatensor", list(DEFAULT_ALPHATENSOR),
                                 "AlphaTensor programs, NxMxP:LEVELS:SIZE[:DTYPE]")
_FORCE = flags.DEFINE_bool("force", False, "rebuild problems even if current")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  if not _OUT.value:
    print("make_benchmark: error: --out=DIR is required", file=sys.stderr)
    sys.exit(2)
  try:
    status = make_benchmark(_OUT.value, [n.strip() for n in _WORKLOADS.value],
                            _ALPHATENSOR.value, _FORCE.value)
  except UsageError as error:
    print(f"make_benchmark: error: {error}", file=sys.stderr)
    sys.exit(2)
  except OSError as error:
    print(f"make_benchmark: error: {error.filename or _OUT.value}: "
          f"{error.strerror or error}", file=sys.stderr)
    sys.exit(2)
  sys.exit(status)


if __name__ == "__main__":
  app.run(main, flags_parser=one_line_flags("make_benchmark"))
