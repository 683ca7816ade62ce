"""How a network trained on a set of problems plays problems, seen and unseen.

After a run on a set of problems (`experiments.train --programs=a,b,c`), each
problem of the set and each held-out one is played with the run's search and
its trained network (`run.play_with_search`: the best of one self-play batch),
and, as the control that shows what training added, with the same search over
the network's parameters before training. Both sit beside `xla-msa` and the
bounds, as shares of the slow-fast gap closed.
"""

from __future__ import annotations

import dataclasses

from malloc_muzero.agent.play import play_with_search, unseen_game
from malloc_muzero.placement_io import save_placement_json
from malloc_muzero.simulator import gap_closed, simulate_placement, simulation_bounds
from malloc_muzero.solvers import solve


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """One problem's row.

  Attributes:
    problem: its name.
    split: "train" (in the training set) or "held out".
    all_slow_s, all_fast_s: the bounds.
    xla_msa_s: `xla-msa`'s placement's time.
    untrained_s: the search over the untrained network: its best game's time.
    trained_s: the same search over the trained network.
  """
  problem: str
  split: str
  all_slow_s: float
  all_fast_s: float
  xla_msa_s: float
  untrained_s: float
  trained_s: float

  def gap_closed(self, seconds: float) -> float:
    """Share of the slow-fast gap that a placement of `seconds` closes."""
    return gap_closed(seconds, self.all_slow_s, self.all_fast_s)


def evaluate(trainer, problems, hardwares, splits, seed: int,
             placement_paths=None, games=None) -> list[Evaluation]:
  """Play each problem with the trained and the untrained network.

  Args:
    trainer: the run's `Trainer` (its network, search and trained parameters).
    problems, hardwares, splits: the problems to play, each on its hardware,
      each "train" or "held out".
    seed: of the self-play.
    placement_paths: if given, per problem, where to save the trained
      network's placement (JSON).
    games: if given, per problem, the (decoder, reference) it trained on
      (`make_trainer`'s, in the trainer's order), or None for a held-out
      problem (then `run.unseen_game` sets one up).
  """
  untrained = trainer.initial_params()
  rows = []
  games = games or [None] * len(problems)
  for index, (problem, hardware, split) in enumerate(zip(problems, hardwares, splits)):
    slow, fast = simulation_bounds(problem, hardware)
    decoder, reference = games[index] or unseen_game(trainer, problem, hardware)
    times = {}
    for name, params in (("untrained", untrained), ("trained", None)):
      placement, _, _ = play_with_search(trainer, decoder, reference, seed, params)
      times[name] = simulate_placement(problem, hardware, placement.levels)
      if name == "trained" and placement_paths is not None:
        save_placement_json(placement_paths[index], problem, hardware, placement,
                            times[name], (slow, fast))
    msa = simulate_placement(problem, hardware, solve("xla-msa", problem, hardware).levels)
    rows.append(Evaluation(problem.name, split, slow, fast, msa, times["untrained"],
                           times["trained"]))
  return rows


def table(rows: list[Evaluation]) -> str:
  """The rows as a Markdown table of gap closed, and trained against xla-msa."""
  lines = ["| problem | split | xla-msa | untrained network | trained network "
           "| trained vs xla-msa |", "|---|---|---:|---:|---:|---:|"]
  for row in rows:
    ratio = f"{row.xla_msa_s / row.trained_s:.4f}x" if row.trained_s > 0 else "n/a"
    lines.append(
        f"| {row.problem} | {row.split} | {row.gap_closed(row.xla_msa_s):.1%} "
        f"| {row.gap_closed(row.untrained_s):.1%} | {row.gap_closed(row.trained_s):.1%} "
        f"| {ratio} |")
  return "\n".join(lines)
