"""The report's page: RESULTS.md, its tables and its plots, from result records."""

from __future__ import annotations

import datetime
import math
import os

from experiments.comparison import grouped_bars
from experiments.manifest import Entry
from experiments.report_results import AGENT, Settings
from malloc_muzero import get_hardware
from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.formatting import format_bytes
from malloc_muzero.simulator import gap_closed


def _ratio(record: dict) -> float | None:
  return None if record["time_s"] is None else record["time_s"] / record["slow_s"]


def _gap(record: dict) -> float | None:
  if record["time_s"] is None:
    return None
  return gap_closed(record["time_s"], record["slow_s"], record["fast_s"])


def _cell(value: float | None, fmt: str) -> str:
  return "-" if value is None else format(value, fmt)


def _percent(share: float | None) -> str:
  return "-" if share is None else f"{100 * share:.1f}%"


def describe_hardware(name: str, time_model: str = "xla") -> str:
  """A markdown line per memory level and the compute of a preset."""
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
