"""Checkpoints of a training run with orbax, written atomically.

A checkpoint holds everything a `Trainer` needs to continue exactly: the
network parameters, the optimiser state, the iteration, the replay buffer, the
best game seen and, with `follow_best`, the game each problem's search follows
(randomness derives from the seed and the iteration). Orbax writes each step
to a temporary directory and renames it when complete, so a run killed
mid-write resumes from the previous checkpoint. Beside the checkpoints,
`run.json` records the run's configuration; resuming with a different one is
refused with an error naming what differs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os

import jax
import numpy as np

from malloc_muzero.agent.search import SearchConfig
from malloc_muzero.agent.train import BestGame, TrainConfig
from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.errors import ProblemError

RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints"


def run_description(trainer, extra: dict) -> dict:
  """The facts a resumed run must share with the saved one."""
  return {"train_config": json.loads(json.dumps(dataclasses.asdict(trainer.config))),
          "game_config": dataclasses.asdict(trainer.game_config),
          "seed": trainer.seed, **extra}


def load_train_config(workdir: str):
  """(TrainConfig, seed) of the run saved in `workdir`.

  Raises:
    ProblemError: no readable run description there.
  """
  path, saved = _saved_run(workdir)
  try:
    fields = dict(saved["train_config"])
    fields["search"] = SearchConfig(**fields["search"])
    return TrainConfig(**fields), int(saved["seed"])
  except (ValueError, KeyError, TypeError) as error:
    raise ProblemError(f"a training run's {RUN_FILE} ({type(error).__name__}: {error})",
                       path) from None


def _saved_run(workdir: str) -> tuple[str, object]:
  """(path, contents) of the run description in `workdir`."""
  path = os.path.join(workdir, RUN_FILE)
  try:
    with open(path) as f:
      return path, json.load(f)
  except (OSError, ValueError) as error:
    raise ProblemError(f"a training run's {RUN_FILE} ({type(error).__name__}: {error})",
                       path) from None


def load_granularity(workdir: str) -> int | None:
  """The slot size of the game the run saved in `workdir` played
  (`agent.reference.replay_grid`'s), or None for a run on the finest grid
  (`game_instance.grid`; every run before the grid was chosen)."""
  _, saved = _saved_run(workdir)
  granularity = saved.get("granularity") if isinstance(saved, dict) else None
  return int(granularity) if isinstance(granularity, int) else None


def load_game(workdir: str) -> str:
  """The game the run saved in `workdir` played (`agent.reference.GAMES`):
  "whole" buffers, or "xla_cut" (its problem's windows are XLA's cut).

  Raises:
    ProblemError: no readable run description, or a run on other windows
      (`windows.split_into_windows`) or on a set of problems.
  """
  path, saved = _saved_run(workdir)
  windows = saved.get("windows") if isinstance(saved, dict) else None
  if isinstance(saved, dict) and "problems" not in saved and windows is None:
    return "whole"
  if windows == {"cut": "segments"}:
    return "xla_cut"
  raise ProblemError("a run on one problem's whole buffers or XLA's cut of them", path,
                     found="a run on a set" if "problems" in saved else f"windows {windows}")


def _state(trainer) -> dict:
  best = trainer.best
  state = {"train_state": trainer.state, "iteration": np.int64(trainer.iteration),
           "replay": trainer.replay.state_dict(),
           "best": {"return": np.float64(best.total), "problem": np.int64(best.problem),
                    "state": _sized_fields(best.state)}}
  if trainer.config.follow_best:  # The games the search follows, per problem.
    state["followed"] = {"returns": np.asarray(trainer.followed, np.float64),
                         "actions": np.stack([np.asarray(r.actions)
                                              for r in trainer.references])}
  return state


def _sized_fields(state) -> dict:
  """The fields of a game state that hold something: orbax refuses arrays of
  size 0 (`State.timed_slots` without timings); those come back from the
  template state on restore."""
  return {name: value for name, value in state.items() if np.size(value)}


@contextlib.contextmanager
def _quiet_orbax():
  """Orbax logs what it cannot read (and asyncio its tracebacks) before
  raising; the error we raise says it in one line, so they are silenced."""
  loggers = [logging.getLogger(name) for name in ("absl", "asyncio", "orbax")]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(logging.CRITICAL)
  try:
    yield
  finally:
    for logger, level in zip(loggers, levels):
      logger.setLevel(level)


def _manager(workdir: str):
  import orbax.checkpoint as ocp

  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, CHECKPOINTS)),
      options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def save(workdir: str, trainer, extra: dict) -> None:
  """Save the trainer after its latest iteration (it must have run one)."""
  import orbax.checkpoint as ocp

  if trainer.best is None:  # Only demonstrations so far (a warm start).
    trainer.allocate()
  os.makedirs(workdir, exist_ok=True)
  atomic_write_text(os.path.join(workdir, RUN_FILE),
                    json.dumps(run_description(trainer, extra), indent=1, sort_keys=True))
  manager = _manager(workdir)
  manager.save(trainer.iteration, args=ocp.args.StandardSave(_state(trainer)))
  manager.wait_until_finished()
  manager.close()


def latest_iteration(workdir: str) -> int | None:
  directory = os.path.join(workdir, CHECKPOINTS)
  if not os.path.isdir(directory):
    return None
  with _quiet_orbax():
    manager = _manager(workdir)
    step = manager.latest_step()
    manager.close()
  return step


def restore(workdir: str, trainer, extra: dict) -> bool:
  """Load the latest checkpoint into `trainer`; False if there is none.

  Raises:
    ProblemError: the saved run's configuration differs from this one (the
      message names the differing fields), or the checkpoint cannot be read.
  """
  import orbax.checkpoint as ocp

  step = latest_iteration(workdir)
  if step is None:
    return False
  run_path, saved = _saved_run(workdir)
  current = json.loads(json.dumps(run_description(trainer, extra)))
  differing = sorted(_differences(saved, current))
  if differing:
    raise ProblemError("the configuration of the run being resumed; these differ: "
                       + ", ".join(differing), run_path)
  trainer.allocate()
  template = jax.tree.map(np.asarray, _state(trainer))
  manager = None
  try:
    # The manager reads the checkpoints' metadata as it opens, and orbax logs
    # what it cannot parse: both inside the quiet block.
    with _quiet_orbax():
      manager = _manager(workdir)
      restored = manager.restore(step, args=ocp.args.StandardRestore(template))
  except Exception as error:  # orbax raises many types for damaged files.
    raise ProblemError(f"a complete checkpoint at iteration {step} "
                       f"({type(error).__name__}: {error})",
                       os.path.join(workdir, CHECKPOINTS)) from None
  finally:
    if manager is not None:
      manager.close()
  trainer.state = restored["train_state"]
  trainer.iteration = int(restored["iteration"])
  trainer.replay.load_state_dict(jax.tree.map(np.asarray, restored["replay"]))
  best = restored["best"]
  trainer.best = BestGame(float(best["return"]), int(best["problem"]),
                          trainer.best.state.replace(**best["state"]))
  if "followed" in restored:
    for index, (total, actions) in enumerate(zip(restored["followed"]["returns"],
                                                 restored["followed"]["actions"])):
      trainer.follow(index, float(total), actions)
  return True


def _differences(saved, current, prefix: str = ""):
  if isinstance(saved, dict) and isinstance(current, dict):
    for key in sorted(set(saved) | set(current)):
      yield from _differences(saved.get(key), current.get(key),
                              f"{prefix}.{key}" if prefix else key)
  elif saved != current:
    yield f"{prefix} (saved {saved!r}, now {current!r})"
