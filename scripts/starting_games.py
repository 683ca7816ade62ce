"""Which of XLA's answers the agent starts from, problem by problem.

    python scripts/starting_games.py --benchmark benchmark [--capacity-fractions 0.2,0.25,0.3]

For each problem of a benchmark (`experiments.make_benchmark`) and each
capacity (a share of the problem's peak live bytes, on `tpu-v4` and XLA's time
model), prints the share of the slow-fast gap closed by the three candidates
of `agent.reference.starting_game` (`starting_candidates`), all on the game's grid: `xla-msa` on the
whole buffers, `xla-msa-prefetch`'s placement of its own cut, and `xla-msa` on
that cut; which one the agent starts from; and the game's size (buffers or
windows). The last rows count, over all problems, how often the start is
strictly faster than `xla-msa` (and than `xla-msa-prefetch`).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.benchmark import benchmark_entries  # noqa: E402
from experiments.comparison import hardware_at_fraction  # noqa: E402
from malloc_muzero import simulation_bounds  # noqa: E402
from malloc_muzero.cli_args import renamed_flags  # noqa: E402
from malloc_muzero.agent.reference import starting_candidates  # noqa: E402
from malloc_muzero.problem_io import load_problem  # noqa: E402
from malloc_muzero.simulator import gap_closed  # noqa: E402

# Former spellings of the flags (old -> new): they still work, saying the new name.
RENAMES = {"--fractions": "--capacity-fractions"}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--capacity-fractions", dest="fractions", default="0.2,0.25,0.3",
                      help="comma-separated shares of peak live bytes; formerly --fractions")
  args = parser.parse_args(renamed_flags(os.path.basename(__file__), sys.argv[1:],
                                          RENAMES))

  entries = benchmark_entries(args.benchmark)
  for fraction in (float(f) for f in args.fractions.split(",")):
    print(f"\n## {fraction:.0%} of peak\n")
    print("| problem | xla-msa | xla-msa-prefetch | xla-msa on XLA's cut | start | game size |")
    print("|---|---:|---:|---:|---|---:|")
    better = {"xla-msa": 0, "xla-msa-prefetch": 0}
    for entry in entries:
      problem = load_problem(entry.path)
      hardware = hardware_at_fraction(problem, "tpu-v4", fraction, "xla")
      bounds = simulation_bounds(problem, hardware)
      candidates = starting_candidates(problem, hardware)
      start = min(candidates, key=lambda c: c.time_s)
      times = {c.label: c.time_s for c in candidates}
      cells = " | ".join(f"{gap_closed(c.time_s, *bounds):.1%}" for c in candidates)
      print(f"| {entry.name} | {cells} | {start.label} | {start.problem.num_buffers:,} |")
      for name in better:
        better[name] += start.time_s < times[name] * (1 - 1e-9)
    for name, count in better.items():
      print(f"\nstart strictly faster than {name} on {count} of {len(entries)}")


if __name__ == "__main__":
  main()
