"""A placement's report: validity, bytes per level, simulated time, bounds."""

from __future__ import annotations

from malloc_muzero.formatting import format_bytes, format_seconds
from malloc_muzero.placement import Conflict, Placement
from malloc_muzero.simulator import gap_closed, simulate_placement, simulation_bounds


def report_lines(problem, hardware, placement: Placement, conflict: Conflict | None,
                 source: str) -> list[str]:
  """Lines describing `placement` (from `source`) of `problem` on `hardware`."""
  levels = hardware.levels
  lines = [
      f"problem:        {problem.name} ({problem.num_buffers:,} buffers, "
      f"{format_bytes(int(problem.sizes.sum()))})",
      f"placement:      {source}"
      + (f" (solver {placement.solver})" if placement.solver else ""),
      f"hardware:       {hardware.name}: " + ", ".join(
          f"{level.name} {_capacity(level.capacity)}" for level in levels[1:]),
      "valid:          " + ("yes" if conflict is None
                            else f"NO, {conflict.kind}: {conflict}"),
  ]
  levels_known = conflict is None or conflict.kind != "level"
  if levels_known:
    placed = placement.level_bytes(problem, len(levels))
    for level in range(1, len(levels)):
      count = int((placement.levels == level).sum())
      total = int(placed[level])
      label = f"in {levels[level].name}:"
      lines.append(f"{label:<15} {count:,} of "
                   f"{problem.num_buffers:,} buffers, {format_bytes(total)} of "
                   f"{format_bytes(int(problem.sizes.sum()))}")
    time_s = simulate_placement(problem, hardware, placement.levels)
    all_slow_s, all_fast_s = simulation_bounds(problem, hardware)
    closed = (f"{gap_closed(time_s, all_slow_s, all_fast_s):.1%}" if all_slow_s > all_fast_s
              else "n/a (the bounds are equal)")
    lines += [
        f"simulated time: {format_seconds(time_s)}"
        + ("" if conflict is None else " (of an invalid placement)"),
        f"bounds:         all slow {format_seconds(all_slow_s)}, all fast "
        f"{format_seconds(all_fast_s)}",
        f"gap closed:     {closed}",
    ]
  return lines


def _capacity(capacity: int | None) -> str:
  return "unlimited" if capacity is None else format_bytes(capacity)
