"""Does choosing when prefetches start open room over XLA? A search, with and without.

    python scripts/timing_headroom.py [--programs conv_net,strassen_matmul,...]
        [--capacity-fractions 0.2,0.3] [--cut xla_cut] [--timings 4] [--time-limit 30]

For each catalogue program, on `tpu-v4` with a fast memory of each share of
its peak live bytes (XLA's time model), the buffers are cut into windows:
XLA's own cut (`--cut xla_cut`: the pieces of `xla-msa-prefetch`'s answer,
`agent.reference.xla_cut`, whose prefetches may then only start later) or
windows around uses (`--cut windows`: `split_into_windows`, whose
prefetches may also start earlier, down to the end of the window before).
The same search then runs twice on the mallocGame of those windows for
`--time-limit` seconds each: with every prefetch where the cut starts it (1 timing),
and choosing among `--timings` starts for each (`GameConfig.num_timings`).

The search is a (1 + lambda) evolution over whole games, batched in JAX: it
starts from the reference (XLA's placement of the windows on the game's
grid: `xla-msa-prefetch`'s own answer for the xla_cut), plays `--batch`
games that follow it but take a random legal action (any timing) at each
buffer with probability `--rate`, and moves the reference to the best game
whenever one beats it. Its answer is therefore never worse than the
reference. Every answer is re-checked and re-simulated on the retimed
problem (`game.retimed_problem`), outside the game.

Prints the share of the slow-fast gap each closes (bounds of the uncut
problem), beside `xla-msa` placing the same windows (XLA's whole-buffer
heuristic, which packs XLA's own cut better than XLA's algorithm does on
several programs), and how many prefetches the timed search moved.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from malloc_muzero.simulator import gap_closed  # noqa: E402
from experiments.problem_sources import program_problem  # noqa: E402
from malloc_muzero import game, get_hardware, players, simulation_bounds  # noqa: E402
from malloc_muzero.agent.reference import play_actions, reference_actions, xla_cut  # noqa: E402
from malloc_muzero.placement import Placement, check_placement  # noqa: E402
from malloc_muzero.simulator import simulate_placement  # noqa: E402
from malloc_muzero.cli_args import renamed_flags  # noqa: E402
from malloc_muzero.solvers import solve  # noqa: E402
from malloc_muzero.game_instance import make_decoder  # noqa: E402
from malloc_muzero.windows import split_into_windows  # noqa: E402


def _perturbed(reference: jnp.ndarray, rate: float):
  """A player that takes the reference's action when it is legal (else the
  default memory) and, with probability `rate`, a random legal action."""
  def choose(problem, state, key):
    wanted = reference[jnp.minimum(state.turn, reference.shape[0] - 1)]
    follow = jnp.where(game.is_legal(state, wanted), wanted, 0)
    explore, pick = jax.random.split(key)
    random = players.random_legal(problem, state, pick)
    return jnp.where(jax.random.uniform(explore) < rate, random, follow)
  return choose


@functools.partial(jax.jit, static_argnums=(1, 4))
def _round(problem, num_slots, reference, key, batch: int, rate):
  """([batch] returns, [batch, N] actions taken) of one round of perturbed
  games."""
  player = _perturbed(reference, rate)

  def move(state, key):
    state = game.step(problem, state, player(problem, state, key))
    return state, state.reward

  def one(key):
    final, rewards = jax.lax.scan(move, game.init(problem, num_slots),
                                  jax.random.split(key, problem.valid.shape[0]))
    return rewards.sum(), final.taken_actions

  return jax.vmap(one)(jax.random.split(key, batch))


def search(decoder, reference: np.ndarray, seconds: float, batch: int, rate: float,
           seed: int):
  """(best return, the actions its game took (timing included), rounds)."""
  problem, num_slots = decoder.problem, decoder.config.num_slots
  best_actions = jnp.asarray(reference, jnp.int32)
  best = float(play_actions(problem, num_slots, best_actions)[0])
  deadline = time.monotonic() + seconds
  rounds = 0
  while time.monotonic() < deadline:
    returns, actions = _round(problem, num_slots, best_actions,
                              jax.random.key(seed * 100003 + rounds), batch, rate)
    top = int(jnp.argmax(returns))
    if float(returns[top]) > best:
      best, best_actions = float(returns[top]), actions[top]
    rounds += 1
  return best, best_actions, rounds


# Former spellings of the flags (old -> new): they still work, saying the new name.
RENAMES = {"--fractions": "--capacity-fractions", "--seconds": "--time-limit"}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--programs", default="conv_net,strassen_matmul,transformer_train_step")
  parser.add_argument("--capacity-fractions", dest="fractions", default="0.2,0.3",
                      help="comma-separated shares of peak live bytes; formerly --fractions")
  parser.add_argument("--cut", choices=("xla_cut", "windows"), default="xla_cut")
  parser.add_argument("--timings", type=int, default=4)
  parser.add_argument("--time-limit", dest="seconds", type=float, default=30.0,
                      help="seconds of each search; formerly --seconds")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--rate", type=float, default=0.02)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(renamed_flags(os.path.basename(__file__), sys.argv[1:],
                                          RENAMES))

  print(f"search: (1 + {args.batch}) evolution from the reference, rate {args.rate}, "
        f"{args.seconds:g} s per column; cut: {args.cut}; share of the slow-fast gap closed")
  print(f"{'program':<24} {'peak':>5} {'windows':>8} {'xla-msa':>8} {'reference':>10} "
        f"{'1 timing':>9} "
        f"{f'{args.timings} timings':>10} {'moved':>6} {'rounds':>13}")
  for name in args.programs.split(","):
    original = program_problem(name)
    for fraction in (float(f) for f in args.fractions.split(",")):
      hardware = get_hardware("tpu-v4", capacity=original.capacity_for(fraction))
      slow, fast = simulation_bounds(original, hardware)
      if args.cut == "xla_cut":
        windows, placement = xla_cut(original, hardware)
        problem = windows.problem
      else:
        problem, placement = split_into_windows(original).problem, None
      msa = gap_closed(simulate_placement(problem, hardware,
                                          solve("xla-msa", problem, hardware).levels), slow, fast)
      gaps, rounds, moved = [], [], 0
      for timings in (1, args.timings):
        decoder = make_decoder(problem, hardware, num_timings=timings)
        reference = reference_actions(problem, hardware, decoder, placement)
        if timings == 1:  # The reference itself.
          gaps.append(_gap(problem, hardware, decoder, reference, slow, fast))
        _, actions, count = search(decoder, reference, args.seconds, args.batch, args.rate,
                                   args.seed)
        gaps.append(_gap(problem, hardware, decoder, actions, slow, fast))
        rounds.append(count)
        if timings > 1:
          moved = int((_retimed(problem, decoder, actions)[0].copy_start
                       != problem.copy_start).sum())
      print(f"{name:<24} {fraction:>5.0%} {problem.num_buffers:>8} {msa:>8.1%} {gaps[0]:>10.1%} "
            f"{gaps[1]:>9.1%} {gaps[2]:>10.1%} {moved:>6} {'/'.join(map(str, rounds)):>13}",
            flush=True)


def _retimed(problem, decoder, actions):
  """(retimed problem, its placement) of the game that takes `actions`."""
  _, final = play_actions(decoder.problem, decoder.config.num_slots, jnp.asarray(actions))
  levels, offsets = game.placement_of(decoder.problem, final, decoder.config)
  return (game.retimed_problem(problem, decoder.problem, final),
          Placement(levels=levels, offsets=offsets))


def _gap(problem, hardware, decoder, actions, slow: float, fast: float) -> float:
  """The share of the gap the game that takes `actions` closes, checked and
  simulated on its retimed problem, outside the game."""
  retimed, placement = _retimed(problem, decoder, actions)
  conflict = check_placement(retimed, hardware, placement)
  if conflict is not None:
    raise RuntimeError(f"{problem.name}: the search's placement is invalid: {conflict}")
  return gap_closed(simulate_placement(retimed, hardware, placement.levels), slow, fast)


if __name__ == "__main__":
  main()
