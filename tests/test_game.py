"""The mallocGame: legality, rewards against the simulator, tracing, players."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from malloc_muzero import Problem, game, players
from malloc_muzero.hardware import Hardware, MemoryLevel
from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.simulator import (queue_order, simulate_placement, simulation_bounds,
                                     simulation_inputs)

GRANULARITY = 16


def _hardware(capacities: tuple[int, ...], alignment: int = 16,
              time_model: str = "xla") -> Hardware:
  levels = [MemoryLevel("slow", None, 1, 1e9)]
  levels += [MemoryLevel(f"fast{i}", c, alignment, 1e9 * 4 ** (i + 1))
             for i, c in enumerate(capacities)]
  return Hardware(name="test", levels=tuple(levels), peak_flops=1e12,
                  peak_transcendentals=1e11, copy_bandwidth=1e9, time_model=time_model)


def _shares(draw, starts, ends, sizes, prefetched) -> list[tuple[int, int, int]]:
  """Some outputs may take the slot of an operand whose range ends where
  theirs begins (XLA's operand-slot reuse), as `hlo_tools.sharing` finds
  them: the operand is defined earlier, the output is no larger and is not
  prefetched (its start does not move)."""
  n, shares = len(sizes), []
  for a in range(n):
    for b in range(n):
      if (starts[a] < starts[b] == ends[a] and sizes[b] <= sizes[a] and b not in prefetched
          and all(a != x and b != y for x, y, _ in shares) and draw(st.integers(0, 3)) > 0):
        shares.append((a, b, int(ends[a])))
  return shares


def _gaps(draw, starts, ends, copied) -> dict:
  """Some buffers without copies hold two values, with a gap of one step
  or more between them (a loop's or a conditional's buffer): the interval
  fields of `Problem`."""
  fields = {"interval_buffer": [], "interval_start": [], "interval_end": []}
  for b in range(len(starts)):
    if b not in copied and ends[b] - starts[b] >= 2 and draw(st.integers(0, 2)) == 0:
      low = draw(st.integers(int(starts[b]) + 1, int(ends[b]) - 1))
      high = draw(st.integers(low, int(ends[b]) - 1))
      fields["interval_buffer"] += [b, b]
      fields["interval_start"] += [int(starts[b]), high + 1]
      fields["interval_end"] += [low - 1, int(ends[b])]
  return fields


def _with_shares(shares) -> dict:
  return {"share_operand": [x[0] for x in shares], "share_user": [x[1] for x in shares],
          "share_step": [x[2] for x in shares]}


@st.composite
def problems(draw):
  n = draw(st.integers(1, 10))
  length = draw(st.integers(1, 8))
  starts = np.array(draw(st.lists(st.integers(0, length - 1), min_size=n, max_size=n)))
  spans = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
  ends = np.minimum(starts + spans, length - 1)
  sizes = np.array(draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)))
  # Some buffers end where a later one begins, as an instruction's last
  # operand and its output do (candidates for operand-slot reuse, below).
  for b in range(n):
    earlier = [a for a in range(n) if starts[a] < starts[b]]
    if earlier and draw(st.booleans()):
      a = draw(st.sampled_from(earlier))
      ends[a], sizes[b] = starts[b], min(sizes[b], sizes[a])
  flops = np.array(draw(st.lists(st.integers(0, 2000), min_size=length,
                                 max_size=length)), np.float64) * 1e3
  if draw(st.integers(0, 5)) == 0:  # Sizes and lifespans only (MiniMalloc's CSV).
    shares = _shares(draw, starts, ends, sizes, prefetched=set())
    return dataclasses.replace(Problem.from_arrays(sizes=sizes, starts=starts, ends=ends),
                               **_with_shares(shares), **_gaps(draw, starts, ends, set()))
  pairs = sorted({(b, t) for b in range(n) for t in (starts[b], ends[b])})
  moved = np.array([draw(st.integers(1, 1000)) for _ in pairs])
  # Some accesses carry a copy (a window's prefetch or eviction): they cost
  # more in a fast level than in the default memory.
  copied = np.array([draw(st.sampled_from([0, 0, 200, 2000])) for _ in pairs])
  # Some buffers come with asynchronous copies (XLA's time model): a prefetch
  # or an eviction somewhere in their live range.
  # Some prefetches start their buffer and may be issued earlier
  # (`Problem.copy_earliest`) or later: the game may choose their timing.
  copies = []
  for b in range(n):
    for kind in (0, 1):
      if draw(st.integers(0, 3)) == 0:
        movable = kind == 0 and draw(st.booleans())
        start = int(starts[b]) if movable else draw(st.integers(int(starts[b]), int(ends[b])))
        earliest = draw(st.integers(0, start)) if movable else start
        copies.append((b, kind, start, draw(st.integers(start, int(ends[b]) + 1)), earliest))
  shares = _shares(draw, starts, ends, sizes,
                   prefetched={c[0] for c in copies if c[4] < c[2]})
  gaps = _gaps(draw, starts, ends, copied={c[0] for c in copies})
  return Problem(
      name="random", buffer_names=tuple(f"b{i}" for i in range(n)), sizes=sizes,
      starts=starts, ends=ends, buffer_kinds=("temporary",) * n,
      instruction_names=tuple(f"i{t}" for t in range(length)),
      opcodes=("fusion",) * length, flops=flops, transcendentals=np.zeros(length),
      bytes_accessed=np.zeros(length),
      access_buffer=np.array([b for b, _ in pairs]),
      access_instruction=np.array([t for _, t in pairs]),
      access_bytes_read=moved, access_bytes_written=np.zeros(len(pairs), np.int64),
      access_bytes_copied=copied, schedule_length=length, source={"kind": "synthetic"},
      copy_buffer=[c[0] for c in copies], copy_kind=[c[1] for c in copies],
      copy_start=[c[2] for c in copies], copy_done=[c[3] for c in copies],
      copy_earliest=[c[4] for c in copies], **_with_shares(shares), **gaps)


def _setup(problem, hardware, num_slots=16, dense=True, track_every_instruction=False,
           num_timings=1):
  # One padded shape for every generated problem: the step compiles once.
  config = game.GameConfig(granularity=GRANULARITY, num_slots=num_slots,
                           max_buffers=10, max_instructions=10, max_accesses=2,
                           max_copies=20, max_copy_accesses=20, num_timings=num_timings,
                           gaps=True)
  gp = game.make_game_problem(problem, hardware, config, track_every_instruction)
  levels = len(hardware.levels)
  assert gp.seconds_at.shape == (10, 10, levels)  # dense: M <= 16 A
  if not dense:  # The padded access lists instead.
    gp = gp.replace(seconds_at=jnp.zeros((10, 0, levels), jnp.float32))
  return config, gp


_step = jax.jit(game.step)


def _stricter(problem, gp) -> tuple[set[int], bool, set[int]]:
  """(the buffers of the shares the game leaves out, where its mask is
  stricter than the checker; whether it is exact for the buffers of several
  values: they live to the last step, as parameters do; the operands whose
  share it honours)."""
  order = np.asarray(gp.buffer_index)
  marked = {int(order[t]) for t in np.flatnonzero(np.asarray(gp.busy_ends) % 2 == 0)
            if order[t] >= 0}
  unhonoured = {int(x) for a, b in zip(problem.share_operand, problem.share_user)
                if int(a) not in marked for x in (a, b)}
  gapped = np.unique(problem.interval_buffer).astype(int)
  return (unhonoured, bool((problem.ends[gapped] == problem.schedule_length - 1).all()),
          marked)


def _play(gp, config, choose) -> tuple[game.State, float, list]:
  state = game.init(gp, config.num_slots)
  total, masks = 0.0, []
  while not bool(state.terminated):
    mask = np.asarray(state.legal_action_mask)
    masks.append(mask)
    state = _step(gp, state, jnp.int32(choose(mask)))
    total += float(state.reward)
  return state, total, masks


@pytest.mark.parametrize("dense,every", [(True, False), (False, False), (True, True)],
                         ids=["dense-accesses", "access-lists", "every-instruction"])
@settings(max_examples=60, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1),
       capacities=st.sampled_from([(64,), (128,), (48, 96)]))
def test_legal_play_is_valid_and_rewards_equal_the_simulator(problem, seed, capacities,
                                                              dense, every):
  # XLA's time model (copy stalls included) and the additive one.
  hardware = _hardware(capacities, time_model="xla" if seed % 2 else "additive")
  config, gp = _setup(problem, hardware, dense=dense, track_every_instruction=every)
  rng = np.random.default_rng(seed)
  state, total, _ = _play(gp, config, lambda m: rng.choice(np.flatnonzero(m)))
  levels, offsets = game.placement_of(gp, state, config)
  placement = Placement(levels=levels, offsets=offsets)
  assert check_placement(problem, hardware, placement) is None
  slow, _ = simulation_bounds(problem, hardware)
  time = simulate_placement(problem, hardware, levels)
  # float32 sums: 1e-5 of the all-slow time, or 1e-6 of a return far from 0
  # (copies that stall can make a placement thousands of times slower).
  assert total == pytest.approx((slow - time) / slow if slow > 0 else 0.0, abs=1e-5,
                                rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1),
       capacities=st.sampled_from([(64,), (48, 96)]))
def test_timed_play_is_valid_and_rewards_equal_the_simulator(problem, seed, capacities):
  """With prefetch timings: a random legal game (timings included) is a valid
  placement of the retimed problem, and its return is that problem's saving."""
  hardware = _hardware(capacities)
  config, gp = _setup(problem, hardware, num_timings=3)
  rng = np.random.default_rng(seed)
  state, total, masks = _play(gp, config, lambda m: rng.choice(np.flatnonzero(m)))
  assert all(mask.shape == (3 * (1 + len(capacities) * 16),) for mask in masks)
  retimed = game.retimed_problem(problem, gp, state)
  levels, offsets = game.placement_of(gp, state, config)
  assert check_placement(retimed, hardware, Placement(levels=levels, offsets=offsets)) is None
  slow, _ = simulation_bounds(retimed, hardware)
  time = simulate_placement(retimed, hardware, levels)
  assert total == pytest.approx((slow - time) / slow if slow > 0 else 0.0, abs=1e-5,
                                rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1))
def test_timed_legal_action_mask_is_exact(problem, seed):
  """Brute force over timings and offsets: legal iff the retimed placement
  is valid."""
  from malloc_muzero.windows import retime

  hardware = _hardware((64,))
  config, gp = _setup(problem, hardware, num_slots=4, num_timings=3)
  per_timing = 1 + config.num_slots
  rng = np.random.default_rng(seed)
  state = game.init(gp, config.num_slots)
  order = np.asarray(gp.buffer_index)
  starts, copy = np.asarray(gp.window_starts), np.asarray(gp.prefetch_copy)
  queue = queue_order(problem)
  unhonoured, exact, _ = _stricter(problem, gp)
  while not bool(state.terminated):
    turn = int(state.turn)
    so_far = game.retimed_problem(problem, gp, state)
    levels, offsets = game.placement_of(gp, state, config)
    buffer = order[turn]
    mask = np.asarray(state.legal_action_mask)
    for timing in range(3):
      if starts[turn, timing] < 0:
        assert not mask[timing * per_timing:(timing + 1) * per_timing].any()
        continue
      trial_problem = so_far
      if timing:
        copy_start = so_far.copy_start.astype(np.int64)
        copy_start[queue[copy[turn]]] = starts[turn, timing]
        trial_problem = retime(so_far, copy_start)
      for slot in range(config.num_slots):
        trial_levels, trial_offsets = levels.copy(), offsets.copy()
        trial_levels[buffer], trial_offsets[buffer] = 1, slot * GRANULARITY
        trial = Placement(levels=trial_levels, offsets=trial_offsets)
        valid = check_placement(trial_problem, hardware, trial) is None
        legal = mask[timing * per_timing + 1 + slot]
        if problem.sizes[buffer] % GRANULARITY == 0 and buffer not in unhonoured and exact:
          assert legal == valid, (turn, timing, slot)  # (sizes rounded up: stricter)
        elif legal:
          assert valid
    state = _step(gp, state, jnp.int32(rng.choice(np.flatnonzero(mask))))


def _recorded(gp, key, stop):
  """One random game's states after each decision (16 slots): legal
  actions, bar an illegal one at decision `stop` (which ends the game)."""
  def body(state, x):
    k, i = x
    action = jnp.where(i == stop, -1, players.random_legal(gp, state, k))
    state = game.step(gp, state, action)
    return state, state
  n = gp.valid.shape[0]
  return jax.lax.scan(body, game.init(gp, 16), (jax.random.split(key, n), jnp.arange(n)))[1]


def _plain_masks(gp, state):
  """(timing 0's mask, the timed masks) of a state, computed plainly."""
  n = gp.valid.shape[0]
  turn = jnp.minimum(state.turn, n - 1)
  needed = ~state.terminated & gp.valid[turn] & (gp.window_starts[turn, 1:] >= 0).any()
  legal = game.legal_slots(gp, state.busy_until, state.reserved_from, turn)
  timed = game.timed_legal_slots(gp, state.busy_until, state.reserved_from, turn)
  return (jnp.where(state.terminated, jnp.uint32(0), legal),
          jnp.where(needed, timed, jnp.uint32(0)))


_record_batch = jax.jit(jax.vmap(_recorded, in_axes=(None, 0, 0)))
_record_per_problem = jax.jit(jax.vmap(_recorded))
_record_twice = jax.jit(jax.vmap(jax.vmap(_recorded, in_axes=(None, 0, 0)),
                                 in_axes=(None, 0, 0)))
_plain_masks_of_all = jax.jit(jax.vmap(jax.vmap(_plain_masks, in_axes=(None, 0)),
                                       in_axes=(None, 0)))


@settings(max_examples=20, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1),
       capacities=st.sampled_from([(64,), (48, 96)]))
def test_batched_masks_are_each_games_own(problem, seed, capacities):
  """In a batch of games the masks come from one conditional on whether
  some game needs the timed ones (`game._masks`, `custom_vmap`: then all
  timings in one pass): at every decision of random games, each game's
  timed masks are `timed_legal_slots` of its own state where it is at a
  buffer with candidate starts and not done, else 0, and its timing-0 mask
  `legal_slots` (0 when done); the same with a batch of problems (its
  loop) and under two vmaps."""
  hardware = _hardware(capacities)
  config, gp = _setup(problem, hardware, num_timings=3)
  assert config.num_slots == 16
  keys = jax.random.split(jax.random.key(seed), 6)
  # Games that end early: the batch's games then need the masks at
  # different decisions.
  stops = jnp.asarray(np.random.default_rng(seed).integers(0, 12, 6))
  states = _record_batch(gp, keys, stops)
  legal, timed = (np.asarray(x) for x in _plain_masks_of_all(gp, states))
  assert timed.shape == (6, gp.valid.shape[0], 2, len(capacities), 1)
  stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x] * len(keys)), gp)
  twice = _record_twice(gp, keys.reshape(2, 3), stops.reshape(2, 3))
  for got in (states, _record_per_problem(stacked, keys, stops), twice):
    np.testing.assert_array_equal(np.asarray(got.timed_slots).reshape(timed.shape), timed)
    np.testing.assert_array_equal(np.asarray(got.legal_slots).reshape(legal.shape), legal)
    np.testing.assert_array_equal(np.asarray(got.actions).reshape(states.actions.shape),
                                  np.asarray(states.actions))


@settings(max_examples=40, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1))
def test_legal_action_mask_is_exact(problem, seed):
  """Brute force: an offset is legal iff adding it keeps the placement valid."""
  hardware = _hardware((64,))
  config, gp = _setup(problem, hardware, num_slots=4)
  unhonoured, exact, marked = _stricter(problem, gp)
  # Every share whose user is the only buffer starting at its step, and whose
  # operand holds one value, is honoured.
  gapped = set(problem.interval_buffer.tolist())
  for operand, step in zip(problem.share_operand.tolist(), problem.share_step.tolist()):
    assert operand in marked or operand in gapped or (problem.starts == step).sum() > 1
  rng = np.random.default_rng(seed)
  state = game.init(gp, config.num_slots)
  order = np.asarray(gp.buffer_index)
  while not bool(state.terminated):
    turn = int(state.turn)
    levels, offsets = game.placement_of(gp, state, config)
    buffer = order[turn]
    mask = np.asarray(state.legal_action_mask)
    for slot in range(config.num_slots):
      trial_levels, trial_offsets = levels.copy(), offsets.copy()
      trial_levels[buffer], trial_offsets[buffer] = 1, slot * GRANULARITY
      trial = Placement(levels=trial_levels, offsets=trial_offsets)
      # Sizes are rounded up to whole slots by the game.
      rounded = problem.sizes[buffer] % GRANULARITY == 0
      valid = check_placement(problem, hardware, trial) is None
      if rounded and exact and buffer not in unhonoured:
        assert mask[1 + slot] == valid, (turn, slot)
      elif mask[1 + slot]:
        assert valid
    state = _step(gp, state, jnp.int32(rng.choice(np.flatnonzero(mask))))


def test_illegal_action_ends_the_game_without_corrupting_it():
  problem = Problem.from_arrays(sizes=[64, 64], starts=[0, 0], ends=[3, 3])
  config, gp = _setup(problem, _hardware((64,)), num_slots=4)
  state = _step(gp, game.init(gp, 4), jnp.int32(1))  # first buffer at slot 0
  assert not bool(state.terminated)
  assert not bool(state.legal_action_mask[1])       # slot 0 is taken now
  after = _step(gp, state, jnp.int32(1))
  assert bool(after.terminated)
  assert float(after.reward) == game.ILLEGAL_ACTION_REWARD
  chex.assert_trees_all_equal(after.busy_until, state.busy_until)
  chex.assert_trees_all_equal(after.levels, state.levels)
  levels, offsets = game.placement_of(gp, after, config)
  assert check_placement(problem, _hardware((64,)),
                         Placement(levels=levels, offsets=offsets)) is None
  # Further steps change nothing.
  again = _step(gp, after, jnp.int32(0))
  assert float(again.reward) == 0.0 and bool(again.terminated)


def test_step_is_traced_once():
  problem = Problem.from_arrays(sizes=[16, 32, 48], starts=[0, 1, 2], ends=[2, 3, 4])
  config, gp = _setup(problem, _hardware((64,)))

  @jax.jit
  @chex.assert_max_traces(n=1)
  def traced_step(gp, state, action):
    return game.step(gp, state, action)

  state = game.init(gp, config.num_slots)
  for action in (1, 0, 0, 0, 0):
    state = traced_step(gp, state, jnp.int32(action))


@pytest.mark.parametrize("name", sorted(players.PLAYERS))
def test_players_play_valid_vmapped_episodes(name):
  problem = Problem.from_arrays(sizes=[32, 64, 16, 48, 32],
                                starts=[0, 1, 1, 2, 4], ends=[3, 2, 5, 4, 5])
  hardware = _hardware((96,))
  config, gp = _setup(problem, hardware)
  keys = jax.random.split(jax.random.key(0), 8)
  play = jax.jit(jax.vmap(players.play, in_axes=(None, None, None, 0)),
                 static_argnums=(1, 2))
  states, returns = play(gp, config.num_slots, players.PLAYERS[name], keys)
  slow, _ = simulation_bounds(problem, hardware)
  for g in range(8):
    state = jax.tree.map(lambda x: x[g], states)
    levels, offsets = game.placement_of(gp, state, config)
    assert check_placement(problem, hardware, Placement(levels=levels,
                                                        offsets=offsets)) is None
    time = simulate_placement(problem, hardware, levels)
    assert float(returns[g]) == pytest.approx((slow - time) / slow, abs=1e-5)
  if name != "random":
    assert float(returns[0]) > 0


def test_random_player_is_uniform_over_the_legal_actions():
  """Two 32-byte (2-slot) buffers live together on a 6-slot grid: after the
  first takes slots 2-3, the second has three legal actions (stay, slot 0 or
  slot 4), each drawn about equally often from keys made by `split`, the
  illegal ones never."""
  problem = Problem.from_arrays(sizes=[32, 32], starts=[0, 0], ends=[1, 1])
  config, gp = _setup(problem, _hardware((96,)), num_slots=6)
  state = game.step(gp, game.init(gp, config.num_slots), jnp.int32(3))
  legal = np.flatnonzero(np.asarray(state.legal_action_mask))
  np.testing.assert_array_equal(legal, [0, 1, 5])
  draws = 6000
  keys = jax.random.split(jax.random.key(7), draws)
  actions = np.asarray(jax.jit(jax.vmap(players.random_legal, in_axes=(None, None, 0)))(
      gp, state, keys))
  counts = np.bincount(actions, minlength=state.legal_action_mask.shape[0])
  assert counts.sum() == counts[legal].sum()
  expected = draws / len(legal)
  assert np.all(np.abs(counts[legal] - expected) < 5 * np.sqrt(expected))


def test_observation_shapes():
  problem = Problem.from_arrays(sizes=[32, 64], starts=[0, 1], ends=[3, 2])
  config, gp = _setup(problem, _hardware((48, 96)))
  obs = game.observe(gp, game.init(gp, config.num_slots))
  assert obs.buffers.shape == (1 + game.LOOKAHEAD, 5 + 2)
  assert obs.free_slots.shape == (2, config.num_slots)
  assert float(obs.buffers[0, 0]) == 1.0 and float(obs.buffers[2, 0]) == 0.0


@pytest.mark.parametrize("num_slots", [64, 20000])
def test_mask_counts_with_small_and_large_slot_grids(num_slots):
  """int16 slot indices for small grids, int32 for large ones; same answer."""
  problem = Problem.from_arrays(sizes=[10, 5], starts=[0, 1], ends=[3, 3])
  hardware = _hardware((num_slots,), alignment=1)
  config = game.GameConfig(granularity=1, num_slots=num_slots, max_buffers=2,
                           max_instructions=2, max_accesses=1)
  gp = game.make_game_problem(problem, hardware, config)
  state = game.step(gp, game.init(gp, num_slots), jnp.int32(1))  # 10 B at 0
  mask = np.asarray(state.legal_action_mask)
  assert mask[0] and not mask[1:11].any()
  assert int(mask[1:].sum()) == num_slots - 10 - 5 + 1


def test_only_instructions_whose_boundedness_depends_on_the_placement_are_tracked():
  """Instruction 0 is memory-bound in every placement (its saving is linear),
  1 is compute-bound in every placement (no saving), and only 2 is tracked;
  every placement's return still equals the simulator's saving."""
  problem = Problem(
      name="three", buffer_names=("a", "b"), sizes=np.array([64, 64]),
      starts=np.array([0, 1]), ends=np.array([1, 2]), buffer_kinds=("temporary",) * 2,
      instruction_names=("i0", "i1", "i2"), opcodes=("fusion",) * 3,
      flops=np.array([0.0, 2e6, 2e6]), transcendentals=np.zeros(3),
      bytes_accessed=np.zeros(3), access_buffer=np.array([0, 0, 1]),
      access_instruction=np.array([0, 1, 2]),
      access_bytes_read=np.array([4000, 1000, 4000]),
      access_bytes_written=np.zeros(3, np.int64), schedule_length=3,
      source={"kind": "synthetic"})
  hardware = _hardware((256,))
  inputs = simulation_inputs(problem, hardware)
  np.testing.assert_array_equal(game.tracked_instructions(inputs), [False, False, True])
  config = game.game_config([problem], GRANULARITY, 16, hardware)
  assert config.num_tracked == 1
  gp = game.make_game_problem(problem, hardware, config)
  np.testing.assert_allclose(np.asarray(gp.linear_saved_s)[0], [0.0, 3e-6], rtol=1e-6)
  slow, _ = simulation_bounds(problem, hardware)
  for levels in [(0, 0), (1, 0), (0, 1), (1, 1)]:
    state, total = game.init(gp, 16), 0.0
    for turn, level in enumerate(levels):
      state = game.step(gp, state, jnp.int32(level * (1 + 4 * turn)))
      total += float(state.reward)
    time = simulate_placement(problem, hardware, np.array(levels))
    assert total == pytest.approx((slow - time) / slow, abs=1e-6), levels


def test_rewards_count_copy_stalls_on_xla_model():
  """A windowed problem with no idle bandwidth: every copy stalls, and the
  game's return is the simulator's saving, stalls included."""
  import dataclasses

  from tests.test_windows import _hardware as windows_hardware
  from tests.test_windows import _problem as windows_problem
  from malloc_muzero.windows import split_into_windows

  problem = dataclasses.replace(windows_problem(), flops=np.full(40, 1e3))
  windowed = split_into_windows(problem, min_gap=16, prefetch_steps=4).problem
  hardware = windows_hardware()
  config = game.game_config([windowed], granularity=1024, num_slots=16, hardware=hardware)
  assert config.max_copies == 2
  gp = game.make_game_problem(windowed, hardware, config)
  # Every window in fast memory, at the lowest legal offset.
  state, total, _ = _play(gp, config, lambda m: int(np.flatnonzero(m)[1]))
  levels, _ = game.placement_of(gp, state, config)
  assert levels.tolist() == [1, 1, 1]
  slow, _ = simulation_bounds(windowed, hardware)
  time = simulate_placement(windowed, hardware, levels)
  assert total == pytest.approx((slow - time) / slow, abs=1e-6)
  assert float(state.stall_s) > 0.05 * slow  # the stalls are not negligible


def test_a_window_prefetched_later_frees_its_slots_and_pays_its_stall():
  """XLA's cut by hand: the game offers later starts for a@1's prefetch; a
  game that takes one is a valid placement of the retimed problem, its
  return is that problem's saving, and its actions replay it."""
  import dataclasses

  from tests.test_windows import _hardware as windows_hardware
  from tests.test_windows import _problem as windows_problem
  from malloc_muzero.windows import split_into_windows

  problem = dataclasses.replace(windows_problem(), flops=np.full(40, 1e3))
  windowed = split_into_windows(problem, min_gap=16, prefetch_steps=4).problem
  hardware = windows_hardware()
  config = game.game_config([windowed], granularity=1024, num_slots=16, hardware=hardware,
                            num_timings=4)
  gp = game.make_game_problem(windowed, hardware, config)
  starts = np.asarray(gp.window_starts)
  timed = int(np.flatnonzero((starts[:, 1:] >= 0).any(axis=1))[0])
  assert windowed.buffer_names[int(gp.buffer_index[timed])] == "a@1"
  per_timing = 1 + config.num_slots
  late = int(np.argmax(starts[timed]))  # the latest candidate: its use, 30
  assert starts[timed, late] == 30 and late > 0

  def choose(mask):
    legal = np.flatnonzero(mask)
    wanted = [a for a in legal if a // per_timing == late] if int(state.turn) == timed else []
    return wanted[0] if wanted else legal[1]  # else the lowest fast slot at timing 0

  state = game.init(gp, config.num_slots)
  total = 0.0
  while not bool(state.terminated):
    state = _step(gp, state, jnp.int32(choose(np.asarray(state.legal_action_mask))))
    total += float(state.reward)
  assert int(state.timings[timed]) == late
  retimed = game.retimed_problem(windowed, gp, state)
  assert retimed.starts.tolist() == [0, 30, 1] and retimed.copy_start.tolist() == [3, 30]
  levels, offsets = game.placement_of(gp, state, config)
  assert levels.tolist() == [1, 1, 1]
  assert check_placement(retimed, hardware, Placement(levels=levels, offsets=offsets)) is None
  slow, _ = simulation_bounds(retimed, hardware)
  assert total == pytest.approx((slow - simulate_placement(retimed, hardware, levels)) / slow,
                                abs=1e-6)
  replayed = jax.lax.scan(lambda s, a: (_step(gp, s, a), None), game.init(gp, 16),
                          state.taken_actions)[0]
  assert np.array_equal(np.asarray(replayed.timings), np.asarray(state.timings))
  assert float(replayed.stall_s) == pytest.approx(float(state.stall_s))


def test_an_output_may_take_the_slot_of_the_operand_whose_range_ends_where_it_begins():
  """XLA's operand-slot reuse: `b` (defined at step 1, where `a`'s range
  ends) may sit on `a`'s slots when it is the only buffer starting there;
  with a second buffer `c` starting there too, the game leaves the share
  out (stricter than the checker, never looser)."""
  hardware = _hardware((64,))
  for sizes, starts, ends, honoured in (([32, 32], [0, 1], [1, 2], True),
                                        ([32, 32, 16], [0, 1, 1], [1, 2, 2], False)):
    problem = dataclasses.replace(
        Problem.from_arrays(sizes=np.array(sizes), starts=np.array(starts),
                            ends=np.array(ends)),
        share_operand=[0], share_user=[1], share_step=[1])
    config, gp = _setup(problem, hardware, num_slots=4)
    state = _step(gp, game.init(gp, config.num_slots), jnp.int32(1))  # a at slots 0-1
    expected = [True, True, True, True, False] if honoured else [True, False, False, True, False]
    assert list(np.asarray(state.legal_action_mask)[:5]) == expected
    np.testing.assert_array_equal(game.observe(gp, state).free_slots,
                                  [[1, 1, 1, 1] if honoured else [0, 0, 1, 1]])
    state = _step(gp, state, jnp.int32(1 if honoured else 3))     # b on a's slots, or after
    if not honoured:
      state = _step(gp, state, jnp.int32(0))
    assert bool(state.terminated)
    levels, offsets = game.placement_of(gp, state, config)
    assert check_placement(problem, hardware, Placement(levels=levels, offsets=offsets)) is None
    assert offsets[1] == (0 if honoured else 2 * GRANULARITY)


@st.composite
def problems_with_one_gap(draw):
  """Up to 7 buffers over up to 9 steps; the first holds two values with a
  gap between them, the others often start in it."""
  n, length = draw(st.integers(2, 7)), draw(st.integers(4, 9))
  gap_low = draw(st.integers(1, length - 3))
  gap_high = draw(st.integers(gap_low, length - 2))
  starts = [0] + draw(st.lists(st.integers(0, length - 1), min_size=n - 1, max_size=n - 1))
  spans = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
  ends = [length - 1] + [min(s + d, length - 1) for s, d in zip(starts[1:], spans[1:])]
  sizes = draw(st.lists(st.sampled_from([16, 32, 48]), min_size=n, max_size=n))
  return dataclasses.replace(
      Problem.from_arrays(sizes=np.array(sizes), starts=np.array(starts),
                          ends=np.array(ends), schedule_length=length),
      interval_buffer=[0, 0], interval_start=[0, gap_high + 1],
      interval_end=[gap_low - 1, length - 1])


@settings(max_examples=40, deadline=None)
@given(problem=problems_with_one_gap(), seed=st.integers(0, 2**31 - 1))
def test_legal_action_mask_is_exact_with_a_gap(problem, seed):
  """Brute force: with a buffer of two values, an offset is legal iff adding
  it keeps the placement valid; buffers that fit in the gap may use it."""
  hardware = _hardware((64,))
  config, gp = _setup(problem, hardware, num_slots=4)
  rng = np.random.default_rng(seed)
  state = game.init(gp, config.num_slots)
  order = np.asarray(gp.buffer_index)
  while not bool(state.terminated):
    levels, offsets = game.placement_of(gp, state, config)
    buffer = order[int(state.turn)]
    mask = np.asarray(state.legal_action_mask)
    for slot in range(config.num_slots):
      trial_levels, trial_offsets = levels.copy(), offsets.copy()
      trial_levels[buffer], trial_offsets[buffer] = 1, slot * GRANULARITY
      trial = Placement(levels=trial_levels, offsets=trial_offsets)
      assert mask[1 + slot] == (check_placement(problem, hardware, trial) is None), slot
    # The buffer of two values goes first, to the fast memory when it can.
    legal = np.flatnonzero(mask)
    state = _step(gp, state, jnp.int32(legal[-1] if buffer == 0 else rng.choice(legal)))
