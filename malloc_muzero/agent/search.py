"""MCTS for mallocMuZero with mctx: over the learned model, or the real game.

Both modes take the network's prior and value at the root (illegal actions at
`finfo.min`, and masked by mctx through `invalid_actions`) and differ in
`recurrent_fn`:
* "learned": MuZero proper; the dynamics network predicts the next latent and
  the reward, the prediction network the prior and value there;
* "true": the embedding is the game state and `recurrent_fn` is `game.step`
  (the ablation that knows the rules); the prediction network evaluates the
  real next state's observation.
`gumbel_muzero_policy` is the default; `muzero_policy` (PUCT with Dirichlet
noise) is the alternative.

The tree holds `SearchConfig.num_candidates` actions per node, not all of a
game's 1 + L x S (about a thousand): mctx keeps [batch, nodes, actions]
arrays and rewrites them at every simulation, so over every action a move of
16 simulations costs ten times what it costs over 32 candidates. At the root
the candidates are drawn from the prior without replacement (Gumbel top-k, as
Sampled MuZero samples its actions), at every other node they are the prior's
top ones; the search policy is zero outside them.

Priors can be guided: `heuristic_prior` adds first-fit's preferences at the
root, and `reference_bonus` adds a bonus to the action of a default policy
that follows XLA's memory space assignment (`agent.reference`,
`agent.rollout.default_action`), at the root and, with the true dynamics, at
every node of the tree: following the bonus replays XLA's placement.
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import mctx

from malloc_muzero import game
from malloc_muzero.agent.networks import MuZeroNetwork, masked_policy
from malloc_muzero.agent.reference import Reference
from malloc_muzero.agent.rollout import default_action, rollout_value
from malloc_muzero.agent.value_transform import CategoricalSupport
from malloc_muzero.solvers.true_dynamics import heuristic_prior


# The allowed values of `SearchConfig`'s string options.
SEARCH_CHOICES = {"policy": ("gumbel", "muzero"), "dynamics": ("learned", "true"),
                  "leaf_value": ("network", "rollout")}


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  """How to search.

  Attributes:
    num_simulations: simulations per move (0: no tree; the move is a sample
      of the prior, which with departures makes the network a proposal
      distribution for a local search from the reference).
    max_considered: actions Gumbel MuZero considers at the root.
    policy: "gumbel" (`mctx.gumbel_muzero_policy`) or "muzero".
    dynamics: "learned" or "true".
    heuristic_prior: add first-fit's preferences (`true_dynamics.heuristic_prior`)
      to the network's prior at the root, so that early self-play explores
      sensible offsets rather than uniformly random ones.
    reference_bonus: prior log-odds of the default policy's action
      (`agent.rollout.default_action`, which follows XLA's placement) against
      all other legal actions together; half of it for the default memory
      (0: none). Needs the `reference` passed to the search.
    leaf_value: "network" (the value network) or "rollout" (with the true
      dynamics: the return of finishing the game with the reference heuristic,
      `agent.rollout`).
    value_scale: how much the search's values weigh against the prior when
      Gumbel MuZero chooses (`mctx.qtransform_completed_by_mix_value`; 0.1 is
      mctx's default). Values are min-max scaled among the root's children,
      so with a strong prior and exact values (rollouts) a larger scale lets a
      small but real gain win.
    num_candidates: actions per node of the tree (0: every action). At the
      root they are sampled from the prior without replacement, so that the
      prior's favourites are all but always among them and any legal action
      may be; elsewhere they are the prior's top ones.
    departures: 0: search decides every move (MuZero). d > 0 (with a
      reference): game g of a self-play batch follows the default policy
      (`agent.rollout.default_action`: the reference, repaired after a
      departure) except at about d x 2^(g mod 4) moves, drawn half uniformly
      and half in proportion to what each buffer could save, where search
      chooses a departure from it (the default action is excluded unless it
      is the only legal one). A game is then the reference with a few
      departures that search proposes, which `TrainConfig.follow_best` makes
      a local search; moves where no game departs skip the search.
    perturb: in the second half of each self-play batch, every game leaves
      one buffer, at a turn drawn per game, in the default memory whatever
      search says, and search finishes the game from there. With rollouts
      that follow the best game (`TrainConfig.follow_best`), search then
      looks two departures deep: past a best game from which no single
      departure pays.
  """
  num_simulations: int = 16
  max_considered: int = 8
  policy: str = "gumbel"
  dynamics: str = "learned"
  heuristic_prior: bool = False
  reference_bonus: float = 0.0
  leaf_value: str = "network"
  value_scale: float = 0.1
  num_candidates: int = 32
  departures: int = 0
  perturb: bool = False

  def __post_init__(self):
    for field, allowed in SEARCH_CHOICES.items():
      value = getattr(self, field)
      if value not in allowed:
        raise ValueError(f"SearchConfig.{field}: expected one of "
                         f"{', '.join(map(repr, allowed))}, found {value!r}")

  @property
  def uses_reference(self) -> bool:
    """Whether this search needs a reference placement (`Reference`)."""
    return bool(self.reference_bonus or self.leaf_value == "rollout" or self.departures)


@chex.dataclass(frozen=True)
class TrueEmbedding:
  """The embedding of the true-dynamics search: a game state."""
  state: game.State


def _reference_prior(config: SearchConfig, problem: game.GameProblem,
                     reference: Reference | None, states: game.State) -> chex.Array:
  """[B, A] the bonus of the default policy's action in each state (0
  elsewhere): the reference's action, or what `agent.rollout` does in its
  place after a departure."""
  num_actions = states.legal_action_mask.shape[-1]
  if reference is None or config.reference_bonus == 0:
    return jnp.zeros((states.turn.shape[0], num_actions))
  action = jax.vmap(default_action, in_axes=(None, 0, None))(problem, states, reference)
  # Half the bonus to the default memory, the departure that most often pays
  # (it frees the space for others), so that Gumbel search considers it.
  slow = jax.nn.one_hot(jnp.zeros_like(action), num_actions)
  bonus = jnp.maximum(jax.nn.one_hot(action, num_actions), 0.5 * slow)
  # Measured against all legal actions together: Gumbel's top-k among A
  # actions reaches noise of about log(A), which a fixed bonus would not clear.
  legal = jnp.maximum(states.legal_action_mask.sum(axis=-1, keepdims=True), 1)
  return bonus * (config.reference_bonus + jnp.log(legal.astype(jnp.float32)))


def _evaluate(network: MuZeroNetwork, support: CategoricalSupport, params, problem,
              states: game.State, bonus: chex.Array):
  """Network prior (masked, plus `bonus` [B, A]) and value of a batch of real
  states."""
  observations = jax.vmap(game.observe, in_axes=(None, 0))(problem, states)
  latents, policy, value_logits = jax.vmap(
      lambda o: network.apply(params, o, method=network.initial_inference))(observations)
  return latents, masked_policy(policy + bonus, states.legal_action_mask), \
      support.decode(value_logits)


def _rollout_values(problem, states, reference):
  return jax.vmap(rollout_value, in_axes=(None, 0, None))(problem, states, reference)


@chex.dataclass(frozen=True)
class SearchOutput:
  """What a search decides, over the game's actions.

  Attributes:
    action: [B] the action to play.
    policy: [B, A] the search policy (mctx's `action_weights`; zero outside
      the root's candidates).
    root_value: [B] the search's value of the root.
  """
  action: chex.Array
  policy: chex.Array
  root_value: chex.Array


def _candidates(logits: chex.Array, count: int, key: chex.PRNGKey | None):
  """([B, K] actions, [B, K] their logits) of each row of `logits` [B, A]:
  all of them when `count` is 0 or at least A; else the top `count`, after
  Gumbel noise when a key is given (a sample without replacement)."""
  batch, num_actions = logits.shape
  if count == 0 or count >= num_actions:
    return jnp.broadcast_to(jnp.arange(num_actions), logits.shape), logits
  noisy = logits if key is None else logits + jax.random.gumbel(key, logits.shape)
  _, actions = jax.lax.top_k(noisy, count)
  return actions, jnp.take_along_axis(logits, actions, axis=1)


def run_search(network: MuZeroNetwork, support: CategoricalSupport,
               config: SearchConfig, params, problem: game.GameProblem,
               states: game.State, key: chex.PRNGKey,
               reference: Reference | None = None,
               avoid: chex.Array | None = None) -> SearchOutput:
  """Search from a batch of states ([B] leading axis).

  Args:
    reference: the reference placement (`agent.reference.make_reference`), for
      `config.reference_bonus` and rollout values.
    avoid: [B] an action each search may not choose unless it is the only
      legal one (-1: none).
  """
  latents, prior, value = _evaluate(network, support, params, problem, states,
                                    _reference_prior(config, problem, reference, states))
  legal = states.legal_action_mask
  if avoid is not None:
    others = legal & (jnp.arange(legal.shape[-1]) != avoid[:, None])
    legal = jnp.where(others.any(axis=-1, keepdims=True), others, legal)
    prior = masked_policy(prior, legal)
  rollout = config.leaf_value == "rollout"
  if rollout:
    if config.dynamics != "true" or reference is None:
      raise ValueError("rollout leaf values need the true dynamics and reference actions")
    value = _rollout_values(problem, states, reference)
  if config.heuristic_prior:
    prior = prior + jax.vmap(heuristic_prior, in_axes=(None, 0))(problem, states)
  count = config.num_candidates
  sample_key, search_key = jax.random.split(key)
  if config.num_simulations == 0:
    # No tree: a sample of the prior (Gumbel-max), its policy the prior's.
    noisy = prior + jax.random.gumbel(sample_key, prior.shape)
    return SearchOutput(action=jnp.argmax(noisy, axis=1).astype(jnp.int32),
                        policy=jax.nn.softmax(prior, axis=1), root_value=value)
  root_actions, root_logits = _candidates(prior, count, sample_key)
  if config.dynamics == "true":
    inner = TrueEmbedding(state=states)

    def expand(params, actions, inner):
      next_state = jax.vmap(game.step, in_axes=(None, 0, 0))(problem, inner.state, actions)
      _, next_prior, next_value = _evaluate(
          network, support, params, problem, next_state,
          _reference_prior(config, problem, reference, next_state))
      if rollout:
        next_value = _rollout_values(problem, next_state, reference)
      alive = ~next_state.terminated
      return (next_state.reward, alive.astype(jnp.float32), next_prior,
              jnp.where(alive, next_value, 0.0), TrueEmbedding(state=next_state))
  else:
    inner = latents

    def expand(params, actions, latent):
      next_latent, reward, policy, value_logits = network.apply(
          params, latent, actions, method=network.recurrent_inference)
      return (support.decode(reward), jnp.ones(actions.shape[0]), policy,
              support.decode(value_logits), next_latent)

  def recurrent_fn(params, key, action, embedding):
    """One step from the candidates' `action`th; the tree's embedding is the
    inner one with the node's candidate actions."""
    del key
    inner, candidates = embedding
    actions = jnp.take_along_axis(candidates, action[:, None], axis=1)[:, 0]
    reward, discount, next_prior, next_value, next_inner = expand(params, actions, inner)
    next_candidates, next_logits = _candidates(next_prior, count, None)
    return mctx.RecurrentFnOutput(
        reward=reward, discount=discount, prior_logits=next_logits,
        value=next_value), (next_inner, next_candidates)

  root = mctx.RootFnOutput(prior_logits=root_logits, value=value,
                           embedding=(inner, root_actions))
  invalid = ~jnp.take_along_axis(legal, root_actions, axis=1)
  if config.policy == "muzero":
    output = mctx.muzero_policy(params, search_key, root, recurrent_fn,
                                config.num_simulations, invalid_actions=invalid)
  else:
    output = mctx.gumbel_muzero_policy(
        params, search_key, root, recurrent_fn, config.num_simulations,
        invalid_actions=invalid, max_num_considered_actions=config.max_considered,
        qtransform=functools.partial(mctx.qtransform_completed_by_mix_value,
                                     value_scale=config.value_scale))
  chosen = _best_visited(output) if rollout else output.action
  rows = jnp.arange(prior.shape[0])[:, None]
  return SearchOutput(
      action=jnp.take_along_axis(root_actions, chosen[:, None], axis=1)[:, 0].astype(jnp.int32),
      policy=jnp.zeros_like(prior).at[rows, root_actions].add(output.action_weights),
      root_value=output.search_tree.node_values[:, 0])


def _best_visited(output: mctx.PolicyOutput) -> chex.Array:
  """[B] the visited root action of highest value (mctx's choice on ties).

  With exact leaf values (rollouts) this is Bertsekas's rollout algorithm:
  when the default policy's action is among those compared (its prior bonus
  clears Gumbel's noise, so it all but always is), a game never ends worse
  than the default policy would have finished it from anywhere along the way. Gumbel's own choice weighs the prior against values that min-max
  scaling can make small, and lets noise give back what the values gained.
  """
  tree = output.search_tree
  root = jnp.zeros(tree.node_values.shape[0], jnp.int32)
  values = jnp.where(tree.children_visits[:, 0] > 0, tree.qvalues(root), -jnp.inf)
  chosen = jnp.take_along_axis(values, output.action[:, None], axis=1)[:, 0]
  return jnp.where(chosen >= values.max(axis=1), output.action,
                   jnp.argmax(values, axis=1)).astype(output.action.dtype)


@chex.dataclass(frozen=True)
class Trajectory:
  """A batch of self-played games, one entry per turn ([B, N] leading axes).

  Attributes:
    observations: what the agent saw.
    legal: [B, N, A] legal actions.
    actions: [B, N] actions taken.
    policies: [B, N, A] search policies (`SearchOutput.policy`).
    rewards: [B, N] rewards received.
    root_values: [B, N] the search's root values.
    active: [B, N] turns of unfinished games.
  """
  observations: game.Observation
  legal: chex.Array
  actions: chex.Array
  policies: chex.Array
  rewards: chex.Array
  root_values: chex.Array
  active: chex.Array


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 5, 7, 8))
def self_play(network: MuZeroNetwork, support: CategoricalSupport,
              config: SearchConfig, params, problem: game.GameProblem,
              num_slots: int, key: chex.PRNGKey, batch: int,
              sharding: jax.sharding.Sharding | None = None,
              reference: Reference | None = None):
  """Play `batch` games with search, `lax.scan` over the moves.

  Args:
    reference: the reference placement, for `config.reference_bonus` and
      rollout values.
    sharding: if given, how to lay the batch of games over devices (e.g.
      `NamedSharding(mesh, P("batch"))`); the whole search follows it.

  Returns:
    (final states [B], `Trajectory`).
  """
  states = jax.vmap(lambda _: game.init(problem, num_slots))(jnp.arange(batch))
  if sharding is not None:
    states = jax.lax.with_sharding_constraint(states, sharding)

  num_turns = problem.valid.shape[0]
  # With `config.perturb`, the second half of the games each leave one real
  # buffer (not padding) in the default memory.
  perturbed_turn = jnp.where(
      jnp.arange(batch) >= batch // 2,
      jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0,
                         problem.valid.sum()), -1)
  departing = None
  if config.departures:
    if reference is None:
      raise ValueError("departures need a reference to depart from")
    departing = departure_moves(problem, config.departures, batch,
                                jax.random.fold_in(key, 2))
  num_actions = states.legal_action_mask.shape[-1]

  def search(states, key, avoid=None):
    return run_search(network, support, config, params, problem, states, key,
                      reference, avoid)

  def depart_or_follow(states, key):
    """Search where a game departs (from its default action), else the
    default action; root values of followed moves are filled in later."""
    depart = jnp.take_along_axis(
        departing, jnp.minimum(states.turn, num_turns - 1)[:, None], axis=1)[:, 0]
    default = jax.vmap(default_action, in_axes=(None, 0, None))(problem, states, reference)
    followed = SearchOutput(action=default,
                            policy=jax.nn.one_hot(default, num_actions),
                            root_value=jnp.full(default.shape, jnp.nan))
    searched = jax.lax.cond(depart.any(), lambda: search(states, key, default),
                            lambda: followed)
    return jax.tree.map(
        lambda a, b: jnp.where(depart.reshape(depart.shape + (1,) * (a.ndim - 1)), a, b),
        searched, followed)

  def move(states, key):
    output = search(states, key) if departing is None else depart_or_follow(states, key)
    if config.perturb:
      output = output.replace(action=jnp.where(perturbed_turn == states.turn, 0,
                                               output.action))
    observations = jax.vmap(game.observe, in_axes=(None, 0))(problem, states)
    next_states = jax.vmap(game.step, in_axes=(None, 0, 0))(problem, states,
                                                            output.action)
    record = Trajectory(observations=observations, legal=states.legal_action_mask,
                        actions=output.action, policies=output.policy,
                        rewards=next_states.reward, root_values=output.root_value,
                        active=~states.terminated)
    return next_states, record

  final, trajectory = jax.lax.scan(move, states, jax.random.split(key, num_turns))
  # scan stacks turns first: [N, B, ...] -> [B, N, ...].
  trajectory = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), trajectory)
  # A move that followed the default policy is valued by what the rest of
  # its game returned (the game it played is the default policy's, but for
  # its later departures).
  to_go = jnp.cumsum(trajectory.rewards[:, ::-1], axis=1)[:, ::-1]
  return final, trajectory.replace(root_values=jnp.where(
      jnp.isnan(trajectory.root_values), to_go, trajectory.root_values))


def departure_moves(problem: game.GameProblem, departures: int, batch: int,
                    key: chex.PRNGKey) -> chex.Array:
  """[B, N] bool the moves where each game of a batch departs
  (`SearchConfig.departures`): game g about departures x 2^(g mod 4) of its
  real moves, each drawn with probability half uniform, half in proportion
  to what its buffer saves in its fastest level (its accesses' memory
  seconds, and its share of the instructions that are always memory-bound)."""
  seconds = problem.access_seconds
  saving = (seconds[..., 0] - seconds[..., 1:].min(axis=-1)).sum(axis=-1) \
      + problem.linear_saved_s.max(axis=-1)
  saving = jnp.where(problem.valid, jnp.maximum(saving, 0.0), 0.0)
  uniform = problem.valid / problem.valid.sum()
  share = jnp.where(saving.sum() > 0, saving / jnp.maximum(saving.sum(), 1e-30), uniform)
  weight = 0.5 * uniform + 0.5 * share
  count = departures * 2 ** (jnp.arange(batch) % 4)
  chance = jnp.minimum(1.0, count[:, None] * weight[None, :])
  return jax.random.uniform(key, chance.shape) < chance
