"""The agent's set-up cost, with and without the persistent compilation cache.

    python scripts/bench_setup.py --benchmark benchmark \\
        [--problems resnet50_inference,decoder_lm_train] [--capacity-fraction 0.25]

For each problem (default: the smallest and the largest of the benchmark),
three fresh processes each place it as `experiments.report` does
(`place_with_agent`'s phases, with the default agent) and time the phases:
the start (`agent.reference.starting_game`: XLA's answers, on the host), the
trainer (`agent.build.make_trainer`: decoders, references, the network's
initialisation) and the first two iterations (the first compiles self-play
and the update). The processes differ in their compilation cache
(`malloc_muzero.compilation_cache`): off; on, in an empty directory ("cold");
on, in the directory the cold process filled ("warm"). The last column is the
set-up (start, trainer and first iteration) over the one with the cache off,
in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from experiments.benchmark import benchmark_entries  # noqa: E402
from experiments.comparison import hardware_at_fraction
from malloc_muzero import compilation_cache  # noqa: E402
from malloc_muzero.agent.build import make_trainer
from malloc_muzero.agent.presets import DEFAULT_AGENT, agent_config  # noqa: E402
from malloc_muzero.agent.reference import starting_game
from malloc_muzero.problem_io import load_problem  # noqa: E402

PHASES = ("start", "trainer", "iteration 1", "iteration 2")
MODES = ("off", "cold", "warm")


def child(problem_file: str, fraction: float) -> None:
  """Time the phases of one placement; print them as JSON."""
  compilation_cache.enable()

  problem = load_problem(problem_file)
  hardware = hardware_at_fraction(problem, "tpu-v4", fraction)
  config = agent_config(DEFAULT_AGENT)
  seconds = {}
  start = time.monotonic()
  game = starting_game(problem, hardware)
  seconds["start"] = time.monotonic() - start
  start = time.monotonic()
  _, trainer = make_trainer([game.problem], [hardware], config, 0, [game.placement],
                           [game.granularity])
  seconds["trainer"] = time.monotonic() - start
  for phase in PHASES[2:]:
    start = time.monotonic()
    trainer.run_iteration()
    seconds[phase] = time.monotonic() - start
  print(json.dumps(seconds))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--problems", default="", help="comma-separated names of the "
                      "manifest's problems (default: its smallest and largest)")
  parser.add_argument("--capacity-fraction", type=float, default=0.25)
  parser.add_argument("--child", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(args.child, args.capacity_fraction)
    return

  entries = benchmark_entries(args.benchmark)
  if args.problems:
    wanted = args.problems.split(",")
    entries = [e for e in entries if e.name in wanted]
  else:
    by_size = sorted(entries, key=lambda e: e.info["buffers"])
    entries = [by_size[0], by_size[-1]]

  rows = []
  for entry in entries:
    with tempfile.TemporaryDirectory() as cache:
      times = {}
      for mode in MODES:
        env = dict(os.environ, **{compilation_cache.ENV: "off" if mode == "off" else cache})
        print(f"bench_setup: {entry.name}, cache {mode}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--child", entry.path,
                               "--capacity-fraction", str(args.capacity_fraction)],
                              env=env, capture_output=True, text=True)
        if done.returncode:
          sys.exit(f"bench_setup: {entry.name} failed:\n{done.stderr[-2000:]}")
        times[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    setup = {mode: sum(times[mode][p] for p in PHASES[:3]) for mode in MODES}
    for mode in MODES:
      rows.append([entry.name, entry.info["buffers"], mode]
                  + [f"{times[mode][p]:.1f}" for p in PHASES]
                  + [f"{setup[mode] / setup['off']:.2f}"])
  header = ["problem", "buffers", "cache", *(f"{p}, s" for p in PHASES), "set-up / off"]
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  for row in rows:
    print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
  main()
