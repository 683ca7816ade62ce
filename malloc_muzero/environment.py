"""The mallocGame as a jumanji-style environment, for RL users.

`malloc_muzero.game` has pgx-style functions (`init`, `step`, `observe` over
a padded `GameProblem`). `Environment` wraps them in the interface of
jumanji's environments, without depending on jumanji:

    env = Environment(problem, hardware)        # grid chosen from the problem
    state, timestep = env.reset(jax.random.key(0))
    state, timestep = env.step(state, action)   # an int32 in [0, num_actions)
    env.observation_spec(), env.action_spec()

`reset` and `step` are pure JAX: jit them, vmap them over a batch of keys
and states. A game places the problem's buffers one at a time in the game's
decision order (`game.decision_order`); action 0 leaves the buffer in the
default memory, action `1 + (level - 1) * num_slots + slot` puts it at byte
`slot * granularity` of a fast level. The granularity and the slot count
are chosen from the hardware's fast levels as the search solvers choose them
(`game_instance.grid`: at most 1,024 slots over the largest level,
aligned for every level), or `num_slots` exactly (a network's fixed action
grid). The observation holds the legal actions (`action_mask`); an illegal
action ends the game with reward `game.ILLEGAL_ACTION_REWARD` and leaves the
placement as it was. A step's reward is the simulated time it saves, as a
share of the all-slow time, so an episode's return is the share of the
program's time the final placement saves (`env.placement(state)` is that
placement, checked and timed by `check_placement` and `simulate_placement`).
The discount is 1 until the last step and 0 there, as in jumanji.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero import game
from malloc_muzero.errors import ProblemError
from malloc_muzero.game_instance import make_decoder
from malloc_muzero.hardware import Hardware
from malloc_muzero.placement import Placement
from malloc_muzero.problem import Problem


class StepType:
  """The kind of a timestep, as dm_env's and jumanji's (int8)."""
  FIRST = 0
  MID = 1
  LAST = 2


@dataclasses.dataclass(frozen=True)
class ArraySpec:
  """The shape and dtype of an array (jumanji's `specs.Array`)."""
  shape: tuple[int, ...]
  dtype: Any
  name: str = ""

  def generate_value(self) -> chex.Array:
    """An array of zeros that meets the spec."""
    return jnp.zeros(self.shape, self.dtype)

  def validate(self, value) -> chex.Array:
    """`value`, or ValueError if its shape or dtype differ from the spec's."""
    if tuple(value.shape) != tuple(self.shape) or jnp.dtype(value.dtype) != jnp.dtype(
        self.dtype):
      raise ValueError(f"{self.name or 'array'}: expected shape {self.shape} and dtype "
                       f"{jnp.dtype(self.dtype)}, found {tuple(value.shape)} and "
                       f"{value.dtype}")
    return value


@dataclasses.dataclass(frozen=True)
class BoundedArraySpec(ArraySpec):
  """An array whose values lie in [minimum, maximum] (`specs.BoundedArray`)."""
  minimum: float = 0.0
  maximum: float = 1.0


@dataclasses.dataclass(frozen=True)
class DiscreteArraySpec(ArraySpec):
  """A scalar integer in [0, num_values) (`specs.DiscreteArray`)."""
  num_values: int = 1


@chex.dataclass(frozen=True)
class Observation:
  """What the agent sees before a decision.

  Attributes:
    buffers: [1 + game.LOOKAHEAD, F] float32 features of the buffer to decide
      and the next ones (`game.Observation.buffers`).
    free_slots: [L-1, S] float32 1 where a slot of a fast level is free over
      the current buffer's live range.
    progress: [] float32 share of the buffers decided.
    action_mask: [A] bool the legal actions (none once the game is over).
  """
  buffers: chex.Array
  free_slots: chex.Array
  progress: chex.Array
  action_mask: chex.Array


@chex.dataclass(frozen=True)
class TimeStep:
  """What `reset` and `step` return besides the state (jumanji's `TimeStep`).

  Attributes:
    step_type: [] int8 `StepType.FIRST`, `MID` or `LAST`.
    reward: [] float32 the share of all-slow time the last action saved
      (0 at the first timestep).
    discount: [] float32 0 at the last timestep, else 1.
    observation: the `Observation` after the action.
    extras: {"stall_s": seconds the finished placement waits on copies}.
  """
  step_type: chex.Array
  reward: chex.Array
  discount: chex.Array
  observation: Observation
  extras: dict

  def first(self) -> chex.Array:
    return self.step_type == StepType.FIRST

  def mid(self) -> chex.Array:
    return self.step_type == StepType.MID

  def last(self) -> chex.Array:
    return self.step_type == StepType.LAST


@chex.dataclass(frozen=True)
class State:
  """The environment's state: the game's, and the key it was reset with.

  Attributes:
    game: the `game.State` (its `levels`, `slots` and `terminated`).
    key: the PRNG key given to `reset` (the game itself is deterministic).
  """
  game: game.State
  key: chex.PRNGKey


class Environment:
  """The mallocGame of one problem on one hardware, jumanji-style.

  Args:
    problem: the instance, at least one buffer.
    hardware: the memory levels (at least one fast level).
    num_slots: offset slots per fast level (None: chosen from the hardware,
      at most 1,024; see the module docstring).

  Example:
    >>> env = Environment(problem, hardware)
    >>> state, timestep = jax.jit(env.reset)(jax.random.key(0))
    >>> state, timestep = jax.jit(env.step)(state, jnp.int32(0))
  """

  def __init__(self, problem: Problem, hardware: Hardware, num_slots: int | None = None):
    if problem.num_buffers == 0:
      raise ProblemError("a problem with at least one buffer", where=problem.name)
    if len(hardware.levels) < 2:
      raise ProblemError("hardware with a fast memory level", where="hardware",
                         found=hardware.name)
    decoder = make_decoder(problem, hardware, num_slots)
    self.problem = problem
    self.hardware = hardware
    self.config: game.GameConfig = decoder.config
    self.game_problem: game.GameProblem = decoder.problem

  @property
  def granularity(self) -> int:
    """Bytes per offset slot."""
    return self.config.granularity

  @property
  def num_slots(self) -> int:
    """Offset slots per fast level."""
    return self.config.num_slots

  @property
  def num_actions(self) -> int:
    """A: the default memory and every slot of every fast level."""
    return game.num_placements(len(self.hardware.levels) - 1, self.num_slots)

  def __repr__(self) -> str:
    return (f"Environment({self.problem.name!r}, {self.hardware.name!r}: "
            f"{self.problem.num_buffers} buffers, {self.num_actions} actions, "
            f"{self.num_slots} slots of {self.granularity} B)")

  def reset(self, key: chex.PRNGKey) -> tuple[State, TimeStep]:
    """The state before the first decision, and its timestep (FIRST)."""
    state = game.init(self.game_problem, self.num_slots)
    return State(game=state, key=key), self._timestep(state, StepType.FIRST)

  def step(self, state: State, action: chex.Array) -> tuple[State, TimeStep]:
    """Decide the current buffer with `action` ([] int32 in [0, num_actions))."""
    after = game.step(self.game_problem, state.game, jnp.asarray(action, jnp.int32))
    step_type = jnp.where(after.terminated, StepType.LAST, StepType.MID)
    return State(game=after, key=state.key), self._timestep(after, step_type)

  def _timestep(self, state: game.State, step_type) -> TimeStep:
    seen = game.observe(self.game_problem, state)
    observation = Observation(buffers=seen.buffers, free_slots=seen.free_slots,
                              progress=seen.progress,
                              action_mask=state.legal_action_mask)
    return TimeStep(step_type=jnp.asarray(step_type, jnp.int8), reward=state.reward,
                    discount=jnp.where(state.terminated, 0.0, 1.0).astype(jnp.float32),
                    observation=observation, extras={"stall_s": state.stall_s})

  def observation_spec(self) -> dict[str, ArraySpec]:
    """The spec of each field of `Observation`, by name."""
    shapes = jax.eval_shape(lambda: self.reset(jax.random.key(0))[1].observation)
    bounded = {"free_slots", "progress"}
    return {name: (BoundedArraySpec(tuple(value.shape), value.dtype, name)
                   if name in bounded else ArraySpec(tuple(value.shape), value.dtype, name))
            for name, value in ((field.name, getattr(shapes, field.name))
                                for field in dataclasses.fields(shapes))}

  def action_spec(self) -> DiscreteArraySpec:
    """A scalar int32 in [0, num_actions)."""
    return DiscreteArraySpec((), jnp.int32, "action", num_values=self.num_actions)

  def reward_spec(self) -> ArraySpec:
    return ArraySpec((), jnp.float32, "reward")

  def discount_spec(self) -> BoundedArraySpec:
    return BoundedArraySpec((), jnp.float32, "discount")

  def placement(self, state: State, index: int | None = None) -> Placement:
    """The placement a state holds (of member `index` of a batch of states),
    in the problem's buffer order; buffers not yet decided are in level 0."""
    chosen = state.game
    if index is not None:
      chosen = jax.tree.map(lambda x: x[index], chosen)
    levels, offsets = game.placement_of(self.game_problem, chosen, self.config)
    return Placement(levels=np.asarray(levels), offsets=np.asarray(offsets),
                     solver="environment")
