"""What the game's slot grid costs XLA's placement, on the finest slot size
and on the one `agent.reference.replay_grid` chooses.

    python scripts/grid_loss.py --benchmark benchmark [--capacity-fraction 0.25] [--slots 128]

A game places buffers on a grid of slots, each buffer rounded up to whole
slots. The agent starts from XLA's placement replayed on that grid
(`xla_msa_on_grid`), and its answer is never slower than XLA's off the grid,
so what the grid costs XLA is what the agent's departures must first win
back. For each problem of a benchmark (`tpu-v4`, XLA's time model, a first
fast level of `--capacity-fraction` of the problem's peak), prints the share
of the slow-fast gap that `xla-msa` closes off the grid, replayed on the
finest grid of `--slots` slots (`game_instance.grid`) and on `replay_grid`'s,
with both slot sizes; then the same on the grid of at most `MAX_SLOTS` slots
(the agent's own game; the solvers keep the finest).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.benchmark import benchmark_entries  # noqa: E402
from experiments.comparison import hardware_at_fraction  # noqa: E402
from malloc_muzero import simulation_bounds  # noqa: E402
from malloc_muzero.agent.reference import replay_grid, xla_msa_on_grid  # noqa: E402
from malloc_muzero.game_instance import grid  # noqa: E402
from malloc_muzero.problem_io import load_problem  # noqa: E402
from malloc_muzero.simulator import gap_closed, simulate_placement  # noqa: E402
from malloc_muzero.solvers import solve  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--capacity-fraction", type=float, default=0.25)
  parser.add_argument("--slots", type=int, default=128, help="a network's action grid")
  args = parser.parse_args()
  print(f"share of the slow-fast gap xla-msa closes (tpu-v4, XLA's time model, "
        f"{args.capacity_fraction:.0%} of peak)\n")
  print("| problem | slots | off the grid | finest grid | replay_grid's | finest, B | chosen, B |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  gains = {args.slots: [], None: []}
  for entry in benchmark_entries(args.benchmark):
    problem = load_problem(entry.path)
    hardware = hardware_at_fraction(problem, "tpu-v4", args.capacity_fraction)
    slow, fast = simulation_bounds(problem, hardware)

    def closed(placement):
      return 100 * gap_closed(simulate_placement(problem, hardware, placement.levels),
                              slow, fast)

    off = closed(solve("xla-msa", problem, hardware))
    for slots in (args.slots, None):
      finest, count = grid(hardware, slots)
      chosen, _, replayed = replay_grid(problem, hardware, slots)
      on_finest = closed(xla_msa_on_grid(problem, hardware, finest, count))
      on_chosen = closed(replayed)
      gains[slots].append(on_chosen - on_finest)
      print(f"| {entry.name} | {slots or f'{count} (at most MAX_SLOTS)'} | {off:.2f}% | "
            f"{on_finest:.2f}% | {on_chosen:.2f}% | {finest:,} | {chosen:,} |", flush=True)
  for slots, gain in gains.items():
    print(f"\n{slots or 'MAX_SLOTS'} slots: replay_grid's grid faster than the finest on "
          f"{sum(g > 1e-9 for g in gain)} of {len(gain)} problems, slower on "
          f"{sum(g < -1e-9 for g in gain)}; mean gain {sum(gain) / len(gain):+.2f} points")


if __name__ == "__main__":
  main()
