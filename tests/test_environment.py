"""The jumanji-style Environment: specs, reset/step under jit and vmap, and
returns equal to the simulator's saving."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import malloc_muzero
from malloc_muzero import (Environment, Problem, ProblemError, check_placement,
                           get_hardware, simulate_placement, simulation_bounds)
from malloc_muzero.environment import StepType
from malloc_muzero.generator import ProblemGenerator
from malloc_muzero.windows import split_into_windows

BATCH = 8


def _problems():
  program = ProblemGenerator(min_instructions=24, max_instructions=24)(3)
  # With windows (asynchronous copies on XLA's time model: the last step pays
  # the stalls), and sizes and lifespans only (MiniMalloc's CSV).
  windowed = split_into_windows(program, min_gap=4).problem
  csv = Problem.from_arrays(sizes=[1024, 3072, 2048, 1024, 512],
                            starts=[0, 1, 2, 3, 5], ends=[3, 4, 6, 5, 7], name="csv")
  return {"program": program, "windows": windowed, "csv": csv}


PROBLEMS = _problems()


def _env(name):
  problem = PROBLEMS[name]
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.4))
  return problem, hardware, Environment(problem, hardware)


def _random_episodes(env, keys):
  """Random legal actions to termination, jitted and vmapped over `keys`:
  (final states, summed rewards, timesteps of the first and last steps)."""
  reset, step = jax.vmap(env.reset), jax.vmap(env.step)

  def choose(key, mask):
    action = jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf))
    return jnp.where(mask.any(), action, 0).astype(jnp.int32)

  @jax.jit
  def play(keys):
    state, first = reset(keys)

    def body(carry, key):
      state, timestep, total = carry
      actions = jax.vmap(choose)(jax.random.split(key, keys.shape[0]),
                                 timestep.observation.action_mask)
      state, timestep = step(state, actions)
      return (state, timestep, total + timestep.reward), timestep.step_type

    steps = env.game_problem.valid.shape[0]
    (state, last, total), types = jax.lax.scan(
        body, (state, first, jnp.zeros(keys.shape[0])),
        jax.random.split(keys[0], steps))
    return state, total, first, last, types
  return play(keys)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_random_legal_play_returns_the_simulators_saving(name):
  problem, hardware, env = _env(name)
  keys = jax.random.split(jax.random.key(0), BATCH)
  state, total, first, last, types = _random_episodes(env, keys)
  assert (np.asarray(first.step_type) == StepType.FIRST).all()
  assert (np.asarray(first.discount) == 1).all() and (np.asarray(first.reward) == 0).all()
  assert (np.asarray(last.step_type) == StepType.LAST).all()
  assert (np.asarray(last.discount) == 0).all()
  assert not np.asarray(last.observation.action_mask).any()
  # One LAST per game, then the game stays over.
  types = np.asarray(types)
  assert ((types == StepType.LAST).cumsum(axis=0) > 0).sum(axis=0).min() >= 1
  slow, _ = simulation_bounds(problem, hardware)
  distinct = set()
  for b in range(BATCH):
    placement = env.placement(state, b)
    assert check_placement(problem, hardware, placement) is None
    saving = (slow - simulate_placement(problem, hardware, placement.levels)) / slow
    assert float(total[b]) == pytest.approx(saving, abs=1e-5, rel=1e-6)
    distinct.add(tuple(placement.levels.tolist()) + tuple(placement.offsets.tolist()))
  assert len(distinct) > 1  # The keys drew different games.


def test_specs_match_the_timesteps():
  problem, hardware, env = _env("program")
  state, timestep = env.reset(jax.random.key(1))
  spec = env.observation_spec()
  assert set(spec) == {"buffers", "free_slots", "progress", "action_mask"}
  for name, field in spec.items():
    field.validate(getattr(timestep.observation, name))
    assert field.generate_value().shape == field.shape
  action = env.action_spec()
  assert action.num_values == env.num_actions == spec["action_mask"].shape[0]
  assert env.num_actions == 1 + env.num_slots  # One fast level.
  assert spec["free_slots"].shape == (1, env.num_slots)
  env.reward_spec().validate(timestep.reward)
  env.discount_spec().validate(timestep.discount)
  with pytest.raises(ValueError, match="action_mask"):
    spec["action_mask"].validate(jnp.zeros(3, bool))
  assert timestep.first() and not timestep.last()


def test_grid_is_chosen_from_the_problem_or_given():
  problem, hardware, env = _env("program")
  capacity = hardware.levels[1].capacity
  assert env.granularity % hardware.levels[1].alignment == 0
  assert env.num_slots * env.granularity <= capacity
  assert env.num_slots <= 1024
  fixed = Environment(problem, hardware, num_slots=64)
  assert fixed.num_slots == 64 and fixed.num_actions == 65
  assert "Environment" in malloc_muzero.__all__


def test_an_illegal_action_ends_the_game_with_the_penalty():
  _, _, env = _env("csv")
  state, timestep = env.reset(jax.random.key(0))
  illegal = int(np.flatnonzero(~np.asarray(timestep.observation.action_mask))[0])
  state, timestep = jax.jit(env.step)(state, illegal)
  assert timestep.last() and float(timestep.reward) == -1.0
  assert (env.placement(state).levels == 0).all()


def test_empty_problem_is_refused():
  empty = Problem.from_arrays(sizes=[], starts=[], ends=[])
  with pytest.raises(ProblemError, match="at least one buffer"):
    Environment(empty, get_hardware("tpu-v4"))
