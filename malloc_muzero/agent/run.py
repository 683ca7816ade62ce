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

from malloc_muzero.agent import run_files


def run_identity(problems, hardwares) -> dict:
  """What a checkpoint's run must have been trained on to be resumed or used:
  one problem's identity, or {"problems": [...]} for a set."""
  identities = []
  for problem, hardware in zip(problems, hardwares):
    windows = problem.source.get("windows")  # (malloc_muzero.windows' settings)
    identities.append({"problem": problem.name, "buffers": problem.num_buffers,
                       "hardware": hardware.name,
                       "capacity": [level.capacity for level in hardware.levels[1:]],
                       "time_model": hardware.time_model,
                       **({"windows": windows} if windows else {})})
  return identities[0] if len(identities) == 1 else {"problems": identities}


def _reference(problem, hardware, decoder, search, placement=None):
  """XLA's placement (or `placement`, on the game's grid) as the search's
  reference, when the search uses one."""
  from malloc_muzero.agent.reference import make_reference
  if search.uses_reference:
    return make_reference(problem, hardware, decoder, placement)
  return None


def make_trainer(problems, hardwares, config, seed: int, placements=None):
  """(decoders, Trainer) for a problem or a set of problems (each on its own
  hardware, padded to one shape), with XLA's placement as the search's
  reference when `config.search.reference_bonus` asks for one (or, per
  problem, the one of `placements` that is not None: e.g. `xla_cut`'s), and
  for a warm start the problems in turn, each with the best placement the
  solvers find (`agent.imitation`)."""
  from malloc_muzero.agent.train import Trainer
  from malloc_muzero.solvers.chromosome import make_decoders

  decoders = make_decoders(problems, hardwares)
  placements = placements or [None] * len(problems)
  references = [_reference(p, h, d, config.search, placement)
                for p, h, d, placement in zip(problems, hardwares, decoders, placements)]
  if all(r is None for r in references):
    references = None

  def demonstrations(iteration: int):
    from malloc_muzero.agent.imitation import best_actions
    index = iteration % len(problems)
    return decoders[index].problem, best_actions(problems[index], hardwares[index],
                                                 decoders[index], seed=iteration)

  return decoders, Trainer([d.problem for d in decoders], decoders[0].config,
                           len(hardwares[0].levels) - 1, config, seed, references,
                           demonstrations=demonstrations)


def unseen_game(trainer, problem, hardware):
  """(decoder, reference) of a problem the trainer did not train on: a slot
  grid of the network's size over the problem's own fast memory, and XLA's
  placement on it when the search uses one."""
  from malloc_muzero.solvers.chromosome import make_decoder

  decoder = make_decoder(problem, hardware, trainer.game_config.num_slots)
  return decoder, _reference(problem, hardware, decoder, trainer.config.search)


def play_with_search(trainer, decoder, reference, seed: int, params=None):
  """Play `games_per_iteration` games of a decoder's game (with its
  `reference`: those of `make_trainer` for a problem the network trained on,
  of `unseen_game` for another) with the trainer's search and network (its
  trained parameters, or `params`): (best placement, its return, its
  actions)."""
  import jax
  import numpy as np

  from malloc_muzero.agent.search import self_play

  finals, trajectory = self_play(
      trainer.network, trainer.support, trainer.config.search,
      trainer.state.params if params is None else params, decoder.problem,
      decoder.config.num_slots, jax.random.key(seed), trainer.config.games_per_iteration,
      reference=reference)
  returns = np.asarray(trajectory.rewards.sum(axis=1))
  top = int(np.argmax(returns))
  return decoder.placement(finals, top), float(returns[top]), np.asarray(finals.actions[top])


def play_until(trainer, decoder, reference, deadline: float, seed: int, placement,
               time_of, params=None):
  """The fastest, by `time_of`, of `placement` and the best game of each batch
  `play_with_search` plays until `deadline` (`time.monotonic()`; at least one
  batch; batch k with seed `seed + k`, so a seed and a number of batches give
  one answer). With `follow_best` in the trainer's config, a game faster than
  every one before becomes the reference the next batches follow and depart
  from (`agent.reference.reference_of_actions`)."""
  from malloc_muzero.agent.reference import reference_of_actions

  batch, best_s = 0, time_of(placement)
  while batch == 0 or time.monotonic() < deadline:
    played, _, actions = play_with_search(trainer, decoder, reference, seed + batch, params)
    played_s = time_of(played)
    if played_s < best_s:
      placement, best_s = played, played_s
      if trainer.config.follow_best and reference is not None:
        reference = reference_of_actions(actions, decoder.problem, decoder.config.num_slots,
                                         trainer.network.num_fast_levels)
    batch += 1
  return placement


def train(problems, hardwares, workdir: str, time_budget_s: float, seed: int,
          config, progress: bool = True, checkpoint_every_s: float = 60.0,
          max_iterations: int | None = None, reference_placements=None,
          generated: dict | None = None) -> dict:
  """Train on a problem or a set of problems, keeping checkpoints, metrics, a
  curve and, for one problem, the best placement self-play found.

  Args:
    problems, hardwares: a problem and its hardware, or lists of them (a set).
    max_iterations: stop after this many iterations in all (resumed ones
      included), whatever is left of the budget; None: the budget decides.
    reference_placements: per problem, the placement (on the game's grid)
      that a guided search starts from instead of `xla-msa`'s (`xla_cut`'s
      placement of XLA's own segments), or None.
    generated: train on problems drawn afresh each iteration instead
      (`agent.generated.generated_trainer`'s keyword arguments but the
      config and seed: generator, hardware_name, fraction, num_slots,
      time_model); `problems` and `hardwares` are then empty.

  A run into a workdir that holds a checkpoint of the same configuration
  resumes from it, says so on stderr, drops the metrics of iterations after
  it, and spends only what is left of `time_budget_s` (the seconds the
  metrics record); a larger budget continues it. A checkpoint is written
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
                  checkpoint_every_s, max_iterations, reference_placements, generated)


def _train(problems, hardwares, workdir: str, time_budget_s: float, seed: int,
           config, progress: bool, checkpoint_every_s: float,
           max_iterations: int | None, reference_placements=None,
           generated: dict | None = None) -> dict:
  from malloc_muzero.agent import checkpoint
  from malloc_muzero.progress import progress_bar
  from malloc_muzero.placement_io import save_placement_json
  from malloc_muzero.simulator import simulate_placement, simulation_bounds
  from malloc_muzero.solvers import solve

  if not isinstance(problems, (list, tuple)):
    problems, hardwares = [problems], [hardwares]
  if generated is not None:
    from malloc_muzero.agent.generated import generated_trainer
    decoders, trainer = [], generated_trainer(train_config=config, seed=seed, **generated)
    identity = {"generated": {key: (dataclasses.asdict(value)
                                    if dataclasses.is_dataclass(value) else value)
                              for key, value in generated.items()}}
  else:
    decoders, trainer = make_trainer(problems, hardwares, config, seed, reference_placements)
    identity = run_identity(problems, hardwares)
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
  start = last_checkpoint = time.monotonic()
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
  plot_curve(metrics_path, os.path.join(workdir, "training_curve.png"))
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
  (`agent.reference.starting_game`), and answer with segments of the
  problem's buffers, never slower than XLA's (`never_slower_than_xla`).

  Args:
    games: the games `starting_game` may choose from (default: all).

  Returns:
    `train`'s summary (of the game's problem) and: `game`, the
    `StartingGame`; `solution`, the answer as a checked
    `solvers.SegmentedSolution` of `problem`; `time_s`, its simulated time;
    `taken`, the name of XLA's answer when it is the answer (no game beat
    it off the grid), else None; `game_beat_start`, whether the best game
    (`train`'s `best_game_s`) is faster than the start (XLA's answer on the
    game's grid).
  """
  from malloc_muzero.agent.reference import GAMES, never_slower_than_xla, starting_game
  from malloc_muzero.simulator import simulate_placement
  from malloc_muzero.solvers import checked_segments

  game = starting_game(problem, hardware, games=games or GAMES)
  summary = train([game.problem], [hardware], workdir, time_budget_s, seed, config,
                  progress=progress, reference_placements=[game.placement])
  answer = checked_segments("mallocMuZero", problem, hardware,
                            game.segments_of(summary["placement"]))
  solution, taken = never_slower_than_xla(problem, hardware, answer)
  return {**summary, "game": game, "solution": solution, "taken": taken,
          "game_beat_start": summary["best_game_s"] < game.time_s * (1 - 1e-9),
          "time_s": simulate_placement(solution.problem, hardware,
                                       solution.placement.levels)}


def read_run(workdir: str) -> dict:
  """A finished run: its identity, best placement's time and its curve."""
  from malloc_muzero.agent.presets import agent_label
  from malloc_muzero.errors import ProblemError
  from malloc_muzero.json_file import read_json_file

  paths = {name: os.path.join(workdir, name)
           for name in ("run.json", "best_placement.json", "metrics.jsonl")}
  run = None
  for name, path in paths.items():
    if not os.path.exists(path):
      raise ProblemError("a finished experiments.train run", workdir,
                         found=f"no {name}")
    if name == "run.json":
      run = read_json_file(path)
      if "problems" in run:
        raise ProblemError("a run on one problem", workdir,
                           found="a run on a set (its results are in evaluation.json)")
  placement = read_json_file(paths["best_placement.json"])
  curve = run_files.read_metrics(paths["metrics.jsonl"])
  return {"workdir": workdir, "problem": run["problem"], "hardware": run["hardware"],
          "capacity": run["capacity"][0],
          # Runs from before the time model was recorded ran on the additive one.
          "time_model": run.get("time_model", "additive"),
          "label": agent_label(run["train_config"]) + (
              ", windows" if run.get("windows") else ""),
          "time_s": placement["simulated_time_s"], "curve": curve}


def plot_curve(metrics_path: str, path: str) -> None:
  """Mean and best return of self-play against games played."""
  import io

  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  from malloc_muzero.atomic_file import atomic_write_bytes

  rows = run_files.read_metrics(metrics_path)
  figure = Figure(figsize=(6, 3.5))
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  games = [r["games"] for r in rows]
  axes.plot(games, [r["mean_return"] for r in rows], label="self-play mean")
  axes.plot(games, [r["best_return"] for r in rows], label="best so far")
  axes.set_xlabel("self-play games")
  axes.set_ylabel("return (share of all-slow time saved)")
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110)
  atomic_write_bytes(path, buffer.getvalue())


def comparison(problem, hardware, summary: dict, original=None) -> str:
  """The trained agent's best placement (of `problem`, the game's) next to
  XLA's, `xla-msa`'s and (on XLA's time model) `xla-msa-prefetch`'s, both on
  `original` (the problem before windows or a cut, if any), and the bounds."""
  from malloc_muzero.simulator import gap_closed, simulate_placement
  from malloc_muzero.solvers import solve, solve_segments

  slow, fast = summary["bounds"]
  whole = original if original is not None else problem
  msa = simulate_placement(whole, hardware, solve("xla-msa", whole, hardware).levels)
  rows = [("all slow (bound)", slow), ("xla-msa", msa)]
  if hardware.time_model == "xla" and not len(whole.copy_buffer):
    solution = solve_segments("xla-msa-prefetch", whole, hardware)
    rows.append(("xla-msa-prefetch", simulate_placement(solution.problem, hardware,
                                                        solution.placement.levels)))
  rows += [("mallocMuZero (best self-play)", summary["time_s"]), ("all fast (bound)", fast)]
  lines = [f"{'placement':<32} {'time/slow':>9} {'gap closed':>10}"]
  for name, t in rows:
    lines.append(f"{name:<32} {t / slow:>9.3f} {gap_closed(t, slow, fast):>10.1%}")
  return "\n".join(lines)
