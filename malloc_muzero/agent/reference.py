"""A heuristic's placement as mallocGame actions, to guide the agent's search.

mallocMuZero starts where the compiler stands: its search adds a bonus to the
prior logit of the action XLA's memory space assignment (`xla-msa`) would take
for the current buffer (`SearchConfig.reference_bonus`). Following the bonus
at every move replays XLA's placement; search, and a network trained on what
search finds, can then depart from it where the departure pays. The bonus is
a prior, not a rule: it only ever applies to a legal action, and it is one
logit among the network's. With `TrainConfig.follow_best`, the reference moves
on: each self-play game that beats it becomes the reference
(`reference_of_actions`), so that search departs from the best placement found
so far, not from XLA's (with rollouts, this is policy iteration over the
default policy).

The reference must be playable in the game, whose offsets lie on a grid of
`granularity`-byte slots and whose buffers take whole slots. So XLA's
heuristic is run on the grid: the same order (memory boundedness), the same
best-fit choice, with sizes rounded up to slots and each fast level's capacity
cut to the grid. Its actions are then legal at every move of a game that has
followed them so far. On the catalogue's problems the grid costs at most 0.1%
of the gap `xla-msa` closes.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero import game
from malloc_muzero.errors import ProblemError

from malloc_muzero.game_instance import Decoder, grid, grid_candidates, make_decoder
from malloc_muzero.placement import Placement
from malloc_muzero.segments import from_windows, whole_buffers
from malloc_muzero.simulator import simulate_placement
from malloc_muzero.solvers import Budget, solve_segments
from malloc_muzero.solvers.anneal import anneal_decoded
from malloc_muzero.solvers.chromosome import heuristic_seeds, logits_from_levels
from malloc_muzero.solvers.occupancy import place_in_order
from malloc_muzero.solvers.xla_msa import placement_order
from malloc_muzero.solvers.xla_msa_prefetch import assign
from malloc_muzero.windows import from_segments


@chex.dataclass(frozen=True)
class Reference:
  """The reference placement, as the game sees it.

  Attributes:
    actions: [N] int32 the reference's action at each turn (0 at padding).
    next_claim: [N, L-1, S] int32 for each turn, slot and fast level, the
      earliest start of a buffer decided after that turn that the reference
      puts on that slot (int32 max if none): the space a default policy can
      use now without taking what the reference will need later.
  """
  actions: chex.Array
  next_claim: chex.Array


def make_reference(problem, hardware, decoder: Decoder, placement=None) -> Reference:
  """The `Reference` of XLA's memory space assignment on the game's grid, or
  of `placement` (a placement of `problem` on that grid, e.g. `xla_cut`'s)."""
  return reference_of_actions(reference_actions(problem, hardware, decoder, placement),
                              decoder.problem, decoder.config.num_slots,
                              len(hardware.levels) - 1)


def reference_of_actions(actions, problem: game.GameProblem, num_slots: int,
                         num_fast_levels: int) -> Reference:
  """The `Reference` that takes `actions` ([N], those of one legal game of
  `problem` on `num_slots` slots: XLA's placement, or the best game a run has
  found)."""
  actions = np.asarray(actions, np.int32)
  n = actions.shape[0]
  starts = np.asarray(problem.starts)
  size_slots = np.asarray(problem.size_slots)
  levels, slots = map(np.asarray, game.level_and_slot(actions, num_slots))
  claim = np.full((num_fast_levels, num_slots), np.iinfo(np.int32).max, np.int32)
  next_claim = np.empty((n, num_fast_levels, num_slots), np.int32)
  for turn in range(n - 1, -1, -1):
    next_claim[turn] = claim
    if levels[turn] > 0:
      window = claim[levels[turn] - 1, slots[turn]:slots[turn] + size_slots[turn]]
      np.minimum(window, starts[turn], out=window)
  return Reference(actions=jnp.asarray(actions), next_claim=jnp.asarray(next_claim))


def play_reference(problem, num_slots: int, reference: Reference):
  """(return, final state) of the game that takes the reference's actions."""
  return play_actions(problem, num_slots, reference.actions)


@functools.partial(jax.jit, static_argnums=1)
def play_actions(problem, num_slots, actions):
  """(return, final state) of the game that takes `actions` ([N], one per
  turn)."""
  def body(state, action):
    state = game.step(problem, state, action)
    return state, state.reward

  final, rewards = jax.lax.scan(body, game.init(problem, num_slots), actions)
  return rewards.sum(), final


def on_grid(problem, hardware, granularity: int, num_slots: int):
  """(problem, hardware) as a game of `num_slots` slots of `granularity`
  bytes sees them: sizes rounded up to slots, each fast level's capacity cut
  to the grid and its alignment a multiple of a slot. A placement of these
  is a placement of the originals whose offsets all lie on the grid."""
  grid_problem = dataclasses.replace(
      problem, sizes=-(-problem.sizes // granularity) * granularity)
  levels = [hardware.levels[0]]
  for level in hardware.levels[1:]:
    capacity = min(level.capacity, num_slots * granularity) // granularity * granularity
    levels.append(dataclasses.replace(level, capacity=capacity,
                                      alignment=int(np.lcm(level.alignment, granularity))))
  return grid_problem, dataclasses.replace(hardware, levels=tuple(levels))


def xla_cut(problem, hardware, num_slots: int | None = None,
            granularity: int | None = None):
  """(windows, placement): the pieces into which XLA's memory space
  assignment, run on the game's grid (`xla-msa-prefetch`; slots of
  `granularity` bytes if given), cuts `problem`'s buffers, as a problem of
  windows (`windows.from_segments`), and XLA's placement of them. An agent
  that places these windows starts from XLA's own answer, prefetches and
  evictions included."""
  granularity, slots = grid(hardware, num_slots, granularity)
  grid_problem, grid_hardware = on_grid(problem, hardware, granularity, slots)
  return from_segments(problem, assign(grid_problem, grid_hardware))


def xla_msa_on_grid(problem, hardware, granularity: int, num_slots: int):
  """`xla-msa`'s placement of `problem` on a game's grid of `num_slots` slots
  of `granularity` bytes (`on_grid`): its order, its best-fit choice."""
  grid_problem, grid_hardware = on_grid(problem, hardware, granularity, num_slots)
  return place_in_order(grid_problem, grid_hardware, placement_order(problem, hardware),
                        "best-fit")


class ReplayGrid(NamedTuple):
  """A game's grid and XLA's placement replayed on it (`replay_grid`)."""
  granularity: int
  slots: int
  placement: Placement  # `xla_msa_on_grid`'s, on this grid.


def replay_grid(problem, hardware, num_slots: int | None = None) -> ReplayGrid:
  """(granularity, slots, XLA's placement on them) of the game the agent
  plays `problem` in (at most `MAX_SLOTS` slots, or a network's action grid
  of `num_slots`): the slot size among `grid_candidates` on which XLA's
  placement replayed (`xla_msa_on_grid`) is fastest; on a tie, the one that
  loses the least memory to rounding, so that departures from the replay
  have the most room.

  A grid rounds buffers up to whole slots. At 128 slots the finest size
  costs XLA's replay, and so the agent's start, up to 5 points of the
  slow-fast gap (4.5 on resnet50_train at 25%); the chosen sizes win back 1
  point on average, on 10 of the 14 benchmark problems, and lose nothing
  (`scripts/grid_loss.py`). At `MAX_SLOTS` the replays mostly tie, but the
  room does not: on alphatensor_3x3x3_l1_1536 slots of 15,872 B round its
  1 MiB buffers up by 1.4%, and sending its 9 MiB buffer to the default
  memory, then filling the space with smaller ones, loses; on 16 KiB slots
  the same departure gains 1.3 points.
  """
  timed = []
  for granularity in grid_candidates(problem, hardware, num_slots):
    slots = grid(hardware, num_slots, granularity)[1]
    placement = xla_msa_on_grid(problem, hardware, granularity, slots)
    timed.append((float(simulate_placement(problem, hardware, placement.levels)),
                  len(timed), ReplayGrid(granularity, slots, placement)))
  return min(timed)[2]


def xla_can_cut(problem, hardware) -> bool:
  """Whether XLA's cut applies (`xla-msa-prefetch`): a problem with
  instructions and without copies, on XLA's time model."""
  return bool(hardware.time_model == "xla" and problem.num_instructions
              and not len(problem.copy_buffer))


@dataclasses.dataclass(frozen=True)
class StartingGame:
  """The game the agent plays on a problem and the placement it starts from.

  Attributes:
    problem: the problem the game places: the original, or XLA's cut of it.
    windows: `windows.Windows` of the cut (None for whole buffers), to map a
      placement back to segments of the original (`segments.from_windows`).
    game: "whole" (the buffers as they are) or "xla_cut" (`xla_cut`'s windows).
    placement: the reference, on the game's grid: a placement of `problem`.
    label: which it is, for tables: "xla-msa", "xla-msa-prefetch" or
      "xla-msa on XLA's cut".
    time_s: the reference's simulated time.
    granularity: the game's slot size in bytes (`replay_grid`).
  """
  problem: object
  windows: object
  game: str
  placement: object
  label: str
  time_s: float
  granularity: int

  def segments_of(self, placement):
    """A placement of the game's problem as `segments.Segments` of the
    original problem's buffers."""
    if self.windows is None:
      return whole_buffers(self.problem, placement)
    return from_windows(self.windows, placement)


GAMES = ("whole", "xla_cut")


def starting_game(problem, hardware, num_slots: int | None = None,
                  games: tuple[str, ...] = GAMES,
                  granularity: int | None = None) -> StartingGame:
  """Where the agent starts: the fastest of XLA's answers, and the game in
  which it is one placement among others.

  XLA gives two: `xla-msa` keeps whole buffers resident, `xla-msa-prefetch`
  cuts them into segments with prefetches and evictions. Neither wins
  everywhere: keeping buffers whole is faster on the benchmark's inference
  programs, cutting them on its training steps (`docs/agent/starting_game.md`).
  A game of whole buffers cannot express a cut, and on XLA's cut two fast
  pieces of one buffer pay a copy between them, so the agent plays the game
  of the faster answer (`starting_candidates`; `xla-msa` on the cut is
  sometimes faster than XLA's own placement of it, and never what a game of
  whole buffers holds). Ties go to the whole buffers. The grid is
  `replay_grid`'s, or of `granularity` bytes when given (a saved run's).
  """
  return min(starting_candidates(problem, hardware, num_slots, games, granularity),
             key=lambda c: c.time_s)


def starting_candidates(problem, hardware, num_slots: int | None = None,
                        games: tuple[str, ...] = GAMES,
                        granularity: int | None = None) -> list[StartingGame]:
  """XLA's answers, each in the game in which it is one placement among
  others (`starting_game`'s candidates), in that order: `xla-msa` on the
  whole buffers, `xla-msa-prefetch`'s own placement of its cut, and `xla-msa`
  on that cut, all on the game's grid. `games` keeps the candidates of some
  games only; a cut needs instructions, XLA's time model and a problem
  without copies, and is left out otherwise.

  Raises:
    ProblemError: no candidate is left.
  """
  if granularity is None:
    granularity, slots, whole = replay_grid(problem, hardware, num_slots)
  else:
    granularity, slots = grid(hardware, num_slots, granularity)
    whole = None
  candidates = []
  if "whole" in games:
    if whole is None:
      whole = xla_msa_on_grid(problem, hardware, granularity, slots)
    candidates.append(StartingGame(problem, None, "whole", whole, "xla-msa",
                                   simulate_placement(problem, hardware, whole.levels),
                                   granularity))
  if "xla_cut" in games and xla_can_cut(problem, hardware):
    windows, placement = xla_cut(problem, hardware, num_slots, granularity)
    cut = windows.problem
    on_cut = xla_msa_on_grid(cut, hardware, granularity, slots)
    candidates += [StartingGame(cut, windows, "xla_cut", placement, "xla-msa-prefetch",
                                simulate_placement(cut, hardware, placement.levels),
                                granularity),
                   StartingGame(cut, windows, "xla_cut", on_cut, "xla-msa on XLA's cut",
                                simulate_placement(cut, hardware, on_cut.levels),
                                granularity)]
  if not candidates:
    raise ProblemError(f"a problem that a game of {' or '.join(games)} can take "
                       "(XLA's cut needs instructions, XLA's time model and no copies)",
                       problem.name)
  return candidates


def annealed_start(start: StartingGame, hardware, seconds: float, seed: int = 0,
                   num_slots: int | None = None,
                   iterations: int | None = None) -> StartingGame:
  """The faster of `start` and what `anneal` finds in `seconds` in the
  start's own game and grid (of `num_slots` slots, a network's action grid,
  or the finest for the start's slot size), from the start's decisions and
  the heuristics' (`solvers.chromosome.heuristic_seeds`).

  XLA's answers keep the buffers it cuts or keeps whole where its order puts
  them; with room to spare (30% of peak), a packing of whole buffers that
  its order does not reach can be faster, and a few departures from XLA's
  answer do not reach it in minutes (docs/agent/five_minutes.md). Annealing
  in the game's own grid gives the agent a start among those packings: a
  placement the game can replay, which its search then departs from.
  `seconds` <= 0 returns `start`; with `iterations` too, annealing stops
  after that many (`anneal`'s) as well, and cools by them.
  """
  if seconds <= 0:
    return start
  decoder = make_decoder(start.problem, hardware, num_slots, granularity=start.granularity)
  seeds = heuristic_seeds(decoder, start.problem, hardware)
  seeds.append(logits_from_levels(decoder, np.asarray(start.placement.levels)))
  began = time.monotonic()
  budget = Budget(iterations, began, began + seconds)
  placement, _ = anneal_decoded(decoder, np.stack(seeds), budget, seed)
  time_s = simulate_placement(start.problem, hardware, placement.levels)
  if time_s >= start.time_s:
    return start
  return dataclasses.replace(start, placement=placement, label=f"anneal from {start.label}",
                             time_s=time_s)


def never_slower_than_xla(problem, hardware, answer):
  """(solution, taken): the fastest of `answer` (a `SegmentedSolution` of
  `problem`, the agent's, from the game of `starting_game`) and XLA's two
  answers off the game's grid, `xla-msa` and (on XLA's time model)
  `xla-msa-prefetch`; `taken` names XLA's answer when it is faster, else None.

  A game's grid rounds sizes up to whole slots, which on a large problem
  costs XLA's own placement a little (0.7% of the slow-fast gap on
  `resnet101_train` at 25%); so an agent that starts from XLA's answer on the
  grid is compared with XLA's answer off it too.
  """
  def time_of(solution):
    return simulate_placement(solution.problem, hardware, solution.placement.levels)

  best, taken, best_s = answer, None, time_of(answer)
  for name in ["xla-msa"] + ["xla-msa-prefetch"] * xla_can_cut(problem, hardware):
    solution = solve_segments(name, problem, hardware)
    solution_s = time_of(solution)
    if solution_s < best_s:
      best, taken, best_s = solution, name, solution_s
  return best, taken


def reference_actions(problem, hardware, decoder: Decoder, placement=None) -> np.ndarray:
  """[N] int32 the action XLA's memory space assignment takes at each turn.

  Args:
    problem: the instance.
    hardware: its memory levels.
    decoder: the game set up for them (`game_instance.make_decoder`).
    placement: the placement to take, on the game's grid; None: `xla-msa`'s
      on the grid.

  Returns:
    One action per (padded) turn of the game, in its decision order; 0 (stay
    in the default memory) at padding.
  """
  config = decoder.config
  g = config.granularity
  if placement is None:
    placement = xla_msa_on_grid(problem, hardware, g, config.num_slots)
  index = np.asarray(decoder.problem.buffer_index)
  actions = np.zeros(index.shape, np.int32)
  real = np.flatnonzero(index >= 0)
  buffer_levels = np.asarray(placement.levels)[index[real]]
  slots = np.asarray(placement.offsets)[index[real]] // g
  actions[real] = game.action_of(buffer_levels, slots, config.num_slots)
  return actions
