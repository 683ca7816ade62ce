"""Placements per second of the mallocGame, batched in JAX and one game at a time in NumPy.

    python scripts/bench_game.py [--batch 4096] [--slots 256] [--repeats 3] [--json]

The problem is a decoder-only transformer's training step (about 400 buffers),
extracted with hlo_tools, with a fast memory of a quarter of its peak live bytes
cut into `--slots` offsets. Random legal players play whole episodes:
* JAX: `jit(vmap(play))`, each episode a `lax.scan` over the buffers;
* NumPy: the same rules written plainly, one game and one buffer at a time.
To show where the time goes, it also times the batched legal-offset computation
alone (the same scan with only `game.legal_slots` in it), the episodes with every
instruction's time tracked step by step (the game tracks only the instructions
whose boundedness depends on the placement, `game.tracked_instructions`: on
this memory-bound program, none), and those with the accesses kept as padded
lists (gather and scatter-add per step) instead of the dense per-instruction
table.
The last rows play the program cut into windows around its uses
(`windows.split_into_windows`), whose prefetches and evictions are
asynchronous copies on XLA's time model (the game runs their queues once per
game, at its last decision): with each prefetch where the cut puts it, and
with `--timings` candidate starts for each (`GameConfig.num_timings`), the
game then choosing when each prefetch is issued. The first row (whole
buffers, no copies, no timing) is the game before either. Below each
windowed row, what part of it one piece takes: the copy queues run once per
game (`game.CopyQueues`, timed alone on the episodes' final placements) and
the legal masks of every timing (the masks-only scan).
The jitted rows are compiled first and then timed round robin, each the
best of `--repeats` (wall-clock and process CPU seconds): on a machine
shared with other jobs the load changes within a run, and rows timed one
after the other would see different loads. The last column is each row's
rate over the first row's, from CPU seconds, the figure to compare across
runs (issue 14 asks for the windowed games' rate beside the old model's).
With `--json` the last line is
`{"placements_per_s", "window_placements_per_s", "timed_placements_per_s",
"numpy_placements_per_s", "window_queues_s", "timed_masks_s",
"window_ratio", "timed_ratio", "batch", "slots", "buffers"}` (the ratios
are the windowed rows' CPU rates over the first row's).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from experiments.programs import transformer_train_step  # noqa: E402
from hlo_tools import capture_jax, module_to_problem, parse_hlo  # noqa: E402
from malloc_muzero import game, players, slot_bits, windows  # noqa: E402
from malloc_muzero.hardware import get_hardware  # noqa: E402


def numpy_play(gp: dict, num_slots: int, rng: np.random.Generator) -> float:
  """One random legal game by the same rules, in plain NumPy; its return.
  `gp` must track every instruction (`track_every_instruction`): this plain
  version reads every access and no precomputed linear savings."""
  capacity = gp["capacity_slots"]
  busy = np.full((len(capacity), num_slots), -1, np.int64)
  memory = np.zeros_like(gp["compute_s"])
  np.add.at(memory, gp["access_instruction"].ravel(), gp["access_seconds"][..., 0].ravel())
  total = 0.0
  slots = np.arange(num_slots)
  for turn in np.flatnonzero(gp["valid"]):
    size, start = gp["size_slots"][turn], gp["starts"][turn]
    legal = [True]
    for level in range(len(capacity)):
      blocked = np.concatenate([[0], np.cumsum(busy[level] >= start)])
      end = np.minimum(slots + size, num_slots)
      free = (blocked[end] - blocked[slots]) == 0
      legal.extend(free & (slots + size <= capacity[level]) &
                   (slots % gp["alignment_slots"][level] == 0))
    action = rng.choice(np.flatnonzero(legal))
    if action == 0:
      continue
    level, slot = 1 + (action - 1) // num_slots, (action - 1) % num_slots
    busy[level - 1, slot:slot + size] = gp["ends"][turn]
    instruction = gp["access_instruction"][turn]
    seconds = gp["access_seconds"][turn]
    extra = seconds[:, level] - seconds[:, 0]
    compute, before = gp["compute_s"][instruction], memory[instruction]
    total += (np.maximum(compute, before) - np.maximum(compute, before + extra)).sum()
    np.add.at(memory, instruction, extra)
  return total / float(gp["all_slow_s"])


def best_time(fn, repeats: int) -> float:
  """The best of `repeats` timings of the jitted `fn`, after compiling it."""
  jax.block_until_ready(fn())  # compile
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
  return best


def interleaved_best(fns: dict, repeats: int) -> dict:
  """{name: (best wall seconds, best process CPU seconds)} of each jitted
  `fns[name]()`, after compiling them all, timed round robin."""
  for fn in fns.values():
    jax.block_until_ready(fn())  # compile
  wall = {name: float("inf") for name in fns}
  cpu = dict(wall)
  for _ in range(repeats):
    for name, fn in fns.items():
      start, start_cpu = time.perf_counter(), time.process_time()
      jax.block_until_ready(fn())
      wall[name] = min(wall[name], time.perf_counter() - start)
      cpu[name] = min(cpu[name], time.process_time() - start_cpu)
  return {name: (wall[name], cpu[name]) for name in fns}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=4096)
  parser.add_argument("--slots", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--numpy-games", type=int, default=100)
  parser.add_argument("--timings", type=int, default=4,
                      help="candidate prefetch starts per window in the last row")
  parser.add_argument("--json", action="store_true")
  args = parser.parse_args()

  program = transformer_train_step(layers=4, d_model=128)
  captured = capture_jax(program.fn, *program.args, donate_argnums=program.donate_argnums)
  problem = module_to_problem(parse_hlo(captured.hlo_text), name="transformer")
  capacity = problem.peak_live_bytes()[0] // 4
  granularity = -(-capacity // args.slots)
  hardware = get_hardware("tpu-v4", capacity=granularity * args.slots)
  config = game.game_config([problem], granularity, args.slots, hardware)
  gp = game.make_game_problem(problem, hardware, config)
  # The same game tracking every instruction, as it must for a program whose
  # instructions could each be memory- or compute-bound.
  every_config = dataclasses.replace(config, max_tracked=None)
  every = game.make_game_problem(problem, hardware, every_config,
                                 track_every_instruction=True)
  n = problem.num_buffers
  keys = jax.random.split(jax.random.key(0), args.batch)

  play = jax.jit(jax.vmap(players.play, in_axes=(None, None, None, 0)),
                 static_argnums=(1, 2))
  state0 = jax.vmap(lambda _: game.init(gp, args.slots))(keys)

  def masks_only(states, problem=gp):
    """The scan of the episodes with only the legal offsets in it, at every
    timing (the first row's problem by default)."""
    def body(states, turn):
      words = jax.vmap(lambda s: game.legal_slots(
          problem, s.busy_until, s.reserved_from, turn))(states)
      count = slot_bits.popcount(words).sum()
      if problem.window_starts.shape[1] > 1:
        timed = jax.vmap(lambda s: game.timed_legal_slots(
            problem, s.busy_until, s.reserved_from, turn))(states)
        count = count + slot_bits.popcount(timed).sum()
      return states, count
    return jax.lax.scan(body, states, jnp.arange(problem.valid.shape[0]))[1]

  masks_jit = jax.jit(masks_only)
  # The same episodes with the accesses as padded lists (gather, scatter-add)
  # instead of the dense table `game.dense_accesses` picks for this problem.
  lists = every.replace(seconds_at=every.seconds_at[:, :0])
  rows = {
      "play": lambda: play(gp, args.slots, players.random_legal, keys),
      "masks": lambda: masks_jit(state0),
      "every": lambda: play(every, args.slots, players.random_legal, keys),
      "lists": lambda: play(lists, args.slots, players.random_legal, keys),
  }

  # The program cut into windows: asynchronous copies whose stalls the game
  # pays at the last decision.
  windowed = windows.split_into_windows(problem).problem
  window_n = windowed.num_buffers
  for timings in (1, args.timings):
    window_config = game.game_config([windowed], granularity, args.slots, hardware,
                                     num_timings=timings)
    window_gp = game.make_game_problem(windowed, hardware, window_config)
    final = play(window_gp, args.slots, players.random_legal, keys)[0]
    queues = jax.jit(jax.vmap(lambda a, t, p=window_gp: game._stall_s(p, a, t, args.slots)))
    start = jax.vmap(lambda _, p=window_gp: game.init(p, args.slots))(keys)
    rows[f"window {timings}"] = (
        lambda p=window_gp: play(p, args.slots, players.random_legal, keys))
    rows[f"queues {timings}"] = lambda q=queues, f=final: q(f.actions, f.timings)
    rows[f"masks {timings}"] = lambda s=start, p=window_gp: masks_jit(s, p)
  best = interleaved_best(rows, args.repeats)
  seconds = best["play"][0]
  placements_per_s = args.batch * n / seconds
  first_cpu_rate = n / best["play"][1]

  rng = np.random.default_rng(0)
  arrays = {k: np.asarray(v) for k, v in every.items()}  # plain: every instruction
  start = time.perf_counter()
  for _ in range(args.numpy_games):
    numpy_play(arrays, args.slots, rng)
  numpy_seconds = (time.perf_counter() - start) / args.numpy_games
  numpy_per_s = n / numpy_seconds

  print(f"random legal play: {n} buffers, {problem.num_instructions} instructions "
        f"({config.max_tracked} tracked), {args.slots} offsets x "
        f"{len(hardware.levels) - 1} fast level, batch {args.batch}, "
        f"{jax.device_count()} {jax.default_backend()} device(s), best of {args.repeats}")
  print()
  # The last column: a game's rate (per CPU second) over the first row's;
  # a part's share of its game's CPU seconds.
  print(f"{'what':<46} {'seconds':>9} {'placements/s':>14} {'CPU s':>7} "
        f"{'rate/first':>10}")

  def row(what, name, buffers, part_of=None):
    wall, cpu = best[name]
    last = (f"{buffers / cpu / first_cpu_rate:>10.2f}" if part_of is None else
            f"{cpu / best[part_of][1]:>10.0%}")
    print(f"{what:<46} {wall:>9.3f} {args.batch * buffers / wall:>14,.0f} {cpu:>7.3f} "
          f"{last}")

  timed = f"window {args.timings}"
  row("JAX: jit(vmap(play)), lax.scan episodes", "play", n)
  row("  of which legal masks alone (same scan)", "masks", n, "play")
  row("  tracking every instruction", "every", n)
  row("  the same with access lists, not the table", "lists", n)
  row(f"windows ({window_n}, {len(windowed.copy_buffer)} async copies)", "window 1", window_n)
  row("  of which copy queues (once per game)", "queues 1", window_n, "window 1")
  row("  of which legal masks alone (same scan)", "masks 1", window_n, "window 1")
  row(f"  choosing among {args.timings} prefetch starts", timed, window_n)
  row("    of which copy queues (once per game)", f"queues {args.timings}", window_n, timed)
  row(f"    of which legal masks at {args.timings} timings", f"masks {args.timings}",
      window_n, timed)
  print(f"{'NumPy: one game at a time (per game)':<46} {numpy_seconds:>9.3f} "
        f"{numpy_per_s:>14,.0f}")
  print(f"{'JAX / NumPy':<46} {'':>9} {placements_per_s / numpy_per_s:>13,.0f}x")
  if args.json:
    print(json.dumps({"placements_per_s": placements_per_s,
                      "window_placements_per_s": args.batch * window_n / best["window 1"][0],
                      "timed_placements_per_s": args.batch * window_n / best[timed][0],
                      "numpy_placements_per_s": numpy_per_s,
                      "window_queues_s": best["queues 1"][0],
                      "timed_masks_s": best[f"masks {args.timings}"][0],
                      "window_ratio": window_n / best["window 1"][1] / first_cpu_rate,
                      "timed_ratio": window_n / best[timed][1] / first_cpu_rate,
                      "batch": args.batch, "slots": args.slots, "buffers": n}))


if __name__ == "__main__":
  main()
