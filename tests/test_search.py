"""Search over a node's candidate actions (`SearchConfig.num_candidates`)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from malloc_muzero import get_hardware
from malloc_muzero.agent.presets import agent_config
from malloc_muzero.agent.build import make_trainer
from malloc_muzero.agent.search import SEARCH_CHOICES, SearchConfig, _candidates, self_play


def test_candidates_all_top_and_sampled():
  logits = jnp.asarray([[0.0, 3.0, -1.0, 2.0, jnp.finfo(jnp.float32).min]])
  actions, kept = _candidates(logits, 0, None)
  assert actions.tolist() == [[0, 1, 2, 3, 4]] and (kept == logits).all()
  actions, kept = _candidates(logits, 9, jax.random.key(0))
  assert actions.tolist() == [[0, 1, 2, 3, 4]]
  actions, kept = _candidates(logits, 2, None)
  assert actions.tolist() == [[1, 3]] and kept.tolist() == [[3.0, 2.0]]
  # Sampled without replacement, in proportion to the prior: distinct, never
  # the masked action while legal ones remain, and every legal one drawn.
  drawn = np.concatenate([np.asarray(_candidates(logits, 3, jax.random.key(k))[0])
                          for k in range(200)])
  assert all(len(set(row)) == 3 and 4 not in row for row in drawn.tolist())
  assert set(drawn.ravel().tolist()) == {0, 1, 2, 3}
  ones = np.bincount(drawn.ravel(), minlength=5)
  assert ones[1] >= ones[3] >= ones[0] >= ones[2]


def test_policy_lives_on_candidates():
  from experiments.problem_sources import program_problem

  problem = program_problem("conv_net")
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.3))
  guided = agent_config("guided")
  searched = {}
  for count in (0, 4):
    config = dataclasses.replace(guided, search=dataclasses.replace(
        guided.search, num_candidates=count, num_simulations=8, max_considered=4))
    (decoder,), trainer = make_trainer([problem], [hardware], config, seed=0)
    finals, trajectory = self_play(
        trainer.network, trainer.support, config.search, trainer.state.params,
        decoder.problem, decoder.config.num_slots, jax.random.key(0), 4,
        reference=trainer.references[0])
    active = np.asarray(trajectory.active)
    policies = np.asarray(trajectory.policies)[active]
    legal = np.asarray(trajectory.legal)[active]
    actions = np.asarray(trajectory.actions)[active]
    assert np.allclose(policies.sum(axis=-1), 1.0, atol=1e-5)
    assert not (policies * ~legal).any()
    assert legal[np.arange(len(actions)), actions].all()
    assert policies.shape[-1] > 4
    searched[count] = (policies > 0).sum(axis=-1)
  assert searched[4].max() <= 4
  assert searched[0].max() > 4


def test_departure_moves_counts():
  from experiments.problem_sources import program_problem
  from malloc_muzero.agent.search import departure_moves
  from malloc_muzero.game_instance import make_decoder

  problem = program_problem("transformer_train_step")
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.3))
  decoder = make_decoder(problem, hardware)
  moves = np.stack([np.asarray(departure_moves(decoder.problem, 2, 8, jax.random.key(k)))
                    for k in range(64)])                        # [keys, games, turns]
  valid = np.asarray(decoder.problem.valid)
  assert not moves[..., ~valid].any()
  per_game = moves.sum(axis=-1).mean(axis=0)
  # About 2 x 2^(g mod 4) each (fewer where a move's chance reaches 1).
  expected = 2 * 2 ** (np.arange(8) % 4)
  assert np.all(per_game <= expected * 1.15) and np.all(per_game >= expected * 0.7)


@pytest.mark.parametrize("simulations", [8, 0])
def test_games_depart_only_where_drawn(simulations):
  """With a tree (8 simulations) or without (0: the departure is a sample of
  the prior), a game departs where drawn, to a legal action."""
  from experiments.problem_sources import program_problem
  from malloc_muzero import game
  from malloc_muzero.agent.rollout import default_action
  from malloc_muzero.agent.search import departure_moves

  problem = program_problem("conv_net")
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.3))
  guided = agent_config("guided")
  config = dataclasses.replace(guided, search=dataclasses.replace(
      guided.search, departures=2, num_simulations=simulations, max_considered=4))
  (decoder,), trainer = make_trainer([problem], [hardware], config, seed=0)
  reference, key = trainer.references[0], jax.random.key(3)
  _, trajectory = self_play(trainer.network, trainer.support, config.search,
                            trainer.state.params, decoder.problem,
                            decoder.config.num_slots, key, 4, reference=reference)
  departing = np.asarray(departure_moves(decoder.problem, 2, 4, jax.random.fold_in(key, 2)))
  actions = np.asarray(trajectory.actions)
  assert np.isfinite(np.asarray(trajectory.root_values)).all()
  departed = 0
  for g in range(4):
    state = game.init(decoder.problem, decoder.config.num_slots)
    for turn in range(int(decoder.problem.valid.sum())):
      default = int(default_action(decoder.problem, state, reference))
      assert state.legal_action_mask[actions[g, turn]]
      if departing[g, turn] and int(state.legal_action_mask.sum()) > 1:
        assert actions[g, turn] != default
        departed += 1
      elif not departing[g, turn]:
        assert actions[g, turn] == default
      state = game.step(decoder.problem, state, jnp.int32(actions[g, turn]))
  assert departed > 0


@pytest.mark.parametrize("field", sorted(SEARCH_CHOICES))
def test_search_config_checks_its_string_options(field):
  """A string option outside its choices fails at construction, naming the
  field and what it allows; each allowed value constructs."""
  for value in SEARCH_CHOICES[field]:
    assert getattr(SearchConfig(**{field: value}), field) == value
  with pytest.raises(ValueError, match=rf"SearchConfig\.{field}: expected one of "
                     + ", ".join(f"'{v}'" for v in SEARCH_CHOICES[field]) + ", found 'nope'"):
    SearchConfig(**{field: "nope"})
