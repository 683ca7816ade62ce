"""The pretrained mallocMuZero network that ships with the package.

A training run exports its network's parameters (`export`: flax msgpack,
a few MB) with a description: the training configuration, the action grid
the network was built for, what it trained on (the generator's settings or
the problems' names and fingerprints) and the command that made it.
`play` then plays any problem with search over those parameters until a
deadline, in the game `agent.reference.starting_game` chooses, on the
network's own slot count, from XLA's answer or what `anneal` makes of it
(`agent.reference.annealed_start`); the `muzero` solver does so when it is given no
`--checkpoint`. The shipped network lives in `agent/pretrained/`
(`PRETRAINED`); `docs/agent/pretrained.md` says how it was trained.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from malloc_muzero.agent.play import play_until
from malloc_muzero.agent.presets import DEFAULT_AGENT, agent_config
from malloc_muzero.agent.reference import annealed_start, make_reference, starting_game
from malloc_muzero.agent.search import SearchConfig
from malloc_muzero.agent.train import TrainConfig, Trainer
from malloc_muzero.atomic_file import atomic_write_bytes, atomic_write_text
from malloc_muzero.errors import ProblemError
from malloc_muzero.game_instance import make_decoder
from malloc_muzero.simulator import simulate_placement

PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
PARAMS_FILE = "params.msgpack"
DESCRIPTION_FILE = "pretrained.json"


def export(trainer, identity: dict, out_dir: str, command: str = "") -> None:
  """Write `trainer`'s parameters and their description to `out_dir`.

  Args:
    trainer: a trained `agent.train.Trainer`.
    identity: what it trained on (`agent.build.run_identity`, or the generator's
      settings).
    command: the command that trained it, for the description.
  """
  import jax
  import numpy as np
  from flax import serialization

  os.makedirs(out_dir, exist_ok=True)
  params = jax.tree.map(np.asarray, trainer.state.params)
  atomic_write_bytes(os.path.join(out_dir, PARAMS_FILE), serialization.msgpack_serialize(
      serialization.to_state_dict(params)))
  description = {
      "train_config": json.loads(json.dumps(dataclasses.asdict(trainer.config))),
      "num_slots": trainer.game_config.num_slots,
      "num_fast_levels": trainer.network.num_fast_levels,
      "seed": trainer.seed, "iterations": trainer.iteration,
      "games": trainer.iteration * trainer.config.games_per_iteration,
      "trained_on": identity, "command": command}
  atomic_write_text(os.path.join(out_dir, DESCRIPTION_FILE),
                    json.dumps(description, indent=1, sort_keys=True) + "\n")


def load(directory: str = PRETRAINED) -> tuple[dict, object]:
  """(description, parameters) of an exported network.

  Raises:
    ProblemError: no readable export in `directory`.
  """
  from flax import serialization

  try:
    with open(os.path.join(directory, DESCRIPTION_FILE)) as f:
      description = json.load(f)
    with open(os.path.join(directory, PARAMS_FILE), "rb") as f:
      params = serialization.msgpack_restore(f.read())
    _ = description["train_config"], description["num_slots"], description["num_fast_levels"]
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise ProblemError(f"an exported mallocMuZero network ({type(error).__name__}: "
                       f"{error})", directory) from None
  return description, params


def train_config(description: dict):
  """The `TrainConfig` an exported network was trained with."""
  fields = dict(description["train_config"])
  fields["search"] = SearchConfig(**fields["search"])
  return TrainConfig(**fields)


NETWORKS = ("pretrained", "untrained", "none")


def network_name(directory: str) -> str:
  """How an exported network reads in a table: "pretrained" for the one
  that ships, else its directory's name (its run's, for `RUN/export`)."""
  path = os.path.abspath(directory)
  if path == os.path.abspath(PRETRAINED):
    return "pretrained"
  name = os.path.basename(path)
  return os.path.basename(os.path.dirname(path)) if name == "export" else name


def play_config(description: dict):
  """The `TrainConfig` that plays with an exported network: the network's
  shape is the export's; how it starts and searches is the default agent's
  (the annealed start, departures and following its best are choices of
  play, not of the network), and nothing of its warm start remains."""
  preset = agent_config(DEFAULT_AGENT)
  return dataclasses.replace(train_config(description), search=preset.search,
                             follow_best=preset.follow_best, imitation_iterations=0,
                             start_anneal_share=preset.start_anneal_share)


def play(problem, hardware, deadline: float, seed: int = 0, directory: str = PRETRAINED,
         network: str = "pretrained"):
  """(game, placement): plays `problem` with search over an exported network
  in batches of games until `deadline` (`time.monotonic()`; at least one
  batch; batch k with seed `seed + k`), and answers with the best placement
  of the game's problem: of its games and of the game's start.

  Args:
    network: "pretrained" (the export's parameters), or the controls of an
      ablation: "untrained" (the same network's initial parameters) or
      "none" (every parameter zero: a uniform prior and zero values, so that
      the search's departures are drawn by the reference's bonus and chance
      alone).

  Raises:
    ProblemError: no export in `directory`, or hardware of another number of
      fast levels than the network's.
  """
  import jax
  import jax.numpy as jnp

  description, loaded = load(directory)
  if len(hardware.levels) - 1 != description["num_fast_levels"]:
    raise ProblemError(f"hardware with {description['num_fast_levels']} fast level(s), as "
                       "the pretrained network", hardware.name,
                       found=len(hardware.levels) - 1)
  config = play_config(description)
  slots = description["num_slots"]
  game = annealed_start(starting_game(problem, hardware, num_slots=slots), hardware,
                        config.start_anneal_share * (deadline - time.monotonic()), seed, slots)
  decoder = make_decoder(game.problem, hardware, slots, granularity=game.granularity)
  reference = (make_reference(game.problem, hardware, decoder, game.placement)
               if config.search.uses_reference else None)
  trainer = Trainer([decoder.problem], decoder.config, description["num_fast_levels"],
                    dataclasses.replace(config, follow_best=config.follow_best
                                        and reference is not None), seed, [reference])

  if network not in NETWORKS:
    raise ValueError(f"network: one of {NETWORKS}, not {network!r}")
  params = {"pretrained": loaded, "untrained": trainer.initial_params(),
            "none": jax.tree.map(jnp.zeros_like, loaded)}[network]

  def time_of(placement):
    return simulate_placement(game.problem, hardware, placement.levels)

  return game, play_until(trainer, decoder, reference, deadline, seed, game.placement,
                          time_of, params)
