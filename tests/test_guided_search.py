"""Search guided by XLA's placement: the reference, rollouts, and departures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from malloc_muzero import (Problem, check_placement, game, get_hardware,
                           simulate_placement, simulation_bounds)
from malloc_muzero.agent.reference import make_reference
from malloc_muzero.agent.rollout import default_action, rollout_value
from malloc_muzero.agent.build import make_trainer
from malloc_muzero.agent.search import SearchConfig, self_play
from malloc_muzero.agent.train import TrainConfig
from malloc_muzero.solvers import solve
from malloc_muzero.game_instance import make_decoder

# Two slots of 512 B. XLA's heuristic takes the long 1 KiB buffer first (the
# largest memory boundedness); leaving it out lets four short buffers in, which
# saves twice the bytes.
HARDWARE = get_hardware("tpu-v4", capacity=1024)
TRAP = Problem.from_arrays(sizes=[1024, 512, 512, 512, 512], starts=[0, 1, 1, 5, 5],
                           ends=[9, 3, 3, 7, 7], name="trap")


def _replay(decoder, actions):
  state = game.init(decoder.problem, decoder.config.num_slots)
  total = 0.0
  for action in np.asarray(actions):
    if bool(state.terminated):
      break
    assert bool(state.legal_action_mask[action])
    state = game.step(decoder.problem, state, jnp.int32(action))
    total += float(state.reward)
  return state, total


def test_reference_replays_xla_msa():
  from experiments.problem_sources import program_problem

  problem = program_problem("conv_net")
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.3))
  decoder = make_decoder(problem, hardware)
  reference = make_reference(problem, hardware, decoder)
  state, total = _replay(decoder, reference.actions)
  placement = decoder.placement(state)
  assert check_placement(problem, hardware, placement) is None
  # On the grid, XLA's heuristic loses at most a sliver to rounding.
  msa = simulate_placement(problem, hardware, solve("xla-msa", problem, hardware).levels)
  replayed = simulate_placement(problem, hardware, placement.levels)
  assert replayed <= msa * (1 + 1e-3)
  slow, _ = simulation_bounds(problem, hardware)
  assert replayed == pytest.approx(slow * (1 - total), rel=1e-5)
  # The default policy from the start is the reference itself.
  start = game.init(decoder.problem, decoder.config.num_slots)
  assert float(rollout_value(decoder.problem, start, reference)) == pytest.approx(
      total, rel=1e-5)
  # A guided trainer's best starts as that game, before any self-play.
  from malloc_muzero.agent.presets import agent_config
  _, trainer = make_trainer([problem], [hardware], agent_config("guided"), seed=0)
  assert trainer.best[0] == pytest.approx(total, rel=1e-5)
  assert decoder.placement(trainer.best[2]).levels.tolist() == placement.levels.tolist()


def test_next_claim_by_hand():
  decoder = make_decoder(TRAP, HARDWARE)
  reference = make_reference(TRAP, HARDWARE, decoder)
  assert reference.actions.tolist()[:5] == [1, 0, 0, 0, 0]
  claims = np.asarray(reference.next_claim)
  never = np.iinfo(np.int32).max
  # Before the first decision, the reference claims both slots from step 0;
  # after it, nothing more.
  assert claims[0].tolist() == [[never, never]]
  assert (claims[1:] == never).all()
  problem = Problem.from_arrays(sizes=[512, 512, 512], starts=[0, 2, 4],
                                ends=[1, 3, 5])
  decoder = make_decoder(problem, HARDWARE)
  reference = make_reference(problem, HARDWARE, decoder)
  assert reference.actions.tolist() == [1, 1, 1]
  assert np.asarray(reference.next_claim)[:, 0, 0].tolist() == [2, 4, never]


def test_default_policy_fills_what_a_departure_frees():
  decoder = make_decoder(TRAP, HARDWARE)
  reference = make_reference(TRAP, HARDWARE, decoder)
  start = game.init(decoder.problem, decoder.config.num_slots)
  kept = rollout_value(decoder.problem, start, reference)
  departed = game.step(decoder.problem, start, jnp.int32(0))
  assert int(default_action(decoder.problem, departed, reference)) > 0
  freed = rollout_value(decoder.problem, departed, reference)
  assert float(freed) == pytest.approx(2 * float(kept), rel=1e-5)


def _rollout_games(hardware, perturb: bool = False):
  """(decoder, final states, trajectory) of 4 games of TRAP with rollouts."""
  config = TrainConfig(games_per_iteration=4, search=SearchConfig(
      num_simulations=8, max_considered=4, dynamics="true", reference_bonus=4.0,
      leaf_value="rollout", value_scale=10.0, perturb=perturb))
  (decoder,), trainer = make_trainer([TRAP], [hardware], config, seed=0)
  finals, trajectory = self_play(
      trainer.network, trainer.support, config.search, trainer.state.params,
      decoder.problem, decoder.config.num_slots, jax.random.key(0), 4,
      reference=trainer.references[0])
  return decoder, finals, trajectory


def test_guided_search_departs_from_xla_when_it_pays():
  decoder, finals, trajectory = _rollout_games(HARDWARE)
  legal = np.asarray(trajectory.legal)
  actions = np.asarray(trajectory.actions)
  active = np.asarray(trajectory.active)
  picked = np.take_along_axis(legal, actions[..., None], axis=-1)[..., 0]
  assert picked[active].all()
  msa = simulate_placement(TRAP, HARDWARE, solve("xla-msa", TRAP, HARDWARE).levels)
  for g in range(4):
    placement = decoder.placement(finals, g)
    assert check_placement(TRAP, HARDWARE, placement) is None
    assert simulate_placement(TRAP, HARDWARE, placement.levels) < msa


def test_rollout_needs_true_dynamics_and_a_reference():
  config = TrainConfig(search=SearchConfig(leaf_value="rollout"))
  (decoder,), trainer = make_trainer([TRAP], [HARDWARE], config, seed=0)
  with pytest.raises(ValueError, match="true dynamics"):
    self_play(trainer.network, trainer.support, config.search, trainer.state.params,
              decoder.problem, decoder.config.num_slots, jax.random.key(0), 2,
              reference=trainer.references[0])


def _following_trainer():
  config = TrainConfig(games_per_iteration=4, updates_per_iteration=1, batch_size=8,
                       latent_size=16, num_atoms=21, unroll_steps=2, n_step=3,
                       replay_games=16, follow_best=True, search=SearchConfig(
                           num_simulations=8, max_considered=4, dynamics="true",
                           reference_bonus=4.0, leaf_value="rollout", value_scale=10.0))
  (decoder,), trainer = make_trainer([TRAP], [HARDWARE], config, seed=0)
  return decoder, trainer


def test_follow_best_makes_the_best_game_the_reference(tmp_path):
  from malloc_muzero.agent import checkpoint
  from malloc_muzero.agent.reference import play_reference

  decoder, trainer = _following_trainer()
  xla_return = trainer.followed[0]
  xla_actions = np.asarray(trainer.references[0].actions).tolist()
  trainer.run_iteration()
  best_return, _, best_state = trainer.best
  assert best_return > xla_return * 1.5  # (the trap: twice the bytes saved)
  assert trainer.followed[0] == best_return
  followed = np.asarray(trainer.references[0].actions).tolist()
  assert followed == np.asarray(best_state.actions).tolist() != xla_actions
  # The new reference replays the best game, and the rollouts finish it.
  total, _ = play_reference(decoder.problem, decoder.config.num_slots,
                            trainer.references[0])
  assert float(total) == pytest.approx(best_return, rel=1e-5)
  start = game.init(decoder.problem, decoder.config.num_slots)
  assert float(rollout_value(decoder.problem, start, trainer.references[0])) == \
      pytest.approx(best_return, rel=1e-5)
  # A resumed run follows the same game.
  checkpoint.save(str(tmp_path), trainer, {"problem": "trap"})
  _, resumed = _following_trainer()
  assert np.asarray(resumed.references[0].actions).tolist() == xla_actions
  assert checkpoint.restore(str(tmp_path), resumed, {"problem": "trap"})
  assert np.asarray(resumed.references[0].actions).tolist() == followed
  assert resumed.followed[0] == best_return


def test_follow_best_needs_a_reference():
  config = TrainConfig(follow_best=True)
  with pytest.raises(ValueError, match="follow_best needs a reference"):
    make_trainer([TRAP], [HARDWARE], config, seed=0)


def test_perturbed_games_leave_one_buffer_in_the_default_memory():
  # Everything fits: search places every buffer in fast memory, except where
  # a perturbed game (the second half of the batch) must leave one out.
  hardware = get_hardware("tpu-v4", capacity=4096)
  results = {}
  for perturb in (False, True):
    _, _, trajectory = _rollout_games(hardware, perturb)
    active = np.asarray(trajectory.active)
    results[perturb] = np.where(active, np.asarray(trajectory.actions), -1)
  slow = lambda actions: (actions == 0).sum(axis=1).tolist()
  assert slow(results[False]) == [0, 0, 0, 0]
  assert slow(results[True]) == [0, 0, 1, 1]
  np.testing.assert_array_equal(results[True][:2], results[False][:2])


def test_an_annealed_start_is_a_faster_game_the_search_can_replay():
  """`annealed_start` on the trap: XLA's order keeps the long buffer; annealing
  in the game's own grid finds the four short ones, and its placement is a
  legal reference game whose return is its saving."""
  from malloc_muzero.agent.reference import (annealed_start, play_reference,
                                             starting_game)

  start = starting_game(TRAP, HARDWARE)
  assert annealed_start(start, HARDWARE, 0.0) is start
  annealed = annealed_start(start, HARDWARE, 600.0, iterations=20)
  assert annealed.label == "anneal from xla-msa"
  assert annealed.time_s < start.time_s
  assert (annealed.problem, annealed.granularity) == (start.problem, start.granularity)
  assert check_placement(TRAP, HARDWARE, annealed.placement) is None
  assert annealed.time_s == simulate_placement(TRAP, HARDWARE, annealed.placement.levels)
  decoder = make_decoder(TRAP, HARDWARE, granularity=annealed.granularity)
  reference = make_reference(TRAP, HARDWARE, decoder, annealed.placement)
  total, final = play_reference(decoder.problem, decoder.config.num_slots, reference)
  np.testing.assert_array_equal(decoder.placement(final).levels, annealed.placement.levels)
  slow, _ = simulation_bounds(TRAP, HARDWARE)
  assert float(total) == pytest.approx(1 - annealed.time_s / slow, rel=1e-5)
  # Where XLA's answer is already the best, the start stays XLA's.
  roomy = get_hardware("tpu-v4", capacity=4096)
  whole = starting_game(TRAP, roomy)
  assert annealed_start(whole, roomy, 600.0, iterations=20) is whole


def test_the_agent_answers_at_least_as_fast_as_its_annealed_start(tmp_path):
  import dataclasses

  from malloc_muzero.agent.presets import agent_config
  from malloc_muzero.agent.run import place_with_agent

  config = dataclasses.replace(agent_config("guided"), games_per_iteration=2,
                               start_anneal_share=0.5)
  summary = place_with_agent(TRAP, HARDWARE, str(tmp_path), 4.0, 0, config, progress=False)
  assert summary["game"].label == "anneal from xla-msa"
  assert summary["time_s"] <= summary["game"].time_s * (1 + 1e-9)
  msa = simulate_placement(TRAP, HARDWARE, solve("xla-msa", TRAP, HARDWARE).levels)
  assert summary["time_s"] < msa
