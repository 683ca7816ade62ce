"""The mallocGame: place a program's buffers one at a time, in pure JAX.

Rules.
* Buffers are decided in a fixed order: by start of live range, larger first
  among equal starts, then by index (`decision_order`).
* An action either leaves the buffer in the default memory (action 0) or places
  it at slot `s` of fast level `l` (action `1 + (l - 1) * num_slots + s`): byte
  offset `s * granularity`. A buffer takes `ceil(size / granularity)` slots, so
  the grid is exact when sizes are multiples of the granularity (MiniMalloc's
  files at 1 KiB); otherwise sizes are rounded up and placements stay valid.
* With `GameConfig.num_timings` K > 1 a placement also says when a window's
  prefetch is issued: action `k * P + a` (P = `1 + (L-1) * num_slots`, `a` as
  above, `k` < K) places it as `a` does with its window starting at its k-th
  candidate start (`GameProblem.window_starts`: 0 is the problem's own
  start, the others XLA's prefetch interval picker's,
  `prefetch_picker.candidate_starts`). Earlier starts hide the copy and hold
  the fast memory longer. Buffers are then decided in order of their latest
  candidate start (with K = 1, their start).
* `legal_action_mask` is exact for the whole live range. Every buffer placed
  before buffer `i` starts (at its chosen candidate) no later than its latest
  candidate, so no later than `i`'s latest, which is at most `i`'s end; it
  therefore overlaps `i` in time exactly when it is still live at the start
  `i` would take. The state keeps, for each slot of each fast level, the last
  step until which it is occupied (`busy_until`, doubled), and slot `s` is
  free for `i` starting at `t` when that step is before `t` over all the
  slots `i` would take, or equal to `t` when the slot's last buffer is an
  operand whose bytes `i` may take at that step (XLA's operand-slot reuse,
  `Problem.share_operand`; `GameProblem.busy_ends` marks it when `i` is the
  one buffer that may start at `t`).
  A buffer of several values (`Problem.interval_buffer`, with
  `GameConfig.gaps`) holds its slots until the end of its first interval and
  reserves them from the start of its second on (`State.reserved_from`): a
  later buffer may use the gap when it starts after `busy_until` and ends
  before that. The reservation lasts to the end of the program, which is
  exact for buffers of several values that live to the program's last step
  (the parameters and optimiser state of every training step in the
  benchmark) and stricter, never looser, for others.
  Offsets also respect each level's capacity and alignment. Action 0 is legal
  until the game ends.
  The state keeps the legal offsets packed into words (`legal_slots`, see
  `slot_bits` and `free_runs`); `legal_action_mask` unpacks them into a bool
  per action for agents, while the simple players read the words.
* An illegal action ends the game with a reward of `ILLEGAL_ACTION_REWARD` and
  changes nothing else: the buffer and all later ones stay in the default
  memory, so the state never holds an invalid placement.
* The reward of a step is the simulated time it saves (`malloc_muzero.simulator`),
  divided by the all-slow time: an episode's return is the fraction of the
  program's time saved, and the final placement's simulated time equals
  `all_slow * (1 - return)`. The state tracks the memory time of only the
  instructions whose boundedness depends on the placement
  (`tracked_instructions`); on an instruction that is memory-bound whatever
  the placement, a buffer saves its own access time, precomputed. On a
  problem with asynchronous copies (windows, on XLA's time model) the last
  decision also runs the simulator's copy queues over the whole placement
  (`simulator.copy_stalls`) and its reward pays their stalls: the return is
  still exact, and the O(M) queue run is paid once per game (under `vmap`,
  at the steps where some game of the batch ends).

The API follows pgx: `init(problem) -> State`, `step(problem, state, action) ->
State`, with the legal actions, `reward` and `terminated` in the state, and
`observe(problem, state)`. Its state-carries-mask shape maps one-to-one onto
mctx's `invalid_actions` and `recurrent_fn` (pgx's AlphaZero example uses its
real step as the recurrent function, as our true-dynamics agent will).
Everything is written for one game and vmapped at the edge; shapes are fixed by
the padding of `GameProblem`, so problems of different sizes batch together.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np

from malloc_muzero import free_runs, slot_bits
from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import Hardware
from malloc_muzero.prefetch_picker import candidate_starts, xla_picker
from malloc_muzero.problem import Problem
from malloc_muzero.simulator import (SimulationInputs, compute_less_other_s,
                                     copy_stalls, queue_order, simulation_inputs)
from malloc_muzero.windows import retime

ILLEGAL_ACTION_REWARD = -1.0
LOOKAHEAD = 4  # Upcoming buffers in the observation, after the current one.
NOT_RESERVED = int(np.iinfo(np.int32).max)  # `State.reserved_from` of a slot not reserved.


@dataclasses.dataclass(frozen=True)
class GameConfig:
  """Static sizes of the game (they fix the shapes of every array).

  Attributes:
    granularity: bytes per offset slot.
    num_slots: offset slots per fast level (the action grid); capacity beyond
      `num_slots * granularity` is not used.
    max_buffers: padded buffer count N.
    max_instructions: the most instructions a problem may have (M).
    max_accesses: padded accesses per buffer A.
    max_tracked: the most instructions whose time the game tracks step by
      step (`tracked_instructions`); None: every instruction (M). The arrays
      are padded to `num_tracked`.
    max_copies: the most asynchronous copies a problem has on its hardware
      (XLA's time model); 0: none, and the game never simulates copies.
    max_copy_accesses: the most accesses a problem has, when some problem
      has copies (the copy queues' simulation reads them all, padded to
      this); else 0.
    num_timings: K, the candidate start steps offered for each movable
      prefetch (`Problem.copy_earliest`); 1: every prefetch starts where its
      problem says, and the actions are those of a whole-buffer game.
    gaps: whether some problem has a buffer of several values with gaps
      between them (`Problem.interval_buffer`); the state then keeps, for
      each slot, the step from which it is reserved again
      (`State.reserved_from`), so that other buffers may use the gaps.
      Without it, a buffer holds its slots over its whole range.
  """
  granularity: int
  num_slots: int
  max_buffers: int
  max_instructions: int
  max_accesses: int
  max_tracked: int | None = None
  max_copies: int = 0
  max_copy_accesses: int = 0
  num_timings: int = 1
  gaps: bool = False

  @property
  def num_tracked(self) -> int:
    """M': the padded count of tracked instructions (at least 1)."""
    return max(1, self.max_instructions if self.max_tracked is None else self.max_tracked)


@chex.dataclass(frozen=True)
class CopyQueues:
  """A problem's asynchronous copies laid out for the game's last decision
  (`copy_stalls`): the copy queues of `simulator.copy_stalls`, with all that
  does not depend on the placement done once, on the host.

  Each instruction's idle default-memory seconds (what drains the queues)
  is `max(idle_offset + G, F)`, where F sums the seconds of its accesses to
  buffers in fast levels and G the default-memory seconds those accesses
  would have taken: both linear in the one-hot fast level of each buffer, so
  one matrix product gives them for every instruction (no gather or
  scatter per access). An instruction that is memory-bound in every
  placement idles F; one that is compute-bound in every placement idles
  `idle_offset + G`; the others (`GameProblem.compute_s`'s tracked ones)
  the larger. The copies' queue order depends only on their start steps:
  every (copy, timing) pair is sorted once by `(kind, start, done, copy)`,
  and a placement's bytes through each queue are a prefix sum over the
  pairs its timings choose.

  Attributes:
    idle_weights: [N * (L-1), M + T] float32 seconds, by buffer and fast
      level (rows) and instruction (columns): F of the memory-bound and
      tracked instructions and G of the compute-bound ones in the first M
      columns, G of the tracked ones in the last T (`config.num_tracked`).
    idle_offset: [M] float32 `compute - other - default seconds with every
      buffer in level 0` (-inf where the instruction is memory-bound).
    compute_bound: [M] bool instructions compute-bound in every placement.
    tracked_column: [M] int32 column (less M) of each tracked instruction's
      G (T: none).
    runs: [M + 1] float32 executions of each instruction (1 at the end).
    copy_buffer: [C] int32 buffer (decision order) of each copy, in queue
      order at timing 0 (as `SimulationInputs`).
    copy_bytes: [C] float32 bytes each copy moves (0 padding).
    copy_kind: [C] int32 0 prefetch, 1 eviction.
    copy_timed: [C] bool whether the copy is its buffer's movable prefetch
      (its start follows the buffer's timing).
    need_segment: [C] int32 `kind * (M + 1) + done` of each copy.
    pair_position: [C, K] int32 1 + the position of each (copy, timing)
      pair among the sorted pairs (0: no such pair).
    pair_copy: [C * K] int32 the copy of each sorted pair.
    pair_timing: [C * K] int32 its timing.
    pair_buffer: [C * K] int32 the buffer of its copy.
    pair_timed: [C * K] bool whether its copy is timed (`copy_timed`).
    pair_bytes: [C * K] float32 bytes the pair moves when chosen (0 for an
      untimed copy's pairs at timings other than 0, and padding).
    joined_position: [2, M + 1] int32 1 + the position of the last pair of
      each queue that starts at or before each step (0: none).
    prefetch_pairs: [] int32 the sorted prefetch pairs (they come first).
    seconds_per_byte: [] float32 of the default memory.
  """
  idle_weights: chex.Array
  idle_offset: chex.Array
  compute_bound: chex.Array
  tracked_column: chex.Array
  runs: chex.Array
  copy_buffer: chex.Array
  copy_bytes: chex.Array
  copy_kind: chex.Array
  copy_timed: chex.Array
  need_segment: chex.Array
  pair_position: chex.Array
  pair_copy: chex.Array
  pair_timing: chex.Array
  pair_buffer: chex.Array
  pair_timed: chex.Array
  pair_bytes: chex.Array
  joined_position: chex.Array
  prefetch_pairs: chex.Array
  seconds_per_byte: chex.Array


@chex.dataclass(frozen=True)
class GameProblem:
  """One instance as padded arrays, buffers in decision order.

  Attributes:
    buffer_index: [N] int32 index of the buffer in the `Problem` (-1 padding).
    valid: [N] bool real (not padding) buffers; padding comes last.
    size_slots: [N] int32 slots each buffer takes.
    size_bytes: [N] float32 bytes.
    starts: [N] int32 first step of each live range (inclusive).
    ends: [N] int32 last step (inclusive).
    linear_saved_s: [N, L] float32 seconds each buffer saves in each level on
      the instructions that are memory-bound in every placement (there the
      saving does not depend on the other buffers).
    access_instruction: [N, A] int32 tracked instruction (index into
      `compute_s`) of each of the buffer's accesses to a tracked instruction
      (0 padding).
    access_seconds: [N, A, L] float32 memory seconds of each of those accesses
      when the buffer is in each level, copies included (0 padding).
    seconds_at: [N, M', L] float32 the same accesses as a dense table (seconds
      each buffer costs each tracked instruction in each level) when
      `dense_accesses(config)`, else [N, 0, L]: the step then reads this table
      instead of the lists.
    compute_s: [M'] float32 compute seconds less `other_memory_s`
      (`simulator.compute_less_other_s`) of each tracked instruction (0
      padding).
    seconds_per_byte: [L] float32 `1 / bandwidth` of each level.
    capacity_slots: [L-1] int32 usable slots of each fast level.
    alignment_slots: [L-1] int32 alignment of each fast level, in slots.
    all_slow_s: [] float32 seconds with every buffer in the default memory
      (1 when that is 0: no placement saves anything, every reward is 0).
    schedule_length: [] int32 steps of the schedule.
    copies: the simulator's inputs with buffers numbered in decision order,
      padded to M instructions, `config.max_copy_accesses` accesses and
      `config.max_copies` copies, for `simulator.copy_stalls`; arrays of
      length 0 when `config.max_copies` is 0 or when `queues` holds them.
    queues: the same copies for the game's own queue run (`CopyQueues`),
      when `dense_idle` holds; else arrays of length 0.
    window_starts: [N, K] int32 the start of each buffer under each timing:
      column 0 its own start, the others its movable prefetch's candidate
      starts (-1: no such candidate).
    prefetch_copy: [N] int32 index in `copies` of each buffer's movable
      prefetch (-1: none, or K = 1).
    busy_ends: [N] int32 what a placed buffer writes into its slots'
      `State.busy_until`: 2 x the last step of its first live interval
      (its last step, unless it has several values) + 1, less 1 when the one
      buffer that may start at that step may take its bytes there (XLA's
      operand-slot reuse: the buffer is the operand of a share whose user is
      the only buffer with that step among its candidate starts).
    again_from: [N] int32 first step of each buffer's second live interval
      (-1: one interval); it holds its slots again from there to the end of
      the program. Length 0 unless `GameConfig.gaps`.
  """
  buffer_index: chex.Array
  valid: chex.Array
  size_slots: chex.Array
  size_bytes: chex.Array
  starts: chex.Array
  ends: chex.Array
  linear_saved_s: chex.Array
  access_instruction: chex.Array
  access_seconds: chex.Array
  seconds_at: chex.Array
  compute_s: chex.Array
  seconds_per_byte: chex.Array
  capacity_slots: chex.Array
  alignment_slots: chex.Array
  all_slow_s: chex.Array
  schedule_length: chex.Array
  copies: SimulationInputs
  queues: CopyQueues
  window_starts: chex.Array
  prefetch_copy: chex.Array
  busy_ends: chex.Array
  again_from: chex.Array


def action_of(level: chex.Array, slot: chex.Array, num_slots: int) -> chex.Array:
  """The action putting a buffer at `slot` of `level` (0, the default memory,
  whatever the slot)."""
  return jnp.where(level > 0, 1 + (level - 1) * num_slots + slot, 0).astype(jnp.int32)


def num_placements(num_fast: int, num_slots: int) -> int:
  """P: the actions of one timing, the default memory and every fast slot."""
  return 1 + num_fast * num_slots


def level_and_slot(action: chex.Array, num_slots: int) -> tuple[chex.Array, chex.Array]:
  """(level, slot) of an action: (0, -1) for the default memory (action <= 0)."""
  placed = action > 0
  return (jnp.where(placed, 1 + (action - 1) // num_slots, 0),
          jnp.where(placed, (action - 1) % num_slots, -1))


@chex.dataclass(frozen=True)
class State:
  """The state of one game.

  Attributes:
    turn: [] int32 position of the buffer to decide (in decision order).
    busy_until: [L-1, S] int32 2 x the last step each slot is occupied until
      + 1, or 2 x that step when the buffer that starts there may share it
      (`GameProblem.busy_ends`; -1: free).
    reserved_from: [L-1, S'] int32 the step from which each slot is reserved
      again, to the end of the program, after a gap (by a buffer of several
      values; `NOT_RESERVED`: none); S' = S with `GameConfig.gaps`, else 0.
    memory_s: [M'] float32 memory seconds of each tracked instruction so far.
    actions: [N] int32 the placement taken for each buffer, its action less
      its timing (decision order; 0, the default memory, until decided);
      `levels` and `slots` read it.
    timings: [N] int32 the timing taken for each buffer (0: its own start).
    legal_slots: [L-1, W] uint32 the legal offsets of each fast level for
      this turn, packed into words (`slot_bits`; bit `j` of word `w` is slot
      `32 w + j`); `legal_action_mask` unpacks them. These are the offsets
      at timing 0.
    timed_slots: [K-1, L-1, W] uint32 the same at timings 1 .. K-1.
    reward: [] float32 reward of the last step.
    terminated: [] bool whether the game is over.
    stall_s: [] float32 seconds the finished placement waits on copies, set
      at its last decision (0 before, and without copies).
  """
  turn: chex.Array
  busy_until: chex.Array
  reserved_from: chex.Array
  memory_s: chex.Array
  actions: chex.Array
  timings: chex.Array
  legal_slots: chex.Array
  timed_slots: chex.Array
  reward: chex.Array
  terminated: chex.Array
  stall_s: chex.Array

  @property
  def levels(self) -> chex.Array:
    """[..., N] int32 level of each buffer (decision order)."""
    return level_and_slot(self.actions, self.busy_until.shape[-1])[0]

  @property
  def taken_actions(self) -> chex.Array:
    """[..., N] int32 the actions taken, timing included (`timing * P +
    placement`): replayed with `step`, they play the same game."""
    num_fast, num_slots = self.busy_until.shape[-2:]
    return self.timings * num_placements(num_fast, num_slots) + self.actions

  @property
  def slots(self) -> chex.Array:
    """[..., N] int32 first slot of each placed buffer (-1 in level 0)."""
    return level_and_slot(self.actions, self.busy_until.shape[-1])[1]

  @property
  def legal_action_mask(self) -> chex.Array:
    """[..., K * (1 + (L-1) * S)] bool: the legal actions (none once
    terminated); the default memory only at timing 0."""
    num_slots = self.busy_until.shape[-1]
    words = jnp.concatenate([self.legal_slots[..., None, :, :], self.timed_slots], axis=-3)
    fast = slot_bits.unpack(words, num_slots)                         # [..., K, L-1, S]
    fast = fast.reshape(fast.shape[:-2] + (-1,))
    first = jnp.zeros(fast.shape[:-1] + (1,), bool).at[..., 0, 0].set(~self.terminated)
    mask = jnp.concatenate([first, fast], axis=-1)
    return mask.reshape(mask.shape[:-2] + (-1,))


@chex.dataclass(frozen=True)
class Observation:
  """What an agent sees.

  Attributes:
    buffers: [1 + LOOKAHEAD, F] features of the current buffer and the next
      ones: valid, size / capacity, start / T, end / T, lifetime / T, and the
      fraction of all-slow time that each fast level would save.
    free_slots: [L-1, S] float32 1 where a slot is free over the current
      buffer's lifetime (`taken_slots`).
    progress: [] float32 share of the buffers decided.
  """
  buffers: chex.Array
  free_slots: chex.Array
  progress: chex.Array


def decision_order(problem: Problem, starts: np.ndarray | None = None) -> np.ndarray:
  """[N] buffer indices by start (or by `starts`, e.g. the latest candidate
  starts), larger first at equal starts, then index."""
  key = problem.starts if starts is None else starts
  return np.lexsort((np.arange(problem.num_buffers), -problem.sizes, key))


def boundedness(inputs: SimulationInputs) -> tuple[np.ndarray, np.ndarray]:
  """([M] bool memory-bound in every placement, [M] bool tracked).

  An instruction takes `max(compute, memory)`, and its memory time lies
  between the sums, over its accesses, of the cheapest and the dearest level.
  When even the cheapest sum reaches its compute time, it is memory-bound in
  every placement: a buffer placed anywhere saves it exactly its own access
  seconds, whatever the other buffers do (`GameProblem.linear_saved_s`). When
  the dearest sum stays within its compute time, no placement changes its
  time. Only the others, whose boundedness depends on the placement, are
  tracked step by step.
  """
  seconds = np.asarray(inputs.access_seconds, np.float64)
  instruction = np.asarray(inputs.access_instruction)
  compute = compute_less_other_s(inputs)
  cheapest = np.bincount(instruction, seconds.min(axis=1), minlength=len(compute))
  dearest = np.bincount(instruction, seconds.max(axis=1), minlength=len(compute))
  memory_bound = cheapest >= compute
  return memory_bound, ~memory_bound & (dearest > compute)


def tracked_instructions(inputs: SimulationInputs) -> np.ndarray:
  """[M] bool: the instructions whose time the game tracks (`boundedness`)."""
  return boundedness(inputs)[1]


def copy_accesses(problem: Problem, hardware: Hardware) -> int:
  """The accesses a game of `problem` pads to run the copy queues
  (`GameConfig.max_copy_accesses`)."""
  return len(simulation_inputs(problem, hardware).access_buffer)


def game_config(problems: list[Problem], granularity: int, num_slots: int,
                hardware: Hardware | None = None, num_timings: int = 1) -> GameConfig:
  """The smallest config that fits every problem of a list (on `hardware`;
  without it, the config tracks every instruction), offering `num_timings`
  start steps for each movable prefetch."""
  if granularity < 1 or num_slots < 1:
    raise ProblemError("a granularity and a number of slots of at least 1",
                       where="game", found=(granularity, num_slots))
  if isinstance(num_timings, bool) or not isinstance(num_timings, (int, np.integer)) \
      or num_timings < 1:
    raise ProblemError("an integer >= 1", where="num_timings", found=num_timings)
  max_accesses = 1
  for p in problems:
    counts = np.bincount(p.access_buffer, minlength=p.num_buffers) if \
        p.num_instructions else np.ones(p.num_buffers, np.int64)
    max_accesses = max(max_accesses, int(counts.max(initial=1)))
  max_tracked = None
  copies = [len(p.copy_buffer) for p in problems]
  accesses = [len(p.access_buffer) for p in problems]
  if hardware is not None:
    inputs = [simulation_inputs(p, hardware) for p in problems]
    max_tracked = max(int(tracked_instructions(i).sum()) for i in inputs)
    copies = [len(i.copy_buffer) for i in inputs]
    accesses = [len(i.access_buffer) for i in inputs]
  max_copies = max(copies)
  max_copy_accesses = max(accesses) if max_copies else 0
  return GameConfig(
      granularity=granularity, num_slots=num_slots,
      max_buffers=max(max(p.num_buffers for p in problems), 1),
      max_instructions=max(max(p.num_instructions or p.num_buffers for p in problems), 1),
      max_accesses=max_accesses, max_tracked=max_tracked, max_copies=max_copies,
      max_copy_accesses=max_copy_accesses, num_timings=int(num_timings),
      gaps=any(len(p.interval_buffer) for p in problems))


# A step's memory accounting reads the current buffer's accesses to tracked
# instructions either as a padded list (gather, then scatter-add, A per game)
# or as a dense row over all M' tracked instructions (no scatter). XLA's
# batched scatter on the CPU costs about as much per element as 16 elements of
# the dense row (measured with scripts/bench_game.py), so the dense row is
# used when M' <= 16 A, as long as the table stays small.
DENSE_ACCESS_RATIO = 16
DENSE_ACCESS_MAX_ENTRIES = 1 << 24


def dense_accesses(config: GameConfig) -> bool:
  """Whether the game keeps its accesses as a dense [N, M'] table."""
  return (config.num_tracked <= DENSE_ACCESS_RATIO * config.max_accesses and
          config.max_buffers * config.num_tracked <= DENSE_ACCESS_MAX_ENTRIES)


# The last decision's queue run needs each instruction's idle seconds. As a
# product of the buffers' one-hot fast levels with a dense [N (L-1), M + T]
# table (`CopyQueues`) it reads no access list; a batched gather or scatter
# per access costs XLA's CPU backend about as much as a few hundred entries
# of the product (scripts/bench_game.py), so the table is used while it
# stays within DENSE_IDLE_RATIO entries per access.
DENSE_IDLE_RATIO = 128


def dense_idle(config: GameConfig, num_levels: int) -> bool:
  """Whether the game runs its copy queues from a dense idle table
  (`CopyQueues`) rather than from the simulator's access lists."""
  entries = config.max_buffers * (num_levels - 1) * (config.max_instructions +
                                                     config.num_tracked)
  return (config.max_copies > 0 and num_levels > 1 and
          entries <= DENSE_IDLE_RATIO * config.max_copy_accesses and
          entries <= DENSE_ACCESS_MAX_ENTRIES)


def make_game_problem(problem: Problem, hardware: Hardware, config: GameConfig,
                      track_every_instruction: bool = False) -> GameProblem:
  """Pad a problem on a hardware model into the game's arrays.

  With `track_every_instruction`, the game tracks every instruction's time,
  not only those of `tracked_instructions` (the same rewards, more work: for
  comparisons).
  """
  if problem.num_buffers == 0:
    raise ProblemError("a problem with at least one buffer", where=problem.name)
  if problem.num_buffers > config.max_buffers:
    raise ProblemError(f"at most {config.max_buffers} buffers", where=problem.name,
                       found=problem.num_buffers)
  inputs = simulation_inputs(problem, hardware)
  n, m, a = config.max_buffers, config.max_instructions, config.max_accesses
  window_starts, prefetch_copy = _timings(problem, hardware, inputs, config.num_timings)
  first_ends, again_from = _gaps(problem) if config.gaps else (problem.ends, problem.ends)
  busy_ends = 2 * first_ends + 1 - _shareable(problem, first_ends, window_starts)
  order = decision_order(problem, window_starts.max(axis=1))
  count = problem.num_buffers

  def pad(values, fill, dtype, length=n):
    out = np.full(length, fill, dtype)
    out[:len(values)] = values
    return out

  instructions = np.asarray(inputs.access_instruction)
  compute = compute_less_other_s(inputs)
  all_seconds = np.asarray(inputs.access_seconds)
  if len(compute) > m:
    raise ProblemError(f"at most {m} instructions", where=problem.name, found=len(compute))
  memory_bound, tracked = boundedness(inputs)
  if track_every_instruction:
    memory_bound, tracked = np.zeros_like(tracked), np.ones_like(tracked)
  if tracked.sum() > config.num_tracked:
    raise ProblemError(f"a game config that tracks {int(tracked.sum())} instructions "
                       "(made for this problem's hardware, and with max_tracked=None "
                       "to track every instruction)", where=problem.name,
                       found=f"max_tracked={config.max_tracked}")
  column = np.cumsum(tracked) - 1          # tracked instruction -> its column
  levels = len(hardware.levels)
  rank = np.empty(count, np.int64)
  rank[order] = np.arange(count)
  rows = rank[np.asarray(inputs.access_buffer)]
  # Always memory-bound instructions: the saving of a level is linear.
  linear = np.zeros((n, levels), np.float64)
  on_bound = memory_bound[instructions]
  np.add.at(linear, rows[on_bound],
            all_seconds[on_bound, :1] - all_seconds[on_bound])
  access_instruction = np.zeros((n, a), np.int32)
  access_seconds = np.zeros((n, a, levels), np.float32)
  fill = np.zeros(count, np.int64)
  for k in np.flatnonzero(tracked[instructions]):
    row = rows[k]
    if fill[row] >= a:
      raise ProblemError(f"at most {a} accesses per buffer", where=problem.name)
    access_instruction[row, fill[row]] = column[instructions[k]]
    access_seconds[row, fill[row]] = all_seconds[k]
    fill[row] += 1

  seconds_at = np.zeros((n, config.num_tracked if dense_accesses(config) else 0, levels),
                        np.float32)
  if seconds_at.shape[1]:
    np.add.at(seconds_at, (np.repeat(np.arange(n), a), access_instruction.ravel()),
              access_seconds.reshape(n * a, levels))

  g = config.granularity
  fast = hardware.levels[1:]
  capacity = [min(config.num_slots, level.capacity // g) for level in fast]
  alignment = [max(1, -(-level.alignment // g)) for level in fast]
  sizes = problem.sizes[order]
  all_slow = float(np.asarray(inputs.other_memory_s, np.float64).sum() + np.maximum(
      compute, np.bincount(instructions, all_seconds[:, 0], minlength=len(compute))).sum())
  return GameProblem(
      buffer_index=jnp.asarray(pad(order, -1, np.int32)),
      valid=jnp.asarray(pad(np.ones(count, bool), False, bool)),
      size_slots=jnp.asarray(pad(-(-sizes // g), 0, np.int32)),
      size_bytes=jnp.asarray(pad(sizes, 0, np.float32)),
      starts=jnp.asarray(pad(problem.starts[order], 0, np.int32)),
      ends=jnp.asarray(pad(problem.ends[order], 0, np.int32)),
      linear_saved_s=jnp.asarray(linear, jnp.float32),
      access_instruction=jnp.asarray(access_instruction),
      access_seconds=jnp.asarray(access_seconds),
      seconds_at=jnp.asarray(seconds_at),
      compute_s=jnp.asarray(pad(compute[tracked], 0, np.float32, config.num_tracked)),
      seconds_per_byte=inputs.seconds_per_byte,
      capacity_slots=jnp.asarray(np.array(capacity, np.int32)),
      alignment_slots=jnp.asarray(np.array(alignment, np.int32)),
      all_slow_s=jnp.float32(all_slow if all_slow > 0 else 1.0),  # (nothing to save)
      schedule_length=jnp.int32(max(problem.schedule_length, 1)),
      copies=_copy_inputs(inputs, rank, config, dense=dense_idle(config, levels)),
      queues=_copy_queues(inputs, rank, config, levels, window_starts[order],
                          prefetch_copy[order]),
      window_starts=jnp.asarray(np.concatenate(
          [window_starts[order], np.full((n - count, config.num_timings), -1)]), jnp.int32),
      prefetch_copy=jnp.asarray(pad(prefetch_copy[order], -1, np.int32)),
      busy_ends=jnp.asarray(pad(busy_ends[order], 0, np.int32)),
      again_from=jnp.asarray(pad(again_from[order], -1, np.int32)[:n if config.gaps else 0]))


def _gaps(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
  """([N] the last step of each buffer's first live interval, [N] the first
  step of its second, -1 none), in the problem's order."""
  first_ends = problem.ends.astype(np.int64)
  again_from = np.full(problem.num_buffers, -1, np.int64)
  buffer = np.asarray(problem.interval_buffer)
  if len(buffer):
    listed, first, count = np.unique(buffer, return_index=True, return_counts=True)
    several, first = listed[count > 1], first[count > 1]
    first_ends[several] = np.asarray(problem.interval_end)[first]
    again_from[several] = np.asarray(problem.interval_start)[first + 1]
  return first_ends, again_from


def _shareable(problem: Problem, first_ends: np.ndarray,
               window_starts: np.ndarray) -> np.ndarray:
  """[N] 1 for each buffer whose slots the buffer that starts where it ends
  may take at that step (`GameProblem.busy_ends`), else 0: the operand of a
  share whose range (its first interval: one value) ends at the share's
  step, where its user begins, when no other buffer may start there (at any
  candidate start). Any other share is left out, and the game is then
  stricter than the checker."""
  marked = np.zeros(problem.num_buffers, np.int64)
  operand, user = np.asarray(problem.share_operand), np.asarray(problem.share_user)
  if not len(operand):
    return marked
  step = np.asarray(problem.share_step)
  buffer, column = np.nonzero(window_starts >= 0)
  candidates = np.unique(np.stack([buffer, window_starts[buffer, column]]), axis=1)
  starters = np.bincount(candidates[1], minlength=problem.schedule_length + 1)
  usable = ((first_ends[operand] == step) & (problem.ends[operand] == step) &
            (problem.starts[user] == step) & (starters[step] == 1))
  marked[operand[usable]] = 1
  return marked


def _timings(problem: Problem, hardware: Hardware, inputs: SimulationInputs,
             num_timings: int) -> tuple[np.ndarray, np.ndarray]:
  """([N, K] each buffer's start under each timing, -1 none; [N] the index in
  queue order of its movable prefetch, -1 none), in the problem's order."""
  window_starts = np.full((problem.num_buffers, num_timings), -1, np.int64)
  window_starts[:, 0] = problem.starts
  prefetch_copy = np.full(problem.num_buffers, -1, np.int64)
  if num_timings == 1 or not inputs.copy_buffer.shape[0]:
    return window_starts, prefetch_copy
  candidates = candidate_starts(problem, xla_picker(problem, hardware), num_timings)
  movable = np.flatnonzero((candidates[:, 1:] >= 0).any(axis=1))
  buffer = problem.copy_buffer[movable]
  window_starts[buffer] = candidates[movable]
  position = np.empty(len(problem.copy_buffer), np.int64)
  position[queue_order(problem)] = np.arange(len(problem.copy_buffer))
  prefetch_copy[buffer] = position[movable]
  return window_starts, prefetch_copy


def _copy_inputs(inputs: SimulationInputs, rank: np.ndarray, config: GameConfig,
                 dense: bool = False) -> SimulationInputs:
  """`inputs` for `simulator.copy_stalls` on the game's levels: buffers
  renumbered by decision order (`rank`), padded to the config's sizes (the
  padding moves nothing and runs once); arrays of length 0 when `dense`
  (`CopyQueues` holds the copies)."""
  copies = inputs.copy_buffer.shape[0]
  if copies > config.max_copies:
    raise ProblemError(f"a game config with room for {copies} copies",
                       where="max_copies", found=config.max_copies)
  m, k = config.max_instructions, config.max_copy_accesses
  if config.max_copies and inputs.access_buffer.shape[0] > k:
    raise ProblemError(f"a game config with room for {inputs.access_buffer.shape[0]} "
                       "accesses of a problem with copies", where="max_copy_accesses",
                       found=k)
  if not config.max_copies or dense:
    return jax.tree_util.tree_map(lambda x: x[:0], inputs)

  def pad(array, length, fill=0):
    array = np.asarray(array)
    out = np.full((length,) + array.shape[1:], fill, array.dtype)
    out[:len(array)] = array
    return jnp.asarray(out)

  return SimulationInputs(
      compute_s=pad(inputs.compute_s, m), other_memory_s=pad(inputs.other_memory_s, m),
      executions=pad(inputs.executions, m, 1),
      access_instruction=pad(inputs.access_instruction, k),
      access_buffer=pad(rank[np.asarray(inputs.access_buffer)], k),
      access_seconds=pad(inputs.access_seconds, k), fastest_s=pad(inputs.fastest_s, k),
      seconds_per_byte=inputs.seconds_per_byte,
      copy_buffer=pad(rank[np.asarray(inputs.copy_buffer)], config.max_copies),
      copy_kind=pad(inputs.copy_kind, config.max_copies),
      copy_bytes=pad(inputs.copy_bytes, config.max_copies),
      copy_start=pad(inputs.copy_start, config.max_copies),
      copy_done=pad(inputs.copy_done, config.max_copies))


def _copy_queues(inputs: SimulationInputs, rank: np.ndarray, config: GameConfig,
                 num_levels: int, window_starts: np.ndarray,
                 prefetch_copy: np.ndarray) -> CopyQueues:
  """`CopyQueues` of a problem (`window_starts` [n, K] and `prefetch_copy`
  [n] in decision order); arrays of length 0 unless `dense_idle`."""
  m, t, k = config.max_instructions, config.num_tracked, config.num_timings
  dense = dense_idle(config, num_levels)
  fast = num_levels - 1
  c = config.max_copies if dense else 0
  rows = config.max_buffers * fast if dense else 0
  weights = np.zeros((rows, m + t if dense else 0), np.float64)
  offset = np.full(m if dense else 0, -np.inf)
  compute_bound = np.zeros(len(offset), bool)
  tracked_column = np.full(len(offset), t, np.int64)
  runs = np.ones(len(offset) + 1 if dense else 0)
  copy_buffer, kind, done, need = (np.zeros(c, np.int64) for _ in range(4))
  copy_bytes = np.zeros(c)
  timed = np.zeros(c, bool)
  pair_position = np.zeros((c, k), np.int64)
  pair_copy, pair_timing = np.zeros(c * k, np.int64), np.zeros(c * k, np.int64)
  pair_buffer, pair_timed = np.zeros(c * k, np.int64), np.zeros(c * k, bool)
  pair_bytes = np.zeros(c * k)
  joined_position = np.zeros((2, m + 1 if dense else 0), np.int64)
  prefetches = 0
  if dense:
    instruction = np.asarray(inputs.access_instruction)
    seconds = np.asarray(inputs.access_seconds, np.float64)
    memory_bound, tracked = boundedness(inputs)
    compute_bound[:len(tracked)] = ~memory_bound & ~tracked
    count = len(tracked)
    slow = np.bincount(instruction, seconds[:, 0], minlength=count)
    offset[:count] = np.where(memory_bound, -np.inf, compute_less_other_s(inputs) - slow)
    tracked_column[:count] = np.where(tracked, np.cumsum(tracked) - 1, t)
    runs[:count] = np.asarray(inputs.executions)
    buffer = rank[np.asarray(inputs.access_buffer)]
    on_tracked = tracked[instruction]
    for level in range(1, num_levels):
      row = buffer * fast + level - 1
      np.add.at(weights, (row, instruction),
                np.where(compute_bound[instruction], seconds[:, 0], seconds[:, level]))
      np.add.at(weights, (row[on_tracked], m + tracked_column[instruction[on_tracked]]),
                seconds[on_tracked, 0])
    real = len(inputs.copy_buffer)
    copy_buffer[:real] = rank[np.asarray(inputs.copy_buffer)]
    kind[:real] = np.asarray(inputs.copy_kind)
    done[:real] = np.asarray(inputs.copy_done)
    copy_bytes[:real] = np.asarray(inputs.copy_bytes)
    need = kind * (m + 1) + done
    timed[prefetch_copy[prefetch_copy >= 0]] = True
    # Every (copy, timing) pair's start step (-1: no such pair).
    start = np.full((c, k), -1, np.int64)
    start[:real, 0] = np.asarray(inputs.copy_start)
    start[timed] = window_starts[copy_buffer[timed]]
    start[real:] = -1
    copy_index, timing = np.divmod(np.arange(c * k), k)
    pair_start = start.reshape(-1)
    valid = pair_start >= 0
    order = np.lexsort((copy_index, done[copy_index], pair_start, kind[copy_index], ~valid))
    # With one timing the copies are already in queue order (`_queue_stall_s`
    # relies on it), the padding last.
    assert k > 1 or np.array_equal(order, np.arange(c))
    pair_copy, pair_timing = copy_index[order], timing[order]
    pair_buffer, pair_timed = copy_buffer[pair_copy], timed[pair_copy]
    # An untimed copy moves at its timing-0 pair only.
    pair_bytes = np.where(pair_timed | (pair_timing == 0), copy_bytes[pair_copy], 0.0)
    position = np.empty(c * k, np.int64)
    position[order] = np.arange(c * k)
    pair_position = np.where(valid, position + 1, 0).reshape(c, k)
    prefetches = int((valid & (kind[copy_index] == 0)).sum())
    steps = np.arange(m + 1)
    for queue in (0, 1):
      starts = np.sort(pair_start[valid & (kind[copy_index] == queue)])
      joined_position[queue] = (np.searchsorted(starts, steps, side="right") +
                                queue * prefetches)
  queues = CopyQueues(
      idle_weights=weights, idle_offset=offset, compute_bound=compute_bound,
      tracked_column=tracked_column, runs=runs, copy_buffer=copy_buffer,
      copy_bytes=copy_bytes, copy_kind=kind, copy_timed=timed, need_segment=need,
      pair_position=pair_position, pair_copy=pair_copy, pair_timing=pair_timing,
      pair_buffer=pair_buffer, pair_timed=pair_timed, pair_bytes=pair_bytes,
      joined_position=joined_position, prefetch_pairs=np.int64(prefetches),
      seconds_per_byte=np.asarray(inputs.seconds_per_byte)[0])
  device = {"f": jnp.float32, "i": jnp.int32, "b": jnp.bool_}
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, device[np.asarray(x).dtype.kind]),
                                queues)


def _transposed(x: chex.Array, trips: chex.Array) -> chex.Array:
  """[b, a] `x.T` of an [a, b] array, written out as an array of its own:
  XLA otherwise fuses the transposition into each consumer, and a gather of
  rows of `x.T` then reads `x` with a stride of a row per element (about a
  third of the timed game's queue run). A loop of `trips` trips (always 1,
  a count XLA cannot fold) computes it; `x` passes through its carry
  unchanged and is read through a select on the trip count, as in
  `_only_when`."""
  def body(carry):
    i, value, _ = carry
    return i + 1, value, jnp.where(i >= 0, value, jnp.zeros_like(value)).T
  return jax.lax.while_loop(lambda carry: carry[0] < trips, body,
                            (jnp.int32(0), x, jnp.zeros(x.shape[::-1], x.dtype)))[2]


def _queue_stall_rows(queues: CopyQueues, levels: chex.Array,
                      timings: chex.Array) -> chex.Array:
  """[B] seconds each of a batch of placements (`levels`, `timings`: [B, N]
  int) waits on copies: `simulator.copy_stalls` summed, from `CopyQueues`.

  Every array is laid out with the batch last ([X, B]): the gathers at the
  table's fixed positions then copy whole rows of B games, the idle product
  is one [M + T, N (L-1)] x [N (L-1), B] matrix product, and the scans (the
  prefix sum over the pairs, the queues over the steps) read rows, with no
  transposition. Run game by game under `vmap`, the same gathers picked one
  element per game and XLA transposed the scans' inputs.
  """
  q = queues
  m = q.idle_offset.shape[0]
  batch, n = levels.shape
  fast = q.idle_weights.shape[0] // n
  # The one-hot fast levels batch-major ([B, N (L-1)]); the product comes
  # out batch last.
  one_hot = (levels[:, :, None] == jnp.arange(1, fast + 1)).astype(jnp.float32)
  seconds = jax.lax.dot_general(q.idle_weights, one_hot.reshape(batch, n * fast),
                                (((0,), (1,)), ((), ())))            # [M + T, B]
  offset = q.idle_offset[:, None]
  idle = jnp.where(q.compute_bound[:, None], offset + seconds[:m], seconds[:m])
  if q.idle_weights.shape[1] > m:  # Tracked instructions: the larger of the two.
    default = jnp.concatenate([seconds[m:], jnp.zeros((1, batch))])[q.tracked_column]
    idle = jnp.maximum(idle, offset + default)
  runs = q.runs[:m, None]
  idle = jnp.where(runs > 0, idle / jnp.where(runs > 0, runs, 1.0), 0.0)
  idle = jnp.concatenate([jnp.maximum(idle, 0.0), jnp.zeros((1, batch))])  # [M + 1, B]

  if q.pair_position.shape[1] == 1:
    # One timing: the pairs are the copies, already in queue order.
    moved = (levels[:, q.copy_buffer] > 0).T                         # [C, B]
    pair_moves = jnp.where(moved, q.copy_bytes[:, None], 0.0)
  else:
    # Each buffer's timing (-1: in level 0), batch last, written out once.
    trips = (levels[:1, :1].sum() > jnp.iinfo(jnp.int32).min).astype(jnp.int32)
    code = _transposed(jnp.where(levels > 0, timings, -1), trips)   # [N, B]
    moved = code[q.copy_buffer] >= 0                                 # [C, B]
    pair_code = code[q.pair_buffer]                                  # [C K, B]
    chosen = jnp.where(q.pair_timed[:, None], pair_code == q.pair_timing[:, None],
                       pair_code >= 0)
    pair_moves = jnp.where(chosen, q.pair_bytes[:, None], 0.0)

  def add(total, row):
    # The prefix sum over the pairs, a row of B games at a time.
    total = total + row
    return total, total

  through = jnp.concatenate([jnp.zeros((1, batch)), jax.lax.scan(
      add, jnp.zeros(batch), pair_moves)[1]])                        # [C K + 1, B]
  prefetched = through[q.prefetch_pairs]                             # [B]
  joined = through[q.joined_position] - jnp.stack(
      [jnp.zeros(batch), prefetched])[:, None]                       # [2, M + 1, B]
  if q.pair_position.shape[1] == 1:
    mine = through[1:]
  else:
    choice = jnp.where(q.copy_timed[:, None], jnp.maximum(code[q.copy_buffer], 0), 0)
    mine = through[q.pair_position[:, 0]]
    for k in range(1, q.pair_position.shape[1]):
      mine = jnp.where(choice == k, through[q.pair_position[:, k]], mine)
  mine = mine - jnp.where(q.copy_kind[:, None] == 1, prefetched, 0.0)
  needs = jax.ops.segment_max(jnp.where(moved & (q.copy_bytes[:, None] > 0), mine, 0.0),
                              q.need_segment, num_segments=2 * (m + 1))
  needs = jnp.maximum(needs, 0.0).reshape(2, m + 1, batch)
  bandwidth = 1.0 / q.seconds_per_byte

  def drain(backlog, other, budget):
    # `simulator._drain` of one queue: half the budget while the other
    # holds bytes, the rest once it is empty.
    return jnp.minimum(backlog, jnp.maximum(budget / 2, budget - other))

  def before_and_during(drained, x):
    # The two queues as separate [B] rows, not a [2, B] array.
    (prefetched_bytes, evicted_bytes), (joined_p, joined_e, need_p, need_e, idle_s) = \
        drained, x
    backlog_p = jnp.maximum(joined_p - prefetched_bytes, 0.0)
    backlog_e = jnp.maximum(joined_e - evicted_bytes, 0.0)
    wanted_p = jnp.maximum(need_p - prefetched_bytes, 0.0)
    wanted_e = jnp.maximum(need_e - evicted_bytes, 0.0)
    # The wait for the copies done here, both queues draining meanwhile,
    # then the instruction's idle bandwidth.
    stall = jnp.maximum(wanted_p + jnp.minimum(wanted_p, backlog_e),
                        wanted_e + jnp.minimum(wanted_e, backlog_p)) / bandwidth
    budget = stall * bandwidth
    prefetched_bytes = prefetched_bytes + drain(backlog_p, backlog_e, budget)
    evicted_bytes = evicted_bytes + drain(backlog_e, backlog_p, budget)
    backlog_p = jnp.maximum(joined_p - prefetched_bytes, 0.0)
    backlog_e = jnp.maximum(joined_e - evicted_bytes, 0.0)
    budget = idle_s * bandwidth
    return (prefetched_bytes + drain(backlog_p, backlog_e, budget),
            evicted_bytes + drain(backlog_e, backlog_p, budget)), stall

  zero = jnp.zeros(batch)
  _, stalls = jax.lax.scan(before_and_during, (zero, zero),
                           (joined[0], joined[1], needs[0], needs[1], idle))
  return (stalls * q.runs[:, None]).sum(axis=0)


@jax.custom_batching.custom_vmap
def _queue_stall_s(queues: CopyQueues, levels: chex.Array,
                   timings: chex.Array) -> chex.Array:
  """[] seconds the placement at `levels` ([N] int) with `timings` ([N] int)
  waits on copies: `simulator.copy_stalls` summed, from `CopyQueues`.
  Under `vmap` (`custom_vmap`) a batch of placements runs as one, batch last
  (`_queue_stall_rows`): 0.58 of the CPU time of the game-by-game run for
  the bench's 4096 windowed games, 0.54 with 4 timings (one process)."""
  return _queue_stall_rows(queues, levels[None], timings[None])[0]


@_queue_stall_s.def_vmap
def _queue_stall_batched(axis_size, in_batched, queues, levels, timings):
  """`_queue_stall_s`'s batching rule: ([axis_size] seconds, batched)."""
  queues_batched, levels_batched, timings_batched = in_batched
  if any(jax.tree_util.tree_leaves(queues_batched)):
    # Each game its own table (a batch of problems): vmap the game's run.
    axes = jax.tree_util.tree_map(lambda b: 0 if b else None, queues_batched)
    return jax.vmap(lambda q, l, t: _queue_stall_rows(q, l[None], t[None])[0],
                    in_axes=(axes, 0 if levels_batched else None,
                             0 if timings_batched else None))(queues, levels, timings), True
  if not levels_batched:
    levels = jnp.broadcast_to(levels, (axis_size,) + levels.shape)
  if not timings_batched:
    timings = jnp.broadcast_to(timings, (axis_size,) + timings.shape)
  return _queue_stall_rows(queues, levels, timings), True


def _stall_s(problem: GameProblem, actions: chex.Array, timings: chex.Array,
             num_slots: int) -> chex.Array:
  """[] seconds the placement of `actions` at `timings` waits on copies."""
  levels = level_and_slot(actions, num_slots)[0]
  if problem.queues.idle_weights.shape[0]:
    return _queue_stall_s(problem.queues, levels, timings)
  copy_start = None
  if problem.window_starts.shape[1] > 1:
    chosen = jnp.take_along_axis(problem.window_starts, timings[:, None], axis=1)[:, 0]
    index = jnp.where(problem.prefetch_copy >= 0, problem.prefetch_copy,
                      problem.copies.copy_start.shape[0])
    copy_start = problem.copies.copy_start.at[index].set(chosen, mode="drop")
  return copy_stalls(problem.copies, levels, copy_start).sum()


def _only_when(flag: chex.Array, compute, operand, otherwise=None):
  """`compute(operand)` when `flag`, else `otherwise` (of the same shape and
  dtype; None: a float32 0, made here so that importing the game makes no
  array, which would start JAX's backend before `jax.distributed`).

  A `lax.cond` becomes a select under `vmap`, which computes both branches
  for every game; a loop of `flag` trips (0 or 1) is computed only when some
  game of the batch needs it. The operand goes through the loop's carry
  unchanged, so that XLA neither copies it at every step (a carry the body
  writes to is copied on the way in whenever it is also used after the
  loop: the game's [N] actions, at every decision) nor hoists `compute` out
  of the loop as loop-invariant (it would then run at every step): what
  `compute` reads is selected by a test of the trip count, always true.
  """
  if otherwise is None:
    otherwise = jnp.float32(0)

  def body(carry):
    trips, value, _ = carry
    salted = jax.tree_util.tree_map(
        lambda x: jnp.where(trips >= 0, x, jnp.zeros_like(x)), value)
    return trips + 1, value, compute(salted)
  return jax.lax.while_loop(lambda carry: carry[0] < flag.astype(jnp.int32), body,
                            (jnp.int32(0), operand, otherwise))[2]


# --- the game (one instance; vmap at the edge) ---------------------------------


def _slow_memory_s(problem: GameProblem) -> chex.Array:
  """[M'] memory seconds of each tracked instruction with every buffer in level 0."""
  per_access = problem.access_seconds[..., 0]
  return jnp.zeros_like(problem.compute_s).at[problem.access_instruction].add(per_access)


def _move(problem: GameProblem, memory_s: chex.Array, turn: chex.Array,
          level: chex.Array):
  """(seconds saved, memory seconds after) moving buffer `turn` from the
  default memory to `level` (0 changes nothing)."""
  linear = problem.linear_saved_s[turn, level]
  if problem.seconds_at.shape[1]:
    row = problem.seconds_at[turn]                                    # [M', L]
    after = memory_s + (row[:, level] - row[:, 0])
    saved = (jnp.maximum(problem.compute_s, memory_s) -
             jnp.maximum(problem.compute_s, after)).sum()
    return linear + saved, after
  instruction = problem.access_instruction[turn]
  seconds = problem.access_seconds[turn]                              # [A, L]
  extra = seconds[:, level] - seconds[:, 0]
  before = memory_s[instruction]
  compute = problem.compute_s[instruction]
  saved = (jnp.maximum(compute, before) - jnp.maximum(compute, before + extra)).sum()
  return linear + saved, memory_s.at[instruction].add(extra)


def taken_slots(problem: GameProblem, busy_until: chex.Array, reserved_from: chex.Array,
                turn: chex.Array, start: chex.Array | None = None) -> chex.Array:
  """[..., L-1, S] bool: the slots the buffer at `turn` may not take if its
  range starts at `start` ([...] steps, default its own start): those still
  busy then (bar an operand's whose bytes it may share there), or reserved
  again (`State.reserved_from`) before its range ends."""
  start = problem.starts[turn] if start is None else start
  taken = busy_until >= 2 * jnp.asarray(start)[..., None, None] + 1
  if reserved_from.shape[-1]:  # GameConfig.gaps
    taken = taken | (problem.ends[turn] >= reserved_from)
  return taken


def legal_slots(problem: GameProblem, busy_until: chex.Array, reserved_from: chex.Array,
                turn: chex.Array, start: chex.Array | None = None) -> chex.Array:
  """[..., L-1, W] uint32: the legal offsets of each fast level for the
  buffer at `turn` starting at `start` ([...] steps, default its own start;
  -1: none legal), given the slots held (`State.busy_until`,
  `State.reserved_from`), as slots packed into words (`slot_bits`)."""
  num_slots = busy_until.shape[1]
  words = slot_bits.num_words(num_slots)
  size = problem.size_slots[turn]
  start = problem.starts[turn] if start is None else start
  taken = slot_bits.pack(taken_slots(problem, busy_until, reserved_from, turn, start))
  free = free_runs.run_starts(taken, size, num_slots)
  fits = slot_bits.below(problem.capacity_slots - size + 1, words)
  aligned = slot_bits.every(problem.alignment_slots, words)
  return jnp.where(problem.valid[turn] & (jnp.asarray(start)[..., None, None] >= 0),
                   free & fits & aligned, jnp.uint32(0))


def timed_legal_slots(problem: GameProblem, busy_until: chex.Array, reserved_from: chex.Array,
                      turn: chex.Array) -> chex.Array:
  """[K-1, L-1, W] uint32: `legal_slots` at timings 1 .. K-1 (none where the
  buffer has no such candidate)."""
  return legal_slots(problem, busy_until, reserved_from, turn, problem.window_starts[turn, 1:])


def _next_masks(problem: GameProblem, busy_until: chex.Array, reserved_from: chex.Array,
                turn: chex.Array, done: chex.Array,
                like: chex.Array) -> tuple[chex.Array, chex.Array]:
  """(`legal_slots` [L-1, W], `timed_legal_slots` [K-1, L-1, W]) of the buffer
  at `turn` (both 0 when `done`; `like`: the timed masks' array, [0, L-1, W]
  with one timing). The timed masks are computed only when the buffer has a
  candidate start besides its own: most buffers have none (their timed
  masks are 0), and a batch of games skips them where none of its games
  needs them (`_masks`)."""
  if not like.shape[0]:
    legal = legal_slots(problem, busy_until, reserved_from, turn)
    return jnp.where(done, jnp.zeros_like(legal), legal), like
  needed = ~done & problem.valid[turn] & (problem.window_starts[turn, 1:] >= 0).any()
  legal, timed = _masks(problem, busy_until, reserved_from, turn, needed)
  return jnp.where(done, jnp.zeros_like(legal), legal), timed


def _masks_looped(problem: GameProblem, busy_until: chex.Array, reserved_from: chex.Array,
                  turn: chex.Array, needed: chex.Array) -> tuple[chex.Array, chex.Array]:
  """`_masks` with the timed masks in a loop of 0 or 1 trips (`_only_when`):
  right under any batching."""
  num_fast, num_slots = busy_until.shape[-2:]
  zeros = jnp.zeros((problem.window_starts.shape[-1] - 1, num_fast,
                     slot_bits.num_words(num_slots)), jnp.uint32)
  return (legal_slots(problem, busy_until, reserved_from, turn),
          _only_when(needed, lambda held: timed_legal_slots(problem, *held, turn),
                     (busy_until, reserved_from), zeros))


@jax.custom_batching.custom_vmap
def _masks(problem: GameProblem, busy_until: chex.Array, reserved_from: chex.Array,
           turn: chex.Array, needed: chex.Array) -> tuple[chex.Array, chex.Array]:
  """(`legal_slots`, `timed_legal_slots` when `needed`, else 0) of the buffer
  at `turn`.

  Under `vmap` (`custom_vmap`) a batch takes one branch of a conditional
  on whether some game needs the timed masks: if so, the masks of all K
  timings in one pass over the slots (packing K thresholds of
  `busy_until` costs about 1.5 times packing one: the pass reads
  `busy_until` once), else timing 0's alone and zeros. The game before
  packed timing 0 and the K - 1 others apart, the latter in a loop of 0 or
  1 trips (`_only_when`) that wrote its zero result and copied its output
  into the state at every decision."""
  return _masks_looped(problem, busy_until, reserved_from, turn, needed)


@_masks.def_vmap
def _masks_batched(axis_size, in_batched, problem, busy_until, reserved_from, turn, needed):
  """`_masks`' batching rule: (([axis_size, L-1, W], [axis_size, K-1, L-1, W]),
  batched)."""
  problem_batched, *rest_batched = in_batched
  if any(jax.tree_util.tree_leaves(problem_batched)):
    # A batch of problems: each game through the loop.
    axes = jax.tree_util.tree_map(lambda b: 0 if b else None, problem_batched)
    return jax.vmap(_masks_looped,
                    in_axes=(axes,) + tuple(0 if b else None for b in rest_batched))(
                        problem, busy_until, reserved_from, turn, needed), (True, True)
  held = tuple(x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))
               for x, b in zip((busy_until, reserved_from, turn, needed), rest_batched))
  num_fast, num_slots = busy_until.shape[-2:]
  zeros = jnp.zeros((axis_size, problem.window_starts.shape[-1] - 1, num_fast,
                     slot_bits.num_words(num_slots)), jnp.uint32)

  def every_timing(held):
    busy, reserved, turns, wanted = held
    masks = jax.vmap(lambda b, r, t: legal_slots(problem, b, r, t, problem.window_starts[t]))(
        busy, reserved, turns)                                       # [B, K, L-1, W]
    return masks[:, 0], jnp.where(wanted[:, None, None, None], masks[:, 1:], jnp.uint32(0))

  def timing_zero(held):
    busy, reserved, turns, _ = held
    return jax.vmap(lambda b, r, t: legal_slots(problem, b, r, t))(busy, reserved, turns), zeros

  return jax.lax.cond(held[3].any(), every_timing, timing_zero, held), (True, True)


def is_legal(state: State, action: chex.Array) -> chex.Array:
  """[] bool: whether `action` is legal in `state`."""
  num_fast, num_slots = state.busy_until.shape
  timing, placement = split_action(action, num_fast, num_slots)
  level, slot = level_and_slot(placement, num_slots)
  slot = jnp.maximum(slot, 0)
  words = jnp.concatenate([state.legal_slots[None], state.timed_slots])
  word = words[jnp.clip(timing, 0, words.shape[0] - 1),
               jnp.clip(level - 1, 0, num_fast - 1), slot // slot_bits.WORD_BITS]
  placed = ((word >> (slot % slot_bits.WORD_BITS).astype(jnp.uint32)) & 1) == 1
  in_range = (action >= 0) & (timing < words.shape[0])
  return ~state.terminated & in_range & ((action == 0) | ((placement > 0) & placed))


def split_action(action: chex.Array, num_fast: int,
                 num_slots: int) -> tuple[chex.Array, chex.Array]:
  """(timing, placement) of an action: `action = timing * P + placement`."""
  per_timing = num_placements(num_fast, num_slots)
  return action // per_timing, action % per_timing


def init(problem: GameProblem, num_slots: int) -> State:
  """The state before the first decision."""
  num_fast = problem.capacity_slots.shape[0]
  n = problem.valid.shape[0]
  busy = jnp.full((num_fast, num_slots), -1, jnp.int32)
  reserved = jnp.full((num_fast, num_slots if problem.again_from.shape[0] else 0),
                      NOT_RESERVED, jnp.int32)
  turn = jnp.int32(0)
  return State(turn=turn, busy_until=busy, reserved_from=reserved,
               memory_s=_slow_memory_s(problem), actions=jnp.zeros(n, jnp.int32),
               timings=jnp.zeros(n, jnp.int32),
               legal_slots=legal_slots(problem, busy, reserved, turn),
               timed_slots=timed_legal_slots(problem, busy, reserved, turn),
               reward=jnp.float32(0), terminated=~problem.valid[0],
               stall_s=jnp.float32(0))


def step(problem: GameProblem, state: State, action: chex.Array) -> State:
  """Decide the current buffer with `action` (a scalar int)."""
  num_fast, num_slots = state.busy_until.shape
  turn = state.turn
  legal = is_legal(state, action)
  place = legal & (action > 0)
  timing, placement = split_action(jnp.where(place, action, 0), num_fast, num_slots)
  level, slot = level_and_slot(placement, num_slots)

  # Occupy the slots until the end of the buffer's first interval (its last
  # step, unless it has several values), and reserve them from its second on.
  slot_index = jnp.arange(num_slots)
  covered = (slot_index >= slot) & (slot_index < slot + problem.size_slots[turn])
  in_level = jnp.arange(num_fast)[:, None] == level - 1
  held = place & in_level & covered[None]
  busy = jnp.where(held, problem.busy_ends[turn], state.busy_until)
  reserved = state.reserved_from
  if reserved.shape[-1]:  # GameConfig.gaps
    again = problem.again_from[turn]
    # (Its slots were free, so not reserved before its end, nor before `again`.)
    reserved = jnp.where(held & (again >= 0), again, reserved)

  saved, memory = _move(problem, state.memory_s, turn, level)
  actions = state.actions.at[turn].set(placement)
  timings = state.timings.at[turn].set(timing)

  next_turn = jnp.where(legal, turn + 1, turn)
  done = state.terminated | ~legal | (next_turn >= problem.valid.shape[0])
  done = done | ~problem.valid[jnp.minimum(next_turn, problem.valid.shape[0] - 1)]
  safe_turn = jnp.minimum(next_turn, problem.valid.shape[0] - 1)
  # The copy stalls of the whole placement, at its last decision.
  stall = jnp.float32(0)
  if problem.copies.copy_buffer.shape[0] or problem.queues.copy_buffer.shape[0]:
    stall = _only_when(done & legal & ~state.terminated,
                       lambda chosen: _stall_s(problem, *chosen, num_slots),
                       (actions, timings))
  reward = (saved - stall) / problem.all_slow_s
  next_legal, next_timed = _next_masks(problem, busy, reserved, safe_turn, done,
                                       state.timed_slots)
  return State(
      turn=next_turn,
      busy_until=busy,
      reserved_from=reserved,
      memory_s=memory,
      actions=actions,
      timings=timings,
      legal_slots=next_legal,
      timed_slots=next_timed,
      reward=jnp.where(state.terminated, 0.0,
                       jnp.where(legal, reward, ILLEGAL_ACTION_REWARD)).astype(jnp.float32),
      terminated=done,
      stall_s=jnp.where(state.terminated, state.stall_s, stall))


def level_savings(problem: GameProblem, state: State, turn: chex.Array) -> chex.Array:
  """[L] share of all-slow time saved by putting buffer `turn` in each level now."""
  instruction = problem.access_instruction[turn]
  before = state.memory_s[instruction]
  compute = problem.compute_s[instruction]
  seconds = problem.access_seconds[turn].T                            # [L, A]
  extra = seconds - seconds[:1]
  saved = (jnp.maximum(compute, before)[None] -
           jnp.maximum(compute[None], before[None] + extra)).sum(axis=1)
  return (problem.linear_saved_s[turn] + saved) / problem.all_slow_s


def observe(problem: GameProblem, state: State) -> Observation:
  """The agent's view of the current decision."""
  n = problem.valid.shape[0]
  turns = jnp.minimum(state.turn + jnp.arange(1 + LOOKAHEAD), n - 1)
  valid = problem.valid[turns] & (state.turn + jnp.arange(1 + LOOKAHEAD) < n) & \
      ~state.terminated
  length = problem.schedule_length.astype(jnp.float32)
  capacity = jnp.maximum(problem.capacity_slots.max(), 1).astype(jnp.float32)
  savings = jax.vmap(lambda t: level_savings(problem, state, t)[1:])(turns)
  features = jnp.concatenate([
      valid[:, None].astype(jnp.float32),
      (problem.size_slots[turns] / capacity)[:, None],
      (problem.starts[turns] / length)[:, None],
      (problem.ends[turns] / length)[:, None],
      ((problem.ends[turns] - problem.starts[turns] + 1) / length)[:, None],
      savings,
  ], axis=1) * valid[:, None]
  current = jnp.minimum(state.turn, n - 1)
  free = ~taken_slots(problem, state.busy_until, state.reserved_from, current)
  return Observation(buffers=features, free_slots=free.astype(jnp.float32),
                     progress=(state.turn / jnp.maximum(problem.valid.sum(), 1)).astype(
                         jnp.float32))


def placement_of(problem: GameProblem, state: State, config: GameConfig):
  """(levels [N], byte offsets [N]) in the Problem's buffer order (numpy)."""
  index = np.asarray(problem.buffer_index)
  keep = index >= 0
  count = int(keep.sum())
  levels = np.zeros(count, np.int32)
  offsets = np.full(count, -1, np.int64)
  levels[index[keep]] = np.asarray(state.levels)[keep]
  slots = np.asarray(state.slots)[keep].astype(np.int64)
  offsets[index[keep]] = np.where(slots >= 0, slots * config.granularity, -1)
  return levels, offsets


def retimed_problem(problem: Problem, game_problem: GameProblem, state: State) -> Problem:
  """`problem` with the prefetches of the placed buffers issued at the start
  their timing chose (`windows.retime`): the problem that `placement_of` is
  a placement of (`problem` itself when every timing is 0)."""
  copy = np.asarray(game_problem.prefetch_copy)
  timings = np.asarray(state.timings)
  moved = np.flatnonzero((copy >= 0) & (timings > 0) & (np.asarray(state.levels) > 0))
  if not len(moved):
    return problem
  copy_start = problem.copy_start.astype(np.int64)
  chosen = np.asarray(game_problem.window_starts)[moved, timings[moved]]
  copy_start[queue_order(problem)[copy[moved]]] = chosen
  return retime(problem, copy_start)
