"""`malloc-eval`: check a placement of a problem and report its simulated time.

    malloc-eval PROBLEM (PLACEMENT | --xla-assignment FILE) [--hardware NAME]
                [--capacity BYTES | --capacity-fraction F] [--time-model xla|additive]
                [--windows [--min-gap STEPS] [--prefetch-steps STEPS]]

PROBLEM is a `.json` problem (`Problem.save_json`) or a `.csv` MiniMalloc
problem; PLACEMENT a `.json` placement (`save_placement_json`) or a `.csv`
MiniMalloc solution. A placement JSON of version 3 records its segments and
copies (`malloc_muzero.segments`) and the hardware model it was simulated on,
which is used unless `--hardware`, `--capacity`, `--capacity-fraction` or
`--time-model` is given. Otherwise the hardware is a named preset (default
tpu-v4); the capacity of its first fast level is `--capacity`, or
`--capacity-fraction` of the problem's peak live bytes, or for a MiniMalloc
problem the capacity in its file name (`A.1048576.csv`), or the preset's. With
`--windows` the problem is first split into windows around its uses (as
`malloc-solve --windows` does on the additive model, with the same
settings), and the placement is one of windows.

It prints whether the placement is valid (and its first conflict if not), the
bytes in fast memory, the simulated time, the two bounds (all buffers in slow
memory, all in fast memory) and the share of the gap between them that the
placement closes. Exit status: 0 valid, 1 invalid, 130 interrupted, 2 bad input (one line on
stderr).

With `--xla-assignment FILE` instead of PLACEMENT, the placement is XLA's own:
FILE is XLA's `*-buffer-assignment.txt` for the module PROBLEM was extracted
from (`hlo_tools.xla_assignment`). XLA's temporary allocation is the first fast
level, with XLA's size as its capacity and alignment 1, on the bandwidths of
`--hardware` (default tpu-v4); the buffers XLA put in its parameter, constant
and output allocations stay in the default memory, and a line counts them. A
report of another module (a buffer without a value in it, or at two
addresses) is bad input, exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from hlo_tools.xla_assignment import xla_hardware, xla_placement
from malloc_muzero.cli_args import (Parser, add_hardware_arguments, add_window_arguments,
                                     capacity_of, command_hardware, run_command, windows_for)
from malloc_muzero.placement import check_placement
from malloc_muzero.placement_io import load_placement, load_segments
from malloc_muzero.problem_io import load_problem
from malloc_muzero.segments import segment_problem

_PROG = "malloc-eval"


class _EvalParser(Parser):
  """Requires one of PLACEMENT and --xla-assignment, and with the latter none
  of the flags that choose another memory."""

  def parse_known_args(self, args=None, namespace=None):
    parsed, rest = super().parse_known_args(args, namespace)
    if (parsed.placement is None) == (parsed.xla_assignment is None):
      self.error("expected a placement file or --xla-assignment FILE (one of them)")
    for flag, value in (("--capacity", parsed.capacity),
                        ("--capacity-fraction", parsed.capacity_fraction),
                        ("--windows", parsed.windows or None)):
      if parsed.xla_assignment is not None and value is not None:
        self.error(f"{flag} does not apply to --xla-assignment (its memory is XLA's "
                   "temporary allocation, at XLA's size)")
    return parsed, rest


def _parser() -> argparse.ArgumentParser:
  parser = _EvalParser(
      prog=_PROG,
      description="Check a placement of a buffer-assignment problem and "
      "report its simulated time.")
  parser.add_argument("problem", help="problem file (.json, or .csv in "
                      "MiniMalloc's format)")
  parser.add_argument("placement", nargs="?", help="placement file (.json, or a .csv "
                      "MiniMalloc solution); omitted with --xla-assignment")
  parser.add_argument("--xla-assignment", metavar="FILE", help="check XLA's own "
                      "assignment instead of a placement: XLA's *-buffer-assignment.txt "
                      "of the module the problem comes from; its temporary allocation "
                      "is the fast memory (XLA's size, alignment 1), its other "
                      "allocations stay in slow memory")
  add_hardware_arguments(parser, recorded=True)
  add_window_arguments(parser)
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command; returns the exit status (0 valid, 1 invalid, 2 error)."""
  def body(args) -> int:
    lines, valid = _evaluate_xla(args) if args.xla_assignment else _evaluate(args)
    print("\n".join(lines))
    return 0 if valid else 1
  return run_command(_PROG, _parser(), body, argv,
                     lambda args: args.placement or args.xla_assignment)


def _evaluate_xla(args) -> tuple[list[str], bool]:
  """The report of XLA's own assignment, and whether it is valid."""
  # Deferred: the report's simulator imports JAX, loaded once the command line is read.
  from malloc_muzero.placement_report import report_lines

  problem = load_problem(args.problem)
  xla = xla_placement(problem, args.xla_assignment)
  hardware = xla_hardware(command_hardware(problem, args.hardware, None, args.time_model),
                          xla.temp_bytes)
  conflict = check_placement(problem, hardware, xla.placement)
  lines = report_lines(problem, hardware, xla.placement, conflict,
                       f"{args.xla_assignment} (XLA's buffer assignment)")
  return lines + [xla.summary(problem)], conflict is None


def _evaluate(args) -> tuple[list[str], bool]:
  """The report's lines, and whether the placement is valid."""
  # Deferred: the report's simulator imports JAX, loaded once the command line is read.
  from malloc_muzero.placement_report import report_lines

  problem = original = load_problem(args.problem)
  windows = windows_for(problem, args)
  problem = windows.problem if windows else problem
  recorded = None
  if args.placement.lower().endswith(".json"):
    segments, solver, recorded = load_segments(args.placement, problem)
    problem, placement = segment_problem(problem, segments)
    placement = dataclasses.replace(placement, solver=solver)
  else:
    placement = load_placement(args.placement, problem)
  chosen = (args.hardware, args.capacity, args.capacity_fraction,
            args.time_model) != (None,) * 4
  hardware = (recorded if recorded is not None and not chosen else
              command_hardware(problem, args.hardware, capacity_of(original, args),
                               args.time_model))
  conflict = check_placement(problem, hardware, placement)
  return report_lines(problem, hardware, placement, conflict, args.placement), \
      conflict is None


def run() -> None:
  """Console-script entry point."""
  sys.exit(main())


if __name__ == "__main__":
  run()
