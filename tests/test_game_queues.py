"""The game's own run of the copy queues (`game.CopyQueues`) against the
simulator's (`simulator.copy_stalls`), and its cost in a batched game."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from malloc_muzero import game, players
from malloc_muzero.simulator import copy_stalls, simulation_inputs
from tests.test_game import GRANULARITY, _hardware, problems


def _config(hardware, problem, num_timings):
  # The shapes of test_game's games (one compile), with room for tracked
  # instructions: the dense idle table holds every kind of instruction.
  config = game.GameConfig(granularity=GRANULARITY, num_slots=16, max_buffers=10,
                           max_instructions=10, max_accesses=2, max_copies=20,
                           max_copy_accesses=20, num_timings=num_timings)
  assert game.dense_idle(config, len(hardware.levels))
  return config


_step = jax.jit(game.step)
_queue_stall_s = jax.jit(game._queue_stall_s)
_play = jax.jit(jax.vmap(players.play, in_axes=(None, None, None, 0)), static_argnums=(1, 2))


def _random_placement(gp, rng, num_slots):
  """Levels and timings of a random legal game (the queues read nothing
  else of the state)."""
  state = game.init(gp, num_slots)
  while not bool(state.terminated):
    state = _step(gp, state, jnp.int32(rng.choice(np.flatnonzero(state.legal_action_mask))))
  return state


@settings(max_examples=25, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1),
       capacities=st.sampled_from([(64,), (48, 96)]), num_timings=st.sampled_from([1, 3]))
def test_queue_stalls_equal_the_simulators(problem, seed, capacities, num_timings):
  """The dense table's stalls are `copy_stalls` of the same placement (the
  retimed copies, renumbered and padded as the game holds them)."""
  hardware = _hardware(capacities)
  config = _config(hardware, problem, num_timings)
  gp = game.make_game_problem(problem, hardware, config)
  assert gp.copies.copy_buffer.shape == (0,)  # The dense path holds them all.
  state = _random_placement(gp, np.random.default_rng(seed), config.num_slots)
  levels = state.levels
  mine = float(_queue_stall_s(gp.queues, levels, state.timings))
  retimed = game.retimed_problem(problem, gp, state)
  inputs = simulation_inputs(retimed, hardware)
  index = np.asarray(gp.buffer_index)
  in_problem_order = np.zeros(problem.num_buffers, np.int32)
  in_problem_order[index[index >= 0]] = np.asarray(levels)[index >= 0]
  theirs = float(copy_stalls(inputs, jnp.asarray(in_problem_order)).sum()) if \
      inputs.copy_buffer.shape[0] else 0.0
  assert mine == pytest.approx(theirs, rel=1e-5, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1), num_timings=st.sampled_from([1, 3]))
def test_the_access_lists_give_the_same_game(problem, seed, num_timings):
  """Without the dense table (a problem too large for it) the game runs the
  simulator's queues on its access lists: the same stalls and rewards."""
  hardware = _hardware((64,))
  config = _config(hardware, problem, num_timings)
  dense = game.make_game_problem(problem, hardware, config)
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(game, "DENSE_IDLE_RATIO", 0)
    lists = game.make_game_problem(problem, hardware, config)
  assert lists.queues.copy_buffer.shape == (0,)
  keys = jax.random.split(jax.random.key(seed), 4)
  a_state, a_return = _play(dense, config.num_slots, players.random_legal, keys)
  b_state, b_return = _play(lists, config.num_slots, players.random_legal, keys)
  assert np.array_equal(np.asarray(a_state.taken_actions), np.asarray(b_state.taken_actions))
  np.testing.assert_allclose(np.asarray(a_state.stall_s), np.asarray(b_state.stall_s),
                             rtol=1e-5, atol=1e-12)
  np.testing.assert_allclose(np.asarray(a_return), np.asarray(b_return), atol=1e-6)


def _windowed_games():
  """(config, game problem) of test_windows' program cut into windows, with
  1 and 4 timings."""
  from malloc_muzero.windows import split_into_windows
  from tests.test_windows import _hardware as windows_hardware
  from tests.test_windows import _problem as windows_problem

  windowed = split_into_windows(windows_problem(), min_gap=16, prefetch_steps=4).problem
  hardware = windows_hardware()
  for timings in (1, 4):
    config = game.game_config([windowed], granularity=1024, num_slots=16,
                              hardware=hardware, num_timings=timings)
    yield config, game.make_game_problem(windowed, hardware, config)


def test_the_last_decision_copies_no_state():
  """The queue run sits in a loop of 0 or 1 trips at every decision; that
  loop reads the actions without a copy of them (once a copy of [batch, N]
  at every decision: most of the windowed game's time in
  scripts/bench_game.py). Only the initial state's actions are copied."""
  for config, gp in _windowed_games():
    play = jax.jit(jax.vmap(players.play, in_axes=(None, None, None, 0)),
                   static_argnums=(1, 2))
    keys = jax.random.split(jax.random.key(0), 8)
    text = play.lower(gp, 16, players.random_legal, keys).compile().as_text()
    shape = f"s32[8,{config.max_buffers}]"
    copies = [line for line in text.splitlines()
              if " copy(" in line and shape in line.split("=")[1].split("copy(")[0]]
    assert len(copies) <= 1, copies


def test_a_batch_of_placements_runs_its_queues_as_the_games_do_one_by_one():
  """`_queue_stall_s` under `vmap` (its batch-last rule, `custom_vmap`)
  gives each placement the stalls of the unbatched run, also with the
  queues themselves batched (a batch of problems) and under a second vmap."""
  for config, gp in _windowed_games():
    assert gp.queues.idle_weights.shape[0]
    keys = jax.random.split(jax.random.key(config.num_timings), 6)
    final = _play(gp, config.num_slots, players.random_legal, keys)[0]
    levels, chosen = final.levels, final.timings
    one_by_one = np.array([float(_queue_stall_s(gp.queues, levels[i], chosen[i]))
                           for i in range(len(keys))])
    assert one_by_one.max() > 0
    batched = jax.jit(jax.vmap(game._queue_stall_s, in_axes=(None, 0, 0)))
    np.testing.assert_allclose(np.asarray(batched(gp.queues, levels, chosen)), one_by_one,
                               rtol=1e-6, atol=1e-15)
    stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x] * len(keys)), gp.queues)
    per_problem = jax.jit(jax.vmap(game._queue_stall_s))(stacked, levels, chosen)
    np.testing.assert_allclose(np.asarray(per_problem), one_by_one, rtol=1e-6, atol=1e-15)
    twice = jax.jit(jax.vmap(jax.vmap(game._queue_stall_s, in_axes=(None, 0, 0)),
                             in_axes=(None, 0, 0)))
    np.testing.assert_allclose(
        np.asarray(twice(gp.queues, levels.reshape(2, 3, -1), chosen.reshape(2, 3, -1))),
        one_by_one.reshape(2, 3), rtol=1e-6, atol=1e-15)
