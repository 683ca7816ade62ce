"""absl flag parsing for the project's commands: a bad flag in one line."""

from __future__ import annotations

import sys
from typing import Callable

from absl import flags

from malloc_muzero import compilation_cache
from malloc_muzero.cli_args import renamed_flags


def one_line_flags(prog: str, renames: dict[str, str] | None = None
                   ) -> Callable[[list[str]], list[str]]:
  """A `flags_parser` for `absl.app.run`: absl's flag parsing, with a bad flag
  reported in one line (`PROG: error: ...`, naming the flag) and exit status 2
  (as every command of the project), not absl's two lines and status 1.
  Once the flags are parsed, the command compiles through JAX's persistent
  cache (`malloc_muzero.compilation_cache`).

  `renames` maps deprecated spellings to the flags' names, with their dashes
  (`{"--time_budget_s": "--train_seconds"}`): an old spelling still works and
  prints one line saying the new name (`malloc_muzero.cli_args.renamed_flags`).
  """
  def parse_flags(argv: list[str]) -> list[str]:
    if renames:
      argv = argv[:1] + renamed_flags(prog, argv[1:], renames)
    try:
      remaining = flags.FLAGS(argv)
    except flags.Error as error:
      print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
      sys.exit(2)
    compilation_cache.enable()
    return remaining
  return parse_flags
