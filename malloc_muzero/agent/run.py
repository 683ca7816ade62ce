"""A training run on disk: checkpoints, metrics, the best placement, a curve.

`train` wraps `Trainer` for the commands, on one problem or on a set: it
resumes from the latest checkpoint in its work directory (orbax,
`agent.checkpoint`), appends one line per iteration to `metrics.jsonl` and to
TensorBoard (`tensorboard/`, written with tensorboardX: returns, loss terms,
games/s against games played), keeps, on one problem, `best_placement.json`
(the best placement any self-play game found), checkpoints
after the first iteration, then every `checkpoint_every_s` seconds and at
the end, draws `training_curve.png`, and shows its progress with the time
left (`progress_bar`: a bar on a terminal, a line every 10 s elsewhere). A killed run resumes where its last checkpoint left it
(`agent.run_files`: the workdir's lock and its metrics).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time

from malloc_muzero.agent import checkpoint, run_files
from malloc_muzero.agent.build import make_trainer, run_identity
from malloc_muzero.agent.generated import generated_trainer
from malloc_muzero.agent.reference import (GAMES, annealed_start, never_slower_than_xla,
                                           starting_game)
from malloc_muzero.placement_io import save_placement_json
from malloc_muzero.progress import progress_bar
from malloc_muzero.simulator import simulate_placement, simulation_bounds
from malloc_muzero.solvers import checked_segments, solve


def train(problems, hardwares, workdir: str, time_budget_s: float, seed: int,
          config, progress: bool = True, checkpoint_every_s: float = 60.0,
          max_iterations: int | None = None, reference_placements=None,
          granularities=None, generated: dict | None = None) -> dict:
  """Train on a problem or a set of problems, keeping checkpoints, metrics, a
  curve and, for one problem, the best placement self-play found.

  Args:
    problems, hardwares: a problem and its hardware, or lists of them (a set).
    max_iterations: stop after this many iterations in all (resumed ones
      included), whatever is left of the budget; None: the budget decides.
    reference_placements: per problem, the placement (on the game's grid)
      that a guided search starts from instead of `xla-msa`'s (`xla_cut`'s
      placement of XLA's own segments), or None.
    granularities: per problem, the game's slot size
      (`agent.reference.replay_grid`), or None: the finest.
    generated: train on problems drawn afresh each iteration instead
      (`agent.generated.generated_trainer`'s keyword arguments but the
      config and seed: generator, hardware_name, fraction, num_slots,
      time_model); `problems` and `hardwares` are then empty.

  `time_budget_s` counts the run's set-up (its games, references and
  network, and restoring a checkpoint) as well as its iterations; the first
  iteration is played whatever is left. A run into a workdir that holds a
  checkpoint of the same configuration resumes from it, says so on stderr,
  drops the metrics of iterations after it, and spends only what is left of
  `time_budget_s` (the seconds the metrics record); a larger budget
  continues it. A checkpoint is written
  after the first iteration, then every `checkpoint_every_s`. The workdir is
  locked for the run's life (`run_files.lock`).

  Returns:
    A summary: iterations, games, the best return, whether it resumed, the
    trainer and its decoders (one per problem), what it trained on
    (`identity`, as its checkpoint records it); for one problem also the best
    placement, its time, the best game's time (`best_game_s`) and the
    bounds. When the search starts from XLA's placement (it uses a
    reference), the best placement is the better of the best game and
    `xla-msa`'s own, and `from_reference` says which.

  Raises:
    ProblemError: another run holds the workdir, or its checkpoint is of
      another configuration or damaged.
  """
  os.makedirs(workdir, exist_ok=True)
  with run_files.lock(workdir):
    return _train(problems, hardwares, workdir, time_budget_s, seed, config, progress,
                  checkpoint_every_s, max_iterations, reference_placements, granularities,
                  generated)


def _train(problems, hardwares, workdir: str, time_budget_s: float, seed: int,
           config, progress: bool, checkpoint_every_s: float,
           max_iterations: int | None, reference_placements=None, granularities=None,
           generated: dict | None = None) -> dict:
  start = time.monotonic()  # The budget counts the set-up.
  if not isinstance(problems, (list, tuple)):
    problems, hardwares = [problems], [hardwares]
  if generated is not None:
    decoders, trainer = [], generated_trainer(train_config=config, seed=seed, **generated)
    identity = {"generated": {key: (dataclasses.asdict(value)
                                    if dataclasses.is_dataclass(value) else value)
                              for key, value in generated.items()}}
  else:
    decoders, trainer = make_trainer(problems, hardwares, config, seed, reference_placements,
                                     granularities)
    identity = run_identity(problems, hardwares, granularities)
  resumed = checkpoint.restore(workdir, trainer, identity)
  single = len(problems) == 1
  problem, hardware, decoder = ((problems[0], hardwares[0], decoders[0]) if single
                                else (None, None, None))
  bounds = simulation_bounds(problem, hardware) if single else None
  metrics_path = os.path.join(workdir, run_files.METRICS_FILE)
  kept = run_files.truncate_metrics(metrics_path, trainer.iteration if resumed else 0)
  spent = float(kept[-1].get("seconds", 0.0)) if resumed and kept else 0.0
  if resumed:
    print(f"train: resuming {workdir} from its checkpoint at iteration "
          f"{trainer.iteration}; {spent:.0f} s of the {time_budget_s:g} s budget spent"
          + ("" if spent < time_budget_s else ", nothing left (a larger "
             "--train_seconds continues it)"), file=sys.stderr, flush=True)
  best_saved = trainer.best.total if resumed else -float("inf")
  saved_once = resumed
  last_checkpoint = time.monotonic()
  from tensorboardX import SummaryWriter

  with open(metrics_path, "a") as metrics, \
      SummaryWriter(os.path.join(workdir, "tensorboard")) as board, \
      (progress_bar(round(time_budget_s), "train", "s", every_s=10.0,
                    bar_format="{l_bar}{bar}| {n:.0f}/{total}s [{elapsed}<{remaining}] "
                    "{postfix}") if progress else contextlib.nullcontext()) as bar:
    while trainer.iteration == 0 or (
        spent + time.monotonic() - start < time_budget_s and
        (max_iterations is None or trainer.iteration < max_iterations)):
      report = trainer.run_iteration()
      record = {"iteration": report.iteration,
                "games": trainer.games,
                "seconds": spent + time.monotonic() - start,
                "mean_return": report.mean_return,
                "best_return": report.best_return, "games_per_s": report.games_per_s,
                **({"mean_gain": report.mean_gain} if math.isfinite(report.mean_gain) else {}),
                **{f"loss_{k}": v for k, v in report.losses.items()}}
      metrics.write(json.dumps(record) + "\n")
      metrics.flush()
      for name, value in record.items():
        if name not in ("iteration", "games"):
          board.add_scalar(name, value, record["games"])
      if single and trainer.best is not None and trainer.best.total > best_saved:
        best_saved = trainer.best.total
        placement = decoder.placement(trainer.best.state)
        save_placement_json(os.path.join(workdir, "best_placement.json"), problem,
                            hardware, placement,
                            simulate_placement(problem, hardware, placement.levels),
                            bounds)
      if not saved_once or time.monotonic() - last_checkpoint >= checkpoint_every_s:
        checkpoint.save(workdir, trainer, identity)
        last_checkpoint, saved_once = time.monotonic(), True
      if bar is not None:
        bar.n = min(spent + time.monotonic() - start, time_budget_s)
        bar.set_postfix_str(f"best {report.best_return:.4f} mean {report.mean_return:.4f} "
                            f"{report.games_per_s:.1f} games/s")
        bar.refresh()
  checkpoint.save(workdir, trainer, identity)
  run_files.plot_curve(metrics_path, os.path.join(workdir, "training_curve.png"))
  summary = {"iterations": trainer.iteration,
             "games": trainer.games,
             "best_return": trainer.best.total, "resumed": resumed, "trainer": trainer,
             "decoders": decoders, "identity": identity}
  if single:
    placement = decoder.placement(trainer.best.state)
    time_s = best_game_s = simulate_placement(problem, hardware, placement.levels)
    from_reference = False
    if trainer.config.search.uses_reference:
      # The answer is the best of the games and the placements they start
      # from: XLA's (off the game's grid, so it can be a little better than
      # its replay) and the reference given: never worse than either.
      given = (reference_placements or [None])[0]
      for reference in [solve("xla-msa", problem, hardware)] + [given] * (given is not None):
        reference_s = simulate_placement(problem, hardware, reference.levels)
        if reference_s < time_s:
          placement, time_s, from_reference = reference, reference_s, True
          save_placement_json(os.path.join(workdir, "best_placement.json"), problem,
                              hardware, placement, time_s, bounds)
    summary.update(time_s=time_s, bounds=bounds, placement=placement,
                   from_reference=from_reference, best_game_s=best_game_s)
  return summary


def place_with_agent(problem, hardware, workdir: str, time_budget_s: float, seed: int,
                     config, progress: bool = True, games: tuple[str, ...] | None = None
                     ) -> dict:
  """Train the agent on one problem, in the game where XLA's answer is faster
  (`agent.reference.starting_game`), from the faster of that answer and what
  `anneal` makes of it in `config.start_anneal_share` of the budget
  (`agent.reference.annealed_start`), and answer with segments of the
  problem's buffers, never slower than XLA's (`never_slower_than_xla`).

  Args:
    time_budget_s: the seconds of the whole call, XLA's answers and the
      run's set-up included (`train`); at least one iteration is played.
    games: the games `starting_game` may choose from (default: all).

  Returns:
    `train`'s summary (of the game's problem) and: `game`, the
    `StartingGame` (annealed); `solution`, the answer as a checked
    `solvers.SegmentedSolution` of `problem`; `time_s`, its simulated time;
    `taken`, the name of XLA's answer when it is the answer (no game beat
    it off the grid), else None; `game_beat_start`, whether the best game
    (`train`'s `best_game_s`) is faster than the start (XLA's answer on the
    game's grid).
  """
  began = time.monotonic()
  game = annealed_start(starting_game(problem, hardware, games=games or GAMES), hardware,
                        config.start_anneal_share * time_budget_s, seed)
  left = max(time_budget_s - (time.monotonic() - began), 0.0)
  summary = train([game.problem], [hardware], workdir, left, seed, config,
                  progress=progress, reference_placements=[game.placement],
                  granularities=[game.granularity])
  answer = checked_segments("mallocMuZero", problem, hardware,
                            game.segments_of(summary["placement"]))
  solution, taken = never_slower_than_xla(problem, hardware, answer)
  return {**summary, "game": game, "solution": solution, "taken": taken,
          "game_beat_start": summary["best_game_s"] < game.time_s * (1 - 1e-9),
          "time_s": simulate_placement(solution.problem, hardware,
                                       solution.placement.levels)}
