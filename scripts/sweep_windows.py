"""XLA's heuristic with and without prefetching, over the window gap.

    python scripts/sweep_windows.py [--programs conv_net,strassen_matmul,...]
        [--capacity-fractions 0.1,0.3,0.5] [--gaps 8,16,32,64,128] [--prefetch-steps 4]
        [--exact-gap 64 --time-limit 30] [--picker] [--time-model xla|additive]

For each catalogue program and fast-memory capacity (a share of its peak live
bytes, `tpu-v4`), prints the share of the slow-fast gap that `xla-msa` closes
on the program as it is, and on the program split into windows
(`malloc_muzero.windows`) at each `--gaps` value (accesses further apart than
that many steps go to different windows, with a prefetch or an eviction
between them). With `--time-limit` (seconds; formerly `--exact-seconds`),
CP-SAT (`exact`) also solves the
windows at `--exact-gap`: its best placement and the bound it proves. With
`--picker`, one more column: `xla-msa` on the windows at `--exact-gap` whose
prefetches start where XLA's prefetch interval picker prefers
(`malloc_muzero.prefetch_picker`) instead of `--prefetch-steps` before the use.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from malloc_muzero.simulator import gap_closed  # noqa: E402
from experiments.problem_sources import program_problem  # noqa: E402
from malloc_muzero import get_hardware, simulate_placement, simulation_bounds  # noqa: E402
from malloc_muzero.cli_args import renamed_flags  # noqa: E402
from malloc_muzero.solvers import solve  # noqa: E402
from malloc_muzero.solvers.exact import solve_exact  # noqa: E402
from malloc_muzero.prefetch_picker import xla_picker  # noqa: E402
from malloc_muzero.windows import DEFAULT_PREFETCH_STEPS, split_into_windows  # noqa: E402


# Former spellings of the flags (old -> new): they still work, saying the new name.
RENAMES = {"--fractions": "--capacity-fractions", "--exact-seconds": "--time-limit"}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--programs",
                      default="conv_net,strassen_matmul,transformer_train_step,attention,"
                      "scan_rnn")
  parser.add_argument("--capacity-fractions", dest="fractions", default="0.1,0.3,0.5",
                      help="comma-separated shares of peak live bytes; formerly --fractions")
  parser.add_argument("--gaps", default="8,16,32,64,128")
  parser.add_argument("--prefetch-steps", type=int, default=DEFAULT_PREFETCH_STEPS)
  parser.add_argument("--exact-gap", type=int, default=64)
  parser.add_argument("--time-limit", dest="exact_seconds", type=float, default=0.0,
                      metavar="SECONDS",
                      help="seconds of CP-SAT (exact) on the windows at --exact-gap "
                      "(0: no exact); formerly --exact-seconds")
  parser.add_argument("--time-model", choices=("xla", "additive"), default="xla")
  parser.add_argument("--picker", action="store_true")
  args = parser.parse_args(renamed_flags(os.path.basename(__file__), sys.argv[1:],
                                          RENAMES))
  gaps = [int(g) for g in args.gaps.split(",")]

  header = f"{'program':<24} {'capacity':>8} {'xla-msa':>8}" + "".join(
      f" {'gap ' + str(g):>8}" for g in gaps)
  if args.exact_seconds:
    header += f" {'exact@' + str(args.exact_gap):>9} {'bound':>7}"
  if args.picker:
    header += f" {'picker@' + str(args.exact_gap):>10}"
  print(f"share of the slow-fast gap closed (tpu-v4, {args.time_model} time model, "
        f"prefetch over {args.prefetch_steps} steps); xla-msa on the program, then on "
        "its windows")
  print(header)
  for fraction in (float(f) for f in args.fractions.split(",")):
    for name in args.programs.split(","):
      problem = program_problem(name)
      hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(fraction),
                              time_model=args.time_model)
      slow, fast = simulation_bounds(problem, hardware)

      def closed(p, hardware=hardware, slow=slow, fast=fast):
        placement = solve("xla-msa", p, hardware)
        return gap_closed(simulate_placement(p, hardware, placement.levels), slow, fast)

      row = f"{name:<24} {fraction:>8.0%} {closed(problem):>8.1%}"
      for gap in gaps:
        row += f" {closed(split_into_windows(problem, gap, args.prefetch_steps).problem):>8.1%}"
      if args.exact_seconds:
        windows = split_into_windows(problem, args.exact_gap, args.prefetch_steps).problem
        result = solve_exact(windows, hardware, time_limit_s=args.exact_seconds)
        row += (f" {gap_closed(result.objective_s, slow, fast):>9.1%}"
                f" {gap_closed(result.bound_s, slow, fast):>7.1%}")
      if args.picker:
        picked = split_into_windows(problem, args.exact_gap, args.prefetch_steps,
                                    picker=xla_picker(problem, hardware)).problem
        row += f" {closed(picked):>10.1%}"
      print(row, flush=True)


if __name__ == "__main__":
  main()
