"""Training mallocMuZero: self-play, replay, unrolled model loss, optax updates.

One iteration plays `games_per_iteration` games with search (`search.self_play`,
jitted, `lax.scan` over moves), adds them to the replay buffer, and takes
`updates_per_iteration` gradient steps on batches of unrolled samples:

  loss = sum over k = 0..K of  CE(policy_k, search policy)   (inside the game)
                             + CE(value_k, n-step target)
                             + CE(reward_k, reward)           (k >= 1)

averaged over the batch; the latent's gradient is halved at each unroll step
(MuZero's scaling). The optimiser is AdamW after global-norm clipping, with a
warm-up then cosine learning-rate schedule. Everything is seeded: the same
seed gives the same run on a given backend.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from malloc_muzero import game
from malloc_muzero.agent.imitation import demonstration
from malloc_muzero.agent.networks import MuZeroNetwork, masked_policy
from malloc_muzero.agent.reference import play_reference, reference_of_actions
from malloc_muzero.agent.replay import Batch, ReplayBuffer
from malloc_muzero.agent.search import SearchConfig, self_play
from malloc_muzero.agent.value_transform import CategoricalSupport


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Hyper-parameters of a run."""
  latent_size: int = 64
  num_atoms: int = 51
  games_per_iteration: int = 16
  updates_per_iteration: int = 8
  batch_size: int = 128
  unroll_steps: int = 5
  n_step: int = 10
  replay_games: int = 512
  # ...and no more games than hold this many turns (but a whole iteration's):
  # a stored turn keeps the legal actions and the search policy over every
  # action, so a game of thousands of buffers takes hundreds of MB.
  replay_turns: int = 65536
  learning_rate: float = 3e-3
  warmup_steps: int = 50
  total_steps: int = 5000
  weight_decay: float = 1e-4
  max_grad_norm: float = 1.0
  # Guide the search by the best game found so far rather than by XLA's
  # placement: each improvement becomes the reference that the prior's bonus
  # and the rollouts follow (policy iteration over the default policy).
  follow_best: bool = False
  # Warm start: the first iterations each train on one demonstration, the
  # best placement some solvers find (`agent.imitation`), instead of
  # self-play. Needs the Trainer's `demonstrations`.
  imitation_iterations: int = 0
  # Placing one problem within a budget (`agent.run.place_with_agent`, the
  # `muzero` solver with the pretrained network): the share of the budget
  # that `anneal` spends improving the start in the game's own grid before
  # search departs from it (`agent.reference.annealed_start`); 0: none.
  start_anneal_share: float = 0.0
  search: SearchConfig = SearchConfig()


@chex.dataclass(frozen=True)
class TrainState:
  params: chex.ArrayTree
  opt_state: chex.ArrayTree
  step: chex.Array


@functools.cache
def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
  """AdamW after clipping, warm-up then cosine. Cached per config: the
  optimiser is a static argument of the jitted update, so one object per
  config avoids recompiling it for every Trainer."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, config.learning_rate, config.warmup_steps,
      max(config.total_steps, config.warmup_steps + 1))
  return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                     optax.adamw(schedule, weight_decay=config.weight_decay))


def _cross_entropy(logits, target_probabilities):
  return -(target_probabilities * jax.nn.log_softmax(logits)).sum(axis=-1)


def loss_fn(network: MuZeroNetwork, support: CategoricalSupport, params,
            batch: Batch) -> tuple[chex.Array, dict[str, chex.Array]]:
  """The MuZero loss of a batch, and its terms."""
  def one(sample: Batch):
    latent, policy, value = network.apply(params, sample.observation,
                                          method=network.initial_inference)
    policy_loss = _cross_entropy(masked_policy(policy, sample.legal[0]),
                                 sample.policies[0])
    value_loss = _cross_entropy(value, support.encode(sample.values[0]))
    reward_loss = 0.0
    for k in range(sample.actions.shape[0]):
      latent = jax.lax.stop_gradient(latent) * 0.5 + latent * 0.5
      latent, reward, policy, value = network.apply(
          params, latent, sample.actions[k], method=network.recurrent_inference)
      inside = sample.mask[k + 1]
      policy_loss += inside * _cross_entropy(
          masked_policy(policy, sample.legal[k + 1]), sample.policies[k + 1])
      value_loss += _cross_entropy(value, support.encode(sample.values[k + 1]))
      reward_loss += _cross_entropy(reward, support.encode(sample.rewards[k]))
    return policy_loss, value_loss, reward_loss

  policy, value, reward = jax.vmap(one)(batch)
  terms = {"policy": policy.mean(), "value": value.mean(), "reward": reward.mean()}
  return sum(terms.values()) / (batch.actions.shape[1] + 1), terms


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def update(network, support, optimizer, state: TrainState, batch: Batch):
  """One gradient step: (new state, loss terms)."""
  (loss, terms), grads = jax.value_and_grad(
      lambda p: loss_fn(network, support, p, batch), has_aux=True)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return TrainState(params=params, opt_state=opt_state, step=state.step + 1), \
      dict(terms, loss=loss, grad_norm=optax.tree.norm(grads))


@dataclasses.dataclass
class Progress:
  """What one iteration reports."""
  iteration: int
  games: int
  mean_return: float
  best_return: float
  losses: dict[str, float]
  games_per_s: float
  # The mean return less that of the reference the games departed from or
  # were guided by (NaN without one): how the games fare against it.
  mean_gain: float = float("nan")


class BestGame(NamedTuple):
  """The best game a trainer has played (or its reference's, or a placeholder
  before any game).

  Attributes:
    total: the game's return (share of the all-slow time saved).
    problem: the index of its problem in the trainer's list.
    state: its final `game.State` (unbatched).
  """
  total: float
  problem: int
  state: game.State


class Trainer:
  """Self-play and training on one problem (or a list sharing one config).

  Args:
    problems: game problems (one padded shape).
    game_config: the game config of the first (the others share its shapes;
      each problem of a set has its own slot granularity).
    num_fast_levels: fast levels of the hardware.
    config: hyper-parameters.
    seed: everything random derives from it.
    references: per problem, the reference placement
      (`agent.reference.make_reference`) for `config.search.reference_bonus`
      and rollout values. With `config.follow_best`, a game of self-play that
      beats its problem's reference becomes the new reference.
    problem_source: a function of the iteration that gives the iteration's
      (game problem, reference or None), drawn afresh (`agent.generated`);
      then `problems` only fixes the shapes, and `best` keeps the best
      return of any drawn problem (its index -1).
    demonstrations: a function of the iteration that gives (game problem,
      [N] actions of a good game of it) for the warm start's iterations
      (`config.imitation_iterations`; `agent.imitation`).
  """

  def __init__(self, problems: list[game.GameProblem], game_config: game.GameConfig,
               num_fast_levels: int, config: TrainConfig, seed: int,
               references: list | None = None, problem_source=None,
               demonstrations=None):
    if config.imitation_iterations and demonstrations is None:
      raise ValueError("imitation_iterations needs demonstrations to imitate")
    self.problems = problems
    self.problem_source = problem_source
    self.demonstrations = demonstrations
    self.references = [None] * len(problems) if references is None else references
    if config.follow_best and any(r is None for r in self.references):
      raise ValueError("follow_best needs a reference for every problem "
                       "(search.reference_bonus, departures or rollout leaf values)")
    if game_config.num_timings != 1:
      raise ValueError("the agent places buffers with each prefetch where its problem "
                       f"starts it (num_timings 1), not {game_config.num_timings}: its "
                       "network, references and replay read actions without a timing")
    self.game_config = game_config
    self.config = config
    self.network = MuZeroNetwork(num_fast_levels, game_config.num_slots,
                                 config.latent_size, config.num_atoms)
    self.support = CategoricalSupport(config.num_atoms)
    self.optimizer = make_optimizer(config)
    self.seed = seed
    turns = max(p.valid.shape[0] for p in problems)
    self.replay = ReplayBuffer(
        min(config.replay_games, max(config.games_per_iteration, config.replay_turns // turns)),
        config.unroll_steps, config.n_step)
    params = self.initial_params()
    # The batch of games and of training samples is split over every visible
    # device; parameters and optimiser state are replicated.
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
    self.batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    self.replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    self.state = jax.device_put(
        TrainState(params=params, opt_state=self.optimizer.init(params),
                   step=jnp.int32(0)), self.replicated)
    self.iteration = 0
    self.best: BestGame | None = None
    # A guided agent's best starts as its reference's own game (XLA's
    # placement replayed), so that it never reports less than what guides it.
    # `followed` keeps the return of each problem's reference game.
    self.followed = [-np.inf] * len(problems)
    for index, reference in enumerate(self.references):
      if reference is not None:
        total, final = play_reference(problems[index], game_config.num_slots, reference)
        self.followed[index] = float(total)
        if self.best is None or float(total) > self.best.total:
          self.best = BestGame(float(total), index, final)

  def initial_params(self):
    """The network's parameters before any training (from the seed alone)."""
    init_key = jax.random.fold_in(jax.random.key(self.seed), 2**31 - 1)
    problem = self.problems[0]
    # Parameters depend on the observation's shapes only, which tracing gives
    # without compiling the game; the initialisation is one compiled function
    # (run op by op, it compiled each of its ~300 operations on its own: 55 s
    # on a program of 3,652 buffers).
    shapes = jax.eval_shape(
        lambda p: game.observe(p, game.init(p, self.game_config.num_slots)), problem)
    example = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
    return jax.jit(self.network.init)(init_key, example, jnp.int32(0))

  def run_iteration(self) -> Progress:
    start = time.monotonic()
    rng = np.random.default_rng([self.seed, self.iteration])
    if self.iteration < self.config.imitation_iterations:
      problem, actions = self.demonstrations(self.iteration)
      trajectory = demonstration(problem, self.game_config.num_slots, actions)
      self.replay.add(trajectory)
      terms = self._learn(rng)
      self.iteration += 1
      total = float(trajectory.rewards.sum())
      return Progress(self.iteration, 1, total,
                      self.best.total if self.best is not None else float("nan"), terms,
                      1 / (time.monotonic() - start))
    if self.problem_source is not None:
      index = -1
      problem, reference = self.problem_source(self.iteration)
    else:
      index = self.iteration % len(self.problems)
      problem, reference = self.problems[index], self.references[index]
    # Randomness derives from (seed, iteration) alone, so that a run resumed
    # from a checkpoint continues exactly as if it had not stopped.
    play_key = jax.random.fold_in(jax.random.key(self.seed), self.iteration)
    finals, trajectory = self_play(self.network, self.support, self.config.search,
                                   self.state.params, problem,
                                   self.game_config.num_slots, play_key,
                                   self.config.games_per_iteration,
                                   self._sharding(self.config.games_per_iteration),
                                   reference)
    returns = np.asarray(trajectory.rewards.sum(axis=1))
    if reference is None:
      mean_gain = float("nan")
    else:
      followed = (self.followed[index] if index >= 0 else
                  float(play_reference(problem, self.game_config.num_slots, reference)[0]))
      mean_gain = float(returns.mean()) - followed
    top = int(np.argmax(returns))
    if self.best is None or returns[top] > self.best.total:
      self.best = BestGame(float(returns[top]), index,
                           jax.tree.map(lambda x: x[top], finals))
    if self.config.follow_best and index >= 0 and returns[top] > self.followed[index]:
      self.follow(index, float(returns[top]), finals.actions[top])
    self.replay.add(trajectory)
    terms = self._learn(rng)
    self.iteration += 1
    seconds = time.monotonic() - start
    return Progress(self.iteration, self.config.games_per_iteration,
                    float(returns.mean()), self.best.total, terms,
                    self.config.games_per_iteration / seconds, mean_gain)

  @property
  def games(self) -> int:
    """Self-played games so far (demonstrations not counted)."""
    return max(0, self.iteration - self.config.imitation_iterations) \
        * self.config.games_per_iteration

  def _learn(self, rng: np.random.Generator) -> dict[str, float]:
    """An iteration's gradient steps on samples of the replay: the last
    step's loss terms."""
    terms = {}
    for _ in range(self.config.updates_per_iteration):
      batch = self.replay.sample(rng, self.config.batch_size)
      sharding = self._sharding(self.config.batch_size)
      if sharding is not None:
        batch = jax.device_put(batch, sharding)
      self.state, terms = update(self.network, self.support, self.optimizer,
                                 self.state, batch)
    return {k: float(v) for k, v in terms.items()}

  def follow(self, index: int, total: float, actions) -> None:
    """Make a game of problem `index` its reference
    (`agent.reference.reference_of_actions`)."""
    self.followed[index] = total
    self.references[index] = reference_of_actions(
        np.asarray(actions), self.problems[index], self.game_config.num_slots,
        self.network.num_fast_levels)

  def _sharding(self, batch: int) -> jax.sharding.Sharding | None:
    """The batch sharding when there are several devices and it divides."""
    devices = self.batch_sharding.mesh.size
    return self.batch_sharding if devices > 1 and batch % devices == 0 else None

  def allocate(self) -> None:
    """Give the replay buffer and the best game their shapes without playing
    (what a checkpoint is restored into)."""
    finals, trajectory = jax.eval_shape(
        lambda key: self_play(self.network, self.support, self.config.search,
                              self.state.params, self.problems[0],
                              self.game_config.num_slots, key,
                              self.config.games_per_iteration,
                              reference=self.references[0]),
        jax.random.key(0))
    zeros = lambda x: np.zeros(x.shape, x.dtype)
    if self.replay.state_dict()["games"] is None:
      self.replay.allocate(jax.tree.map(zeros, trajectory))
    if self.best is None:
      self.best = BestGame(-np.inf, 0, jax.tree.map(lambda x: np.zeros(x.shape[1:], x.dtype),
                                                   finals))

  def run(self, time_budget_s: float,
          callback: Callable[[Progress], None] | None = None) -> None:
    """Iterate until the budget ends (at least once)."""
    deadline = time.monotonic() + time_budget_s
    while self.iteration == 0 or time.monotonic() < deadline:
      progress = self.run_iteration()
      if callback is not None:
        callback(progress)
