"""`malloc-solve`: place a problem's buffers with a named solver.

    malloc-solve INPUT --solver NAME [--hardware PRESET]
                 [--capacity BYTES | --capacity-fraction F]
                 [--seed N] [--time-limit SECONDS] [--iterations N]
                 [--checkpoint DIR]
                 [--windows [--min-gap STEPS] [--prefetch-steps STEPS]] -o OUT

INPUT is a problem JSON, a MiniMalloc CSV, an HLO text file or an XLA dump
directory (extracted with hlo_tools; `--module` picks a module). OUT is the
placement JSON or, for a CSV input, the CSV with its `offset` column (a buffer
left in slow memory gets an empty offset). It prints the placement's report:
validity, bytes per level, simulated time against the bounds. With
`--windows` every buffer is first split into windows around its uses, with
prefetches and evictions (`malloc_muzero.windows`): `--solver xla-msa
--windows` is XLA's heuristic with prefetching, and any solver places windows
the same way. On XLA's time model (the default) the placement JSON records
the original buffers' segments and copies and the hardware model (version
3), so `malloc-eval PROBLEM OUT` checks and times it without `--windows`.
`--solver xla-msa-prefetch` is XLA's own algorithm, use by use: it splits
buffers into segments and times its copies itself (no `--windows`).
A search solver stopped by `--time-limit` alone may place differently from
run to run; `--iterations N` (without `--time-limit`) fixes its work, so that
the same `--seed` gives the same placement (`SolverOptions`).
Exit status: 0 done, 2 bad input (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from hlo_tools import load_module, module_to_problem
from malloc_muzero.atomic_file import check_writable, refuse_input_as_output
from malloc_muzero.cli_args import (Parser, add_hardware_arguments, add_window_arguments,
                                    capacity_of, command_hardware, iteration_count, run_command,
                                    seconds, seed, windows_for)
from malloc_muzero.errors import ProblemError
from malloc_muzero.placement_io import save_placement_csv, save_placement_json, save_segments_json
from malloc_muzero.problem_io import load_problem

_PROG = "malloc-solve"


def _parser() -> argparse.ArgumentParser:
  # Deferred: the solvers import JAX; importing this module (load_any_problem) must not.
  from malloc_muzero.solvers import iterative_solver_names

  parser = Parser(prog=_PROG, description="Place a buffer-assignment "
                  "problem's buffers with a named solver.", renames={"--output": "--out"})
  parser.add_argument("input", help="problem (.json), MiniMalloc CSV (.csv), "
                      "HLO text file or XLA dump directory")
  parser.add_argument("--solver", required=True, help="solver name")
  add_hardware_arguments(parser)
  parser.add_argument("--seed", type=seed, default=0, help="seed of a randomised "
                      "solver, in [0, 2**31 - 1] (default 0)")
  parser.add_argument("--time-limit", type=seconds, metavar="SECONDS",
                      help="wall-clock budget of the solver")
  parser.add_argument("--iterations", type=iteration_count, metavar="N",
                      help="iteration budget of a search solver ("
                      f"{', '.join(iterative_solver_names())}; what an iteration "
                      "is depends on the solver): without --time-limit the run is "
                      "reproducible for a --seed, which a time limit alone is not")
  parser.add_argument("--module", help="module of an XLA dump directory")
  parser.add_argument("--checkpoint", metavar="DIR",
                      help="training run directory (for --solver muzero)")
  add_window_arguments(parser)
  parser.add_argument("-o", "--out", dest="output", metavar="FILE", required=True,
                      help="placement file to write (.json, or .csv for a CSV input); "
                      "formerly --output")
  return parser


def load_any_problem(path: str, module: str | None = None):
  """A Problem from a problem JSON, a MiniMalloc CSV, HLO text or a dump dir."""
  if not os.path.isdir(path) and path.lower().endswith((".json", ".csv")):
    return load_problem(path)
  return module_to_problem(load_module(path, module))


def main(argv: list[str] | None = None) -> int:
  """Runs the command; returns the exit status (0 done, 2 bad input)."""
  def body(args) -> int:
    print("\n".join(_solve(args)))
    return 0
  return run_command(_PROG, _parser(), body, argv, lambda args: args.input)


def _solve(args) -> list[str]:
  # Deferred: these import JAX, loaded once the command line is read.
  from malloc_muzero.placement_report import report_lines
  from malloc_muzero.simulator import simulate_placement, simulation_bounds
  from malloc_muzero.solvers import (SolverOptions, check_iterations, places_segments,
                                     solve, solve_segments)

  # An unknown name, or one that takes no --iterations, fails before any work.
  check_iterations(args.solver, args.iterations)
  refuse_input_as_output(args.output, args.input)  # So does an output we may not write.
  check_writable(args.output)
  as_csv = args.output.lower().endswith(".csv")
  if not as_csv and not args.output.lower().endswith(".json"):
    raise ProblemError("a .json placement (or .csv for a MiniMalloc problem)",
                       "command line", "-o", args.output)
  if as_csv and not args.input.lower().endswith(".csv"):
    raise ProblemError("a .json output for a problem that is not a MiniMalloc CSV",
                       "command line", "-o", args.output)
  segmented = places_segments(args.solver)
  if segmented and (args.windows or as_csv):
    raise ProblemError("a .json output and no --windows (the solver splits buffers "
                       "into segments itself)", "command line", where="--solver",
                       found=args.solver)
  original = load_any_problem(args.input, args.module)
  if not original.num_buffers:  # (The solvers' own error cannot name the file.)
    raise ProblemError("a problem with at least one buffer", args.input)
  windows = windows_for(original, args)
  problem = windows.problem if windows else original
  # A share of the program's own peak, also when it is split into windows.
  hardware = command_hardware(problem, args.hardware, capacity_of(original, args),
                              args.time_model)
  options = SolverOptions(seed=args.seed, time_limit_s=args.time_limit,
                          progress=sys.stderr.isatty(), checkpoint=args.checkpoint,
                          iterations=args.iterations)
  start = time.monotonic()
  if segmented:
    solution = solve_segments(args.solver, problem, hardware, options)
    seconds = time.monotonic() - start
    save_segments_json(args.output, problem, hardware, args.solver, solution.segments,
                       simulate_placement(solution.problem, hardware,
                                          solution.placement.levels),
                       simulation_bounds(problem, hardware))
    return report_lines(solution.problem, hardware, solution.placement, None,
                        args.output) + [f"solve time:     {seconds:.2f} s ({args.solver})"]
  placement = solve(args.solver, problem, hardware, options)
  seconds = time.monotonic() - start
  if as_csv:
    save_placement_csv(args.output, problem, placement)
  else:
    save_placement_json(args.output, problem, hardware, placement,
                        simulate_placement(problem, hardware, placement.levels),
                        simulation_bounds(problem, hardware), windows)
  # `solve` has already checked the placement (it raises on a conflict).
  return report_lines(problem, hardware, placement, None, args.output) + [
      f"solve time:     {seconds:.2f} s ({args.solver})"]


def run() -> None:
  """Console-script entry point."""
  sys.exit(main())


if __name__ == "__main__":
  run()
