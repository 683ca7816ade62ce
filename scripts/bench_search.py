"""Self-play speed of mallocMuZero: games/s and the cost of one move, by problem size.

    python scripts/bench_search.py [--program conv_net] [--repeats 3]
    python scripts/bench_search.py --problem-files benchmark/resnet50_inference.json,\\
        benchmark/resnet50_train.json,benchmark/resnet101_train.json --modes learned

At the default training settings (`TrainConfig`, `SearchConfig`), times one
jitted self-play call (a batch of whole games, a Gumbel MuZero search before
every move) after compiling, over the learned model (`learned`), the same
departing from XLA's placement as the default agent does (`guided`:
`SearchConfig.departures`, search only at the few moves where a game
departs), over the true game (`true`), and over the true game guided by
XLA's placement with rollout leaf values (`true+rollout`: each simulation finishes the game with
the default policy; `agent.rollout`). Each problem is played on its whole
buffers, with a fast memory of a quarter of its peak (tpu-v4, XLA's time
model). It prints games/s, simulations/s and the microseconds one move of one
game takes (a batch's seconds over games x buffers), and that cost as a
multiple of the first problem's: a search whose work per move does not grow
with the program stays near 1x (issue 15 asks for at most 2x from 400 to
3,500 buffers).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from experiments.problem_sources import program_problem  # noqa: E402
from malloc_muzero import get_hardware  # noqa: E402
from malloc_muzero.agent.build import make_trainer  # noqa: E402
from malloc_muzero.agent.search import self_play  # noqa: E402
from malloc_muzero.agent.train import TrainConfig  # noqa: E402
from malloc_muzero.cli_args import renamed_flags  # noqa: E402
from malloc_muzero.problem_io import load_problem  # noqa: E402
from scripts.bench_game import best_time  # noqa: E402

MODES = {
    "learned": {"dynamics": "learned"},
    "guided": {"dynamics": "learned", "reference_bonus": 4.0, "departures": 1},
    "true": {"dynamics": "true"},
    "true+rollout": {"dynamics": "true", "leaf_value": "rollout",
                     "reference_bonus": 4.0, "value_scale": 10.0},
}


def seconds_per_batch(problem, mode: str, repeats: int) -> float:
  """The best of `repeats` timings of one self-play batch, after compiling."""
  hardware = get_hardware("tpu-v4", capacity=problem.peak_live_bytes()[0] // 4)
  base = TrainConfig()
  config = dataclasses.replace(base, search=dataclasses.replace(base.search, **MODES[mode]))
  (decoder,), trainer = make_trainer([problem], [hardware], config, seed=0)

  def play():
    return self_play(trainer.network, trainer.support, config.search,
                     trainer.state.params, decoder.problem, decoder.config.num_slots,
                     jax.random.key(0), config.games_per_iteration,
                     reference=trainer.references[0])

  return best_time(play, repeats)


# Former spellings of the flags (old -> new): they still work, saying the new name.
RENAMES = {"--problems": "--problem-files"}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--program", default="conv_net",
                      help="a program of experiments.programs (without --problem-files)")
  parser.add_argument("--problem-files", dest="problems", default="", metavar="FILES",
                      help="comma-separated problem files, smallest first; formerly "
                      "--problems")
  parser.add_argument("--modes", default=",".join(MODES),
                      help=f"comma-separated, among {', '.join(MODES)}")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(renamed_flags(os.path.basename(__file__), sys.argv[1:],
                                          RENAMES))

  problems = ([load_problem(path) for path in args.problems.split(",")] if args.problems
              else [program_problem(args.program)])
  base = TrainConfig()
  games, simulations = base.games_per_iteration, base.search.num_simulations
  print(f"batch {games} games, {simulations} simulations per move, "
        f"{base.search.max_considered} considered; {jax.default_backend()}, "
        f"best of {args.repeats}")
  print()
  print(f"{'problem':<22} {'buffers':>7} {'search over':<13} {'seconds':>8} {'games/s':>8} "
        f"{'simulations/s':>14} {'us/move':>8} {'x first':>7}")
  first = {}
  for problem in problems:
    for mode in args.modes.split(","):
      seconds = seconds_per_batch(problem, mode, args.repeats)
      per_move = seconds / (games * problem.num_buffers)
      first.setdefault(mode, per_move)
      # (A guided game searches only where it departs: no rate to quote.)
      rate = ("-" if MODES[mode].get("departures") else
              f"{games * problem.num_buffers * simulations / seconds:,.0f}")
      print(f"{problem.name:<22} {problem.num_buffers:>7,} {mode:<13} {seconds:>8.3f} "
            f"{games / seconds:>8.2f} {rate:>14} "
            f"{per_move * 1e6:>8.1f} {per_move / first[mode]:>6.2f}x", flush=True)


if __name__ == "__main__":
  main()
