"""Play with a trained network: games of a problem, searched as in training.

`play_with_search` plays one batch of self-play games with the trainer's
search and network (trained or given parameters) and returns the best;
`play_until` plays batches until a deadline, following the best game found
(the `muzero` solver and `agent.pretrained`); `unseen_game` sets up a problem
the network did not train on.
"""

from __future__ import annotations

import time

from malloc_muzero.agent.build import reference_for
from malloc_muzero.agent.reference import reference_of_actions, replay_grid
from malloc_muzero.agent.search import self_play
from malloc_muzero.game_instance import make_decoder


def unseen_game(trainer, problem, hardware):
  """(decoder, reference) of a problem the trainer did not train on: a slot
  grid of the network's size over the problem's own fast memory
  (`agent.reference.replay_grid`), and XLA's placement on it when the search
  uses one."""
  slots = trainer.game_config.num_slots
  granularity = replay_grid(problem, hardware, slots).granularity
  decoder = make_decoder(problem, hardware, slots, granularity=granularity)
  return decoder, reference_for(problem, hardware, decoder, trainer.config.search)


def play_with_search(trainer, decoder, reference, seed: int, params=None):
  """Play `games_per_iteration` games of a decoder's game (with its
  `reference`: those of `make_trainer` for a problem the network trained on,
  of `unseen_game` for another) with the trainer's search and network (its
  trained parameters, or `params`): (best placement, its return, its
  actions)."""
  import jax
  import numpy as np

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
