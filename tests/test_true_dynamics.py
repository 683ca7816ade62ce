"""Search over the game's true dynamics: legal moves only, valid placements."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from malloc_muzero import Problem, check_placement, get_hardware, game
from malloc_muzero.solvers import true_dynamics
from malloc_muzero.solvers import solve
from malloc_muzero.game_instance import make_decoder


def _problem(seed: int, n: int = 12) -> Problem:
  rng = np.random.default_rng(seed)
  starts = rng.integers(0, 10, n)
  return Problem.from_arrays(sizes=rng.integers(1, 6, n) * 512, starts=starts,
                             ends=starts + rng.integers(0, 5, n))


def test_search_never_picks_an_illegal_action():
  problem = _problem(0)
  hardware = get_hardware("nnp-i", capacity=2048)
  decoder = make_decoder(problem, hardware)
  states = jax.vmap(lambda _: game.init(decoder.problem, decoder.config.num_slots))(
      np.arange(3))
  key = jax.random.key(0)
  search = jax.jit(true_dynamics.search, static_argnums=(3, 4))
  while not bool(states.terminated.all()):
    key, sub = jax.random.split(key)
    output = search(decoder.problem, states, sub, 16, 8)
    legal = np.asarray(states.legal_action_mask)
    actions = np.asarray(output.action)
    for g in range(3):
      if not bool(states.terminated[g]):
        assert legal[g, actions[g]], (g, actions[g])
    states = jax.vmap(game.step, in_axes=(None, 0, 0))(decoder.problem, states,
                                                       output.action)
    assert (np.asarray(states.reward) >= 0).all()


def test_mcts_solver_places_validly():
  problem = _problem(1, n=20)
  hardware = get_hardware("tpu-v4", capacity=4096)
  placement = solve("mcts", problem, hardware)
  assert check_placement(problem, hardware, placement) is None
  assert (placement.levels > 0).any()


def test_search_solves_tiny_problems_optimally():
  """With enough simulations to see whole games, search over the true game
  finds the placement `exact` proves optimal."""
  from malloc_muzero import simulate_placement
  from malloc_muzero.solvers.exact import solve_exact

  hardware = get_hardware("tpu-v4", capacity=2048)
  for seed in range(5):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 4, 4)
    problem = Problem.from_arrays(sizes=rng.integers(1, 4, 4) * 512, starts=starts,
                                  ends=starts + rng.integers(0, 3, 4))
    optimum = solve_exact(problem, hardware, time_limit_s=10)
    assert optimum.optimal
    decoder = make_decoder(problem, hardware)
    states, returns = true_dynamics.play(decoder.problem, decoder.config.num_slots,
                                         jax.random.key(0), 4, 256, 16)
    best = int(np.argmax(np.asarray(returns)))
    time = simulate_placement(problem, hardware, decoder.placement(states, best).levels)
    assert time == pytest.approx(optimum.objective_s, rel=1e-6), seed
