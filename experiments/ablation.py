"""What the pretrained network adds: an ablation on the held-out benchmark problems.

    python -m experiments.ablation --benchmark=benchmark --capacity_fraction=0.25 \\
        --time_limit=60 --out=docs/agent/ablation.md

For each problem of the benchmark's held-out split (`experiments.benchmark`,
never in any training set), with a fast memory of `--capacity_fraction` of its
peak live bytes (tpu-v4, XLA's time model), gives every contender the same
`--time_limit` seconds of wall time, set-up included (the searches share
their compiled functions, compiled before any of them is timed):

* search with the pretrained network (`agent.pretrained`, the `muzero`
  solver's default; or each exported network of `--networks`), from the
  game `agent.reference.starting_game` chooses;
* the same search over the same network untrained (its initial parameters):
  what training adds;
* the same search with no network (every parameter zero: a uniform prior
  and zero values; departures drawn by the reference's bonus and chance);
* `xla-msa`, `xla-msa-prefetch`, `anneal` and `genetic` (`--solvers`; each
  where it applies: `xla-msa-prefetch` needs instructions).

It prints, and writes to `--out`, the simulated time over all-slow, the share
of the slow-fast gap closed (the all-fast bound closes 100%), and for the two
searches whether a game beat the placement they start from (XLA's, on the
game's grid). The searches' figures are those of their own games: unlike the
`muzero` solver, they do not fall back on XLA's answers off the grid.
"""

from __future__ import annotations

import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

from experiments.benchmark import benchmark_entries
from experiments.comparison import hardware_at_fraction, timed_solve
from experiments.flag_parsing import one_line_flags
from malloc_muzero.agent import pretrained
from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.errors import ProblemError
from malloc_muzero.problem_io import load_problem
from malloc_muzero.simulator import gap_closed, simulate_placement, simulation_bounds
from malloc_muzero.solvers import SolverOptions

_BENCHMARK = flags.DEFINE_string("benchmark", "benchmark",
                                 "directory of experiments.make_benchmark")
_FRACTION = flags.DEFINE_float("capacity_fraction", 0.25,
                               "fast memory as a share of each problem's peak live bytes")
_TIME_LIMIT = flags.DEFINE_float("time_limit", 60.0, "seconds of wall time per contender")
_SEED = flags.DEFINE_integer("seed", 0, "seed of every contender")
_OUT = flags.DEFINE_string("out", None, "a Markdown file for the table (default: none)")
_NETWORKS = flags.DEFINE_list("networks", None, "directories of exported networks "
                              "(experiments.train --export; default: the pretrained one)")
_SOLVERS = flags.DEFINE_list("solvers", ["xla-msa", "xla-msa-prefetch", "anneal", "genetic"],
                             "solvers beside the searches")


def rows_of(entry, fraction: float, time_limit: float, seed: int,
            networks: list[str], solvers: list[str]) -> list[str]:
  """The table rows of one problem: a search with each exported network of
  `networks` (directories), then with the first one untrained and with none,
  then `solvers`."""
  problem = load_problem(entry.path)
  hardware = hardware_at_fraction(problem, "tpu-v4", fraction, "xla")
  slow, fast = simulation_bounds(problem, hardware)
  results = []
  searches = [(f"search, {_network_label(directory, len(networks))}", directory, "pretrained")
              for directory in networks]
  searches += [("search, untrained network", networks[0], "untrained"),
               ("search, no network", networks[0], "none")]
  # One untimed batch first: the searches share their compiled functions, so
  # whichever ran first would otherwise pay the compilation in its time.
  pretrained.play(problem, hardware, 0.0, seed, networks[0], network="none")
  for label, directory, network in searches:
    start = time.monotonic()
    game, placement = pretrained.play(problem, hardware, start + time_limit, seed,
                                      directory, network=network)
    time_s = simulate_placement(game.problem, hardware, placement.levels)
    beat = "yes" if time_s < game.time_s * (1 - 1e-9) else "no"
    results.append((label, time_s, time.monotonic() - start,
                    f"from {game.label}; a game beat it: {beat}"))
  for solver in solvers:
    try:
      solved = timed_solve(solver, problem, hardware,
                           SolverOptions(seed=seed, time_limit_s=time_limit))
    except ProblemError:  # e.g. xla-msa-prefetch on a problem without instructions
      continue
    results.append((solver, solved.time_s, solved.wall_s, ""))
  best = min(t for _, t, _, _ in results)
  rows = []
  for label, time_s, wall, note in results:
    ratio = f"{time_s / slow:.4f}"
    rows.append(f"| {entry.name} | {label} | {'**' + ratio + '**' if time_s == best else ratio}"
                f" | {gap_closed(time_s, slow, fast):.1%} | {wall:.0f} | {note} |")
  return rows


def _network_label(directory: str, count: int) -> str:
  """How a network's row reads: "pretrained network", or with several
  networks, "network NAME" (`agent.pretrained.network_name`)."""
  name = pretrained.network_name(directory)
  return "pretrained network" if count == 1 and name == "pretrained" else f"network {name}"


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)

  try:
    entries = [e for e in benchmark_entries(_BENCHMARK.value)
               if e.info.get("split") == "held_out"]
    if not entries:
      raise ProblemError("a benchmark with held-out problems", _BENCHMARK.value)
    networks = _NETWORKS.value or [pretrained.PRETRAINED]
    descriptions = [pretrained.load(directory)[0] for directory in networks]
  except ProblemError as error:
    print(f"ablation: error: {error}", file=sys.stderr)
    sys.exit(2)
  lines = ["| problem | placement | time/slow | gap closed | wall s | notes |",
           "|---|---|---:|---:|---:|---|"]
  for number, entry in enumerate(entries, 1):
    print(f"ablation: {number}/{len(entries)} {entry.name}", file=sys.stderr, flush=True)
    lines += rows_of(entry, _FRACTION.value, _TIME_LIMIT.value, _SEED.value, networks,
                     _SOLVERS.value)
  trained = "; ".join(f"{_network_label(d, len(networks))}: {description['games']} games of "
                      f"`{description['command']}`"
                      for d, description in zip(networks, descriptions))
  header = (f"Held-out problems of {_BENCHMARK.value}, fast memory {_FRACTION.value:.0%} of "
            f"peak (tpu-v4, XLA's time model), {_TIME_LIMIT.value:g} s each, seed "
            f"{_SEED.value}; {trained}.")
  text = header + "\n\n" + "\n".join(lines) + "\n"
  print(text)
  if _OUT.value:
    atomic_write_text(_OUT.value, text)


if __name__ == "__main__":
  app.run(main, flags_parser=one_line_flags("ablation"))
