"""mallocMuZero's training runs beside XLA's heuristic, the best baseline and the bounds.

    python -m experiments.agent_table --runs='runs/*/*' --out=agent_results

Reads the work directories of `experiments.train` runs (each holds `run.json`,
`best_placement.json` and `metrics.jsonl`), recompiles each run's catalogue
program (`--programs` of the run; the problem's name) with the hardware and
capacity it was trained on, and places it with `xla-msa` and the
`--baselines` (`--time_limit` seconds each). It prints, per problem, the
simulated time over all-slow and the share of the slow-fast gap closed by
each, the agent's speed-up over `xla-msa`, the share of the gap between
`xla-msa` and the all-fast bound each closes, and when in its run the agent
first found its best placement. It writes the table as
Markdown (`agent_table.md`) and the learning curves (`learning_curves.png`:
the best placement's gap closed against training seconds, one panel per
problem, with `xla-msa` and the best baseline as lines) to `--out`.
"""

from __future__ import annotations

import glob
import os
import sys

from absl import app
from absl import flags
from absl import logging

from experiments.comparison import check_solver, timed_solve
from experiments.flag_parsing import one_line_flags
from experiments.problem_sources import program_problem
from malloc_muzero import ProblemError, get_hardware
from malloc_muzero.agent.run_files import read_run
from malloc_muzero.atomic_file import atomic_write_bytes
from malloc_muzero.simulator import gap_closed, simulation_bounds
from malloc_muzero.solvers import SolverOptions

_RUNS = flags.DEFINE_string("runs", None, "glob of experiments.train work directories")
_BASELINES = flags.DEFINE_list("baselines", ["best-fit", "anneal", "genetic", "exact"],
                               "baselines besides xla-msa")
_TIME_LIMIT = flags.DEFINE_float("time_limit", 30.0, "seconds per baseline")
_OUT = flags.DEFINE_string("out", "agent_results", "directory for the table and curves")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)

  try:
    if not _RUNS.value:
      raise ProblemError("--runs, a glob of experiments.train work directories",
                         "command line")
    workdirs = sorted(d for d in glob.glob(_RUNS.value) if os.path.isdir(d))
    if not workdirs:
      raise ProblemError("at least one run directory", _RUNS.value)
    for name in _BASELINES.value:
      check_solver(name)
    runs = [read_run(d) for d in workdirs]
  except (ProblemError, ValueError, KeyError) as error:
    print(f"agent_table: error: {error}", file=sys.stderr)
    sys.exit(2)

  os.makedirs(_OUT.value, exist_ok=True)
  groups: dict[tuple, list[dict]] = {}
  for run in runs:
    groups.setdefault((run["problem"], run["hardware"], run["capacity"], run["time_model"]),
                      []).append(run)
  lines = ["| problem | placement | time/slow | gap closed | vs xla-msa | "
           "xla-msa to all-fast gap closed |", "|---|---|---:|---:|---:|---:|"]
  panels = []
  options = SolverOptions(time_limit_s=_TIME_LIMIT.value)
  for (name, hardware_name, capacity, time_model), group in sorted(groups.items()):
    problem = program_problem(name)
    hardware = get_hardware(hardware_name, capacity=capacity, time_model=time_model)
    slow, fast = simulation_bounds(problem, hardware)
    msa = timed_solve("xla-msa", problem, hardware, options).time_s
    baselines = {b: timed_solve(b, problem, hardware, options).time_s
                 for b in _BASELINES.value}
    best_name = min(baselines, key=baselines.get)
    rows = [("all slow (bound)", slow), ("xla-msa", msa),
            (f"best baseline ({best_name}, {_TIME_LIMIT.value:g} s)", baselines[best_name]),
            *[(f"{r['label']} (best at {_seconds_to_best(r['curve']):.0f} s "
               f"of {r['curve'][-1]['seconds']:.0f} s)", r["time_s"]) for r in group],
            ("all fast (bound)", fast)]
    for label, t in rows:
      beyond = f"{(msa - t) / (msa - fast):.1%}" if msa > fast and t <= msa else ""
      lines.append(f"| {name} ({capacity:,} B) | {label} | {t / slow:.4f} | "
                   f"{gap_closed(t, slow, fast):.1%} | {msa / t:.4f}x | {beyond} |")
    panels.append((name, slow, fast, msa, baselines[best_name], best_name, group))
  table = "\n".join(lines)
  print(table)
  atomic_write_bytes(os.path.join(_OUT.value, "agent_table.md"), (table + "\n").encode())
  _plot_curves(os.path.join(_OUT.value, "learning_curves.png"), panels)
  print(f"wrote {_OUT.value}/agent_table.md and learning_curves.png")


def _seconds_to_best(curve: list[dict]) -> float:
  """Training seconds until the run's best placement was first found (a run
  stops at the first iteration boundary after its budget)."""
  best = curve[-1]["best_return"]
  return next(r["seconds"] for r in curve if r["best_return"] >= best)


def _plot_curves(path: str, panels) -> None:
  import io

  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  figure = Figure(figsize=(4.5 * len(panels), 3.6))
  FigureCanvasAgg(figure)
  for k, (name, slow, fast, msa, best, best_name, group) in enumerate(panels):
    axes = figure.add_subplot(1, len(panels), k + 1)
    for run in group:
      # A return is the share of all-slow time saved: time = slow * (1 - return).
      axes.plot([r["seconds"] for r in run["curve"]],
                [gap_closed(slow * (1 - r["best_return"]), slow, fast) for r in run["curve"]],
                label=run["label"])
    axes.axhline(gap_closed(msa, slow, fast), color="k", linestyle="--", label="xla-msa")
    axes.axhline(gap_closed(best, slow, fast), color="grey", linestyle=":",
                 label=f"best baseline ({best_name})")
    axes.set_title(name)
    axes.set_xlabel("training seconds")
    axes.set_ylabel("gap closed by the best placement")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110)
  atomic_write_bytes(path, buffer.getvalue())


if __name__ == "__main__":
  app.run(main, flags_parser=one_line_flags("agent_table"))
