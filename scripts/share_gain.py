"""What honouring per-value intervals and operand-slot reuse gains the
heuristics and the game, on a benchmark.

    python scripts/share_gain.py --benchmark benchmark [--capacity-fraction 0.25]

For each problem of a benchmark (`tpu-v4`, XLA's time model, a first fast
level of `--capacity-fraction` of the problem's peak), prints the share of the
slow-fast gap closed by:
* `first-fit` and `best-fit`'s placement (`solvers.occupancy.place_in_order`)
  with each buffer held over its whole live range, and over the spans it
  holds its bytes (`occupancy.reserved_spans`: its values' own intervals, an
  output on its dying operand's bytes at the shared step);
* the game's `first-fit` and `greedy` players (`players`) on the agent's grid
  (`game_instance.make_decoder`), with whole ranges (no `GameConfig.gaps`,
  no share marked in `GameProblem.busy_ends`) and as the game is built (gaps where
  the problem has buffers of several values, shares).
Deterministic; every placement is checked (`placement.check_placement`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.benchmark import benchmark_entries  # noqa: E402
from experiments.comparison import hardware_at_fraction  # noqa: E402
from malloc_muzero import game, players, simulation_bounds  # noqa: E402
from malloc_muzero.game_instance import make_decoder  # noqa: E402
from malloc_muzero.placement import Placement, check_placement  # noqa: E402
from malloc_muzero.problem_io import load_problem  # noqa: E402
from malloc_muzero.simulator import gap_closed, simulate_placement  # noqa: E402
from malloc_muzero.solvers.best_fit import heap_orders  # noqa: E402
from malloc_muzero.solvers.occupancy import place_in_order, reserved_spans  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--capacity-fraction", type=float, default=0.25)
  args = parser.parse_args()
  print(f"share of the slow-fast gap closed (tpu-v4, XLA's time model, "
        f"{args.capacity_fraction:.0%} of peak); whole ranges -> honoured\n")
  print("| problem | buffers | shares | several values | first-fit | best-fit "
        "| game first-fit | game greedy |")
  print("|---|---:|---:|---:|---:|---:|---:|---:|")
  gains: dict[str, list[float]] = {}
  for entry in benchmark_entries(args.benchmark):
    problem = load_problem(entry.path)
    hardware = hardware_at_fraction(problem, "tpu-v4", args.capacity_fraction)
    slow, fast = simulation_bounds(problem, hardware)

    def closed(placement):
      conflict = check_placement(problem, hardware, placement)
      if conflict is not None:
        raise SystemExit(f"share_gain: {entry.name}: invalid placement: {conflict.message}")
      return 100 * gap_closed(simulate_placement(problem, hardware, placement.levels),
                              slow, fast)

    spans = reserved_spans(problem)
    cells = {}
    for policy, orders in (("first-fit", [game.decision_order(problem)]),
                           ("best-fit", list(heap_orders(problem).values()))):
      cells[policy] = [max(closed(place_in_order(problem, hardware, order, policy, s))
                           for order in orders) for s in (None, spans)]
    decoder = make_decoder(problem, hardware)
    whole = game.make_game_problem(problem, hardware,
                                   dataclasses.replace(decoder.config, gaps=False))
    whole = whole.replace(busy_ends=whole.busy_ends | 1)
    for name in ("first-fit", "greedy"):
      cells[f"game {name}"] = []
      for game_problem in (whole, decoder.problem):
        state, _ = jax.jit(players.play, static_argnums=(1, 2))(
            game_problem, decoder.config.num_slots, players.PLAYERS[name],
            jax.random.PRNGKey(0))
        levels, offsets = game.placement_of(game_problem, state, decoder.config)
        cells[f"game {name}"].append(closed(Placement(levels=levels, offsets=offsets)))
    for name, (before, after) in cells.items():
      gains.setdefault(name, []).append(after - before)
    several = len(set(problem.interval_buffer.tolist()))
    print(f"| {entry.name} | {problem.num_buffers} | {len(problem.share_operand)} | "
          f"{several} | " + " | ".join(f"{b:.2f}% -> {a:.2f}%" for b, a in cells.values())
          + " |", flush=True)
  print()
  for name, gain in gains.items():
    print(f"{name}: faster honoured on {sum(g > 1e-9 for g in gain)} of {len(gain)}, "
          f"slower on {sum(g < -1e-9 for g in gain)}; mean {sum(gain) / len(gain):+.2f} points")


if __name__ == "__main__":
  main()
