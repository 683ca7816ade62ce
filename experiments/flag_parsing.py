"""absl flag parsing for the project's commands: a bad flag in one line."""

from __future__ import annotations

import sys
from typing import Callable

from absl import flags


def one_line_flags(prog: str) -> Callable[[list[str]], list[str]]:
  """A `flags_parser` for `absl.app.run`: absl's flag parsing, with a bad flag
  reported in one line (`PROG: error: ...`, naming the flag) and exit status 2
  (as every command of the project), not absl's two lines and status 1."""
  def parse_flags(argv: list[str]) -> list[str]:
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:
      print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
      sys.exit(2)
  return parse_flags
