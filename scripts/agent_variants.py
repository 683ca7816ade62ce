"""Which guided search to ship: variants of the agent at equal wall time on the benchmark.

    python scripts/agent_variants.py --benchmark benchmark [--problems a,b] \\
        [--variants every_move,departures] [--time-limit 60] [--capacity-fraction 0.25]

Each variant is the `guided` preset with some search settings changed, run as
the report runs the agent (`agent.run.place_with_agent`: the starting game,
`--time-limit` seconds of training, the answer never slower than XLA's) on
every problem of the benchmark's manifest (or `--problems`), with a fast
memory of `--capacity-fraction` of its peak (tpu-v4, XLA's time model). It
prints, per problem and variant, the share of the slow-fast gap closed by the
answer (never slower than XLA's answers off the grid), by the start (XLA's
answer on the game's grid) and by the best game, and the games played; then,
per variant, the mean gap closed, on how many problems it is the best, and on
how many a game beat the start.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.benchmark import benchmark_entries  # noqa: E402
from experiments.comparison import hardware_at_fraction  # noqa: E402
from malloc_muzero.agent.presets import agent_config  # noqa: E402
from malloc_muzero.agent.run import place_with_agent  # noqa: E402
from malloc_muzero.problem_io import load_problem  # noqa: E402
from malloc_muzero.simulator import gap_closed, simulation_bounds  # noqa: E402

# Search and training settings of each variant, over the `guided` preset.
VARIANTS = {
    "every_move": {"search": {"departures": 0}, "follow_best": False},
    "every_move+best": {"search": {"departures": 0}, "follow_best": True},
    "departures": {"search": {"departures": 1}, "follow_best": True},
    "departures_4": {"search": {"departures": 4}, "follow_best": True},
    "all_actions": {"search": {"departures": 0, "num_candidates": 0}, "follow_best": False},
    # Departures drawn from the network's prior, no tree (num_simulations 0).
    "sampled": {"search": {"departures": 1, "num_simulations": 0}, "follow_best": True},
    "sampled_8": {"search": {"departures": 8, "num_simulations": 0}, "follow_best": True},
}


def variant_config(name: str):
  """The `TrainConfig` of a variant."""
  base = agent_config("guided")
  change = VARIANTS[name]
  return dataclasses.replace(
      base, follow_best=change["follow_best"],
      search=dataclasses.replace(base.search, **change["search"]))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--problems", default="", help="comma-separated names of the "
                      "manifest's problems (default: all)")
  parser.add_argument("--variants", default="every_move,departures",
                      help=f"comma-separated, among {', '.join(VARIANTS)}")
  parser.add_argument("--time-limit", type=float, default=60.0)
  parser.add_argument("--capacity-fraction", type=float, default=0.25)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  entries = benchmark_entries(args.benchmark)
  if args.problems:
    wanted = args.problems.split(",")
    entries = [e for e in entries if e.name in wanted]
  variants = args.variants.split(",")
  print(f"guided agent variants, {args.time_limit:g} s each, fast memory "
        f"{args.capacity_fraction:.0%} of peak (tpu-v4, XLA's time model), seed {args.seed}")
  print(f"{'problem':<28} {'variant':<16} {'answer':>8} {'start':>8} {'game':>8} "
        f"{'games':>6} {'wall s':>6}", flush=True)
  gaps = {v: [] for v in variants}
  beaten = {v: 0 for v in variants}
  for entry in entries:
    problem = load_problem(entry.path)
    hardware = hardware_at_fraction(problem, "tpu-v4", args.capacity_fraction, "xla")
    slow, fast = simulation_bounds(problem, hardware)
    for name in variants:
      start = time.monotonic()
      with tempfile.TemporaryDirectory() as workdir:
        result = place_with_agent(problem, hardware, workdir, args.time_limit, args.seed,
                                  variant_config(name), progress=False)
      game = result["game"]
      played = result["best_game_s"]
      gap = gap_closed(result["time_s"], slow, fast)
      gaps[name].append(gap)
      beaten[name] += result["game_beat_start"]
      print(f"{entry.name:<28} {name:<16} {gap:>8.3%} {gap_closed(game.time_s, slow, fast):>8.3%} "
            f"{gap_closed(played, slow, fast):>8.3%} {result['games']:>6} "
            f"{time.monotonic() - start:>6.0f}", flush=True)
  print()
  for name in variants:
    best = sum(g == max(gaps[v][i] for v in variants) for i, g in enumerate(gaps[name]))
    print(f"{name:<16} mean gap closed {sum(gaps[name]) / len(gaps[name]):.3%}, "
          f"best (ties included) on {best} of {len(gaps[name])}, a game beat the start on "
          f"{beaten[name]}")


if __name__ == "__main__":
  main()
