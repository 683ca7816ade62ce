"""How good are the departures a network proposes? Games that beat their start, per network.

    python scripts/departure_quality.py --benchmark benchmark \\
        --networks malloc_muzero/agent/pretrained,runs/warm/export [--batches 20]

For each held-out problem of the benchmark (or `--problems`), with a fast
memory of `--capacity-fraction` of its peak (tpu-v4, XLA's time model), plays
`--batches` batches of the default agent's self-play from its start (XLA's
answer on the game's grid, `agent.reference.starting_game`), without
following the best game, so that every batch departs from the same start.
The same batches (same seeds, same departing moves) are played with each
exported network of `--networks`, with the first one's initial parameters
("untrained") and with every parameter zero ("none"). It prints, per problem
and network, how many games beat the start, the largest gain (share of the
all-slow time) and the share of departures that left the buffer in the
default memory. Equal games, not equal time: this measures the proposals,
not their cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.benchmark import benchmark_entries  # noqa: E402
from experiments.comparison import hardware_at_fraction
from malloc_muzero.agent import pretrained
from malloc_muzero.agent.reference import make_reference, play_reference, starting_game
from malloc_muzero.agent.search import departure_moves, self_play
from malloc_muzero.agent.train import Trainer
from malloc_muzero.game_instance import make_decoder
from malloc_muzero.problem_io import load_problem  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--problems", default="", help="comma-separated names of the "
                      "manifest's problems (default: the held-out ones)")
  parser.add_argument("--networks", default="", help="comma-separated directories of "
                      "exported networks (default: the pretrained one)")
  parser.add_argument("--batches", type=int, default=20)
  parser.add_argument("--capacity-fraction", type=float, default=0.25)
  args = parser.parse_args()

  import jax
  import jax.numpy as jnp
  import numpy as np

  entries = benchmark_entries(args.benchmark)
  wanted = args.problems.split(",") if args.problems else None
  entries = [e for e in entries if (e.name in wanted if wanted else
                                    e.info.get("split") == "held_out")]
  directories = args.networks.split(",") if args.networks else [pretrained.PRETRAINED]
  loaded = [pretrained.load(d) for d in directories]
  description = loaded[0][0]
  # Every batch departs from the same start: the best game is not followed.
  config = dataclasses.replace(pretrained.play_config(description), follow_best=False)
  slots = description["num_slots"]
  print(f"{args.batches} batches of {config.games_per_iteration} games from the start, "
        f"fast memory {args.capacity_fraction:.0%} of peak (tpu-v4, XLA's time model)")
  print(f"{'problem':<28} {'network':<18} {'beat start':>10} {'best gain':>10} "
        f"{'to slow':>8} {'wall s':>7}", flush=True)
  for entry in entries:
    problem = load_problem(entry.path)
    hardware = hardware_at_fraction(problem, "tpu-v4", args.capacity_fraction, "xla")
    game = starting_game(problem, hardware, num_slots=slots)
    decoder = make_decoder(game.problem, hardware, slots)
    reference = make_reference(game.problem, hardware, decoder, game.placement)
    trainer = Trainer([decoder.problem], decoder.config, description["num_fast_levels"],
                      config, 0, [reference])
    start_return = float(play_reference(decoder.problem, slots, reference)[0])
    networks = [(pretrained.network_name(d), params)
                for d, (_, params) in zip(directories, loaded)]
    networks += [("untrained", trainer.initial_params()),
                 ("none", jax.tree.map(jnp.zeros_like, loaded[0][1]))]
    for name, params in networks:
      began = time.monotonic()
      beat, gain, departures, to_slow = 0, 0.0, 0, 0
      for batch in range(args.batches):
        key = jax.random.key(batch)
        _, trajectory = self_play(trainer.network, trainer.support, config.search, params,
                                  decoder.problem, slots, key, config.games_per_iteration,
                                  reference=reference)
        departing = np.asarray(departure_moves(
            decoder.problem, config.search.departures, config.games_per_iteration,
            jax.random.fold_in(key, 2))) & np.asarray(trajectory.active)
        returns = np.asarray(trajectory.rewards.sum(axis=1))
        actions = np.asarray(trajectory.actions)[departing]
        beat += int((returns > start_return * (1 + 1e-7)).sum())
        gain = max(gain, float(returns.max()) - start_return)
        departures += actions.size
        to_slow += int((actions == 0).sum())
      print(f"{entry.name:<28} {name:<18} {beat:>10} {gain:>10.2e} "
            f"{to_slow / max(departures, 1):>8.0%} {time.monotonic() - began:>7.0f}",
            flush=True)


if __name__ == "__main__":
  main()
