"""MCTS simulations per second and self-play games per second of mallocMuZero.

    python scripts/bench_search.py [--program conv_net] [--repeats 3]

At the default training settings (`TrainConfig`, `SearchConfig`), times one
jitted self-play call (a batch of whole games, a Gumbel MuZero search before
every move) over the learned model, over the true game, and over the true
game guided by XLA's placement with rollout leaf values (each simulation
finishes the game with the default policy; `agent.rollout`), after compiling,
and prints games/s and simulations/s (games x moves x simulations per second).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from experiments.problem_sources import program_problem  # noqa: E402
from malloc_muzero import get_hardware  # noqa: E402
from malloc_muzero.agent.run import make_trainer  # noqa: E402
from malloc_muzero.agent.search import self_play  # noqa: E402
from malloc_muzero.agent.train import TrainConfig  # noqa: E402

MODES = {
    "learned": {"dynamics": "learned"},
    "true": {"dynamics": "true"},
    "true+rollout": {"dynamics": "true", "leaf_value": "rollout",
                     "reference_bonus": 4.0, "value_scale": 10.0},
}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--program", default="conv_net")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()

  problem = program_problem(args.program)
  hardware = get_hardware("tpu-v4", capacity=problem.peak_live_bytes()[0] // 4)
  base = TrainConfig()
  print(f"{args.program}: {problem.num_buffers} buffers; batch {base.games_per_iteration} games, "
        f"{base.search.num_simulations} simulations per move, "
        f"{base.search.max_considered} considered; {jax.default_backend()}, "
        f"best of {args.repeats}")
  print()
  print(f"{'search over':<14} {'seconds':>8} {'games/s':>9} {'simulations/s':>14}")
  for mode, fields in MODES.items():
    config = dataclasses.replace(base, search=dataclasses.replace(base.search, **fields))
    (decoder,), trainer = make_trainer([problem], [hardware], config, seed=0)

    def play():
      return self_play(trainer.network, trainer.support, config.search,
                       trainer.state.params, decoder.problem, decoder.config.num_slots,
                       jax.random.key(0), config.games_per_iteration,
                       reference=trainer.references[0])

    jax.block_until_ready(play())
    best = float("inf")
    for _ in range(args.repeats):
      start = time.perf_counter()
      jax.block_until_ready(play())
      best = min(best, time.perf_counter() - start)
    games = config.games_per_iteration
    simulations = games * problem.num_buffers * config.search.num_simulations
    print(f"{mode:<14} {best:>8.3f} {games / best:>9.1f} {simulations / best:>14,.0f}")


if __name__ == "__main__":
  main()
