"""Warm start: imitation of the best placement the solvers find.

Before self-play, a run can train on demonstrations
(`TrainConfig.imitation_iterations`): games that take, move by move, the
actions of the fastest placement that some solvers find on the game's grid
(`xla-msa` and `anneal` by default; `best_actions`). A demonstration is
stored as a self-played game would be (`demonstration`): the policy target
of each move is the action taken, the value target the return that the rest
of the demonstration earns, so the same replay buffer and loss train on it.
The solvers run with iteration budgets, not time limits, so that a run
resumed from a checkpoint draws the same demonstrations.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero import game
from malloc_muzero.agent.reference import on_grid, play_actions, reference_actions
from malloc_muzero.agent.search import Trajectory
from malloc_muzero.solvers import SolverOptions, solve
from malloc_muzero.solvers.registry import takes_iterations

# Solvers whose placements a warm start imitates, and the iterations each
# search solver gets (`SolverOptions.iterations`).
DEMONSTRATORS = ("xla-msa", "anneal")
SOLVER_ITERATIONS = 200


@functools.partial(jax.jit, static_argnums=1)
def demonstration(problem: game.GameProblem, num_slots: int, actions) -> Trajectory:
  """The [1, N] trajectory of the game that takes `actions` ([N], one per
  turn): one-hot policy targets, the return-to-go as root values."""
  num_actions = game.init(problem, num_slots).legal_action_mask.shape[-1]

  def move(state, action):
    record = Trajectory(observations=game.observe(problem, state),
                        legal=state.legal_action_mask, actions=action,
                        policies=jax.nn.one_hot(action, num_actions),
                        rewards=jnp.float32(0), root_values=jnp.float32(0),
                        active=~state.terminated)
    state = game.step(problem, state, action)
    return state, record.replace(rewards=state.reward)

  _, trajectory = jax.lax.scan(move, game.init(problem, num_slots),
                               jnp.asarray(actions, jnp.int32))
  to_go = jnp.cumsum(trajectory.rewards[::-1])[::-1]
  return jax.tree.map(lambda x: x[None], trajectory.replace(root_values=to_go))


def best_actions(problem, hardware, decoder, seed: int,
                 solvers: tuple[str, ...] = DEMONSTRATORS,
                 iterations: int = SOLVER_ITERATIONS) -> np.ndarray:
  """[N] the game actions of the fastest placement (by the game's return)
  that `solvers` find for `problem` on `decoder`'s grid."""
  config = decoder.config
  grid_problem, grid_hardware = on_grid(problem, hardware, config.granularity,
                                        config.num_slots)
  best, best_return = None, -np.inf
  for name in solvers:
    options = SolverOptions(seed=seed, iterations=iterations if takes_iterations(name)
                            else None)
    placement = solve(name, grid_problem, grid_hardware, options)
    actions = reference_actions(problem, hardware, decoder, placement)
    total = float(play_actions(decoder.problem, config.num_slots, jnp.asarray(actions))[0])
    if total > best_return:
      best, best_return = actions, total
  return best
