"""How much better than XLA's heuristic any placement can be, proved by CP-SAT.

    python scripts/headroom_over_xla.py [--programs conv_net,strassen_matmul,...]
        [--capacity-fraction 0.3] [--time-limit 120]

For each catalogue program, with a fast memory of a share of its peak live
bytes on `tpu-v4`, prints the share of the slow-fast gap `xla-msa` closes, the
best placement CP-SAT finds (`exact`) and the lower bound it proves on any
placement's time, and from the bound the largest share of the gap between
`xla-msa` and the all-fast bound that any placement in the mallocGame (each
buffer in one level for its whole live range) can close. Beside them,
`xla-msa-prefetch` (XLA's algorithm with its prefetches and evictions; on
the XLA time model only): where it closes more than the bound, no
whole-buffer placement can beat XLA.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from malloc_muzero.simulator import gap_closed  # noqa: E402
from experiments.problem_sources import program_problem  # noqa: E402
from malloc_muzero import get_hardware, simulate_placement, simulation_bounds  # noqa: E402
from malloc_muzero.solvers import solve, solve_segments  # noqa: E402
from malloc_muzero.solvers.exact import solve_exact  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--programs", default="conv_net,strassen_matmul,transformer_train_step")
  parser.add_argument("--capacity-fraction", type=float, default=0.3)
  parser.add_argument("--time-limit", type=float, default=120.0)
  parser.add_argument("--time-model", choices=("xla", "additive"), default="xla")
  args = parser.parse_args()

  print(f"{'program':<24} {'xla-msa':>8} {'exact':>8} {'proved':>7} {'bound':>8} "
        f"{'headroom over xla-msa':>22} {'xla-msa-prefetch':>16}")
  headrooms = []
  for name in args.programs.split(","):
    problem = program_problem(name)
    hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(args.capacity_fraction),
                            time_model=args.time_model)
    slow, fast = simulation_bounds(problem, hardware)
    msa = gap_closed(simulate_placement(problem, hardware,
                                        solve("xla-msa", problem, hardware).levels),
                     slow, fast)
    result = solve_exact(problem, hardware, time_limit_s=args.time_limit)
    bound = gap_closed(result.bound_s, slow, fast)
    headroom = (bound - msa) / (1 - msa)
    headrooms.append(headroom)
    prefetch = "n/a"
    if args.time_model == "xla":
      solution = solve_segments("xla-msa-prefetch", problem, hardware)
      time_s = simulate_placement(solution.problem, hardware, solution.placement.levels)
      prefetch = f"{gap_closed(time_s, slow, fast):.1%}"
    print(f"{name:<24} {msa:>8.1%} {gap_closed(result.objective_s, slow, fast):>8.1%} "
          f"{'optimal' if result.optimal else 'no':>7} {bound:>8.1%} {headroom:>22.1%} "
          f"{prefetch:>16}")
  print(f"{'mean':<24} {'':>8} {'':>8} {'':>7} {'':>8} "
        f"{sum(headrooms) / len(headrooms):>22.1%}")


if __name__ == "__main__":
  main()
