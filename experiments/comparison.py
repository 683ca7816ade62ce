"""Comparing placements: the fast memory, a timed solve, the bounds, the bars.

What the commands that put solvers side by side (`experiments.evaluate`,
`experiments.report`, `experiments.alphatensor`) share: the hardware with a
fast memory sized from a problem, one solve timed and simulated, where a time
falls between the all-slow and all-fast bounds, a grouped bar chart, and a
trained agent's answer beside XLA's (`versus_xla`, for `experiments.train`).
"""

from __future__ import annotations

import dataclasses
import io
import time

from malloc_muzero import get_hardware
from malloc_muzero.atomic_file import atomic_write_bytes
from malloc_muzero.simulator import gap_closed, simulate_placement
from malloc_muzero.solvers import get_solver, places_segments, solve, solve_segments
from malloc_muzero.solvers.xla_msa_prefetch import assign
from malloc_muzero.windows import from_segments, split_into_windows


def hardware_at_fraction(problem, hardware_name: str, fraction: float,
                         time_model: str | None = None):
  """A hardware preset whose first fast level holds `fraction` of the
  problem's peak live bytes (`fraction` 0: a MiniMalloc file's own capacity,
  or the preset's when the file has none), on `time_model` (None: the
  preset's, XLA's).

  Raises:
    ProblemError: an unknown preset.
  """
  capacity = (int(problem.source.get("capacity") or 0) if fraction == 0
              else problem.capacity_for(fraction))
  return get_hardware(hardware_name, capacity=capacity or None, time_model=time_model)


@dataclasses.dataclass(frozen=True)
class Solved:
  """One checked placement, its simulated time and how long it took.

  Attributes:
    placement: the placement, checked by `solve` with the independent checker
      (of the problem's windows or segments, when the solver placed those).
    time_s: its simulated time in seconds.
    wall_s: wall-clock seconds of the solve (without the simulation).
    segments: the segments of the problem's buffers, when the solver placed
      segments (`places_segments`), else None.
  """
  placement: object
  time_s: float
  wall_s: float
  segments: object = None


# A solver name ending so places the problem's windows (`malloc_muzero.windows`,
# default settings): "xla-msa+windows" is XLA's heuristic with prefetching.
WINDOWS_SUFFIX = "+windows"
# A solver name ending so places the pieces XLA's own algorithm cuts the
# buffers into (`windows.from_segments` of `xla-msa-prefetch`'s segments),
# each with its copies: "anneal+xla_cut" searches where XLA's answer is one
# placement among others.
XLA_CUT_SUFFIX = "+xla_cut"


def _split_name(name: str) -> tuple[str, str]:
  """(solver, suffix) of a name that may end with a suffix above."""
  for suffix in (WINDOWS_SUFFIX, XLA_CUT_SUFFIX):
    if name.endswith(suffix):
      return name.removesuffix(suffix), suffix
  return name, ""


def check_solver(name: str) -> None:
  """Raises `ProblemError` for an unknown solver (with or without a suffix)."""
  get_solver(_split_name(name)[0])


def timed_solve(solver: str, problem, hardware, options) -> Solved:
  """Runs `malloc_muzero.solvers.solve` (which checks the placement) and
  simulates its answer. With `WINDOWS_SUFFIX` the solver places the problem's
  windows, with `XLA_CUT_SUFFIX` the pieces of XLA's cut, and the placement
  is one of those (the time and both bounds are comparable with the
  unwindowed problem's); a solver that places segments
  (`places_segments`) gives a placement of its segments, timed alike.

  Raises:
    ProblemError: the solver cannot take the problem.
  """
  start = time.monotonic()
  solver, suffix = _split_name(solver)
  if suffix == WINDOWS_SUFFIX:
    problem = split_into_windows(problem).problem
  elif suffix == XLA_CUT_SUFFIX:
    problem = from_segments(problem, assign(problem, hardware))[0].problem
  solution = solve_segments(solver, problem, hardware, options)
  wall = time.monotonic() - start
  return Solved(solution.placement,
                simulate_placement(solution.problem, hardware, solution.placement.levels),
                wall, solution.segments if places_segments(solver) else None)


def grouped_bars(path: str, groups: list[str], series: list[str],
                 values: dict[tuple[str, str], float], ylabel: str,
                 ylim: tuple[float, float] | None = None,
                 marks: dict[str, float] | None = None, mark_label: str = "") -> None:
  """Writes a PNG of bars grouped by `groups`, one colour per `series`.

  Args:
    path: the PNG to write (atomically).
    groups: the x-axis groups, in order (e.g. problems).
    series: the bars of each group, in order (e.g. solvers).
    values: (group, series) -> height; missing pairs draw no bar.
    ylabel: the y-axis label.
    ylim: the y-axis range, or None for matplotlib's.
    marks: group -> a value drawn as a black line across the group (e.g. a
      bound), labelled `mark_label` in the legend.
  """
  import matplotlib
  import numpy as np
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  # Wide enough for the bars, but no wider than a page (thinner bars beyond).
  figure = Figure(figsize=(min(18, max(6, 1.6 * len(groups) * max(len(series), 2) / 3)),
                           4.5))
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  width = 0.8 / max(len(series), 1)
  x = np.arange(len(groups))
  colors = matplotlib.colormaps["tab20"]  # Ten colours repeat beyond ten series.
  for k, name in enumerate(series):
    present = [i for i, g in enumerate(groups) if (g, name) in values]
    axes.bar(x[present] + k * width - 0.4 + width / 2,
             [values[(groups[i], name)] for i in present], width, label=name,
             color=colors(k % colors.N) if len(series) > 10 else None)
  marked = [i for i, group in enumerate(groups) if group in (marks or {})]
  for k, i in enumerate(marked):
    axes.hlines(marks[groups[i]], i - 0.45, i + 0.45, colors="black", linewidth=2,
                label=mark_label if k == 0 else None)
  axes.set_xticks(x, groups, rotation=30 if len(groups) > 6 else 15, ha="right")
  axes.set_ylabel(ylabel)
  if ylim is not None:
    axes.set_ylim(*ylim)
  axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
  axes.grid(axis="y", alpha=0.3)
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  atomic_write_bytes(path, buffer.getvalue())


def versus_xla(problem, hardware, summary: dict, original=None) -> str:
  """The trained agent's best placement (of `problem`, the game's) next to
  XLA's, `xla-msa`'s and (on XLA's time model) `xla-msa-prefetch`'s, both on
  `original` (the problem before windows or a cut, if any), and the bounds."""
  slow, fast = summary["bounds"]
  whole = original if original is not None else problem
  msa = simulate_placement(whole, hardware, solve("xla-msa", whole, hardware).levels)
  rows = [("all slow (bound)", slow), ("xla-msa", msa)]
  if hardware.time_model == "xla" and not len(whole.copy_buffer):
    solution = solve_segments("xla-msa-prefetch", whole, hardware)
    rows.append(("xla-msa-prefetch", simulate_placement(solution.problem, hardware,
                                                        solution.placement.levels)))
  rows += [("mallocMuZero (best self-play)", summary["time_s"]), ("all fast (bound)", fast)]
  lines = [f"{'placement':<32} {'time/slow':>9} {'gap closed':>10}"]
  for name, t in rows:
    lines.append(f"{name:<32} {t / slow:>9.3f} {gap_closed(t, slow, fast):>10.1%}")
  return "\n".join(lines)
