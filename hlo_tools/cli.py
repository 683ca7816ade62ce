"""`malloc-extract`: HLO text or an XLA dump directory -> a buffer-assignment problem.

    malloc-extract INPUT [-o problem.json] [--module NAME] [--live-ranges]
                   [--format json|csv] [--default-trip-count N]

INPUT is an HLO text file (`compiled.as_text()`, `*after_optimizations.txt`) or a
directory written by `XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text`.
Without `-o` it prints a one-screen summary; with `--live-ranges` it prints one
line per HloValue as XLA's `-live-range.txt` does (`name{index}:start-end`).
A loop without XLA's `known_trip_count` runs `--default-trip-count` times (5,
as in XLA's cost analysis).
Bad input prints one line naming the file, line and what was expected, and the
command exits with status 1; a bad flag exits with status 2, Ctrl-C with 130,
each with one line and no traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from hlo_tools.extract import (UnpricedOpcodeWarning, load_module, module_to_problem,
                               run_guarded)
from hlo_tools.liveness import analyze_liveness
from hlo_tools.schedule import DEFAULT_TRIP_COUNT


def _trip_count(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not (value > 0 and math.isfinite(value)):
    raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
  return value


def _parser() -> argparse.ArgumentParser:
  from malloc_muzero.cli_args import Parser

  parser = Parser(
      prog="malloc-extract",
      description="Turn optimised HLO into a buffer-assignment problem.",
      renames={"--output": "--out"})
  parser.add_argument("input", help="HLO text file or XLA dump directory")
  parser.add_argument("-o", "--out", dest="output", metavar="FILE", help="write the "
                      "problem here (.json, or .csv for MiniMalloc's format); formerly "
                      "--output")
  parser.add_argument("--module", help="module to take from a dump directory "
                      "(e.g. jit_train_step)")
  parser.add_argument("--live-ranges", action="store_true",
                      help="print XLA's BufferLiveRange lines instead of the summary")
  parser.add_argument("--format", choices=("json", "csv"),
                      help="output format (default: from the -o extension)")
  parser.add_argument("--strict", action="store_true",
                      help="refuse opcodes that XLA's cost analysis would price and this "
                      "one cannot (by default they cost their bytes, with a warning)")
  parser.add_argument("--default-trip-count", type=_trip_count, default=DEFAULT_TRIP_COUNT,
                      help="iterations of a while loop whose trip count XLA does "
                      f"not know (default {DEFAULT_TRIP_COUNT}, as XLA's cost analysis)")
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command; returns the exit status (0 done, 1 bad input, 2 bad
  flags, 130 interrupted)."""
  from malloc_muzero.cli_args import run_command

  return run_command("malloc-extract", _parser(), _extract, argv,
                     lambda args: args.input, bad_input_status=1)


def _output_format(args) -> str | None:
  """"json" or "csv" for `-o`, which must end in that extension (what
  `malloc-solve` and `malloc-eval` read a problem by)."""
  from malloc_muzero import ProblemError

  if args.output is None:
    return None
  ending = args.output.lower().rsplit(".", 1)[-1] if "." in args.output else ""
  fmt = args.format or ending
  if fmt not in ("json", "csv") or ending != fmt:
    expected = f"a .{args.format} file" if args.format else "a .json or .csv file"
    raise ProblemError(f"{expected} (the extension malloc-solve and malloc-eval read "
                       "a problem by)", "command line", "-o", args.output)
  return fmt


def _extract(args) -> int:
  # Imported here so that `--help` stays fast.
  from malloc_muzero import write_minimalloc_csv
  from malloc_muzero.atomic_file import check_writable, refuse_input_as_output

  if args.output is not None:
    refuse_input_as_output(args.output, args.input)
    check_writable(args.output)
  fmt = _output_format(args)
  module = load_module(args.input, args.module)
  if args.live_ranges:
    liveness = run_guarded(module, None, analyze_liveness, module)
    sys.stdout.write("".join(line + "\n" for line in liveness.xla_lines()))
    return 0
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UnpricedOpcodeWarning)
    problem = module_to_problem(module, default_trip_count=args.default_trip_count,
                                strict=args.strict)
  for warning in caught:
    print(f"malloc-extract: warning: {warning.message}", file=sys.stderr)
  print(problem.summary())
  if fmt == "csv":
    write_minimalloc_csv(args.output, problem)
  elif fmt == "json":
    problem.save_json(args.output)
  if fmt:
    print(f"wrote {args.output}")
  return 0


def run() -> None:
  """Console-script entry point."""
  sys.exit(main())


if __name__ == "__main__":
  run()
