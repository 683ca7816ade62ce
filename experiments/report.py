"""Regenerate RESULTS.md: every solver and the agent on every benchmark problem.

    python -m experiments.report --benchmark=benchmark --out=RESULTS.md \\
        --hardware=tpu-v4 --capacity_fraction=0.25 --time_limit=10 --train_seconds=60

Reads the `manifest.json` that `experiments.make_benchmark --out=DIR` writes,
and for every problem in it (or `--problems`), on every `--hardware` preset
with a first fast level of `--capacity_fraction` of the problem's peak live
bytes: runs every registered solver (or `--solvers`) with `--time_limit`
seconds, and trains mallocMuZero (the `--agent` preset of
`malloc_muzero.agent.presets`, `guided` by default, on problems of at most
`--agent_max_buffers` buffers) for `--train_seconds` (0: no agent; the
`muzero` solver then plays from that training run, and is skipped without
one). Every placement is checked with the independent checker. A solver that
cannot take a problem is recorded as skipped with its reason; `exact` reports
whether it proved its placement optimal in time.

Each result is cached in `DIR/results.jsonl` under (the problem's digest,
`manifest.problem_digest`, which a rebuild of an unchanged problem keeps,
solver, hardware, capacity fraction, time limit or training seconds, seed,
and the agent preset for the agent and `muzero`), so
a rerun computes only what is missing; `--force` recomputes. RESULTS.md (the
command, the hardware, a summary table, one table per problem) and its plots
(`results/*.png` beside it) are written atomically.

This module computes the results; `experiments.report_results` holds their
settings, keys and cache, `experiments.report_render` the page.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
import time

import jax
from absl import app
from absl import flags
from absl import logging

from experiments.comparison import hardware_at_fraction, timed_solve
from experiments.flag_parsing import one_line_flags
from experiments.manifest import Entry, benchmark_entries
from experiments.report_render import render
from experiments.report_results import AGENT, KEY_FIELDS, Cache, Settings, result_key
from malloc_muzero import check_placement, get_hardware, load_problem, simulation_bounds
from malloc_muzero.agent.presets import AGENTS, DEFAULT_AGENT, agent_config
from malloc_muzero.agent.run import place_with_agent
from malloc_muzero.errors import ProblemError
from malloc_muzero.progress import progress_bar
from malloc_muzero.simulator import simulate_placement
from malloc_muzero.solvers import SolverOptions, get_solver, solver_names
from malloc_muzero.solvers.exact import solve_exact

_BENCHMARK = flags.DEFINE_string("benchmark", "benchmark",
                                 "directory of experiments.make_benchmark (manifest.json)")
_OUT = flags.DEFINE_string("out", None, "the results page (default: RESULTS.md in the "
                           "--benchmark directory, never a committed page); plots go to "
                           "results/ beside it")
_HARDWARE = flags.DEFINE_list("hardware", ["tpu-v4"], "hardware presets")
_FRACTION = flags.DEFINE_float("capacity_fraction", 0.25,
                               "fast-memory capacity as a fraction of peak live bytes")
_SOLVERS = flags.DEFINE_list("solvers", None, "solvers (default: every registered one)")
_TIME_LIMIT = flags.DEFINE_float("time_limit", 10.0, "seconds per solver and problem")
_TRAIN = flags.DEFINE_float("train_seconds", 60.0,
                            "seconds of mallocMuZero training per problem (0: no agent)")
_SEED = flags.DEFINE_integer("seed", 0, "seed of the solvers and the agent")
_PROBLEMS = flags.DEFINE_list("problems", None, "comma-separated names of the manifest's "
                               "problems (default: all)")
_EXACT_MAX = flags.DEFINE_integer("exact_max_buffers", 2000,
                                  "skip `exact` on problems with more buffers")
_AGENT_MAX = flags.DEFINE_integer(
    "agent_max_buffers", 4000,
    "train the agent only on problems with at most this many buffers (its game "
    "takes a move per buffer, and the replay keeps a policy over every action "
    "of every move)")
_AGENT_PRESET = flags.DEFINE_enum("agent", DEFAULT_AGENT, list(AGENTS),
                                  "agent preset (malloc_muzero.agent.presets)")
_FORCE = flags.DEFINE_bool("force", False, "recompute cached results")
_TIME_MODEL = flags.DEFINE_enum("time_model", "xla", ["xla", "additive"],
                                "how placements are timed (malloc_muzero.simulator)")

def select(entries: list[Entry], names: list[str] | None) -> list[Entry]:
  """The entries named, in the manifest's order; ProblemError on an unknown name."""
  if not names:
    return entries
  known = {e.name for e in entries}
  for name in names:
    if name not in known:
      raise ProblemError(f"a problem of the manifest among {', '.join(sorted(known))}",
                         "command line", "--problems", name)
  return [e for e in entries if e.name in names]


def _agent_dir(benchmark: str, entry: Entry, hardware: str, settings: Settings) -> str:
  digest = hashlib.sha256(repr(result_key(entry, AGENT, hardware, settings)).encode())
  return os.path.join(benchmark, "agent_runs", f"{entry.name}.{hardware}."
                      f"{digest.hexdigest()[:10]}")


class _Skip(Exception):
  """A solver that does not apply; `cache` says whether that is for good."""

  def __init__(self, reason: str, cache: bool = True):
    super().__init__(reason)
    self.cache = cache


def _solve(solver: str, problem, hardware, settings: Settings, workdir: str):
  """(simulated seconds, wall seconds, detail) of one solver or the agent.

  Raises:
    _Skip: the solver does not apply to the problem.
  """
  start = time.monotonic()
  if solver == AGENT:
    if problem.num_buffers > settings.agent_max_buffers:
      raise _Skip(f"{problem.num_buffers} buffers > --agent_max_buffers="
                  f"{settings.agent_max_buffers}")
    shutil.rmtree(workdir, ignore_errors=True)  # Train afresh, never resume.
    summary = place_with_agent(problem, hardware, workdir, settings.train_seconds,
                               settings.seed, agent_config(settings.agent), progress=False)
    detail = (f"{summary['games']} games from {summary['game'].label}; "
              + ("a game beat it" if summary["game_beat_start"] else "no game beat it")
              + (f"; answer: {summary['taken']}'s placement" if summary["taken"] else
                 "; answer: xla-msa on the game's problem, off its grid"
                 if summary.get("from_reference") else ""))
    return summary["time_s"], time.monotonic() - start, detail
  elif solver == "exact":
    if problem.num_buffers > settings.exact_max_buffers:
      raise _Skip(f"{problem.num_buffers} buffers > --exact_max_buffers="
                  f"{settings.exact_max_buffers}")
    result = solve_exact(problem, hardware, settings.time_limit_s, settings.seed)
    placement = result.placement
    detail = ("proved optimal" if result.optimal else
              f"{result.status} at the time limit, within {result.gap:.1%} of its bound")
  else:
    if solver == "muzero" and not os.path.isdir(workdir):
      raise _Skip("needs the agent's training run (--train_seconds > 0)", cache=False)
    options = SolverOptions(seed=settings.seed, time_limit_s=settings.time_limit_s,
                            checkpoint=workdir if solver == "muzero" else None)
    try:
      solved = timed_solve(solver, problem, hardware, options)
    except ProblemError as error:
      raise _Skip(str(error)) from None
    return solved.time_s, solved.wall_s, ""
  wall = time.monotonic() - start
  conflict = check_placement(problem, hardware, placement)
  if conflict is not None:
    raise RuntimeError(f"{solver} returned an invalid placement: {conflict}")
  return simulate_placement(problem, hardware, placement.levels), wall, detail


def _compute(entry: Entry, problem, solver: str, hardware_name: str,
             settings: Settings, benchmark: str, bounds: tuple[float, float]) -> dict:
  """One result record (status ok, skipped or failed)."""
  hardware = hardware_at_fraction(problem, hardware_name, settings.fraction, settings.time_model)
  record = dict(zip(KEY_FIELDS, result_key(entry, solver, hardware_name, settings)))
  record.update(problem=entry.name, buffers=problem.num_buffers,
                capacity=hardware.levels[1].capacity, slow_s=bounds[0], fast_s=bounds[1],
                status="ok", detail="", time_s=None, wall_s=None, cache=True)
  workdir = _agent_dir(benchmark, entry, hardware_name, settings)
  try:
    time_s, wall, detail = _solve(solver, problem, hardware, settings, workdir)
    record.update(time_s=time_s, wall_s=wall, detail=detail)
  except _Skip as skip:
    record.update(status="skipped", detail=str(skip), cache=skip.cache)
  except Exception as error:  # A bug in one solver must not lose the others' hours.
    logging.error("%s on %s failed: %r", solver, entry.name, error)
    record.update(status="failed", detail=f"{type(error).__name__}: {error}", cache=False)
  return record


def run(entries: list[Entry], settings: Settings, benchmark: str, cache: Cache,
        force: bool = False, progress: bool = True) -> tuple[list[dict], int]:
  """Every (problem, hardware, solver) result, from the cache or computed.

  Returns:
    (records in problem, hardware, solver order; how many were computed).

  Raises:
    ProblemError: a problem file that cannot be read.
  """
  solvers = ([AGENT] if settings.train_seconds > 0 else []) + list(settings.solvers)
  tasks = [(e, h, s) for e in entries for h in settings.hardware for s in solvers]
  todo = [t for t in tasks if force or cache.get(result_key(t[0], t[2], t[1], settings)) is None]
  print(f"report: {len(tasks) - len(todo)} results cached, {len(todo)} to compute",
        file=sys.stderr)
  problems, bounds, fresh = {}, {}, {}
  with progress_bar(len(todo), "report", "solves", enabled=progress) as bar:
    for entry, hardware, solver in todo:
      bar.set_postfix_str(f"{entry.name}: {solver}")
      bar.refresh()
      if entry.name not in problems:
        # Each problem compiles its own shapes: drop the previous problems'
        # executables, which would otherwise pile up over a long report (a
        # run of 14 large problems ran out of memory in LLVM's compiler).
        jax.clear_caches()
        problems = {entry.name: load_problem(entry.path)}
      problem = problems[entry.name]
      if (entry.name, hardware) not in bounds:
        bounds[entry.name, hardware] = simulation_bounds(
            problem,
            hardware_at_fraction(problem, hardware, settings.fraction, settings.time_model))
      record = _compute(entry, problem, solver, hardware, settings, benchmark,
                        bounds[entry.name, hardware])
      if record.pop("cache"):
        cache.put(record)
      fresh[Cache.key(record)] = record
      bar.update()
  records = []
  for entry, hardware, solver in tasks:
    key = result_key(entry, solver, hardware, settings)
    records.append(dict(fresh.get(key) or cache.get(key), problem=entry.name))
  return records, len(todo)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)

  try:
    entries = select(benchmark_entries(_BENCHMARK.value), _PROBLEMS.value)
    cache = Cache(_BENCHMARK.value)  # A corrupt cache fails before any work.
    if not 0 < _FRACTION.value <= 1:
      raise ProblemError("a fraction in (0, 1]", "command line", "--capacity_fraction",
                         _FRACTION.value)
    hardware = tuple(dict.fromkeys(get_hardware(name).name for name in _HARDWARE.value))
    solvers = _SOLVERS.value or solver_names()
    for name in solvers:
      get_solver(name)
    settings = Settings(hardware, _FRACTION.value, tuple(solvers), _TIME_LIMIT.value,
                        _TRAIN.value, _SEED.value, _EXACT_MAX.value, _AGENT_PRESET.value,
                        _AGENT_MAX.value, _TIME_MODEL.value)
    records, computed = run(entries, settings, _BENCHMARK.value, cache, _FORCE.value,
                            progress=sys.stderr.isatty())
  except ProblemError as error:
    print(f"report: error: {error}", file=sys.stderr)
    sys.exit(2)
  command = "python -m experiments.report " + " ".join(map(shlex.quote, sys.argv[1:]))
  out = _OUT.value or os.path.join(_BENCHMARK.value, "RESULTS.md")
  render(entries, records, settings, command.strip(), out)
  print(f"report: computed {computed}, wrote {out} and its plots")


if __name__ == "__main__":
  app.run(main, flags_parser=one_line_flags("report"))
