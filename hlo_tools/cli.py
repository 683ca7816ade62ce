"""`malloc-extract`: HLO text or an XLA dump directory -> a buffer-assignment problem.

    malloc-extract INPUT [-o problem.json] [--module NAME] [--live-ranges]
                   [--format json|csv] [--default-trip-count N]
                   [--xla-assignment FILE] [--placement-out placement.json]

INPUT is an HLO text file (`compiled.as_text()`, `*after_optimizations.txt`) or a
directory written by `XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text`.
Without `-o` it prints a one-screen summary; with `--live-ranges` it prints one
line per HloValue as XLA's `-live-range.txt` does (`name{index}:start-end`).
A loop without XLA's `known_trip_count` runs `--default-trip-count` times (5,
as in XLA's cost analysis).
`--xla-assignment FILE` reads XLA's `*-buffer-assignment.txt` of the same
module (by default the one beside a dumped module, if any): the summary gives
its largest temporary allocation and says where XLA put the buffers, and
`--placement-out` writes XLA's assignment as a placement JSON of the problem
(`hlo_tools.xla_assignment`: XLA's temporary allocation as the fast memory, its
other allocations in the default memory), for `malloc-eval PROBLEM PLACEMENT`.
Bad input prints one line naming the file, line and what was expected, and the
command exits with status 1; a bad flag exits with status 2, Ctrl-C with 130,
each with one line and no traceback.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import warnings

from hlo_tools.extract import (UnpricedOpcodeWarning, load_module, module_to_problem,
                               run_guarded)
from hlo_tools.liveness import analyze_liveness
from hlo_tools.schedule import DEFAULT_TRIP_COUNT
from hlo_tools.xla_assignment import read_assignment, report_beside, xla_hardware, xla_placement
from malloc_muzero import ProblemError, write_minimalloc_csv
from malloc_muzero.atomic_file import check_writable, refuse_input_as_output
from malloc_muzero.cli_args import DEFAULT_HARDWARE, Parser, run_command
from malloc_muzero.hardware import get_hardware
from malloc_muzero.placement_io import save_placement_json


def _trip_count(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not (value > 0 and math.isfinite(value)):
    raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
  return value


def _parser() -> argparse.ArgumentParser:
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
  parser.add_argument("--xla-assignment", metavar="FILE", help="XLA's "
                      "*-buffer-assignment.txt of the module (default: the one beside a "
                      "dumped module, if any)")
  parser.add_argument("--placement-out", metavar="FILE", help="write XLA's assignment "
                      "as a placement of the problem (.json): its temporary allocation "
                      "as the fast memory, its other allocations in slow memory")
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command; returns the exit status (0 done, 1 bad input, 2 bad
  flags, 130 interrupted)."""
  return run_command("malloc-extract", _parser(), _extract, argv,
                     lambda args: args.input, bad_input_status=1)


def _output_format(args) -> str | None:
  """"json" or "csv" for `-o`, which must end in that extension (what
  `malloc-solve` and `malloc-eval` read a problem by)."""
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
  for output in (args.output, args.placement_out):
    if output is not None:
      refuse_input_as_output(output, args.input, args.xla_assignment)
      check_writable(output)
  fmt = _output_format(args)
  if args.placement_out is not None and (
      not args.placement_out.lower().endswith(".json") or args.placement_out == args.output):
    raise ProblemError("a .json file other than -o (malloc-eval reads a placement by its "
                       "extension)", "command line", "--placement-out", args.placement_out)
  module = load_module(args.input, args.module)
  report = args.xla_assignment or report_beside(module.filename)
  if args.placement_out is not None and report is None:
    raise ProblemError("--xla-assignment FILE, or an XLA dump directory with the "
                       "module's *-buffer-assignment.txt", "command line", "--placement-out",
                       args.placement_out)
  if args.xla_assignment is not None:
    read_assignment(args.xla_assignment)  # A bad report is refused before any work.
  if args.live_ranges:
    liveness = run_guarded(module, None, analyze_liveness, module)
    sys.stdout.write("".join(line + "\n" for line in liveness.xla_lines()))
    return 0
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UnpricedOpcodeWarning)
    problem = module_to_problem(module, default_trip_count=args.default_trip_count,
                                strict=args.strict, xla_assignment=args.xla_assignment)
  # The module is done with: a large one's objects (cycles of instructions and
  # computations, which only the collector frees) go before the problem is
  # written, not after.
  del module
  gc.collect()
  for warning in caught:
    print(f"malloc-extract: warning: {warning.message}", file=sys.stderr)
  xla = (xla_placement(problem, report) if args.xla_assignment is not None
         or args.placement_out is not None else None)
  print(problem.summary())
  if xla is not None:
    print(xla.summary(problem))
  if fmt == "csv":
    write_minimalloc_csv(args.output, problem)
  elif fmt == "json":
    problem.save_json(args.output)
  if fmt:
    print(f"wrote {args.output}")
  if args.placement_out is not None:
    _save_xla_placement(args.placement_out, problem, xla)
    print(f"wrote {args.placement_out}")
  return 0


def _save_xla_placement(path: str, problem, xla) -> None:
  """XLA's placement as JSON, with the model it is scored on: the default
  preset, its first fast level XLA's temporary allocation."""
  # Deferred: the simulator imports JAX, which malloc-extract needs only for --placement-out.
  from malloc_muzero.simulator import simulate_placement, simulation_bounds

  hardware = xla_hardware(get_hardware(DEFAULT_HARDWARE), xla.temp_bytes)
  save_placement_json(path, problem, hardware, xla.placement,
                      simulate_placement(problem, hardware, xla.placement.levels),
                      simulation_bounds(problem, hardware))


def run() -> None:
  """Console-script entry point."""
  sys.exit(main())


if __name__ == "__main__":
  run()
