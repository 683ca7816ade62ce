"""The warm start: demonstrations of the solvers' best placements (`agent.imitation`)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from malloc_muzero import get_hardware
from malloc_muzero.agent.imitation import best_actions, demonstration
from malloc_muzero.agent.presets import agent_config
from malloc_muzero.agent.reference import play_actions, reference_actions
from malloc_muzero.agent.build import make_trainer


def _conv_net():
  from experiments.problem_sources import program_problem

  problem = program_problem("conv_net")
  return problem, get_hardware("tpu-v4", capacity=problem.capacity_for(0.25))


def test_demonstration_is_the_game_of_its_actions():
  problem, hardware = _conv_net()
  (decoder,), _ = make_trainer([problem], [hardware], agent_config("guided"), seed=0)
  slots = decoder.config.num_slots
  actions = best_actions(problem, hardware, decoder, seed=0, iterations=200)
  total, _ = play_actions(decoder.problem, slots, actions)
  xla, _ = play_actions(decoder.problem, slots,
                        reference_actions(problem, hardware, decoder))
  # The best of xla-msa and anneal is at least xla-msa's.
  assert float(total) >= float(xla) - 1e-7
  trajectory = jax.tree.map(np.asarray, demonstration(decoder.problem, slots, actions))
  active = trajectory.active[0]
  assert np.isclose(trajectory.rewards[0].sum(), float(total), rtol=1e-6)
  assert (trajectory.actions[0] == actions).all()
  assert (trajectory.policies[0].argmax(axis=-1)[active] == actions[active]).all()
  assert np.allclose(trajectory.policies[0].sum(axis=-1), 1.0)
  # Every action is legal, and the value target is the return still to come.
  assert trajectory.legal[0][np.arange(len(actions)), actions][active].all()
  assert np.isclose(trajectory.root_values[0, 0], float(total), rtol=1e-6)
  assert np.allclose(trajectory.root_values[0],
                     np.cumsum(trajectory.rewards[0][::-1])[::-1], atol=1e-6)


def test_warm_start_then_self_play():
  problem, hardware = _conv_net()
  guided = agent_config("guided")
  config = dataclasses.replace(guided, imitation_iterations=2, games_per_iteration=4,
                               updates_per_iteration=2, batch_size=16,
                               search=dataclasses.replace(guided.search, num_simulations=4,
                                                          max_considered=4))
  _, trainer = make_trainer([problem], [hardware], config, seed=0)
  before = trainer.state.params
  for iteration in range(3):
    progress = trainer.run_iteration()
    assert np.isfinite(progress.losses["loss"])
    assert trainer.games == 4 * max(0, iteration - 1)
    assert len(trainer.replay) == min(iteration + 1, 2) + 4 * max(0, iteration - 1)
    # Self-play reports how its games fare against the reference they depart
    # from (the reference's return is the start's; a departure can only cost
    # or gain a little).
    if iteration == 2:
      assert np.isfinite(progress.mean_gain) and abs(progress.mean_gain) < 0.5
  changed = jax.tree.map(lambda a, b: bool((np.asarray(a) != np.asarray(b)).any()),
                         before, trainer.state.params)
  assert any(jax.tree.leaves(changed))


def test_warm_start_needs_demonstrations():
  import pytest

  from malloc_muzero.agent.train import Trainer

  problem, hardware = _conv_net()
  config = dataclasses.replace(agent_config("muzero"), imitation_iterations=1)
  (decoder,), _ = make_trainer([problem], [hardware], agent_config("muzero"), seed=0)
  with pytest.raises(ValueError, match="demonstrations"):
    Trainer([decoder.problem], decoder.config, 1, config, 0)


def test_a_warm_started_run_resumes_exactly(tmp_path):
  """Demonstrations come from iteration budgets, so a run checkpointed in its
  warm start and resumed ends where one that never stopped does."""
  from malloc_muzero.agent import checkpoint
  from malloc_muzero.agent.search import SearchConfig
  from malloc_muzero.agent.train import TrainConfig
  from malloc_muzero.problem import Problem

  problem = Problem.from_arrays(sizes=[1024, 2048, 1024, 3072, 1024, 2048],
                                starts=[0, 1, 2, 3, 4, 5], ends=[3, 4, 5, 6, 7, 8])
  hardware = get_hardware("tpu-v4", capacity=4096)
  config = TrainConfig(latent_size=16, num_atoms=21, games_per_iteration=4,
                       updates_per_iteration=2, batch_size=8, unroll_steps=2, n_step=3,
                       replay_games=16, imitation_iterations=2,
                       search=SearchConfig(num_simulations=4, max_considered=4))

  def trainer():
    return make_trainer([problem], [hardware], config, seed=0)[1]

  straight = trainer()
  for _ in range(3):
    straight.run_iteration()
  first = trainer()
  first.run_iteration()
  checkpoint.save(str(tmp_path), first, {"problem": "tiny"})
  resumed = trainer()
  assert checkpoint.restore(str(tmp_path), resumed, {"problem": "tiny"})
  resumed.run_iteration()
  resumed.run_iteration()
  for a, b in zip(jax.tree.leaves(straight.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_network_exported_in_its_warm_start_plays(tmp_path):
  """Play takes the export's network, not its warm start (which needs
  demonstrations that play has no use for)."""
  from malloc_muzero.agent import pretrained
  from malloc_muzero.agent.search import SearchConfig
  from malloc_muzero.agent.train import TrainConfig
  from malloc_muzero.placement import check_placement
  from malloc_muzero.problem import Problem

  problem = Problem.from_arrays(sizes=[1024, 2048, 1024, 3072, 1024, 2048],
                                starts=[0, 1, 2, 3, 4, 5], ends=[3, 4, 5, 6, 7, 8])
  hardware = get_hardware("tpu-v4", capacity=4096)
  config = TrainConfig(latent_size=16, num_atoms=21, games_per_iteration=4,
                       updates_per_iteration=1, batch_size=8, unroll_steps=2, n_step=3,
                       replay_games=16, imitation_iterations=1,
                       search=SearchConfig(num_simulations=4, max_considered=4))
  trainer = make_trainer([problem], [hardware], config, seed=0)[1]
  trainer.run_iteration()
  pretrained.export(trainer, {"problem": "tiny"}, str(tmp_path), "a test")
  game, placement = pretrained.play(problem, hardware, 0.0, 0, str(tmp_path))
  assert check_placement(game.problem, hardware, placement) is None
