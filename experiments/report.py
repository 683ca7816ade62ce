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

Each result is cached in `DIR/results.jsonl` under (problem fingerprint,
solver, hardware, capacity fraction, time limit or training seconds, seed,
and the agent preset for the agent and `muzero`), so
a rerun computes only what is missing; `--force` recomputes. RESULTS.md (the
command, the hardware, a summary table, one table per problem) and its plots
(`results/*.png` beside it) are written atomically.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import math
import os
import shlex
import shutil
import sys
import time

from absl import app
from absl import flags
from absl import logging

from malloc_muzero.agent.presets import AGENTS, DEFAULT_AGENT

from experiments.manifest import Entry, benchmark_entries

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

RESULTS = "results.jsonl"
AGENT = "mallocMuZero"  # The agent's name in the results, beside the solvers'.
# Records from before the time model was a setting have no "time_model": they
# were timed on the additive model, and match no key of today's settings.
_KEY = ("fingerprint", "solver", "hardware", "capacity_fraction", "budget_s", "seed",
        "agent", "time_model")


@dataclasses.dataclass(frozen=True)
class Settings:
  """What a report is computed with (plain values from the flags)."""
  hardware: tuple[str, ...]
  fraction: float
  solvers: tuple[str, ...]
  time_limit_s: float
  train_seconds: float
  seed: int
  exact_max_buffers: int = 2000
  agent: str = "guided"
  agent_max_buffers: int = 4000
  time_model: str = "xla"


def select(entries: list[Entry], names: list[str] | None) -> list[Entry]:
  """The entries named, in the manifest's order; ProblemError on an unknown name."""
  from malloc_muzero.errors import ProblemError

  if not names:
    return entries
  known = {e.name for e in entries}
  for name in names:
    if name not in known:
      raise ProblemError(f"a problem of the manifest among {', '.join(sorted(known))}",
                         "command line", "--problems", name)
  return [e for e in entries if e.name in names]


class Cache:
  """Results by key in `benchmark/results.jsonl`, rewritten atomically."""

  def __init__(self, benchmark: str):
    from malloc_muzero.errors import ProblemError

    self.path = os.path.join(benchmark, RESULTS)
    self.records: dict[tuple, dict] = {}
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      for number, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          record = json.loads(line)
          self.records[self.key(record)] = record
        except (json.JSONDecodeError, TypeError, KeyError):
          raise ProblemError("a JSON result record (delete the line to recompute it)",
                             self.path, f"line {number}", line.strip()) from None

  @staticmethod
  def key(record: dict) -> tuple:
    return tuple(record.get(k, "") for k in _KEY)

  def get(self, key: tuple) -> dict | None:
    return self.records.get(key)

  def put(self, record: dict) -> None:
    from malloc_muzero.atomic_file import atomic_write_text

    self.records[self.key(record)] = record
    atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n"
                                         for r in self.records.values()))


def _budget(solver: str, settings: Settings) -> float:
  """The seconds a result's key records: training for the agent and the
  solver playing from its run, the time limit for the others."""
  return settings.train_seconds if solver in (AGENT, "muzero") else settings.time_limit_s


# What the agent plays, beside its preset: since the agent starts from the
# faster of XLA's answers (`agent.reference.starting_game`), its records say
# so, and older ones (whole buffers always) are recomputed.
_AGENT_GAME = "starting_game"


@functools.cache
def _agent_identity(preset: str) -> str:
  """The preset's name and a digest of its configuration, so that a record
  made by another version of the preset is recomputed."""
  from malloc_muzero.agent.presets import agent_config
  fields = json.dumps(dataclasses.asdict(agent_config(preset)), sort_keys=True)
  return f"{preset}@{_AGENT_GAME}#{hashlib.sha256(fields.encode()).hexdigest()[:10]}"


def _key(entry: Entry, solver: str, hardware: str, settings: Settings) -> tuple:
  # The agent preset matters to the agent and to `muzero`, which plays from its run.
  agent = _agent_identity(settings.agent) if solver in (AGENT, "muzero") else ""
  return (entry.fingerprint, solver, hardware, settings.fraction,
          _budget(solver, settings), settings.seed, agent, settings.time_model)


def _agent_dir(benchmark: str, entry: Entry, hardware: str, settings: Settings) -> str:
  digest = hashlib.sha256(repr(_key(entry, AGENT, hardware, settings)).encode())
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
  from experiments.comparison import timed_solve
  from malloc_muzero import ProblemError, check_placement, simulate_placement
  from malloc_muzero.solvers import SolverOptions

  start = time.monotonic()
  if solver == AGENT:
    if problem.num_buffers > settings.agent_max_buffers:
      raise _Skip(f"{problem.num_buffers} buffers > --agent_max_buffers="
                  f"{settings.agent_max_buffers}")
    from malloc_muzero.agent.presets import agent_config
    from malloc_muzero.agent.run import place_with_agent
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
    from malloc_muzero.solvers.exact import solve_exact
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
  from experiments.comparison import hardware_at_fraction

  hardware = hardware_at_fraction(problem, hardware_name, settings.fraction, settings.time_model)
  record = dict(zip(_KEY, _key(entry, solver, hardware_name, settings)))
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
  import jax

  from experiments.comparison import hardware_at_fraction
  from malloc_muzero import load_problem, simulation_bounds
  from malloc_muzero.progress import progress_bar

  solvers = ([AGENT] if settings.train_seconds > 0 else []) + list(settings.solvers)
  tasks = [(e, h, s) for e in entries for h in settings.hardware for s in solvers]
  todo = [t for t in tasks if force or cache.get(_key(t[0], t[2], t[1], settings)) is None]
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
    key = _key(entry, solver, hardware, settings)
    records.append(dict(fresh.get(key) or cache.get(key), problem=entry.name))
  return records, len(todo)


def _ratio(record: dict) -> float | None:
  return None if record["time_s"] is None else record["time_s"] / record["slow_s"]


def _gap(record: dict) -> float | None:
  from malloc_muzero.simulator import gap_closed

  if record["time_s"] is None:
    return None
  return gap_closed(record["time_s"], record["slow_s"], record["fast_s"])


def _cell(value: float | None, fmt: str) -> str:
  return "-" if value is None else format(value, fmt)


def _percent(share: float | None) -> str:
  return "-" if share is None else f"{100 * share:.1f}%"


def describe_hardware(name: str, time_model: str = "xla") -> str:
  """A markdown line per memory level and the compute of a preset."""
  from malloc_muzero import get_hardware
  from malloc_muzero.formatting import format_bytes

  hardware = get_hardware(name)
  copies = (f"asynchronous copies on {hardware.levels[0].name}'s idle bandwidth"
            if time_model == "xla" else
            f"copies at {hardware.copy_bandwidth / 1e9:g} GB/s")
  lines = [f"- **{hardware.name}**: peak {hardware.peak_flops / 1e12:g} TFLOP/s, "
           f"{hardware.peak_transcendentals / 1e12:.3g} T transcendentals/s, {copies}"]
  for index, level in enumerate(hardware.levels):
    capacity = ("holds everything (default memory)" if level.capacity is None else
                f"preset capacity {format_bytes(level.capacity)}")
    lines.append(f"  - level {index}, {level.name}: {level.bandwidth / 1e9:g} GB/s, "
                 f"{level.alignment} B alignment, {capacity}")
  return "\n".join(lines)


def _summary(records: list[dict], solvers: list[str]) -> list[str]:
  by_problem: dict[str, list[dict]] = {}
  for r in records:
    by_problem.setdefault(r["problem"], []).append(r)
  best = {p: min((r["time_s"] for r in rs if r["time_s"] is not None), default=None)
          for p, rs in by_problem.items()}
  lines = ["| placement | problems placed | geo-mean time/slow | mean gap closed | "
           "best on | wall s (total) | skipped or failed |",
           "|---|---:|---:|---:|---:|---:|---:|"]
  for solver in solvers:
    rows = [r for r in records if r["solver"] == solver]
    ok = [r for r in rows if r["time_s"] is not None]
    geo = math.exp(sum(math.log(_ratio(r)) for r in ok) / len(ok)) if ok else None
    gap = sum(_gap(r) for r in ok) / len(ok) if ok else None
    wins = sum(r["time_s"] <= best[r["problem"]] * (1 + 1e-9) for r in ok)
    lines.append(f"| {solver} | {len(ok)} | {_cell(geo, '.3f')} | "
                 f"{_percent(gap)} | {wins} | "
                 f"{sum(r['wall_s'] for r in ok):.1f} | {len(rows) - len(ok)} |")
  fast = {r["problem"]: r["fast_s"] / r["slow_s"] for r in records}
  if fast:
    geo = math.exp(sum(math.log(v) for v in fast.values()) / len(fast))
    lines.append(f"| all fast (bound) | {len(fast)} | {geo:.3f} | 100.0% | | | |")
  return lines


# XLA's heuristic, whole buffers and as its source runs it: what every
# placement is measured against problem by problem.
_REFERENCES = ("xla-msa", "xla-msa-prefetch")


def _versus(records: list[dict], solvers: list[str]) -> list[str]:
  """On how many problems each placement is strictly faster, and slower,
  than each of `_REFERENCES` that ran (problems where both have a time)."""
  time = {(r["problem"], r["solver"]): r["time_s"] for r in records
          if r["time_s"] is not None}
  references = [name for name in _REFERENCES if any(k[1] == name for k in time)]
  if not references:
    return []
  lines = ["| placement | " + " | ".join(f"faster / slower than {name}"
                                         for name in references) + " |",
           "|---|" + "---:|" * len(references)]
  for solver in solvers:
    cells = []
    for reference in references:
      pairs = [(t, time[p, reference]) for (p, s), t in time.items()
               if s == solver and (p, reference) in time]
      faster = sum(t < ref * (1 - 1e-9) for t, ref in pairs)
      slower = sum(t > ref * (1 + 1e-9) for t, ref in pairs)
      cells.append(f"{faster} / {slower} of {len(pairs)}")
    lines.append(f"| {solver} | " + " | ".join(cells) + " |")
  return lines


def _problem_table(entry: Entry, records: list[dict]) -> list[str]:
  from malloc_muzero.formatting import format_bytes

  first = records[0]
  info = ", ".join([str(entry.info[k]) for k in ("workload", "variant", "source")
                    if entry.info.get(k)] +
                   (["in the held-out split"] if entry.info.get("split") == "held_out"
                    else []))
  lines = [f"#### {entry.name}", "",
           f"{info + '; ' if info else ''}{first['buffers']:,} buffers; fast memory "
           f"{format_bytes(first['capacity'])}; all slow {first['slow_s'] * 1e6:.4g} us, "
           f"all fast {first['fast_s'] * 1e6:.4g} us.", "",
           "| placement | time/slow | gap closed | wall s | notes |",
           "|---|---:|---:|---:|---|",
           "| all slow (bound) | 1.000 | 0.0% | | |"]
  best = min((r["time_s"] for r in records if r["time_s"] is not None), default=None)
  for r in records:
    ratio, gap = _ratio(r), _gap(r)
    mark = "**" if r["time_s"] is not None and r["time_s"] <= best * (1 + 1e-9) else ""
    notes = r["detail"] if r["status"] == "ok" else f"{r['status']}: {r['detail']}"
    lines.append(f"| {r['solver']} | {mark}{_cell(ratio, '.3f')}{mark} | "
                 f"{_percent(gap)} | "
                 f"{_cell(r['wall_s'], '.2f')} | {notes.replace('|', '/')} |")
  lines.append(f"| all fast (bound) | {first['fast_s'] / first['slow_s']:.3f} | 100.0% | | |")
  return lines + [""]


def _plots(records: list[dict], problems: list[str], solvers: list[str], hardware: str,
           directory: str) -> list[str]:
  """Writes the hardware's plots to `directory`; their file names."""
  from experiments.comparison import grouped_bars

  ok = [r for r in records if r["time_s"] is not None]
  bound = {r["problem"]: r["fast_s"] / r["slow_s"] for r in records}
  names = [f"time_over_slow.{hardware}.png", f"gap_closed.{hardware}.png"]
  grouped_bars(os.path.join(directory, names[0]), problems, solvers,
               {(r["problem"], r["solver"]): _ratio(r) for r in ok},
               "simulated time / all slow", ylim=(0, 1.05), marks=bound,
               mark_label="all fast (bound)")
  grouped_bars(os.path.join(directory, names[1]), problems, solvers,
               {(r["problem"], r["solver"]): 100 * _gap(r) for r in ok},
               "slow-to-fast gap closed (%)", ylim=(0, 100))
  return names


def render(entries: list[Entry], records: list[dict], settings: Settings, command: str,
           out: str) -> None:
  """Writes RESULTS.md at `out` and its plots to `results/` beside it."""
  from malloc_muzero.atomic_file import atomic_write_text

  directory = os.path.join(os.path.dirname(os.path.abspath(out)), "results")
  os.makedirs(directory, exist_ok=True)
  solvers = list(dict.fromkeys(r["solver"] for r in records))
  problems = [e.name for e in entries]
  agent = (f"mallocMuZero (`{AGENT}`, the `{settings.agent}` preset of "
           f"`malloc_muzero.agent.presets`) trained for {settings.train_seconds:g} s per problem "
           f"and hardware; the `muzero` solver plays from that run"
           if settings.train_seconds > 0 else "no agent (--train_seconds=0)")
  lines = ["# Results", "",
           "Simulated time of each solver's placement and of the agent's, normalised to "
           "the time with every buffer in slow memory (lower is better; the all-fast "
           "bound, every buffer in the fastest memory with unlimited capacity, is the "
           "best any placement can do), the share of the slow-to-fast gap it closes, and "
           "its wall time. Every placement was checked by the independent checker "
           "(`malloc_muzero.check_placement`).", "",
           "Made by:", "", "```sh", command, "```", "",
           f"on {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores.", "",
           "## Setup", "",
           f"- Problems: {len(entries)} of the benchmark.",
           f"- Fast memory: level 1 of each preset holds "
           f"{settings.fraction:.0%} of each problem's peak live bytes (its preset "
           f"capacity replaced).",
           f"- Solvers: {', '.join(settings.solvers)}; {settings.time_limit_s:g} s each "
           f"per problem, seed {settings.seed}.",
           f"- Agent: {agent}.",
           f"- Time model: {settings.time_model}"
           + (" (XLA's RuntimeSimulator: compute the larger of flops and transcendentals, "
              "memory per level, loop bodies by their trip count, asynchronous copies "
              "on the default memory's idle bandwidth; `malloc_muzero.simulator`)."
              if settings.time_model == "xla" else
              " (compute and memory summed, loop bodies once, copies charged to the "
              "instructions they overlap; the model of results before XLA's)."), "",
           "Hardware presets (`malloc_muzero.hardware`):", ""]
  lines += [describe_hardware(h, settings.time_model) for h in settings.hardware] + [""]
  for hardware in settings.hardware:
    mine = [r for r in records if r["hardware"] == hardware]
    plots = _plots(mine, problems, solvers, hardware, directory)
    lines += [f"## {hardware}", "", "### Summary", "", *_summary(mine, solvers), "",
              *_versus(mine, solvers), "",
              *(f"![{name}](results/{name})" for name in plots), "",
              "### Per problem", ""]
    for entry in entries:
      lines += _problem_table(entry, [r for r in mine if r["problem"] == entry.name])
  atomic_write_text(out, "\n".join(lines).rstrip() + "\n")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  from malloc_muzero.errors import ProblemError

  try:
    entries = select(benchmark_entries(_BENCHMARK.value), _PROBLEMS.value)
    cache = Cache(_BENCHMARK.value)  # A corrupt cache fails before any work.
    if not 0 < _FRACTION.value <= 1:
      raise ProblemError("a fraction in (0, 1]", "command line", "--capacity_fraction",
                         _FRACTION.value)
    from malloc_muzero import get_hardware
    from malloc_muzero.solvers import get_solver, solver_names
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
  app.run(main)
