"""Evaluate solvers on a set of problems: a table, a CSV and a bar plot.

    python -m experiments.evaluate --programs=transformer_train_step,conv_net \\
        --solvers=random,first-fit,best-fit,xla-msa --hardware=tpu-v4 \\
        --capacity_fraction=0.25 --out=results/

Problems come from `--problem_files` (problem JSON, MiniMalloc CSV or HLO
text files, comma-separated, each a path or a glob; formerly `--problems`,
which still works) and/or `--programs` (names of `experiments.programs`, compiled
on this machine and extracted with hlo_tools). The first fast level's capacity
is `--capacity_fraction` of each problem's peak live bytes (or, with
`--capacity_fraction=0`, a MiniMalloc file's own capacity).

A solver name with the suffix `+windows` (`xla-msa+windows`) places the
problem's windows: each buffer split around its uses, with prefetches and
evictions (`malloc_muzero.windows`).

For each problem and solver it reports the simulated time normalised to
all-slow (1 = nothing gained; the all-fast bound is the best possible), the
share of the slow-fast gap closed, and the solve seconds; it writes
`evaluation.csv` and `evaluation.png` to `--out`.

With `--xla_assignment` (the default), a row `xla-assignment` gives what XLA
did, where its buffer-assignment report is available: for `--programs`, dumped
on the fly; for an HLO file or a problem JSON, the report XLA dumped beside
its HLO file. The row's placement is XLA's temporary allocation as the first
fast level, at XLA's size (its `capacity`, not the solvers'), alignment 1, on
the same preset's bandwidths; buffers XLA put in its parameter, constant and
output allocations are in slow memory (`hlo_tools.xla_assignment`). It is
checked by the same checker (an invalid one gives a warning instead of a
row) and timed by the same simulator; it has no solve time. So it measures
how much of the gap XLA's own layout would close if its temporary allocation
were the fast memory, not what XLA's runtime does on this machine.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import sys

from absl import app
from absl import flags
from absl import logging

from experiments.comparison import check_solver, grouped_bars, hardware_at_fraction, timed_solve
from experiments.problem_sources import load_problems
from hlo_tools import HloParseError
from hlo_tools.xla_assignment import xla_hardware
from malloc_muzero import ProblemError
from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.placement import check_placement
from malloc_muzero.progress import progress_bar
from malloc_muzero.simulator import gap_closed, simulate_placement, simulation_bounds
from malloc_muzero.solvers import SolverOptions

# Deprecated spellings of the flags (old -> new): they still work, with a line
# saying the new name. (`--problems` names a benchmark manifest's problems in
# the commands that read a manifest.)
RENAMES = {"--problems": "--problem_files"}

_PROBLEMS = flags.DEFINE_string("problem_files", "", "problem files, comma-separated, "
                                "each a path or a glob; formerly --problems")
_PROGRAMS = flags.DEFINE_list("programs", [], "names of experiments.programs")
_SOLVERS = flags.DEFINE_list("solvers", ["random", "first-fit", "best-fit", "xla-msa"],
                             "solvers to evaluate")
_HARDWARE = flags.DEFINE_string("hardware", "tpu-v4", "hardware preset")
_TIME_MODEL = flags.DEFINE_enum("time_model", "xla", ["xla", "additive"],
                                "how placements are timed (malloc_muzero.simulator)")
_FRACTION = flags.DEFINE_float("capacity_fraction", 0.25,
                               "fast-memory capacity as a fraction of peak live "
                               "bytes (0: a MiniMalloc file's own capacity)")
_SEED = flags.DEFINE_integer("seed", 0, "solver seed")
_TIME_LIMIT = flags.DEFINE_float("time_limit", None, "seconds per solve")
_OUT = flags.DEFINE_string("out", "evaluation", "directory for the CSV and plot")
_XLA = flags.DEFINE_boolean("xla_assignment", True, "add a row xla-assignment for XLA's "
                            "own assignment (its temporary allocation as the fast memory, "
                            "at its size) where a buffer-assignment report is available: "
                            "--programs dump it on the fly")
XLA_ROW = "xla-assignment"


@dataclasses.dataclass(frozen=True)
class Row:
  problem: str
  solver: str
  buffers: int
  capacity: int
  time_over_slow: float
  fast_over_slow: float
  gap_closed: float
  solve_s: float


def evaluate(problems, solvers: list[str], hardware_name: str, fraction: float,
             seed: int = 0, time_limit_s: float | None = None,
             progress: bool = True, time_model: str | None = None,
             xla: dict | None = None) -> list[Row]:
  """Solve every problem with every solver; one `Row` each (`time_model`:
  None for the preset's, XLA's). `xla`: problem name -> XLA's own assignment
  (`hlo_tools.xla_assignment.XlaPlacement`), a row `XLA_ROW` after the
  solvers' where valid (see the module docstring)."""
  for name in solvers:
    check_solver(name)  # Unknown names fail before any work.
  rows = []
  with progress_bar(len(problems) * len(solvers), "evaluate", "solves",
                    enabled=progress) as bar:
    for name, problem in problems:
      hardware = hardware_at_fraction(problem, hardware_name, fraction, time_model)
      slow, fast = simulation_bounds(problem, hardware)
      for solver in solvers:
        bar.set_postfix_str(f"{name}: {solver}")
        bar.refresh()
        solved = timed_solve(solver, problem, hardware,
                             SolverOptions(seed=seed, time_limit_s=time_limit_s))
        rows.append(Row(name, solver, problem.num_buffers,
                        hardware.levels[1].capacity, solved.time_s / slow, fast / slow,
                        gap_closed(solved.time_s, slow, fast), solved.wall_s))
        bar.update()
      if xla and name in xla:
        rows += _xla_row(name, problem, hardware, xla[name], slow, fast)
  return rows


def _xla_row(name: str, problem, hardware, xla, slow: float, fast: float) -> list[Row]:
  """XLA's own assignment of `problem` as a row (none, with a warning, if the
  checker refuses it), on `hardware`'s bandwidths with XLA's temporary
  allocation as its first fast level."""
  hardware = xla_hardware(hardware, xla.temp_bytes)
  conflict = check_placement(problem, hardware, xla.placement)
  if conflict is not None:
    logging.warning("%s: XLA's assignment is not valid by the checker, no row: %s",
                    name, conflict)
    return []
  time_s = simulate_placement(problem, hardware, xla.placement.levels)
  return [Row(name, XLA_ROW, problem.num_buffers, hardware.levels[1].capacity,
              time_s / slow, fast / slow, gap_closed(time_s, slow, fast), math.nan)]


def format_table(rows: list[Row]) -> str:
  lines = [f"{'problem':<24} {'solver':<16} {'buffers':>7} {'capacity':>11} "
           f"{'time/slow':>9} {'fast/slow':>9} {'gap closed':>10} {'solve s':>8}"]
  for r in rows:
    lines.append(f"{r.problem:<24} {r.solver:<16} {r.buffers:>7} {r.capacity:>11,} "
                 f"{r.time_over_slow:>9.3f} {r.fast_over_slow:>9.3f} "
                 f"{r.gap_closed:>10.1%} "
                 + (f"{r.solve_s:>8.2f}" if math.isfinite(r.solve_s) else f"{'-':>8}"))
  return "\n".join(lines)


def format_pivot(rows: list[Row]) -> str:
  """A markdown table of the share of the gap closed: a row per problem, a
  column per solver, and their means."""
  problems = list(dict.fromkeys(r.problem for r in rows))
  solvers = list(dict.fromkeys(r.solver for r in rows))
  closed = {(r.problem, r.solver): r.gap_closed for r in rows}
  lines = ["| problem | " + " | ".join(solvers) + " |",
           "|---|" + "---:|" * len(solvers)]
  for problem in problems:
    lines.append(f"| {problem} | " + " | ".join(
        f"{closed[problem, s]:.1%}" if (problem, s) in closed else "" for s in solvers)
        + " |")
  means = [[closed[p, s] for p in problems if (p, s) in closed] for s in solvers]
  lines.append("| mean | " + " | ".join(f"{sum(m) / len(m):.1%}" if m else ""
                                        for m in means) + " |")
  return "\n".join(lines)


def write_csv(rows: list[Row], path: str) -> None:
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow([f.name for f in dataclasses.fields(Row)])
  for r in rows:
    writer.writerow(dataclasses.astuple(r))
  atomic_write_text(path, text.getvalue())


def plot(rows: list[Row], path: str) -> None:
  """Grouped bars: the share of the gap each solver closes, per problem."""
  grouped_bars(path, list(dict.fromkeys(r.problem for r in rows)),
               list(dict.fromkeys(r.solver for r in rows)),
               {(r.problem, r.solver): 100 * r.gap_closed for r in rows},
               "slow-to-fast gap closed (%)", ylim=(0, 100))


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  try:
    xla = {} if _XLA.value else None
    problems = load_problems(_PROBLEMS.value, _PROGRAMS.value, xla)
    if not problems:
      raise ProblemError("problems: --problem_files matching files or --programs names",
                         "command line")
    rows = evaluate(problems, _SOLVERS.value, _HARDWARE.value, _FRACTION.value,
                    _SEED.value, _TIME_LIMIT.value, progress=sys.stderr.isatty(),
                    time_model=_TIME_MODEL.value, xla=xla)
  except (ProblemError, HloParseError, ValueError) as error:
    print(f"evaluate: error: {error}", file=sys.stderr)
    sys.exit(2)
  print(format_table(rows))
  print()
  print(format_pivot(rows))
  if any(r.solver == XLA_ROW for r in rows):
    print(f"({XLA_ROW}: XLA's own layout, its temporary allocation as the fast memory at "
          "XLA's size, the capacity column; the solvers' capacity is "
          f"{_FRACTION.value:g} of peak live bytes)")
  os.makedirs(_OUT.value, exist_ok=True)
  write_csv(rows, os.path.join(_OUT.value, "evaluation.csv"))
  plot(rows, os.path.join(_OUT.value, "evaluation.png"))
  print(f"wrote {_OUT.value}/evaluation.csv and evaluation.png")


if __name__ == "__main__":
  from experiments.flag_parsing import one_line_flags

  app.run(main, flags_parser=one_line_flags("evaluate", RENAMES))
