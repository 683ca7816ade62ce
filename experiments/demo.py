"""The main job on a small embedded default.

    malloc-demo [--program=mlp_train_step] [--train_seconds=60] [--capacity_fraction=0.25]

Compiles a small JAX program from `experiments.programs` on this machine's
backend, extracts its buffer-assignment problem with `hlo_tools`, prints the
problem's summary next to XLA's own figures, then places its buffers in a
fast memory of `--capacity_fraction` (default a quarter) of its peak live
bytes (tpu-v4 preset): with XLA's memory space assignment, XLA's best-fit
heap, and mallocMuZero after a short training, and prints the comparison.
"""

from __future__ import annotations

import sys
import tempfile

from absl import app
from absl import flags
from absl import logging

from experiments.flag_parsing import one_line_flags
from experiments.programs import get_program
from hlo_tools import capture_jax, module_to_problem, parse_hlo
from malloc_muzero import get_hardware
from malloc_muzero.agent.presets import AGENTS, DEFAULT_AGENT, agent_config
from malloc_muzero.agent.run import place_with_agent
from malloc_muzero.simulator import gap_closed, simulate_placement, simulation_bounds
from malloc_muzero.solvers import solve, solve_segments

_PROGRAM = flags.DEFINE_string("program", "mlp_train_step",
                               "program of experiments.programs to compile")
_TRAIN_SECONDS = flags.DEFINE_float("train_seconds", 60.0,
                                    "seconds of mallocMuZero training (0: none)")
_AGENT = flags.DEFINE_enum("agent", DEFAULT_AGENT, list(AGENTS),
                           "agent preset (malloc_muzero.agent.presets)")
_FRACTION = flags.DEFINE_float("capacity_fraction", 0.25,
                               "fast-memory capacity as a share of peak live bytes, "
                               "in (0, 1]")
flags.register_validator("capacity_fraction", lambda value: 0 < value <= 1,
                         "expected a share of the peak live bytes in (0, 1]")


def describe(program_name: str) -> tuple[str, object]:
  """Compile one catalogue program; its problem's summary and XLA's figures."""
  program = get_program(program_name)
  captured = capture_jax(program.fn, *program.args,
                         donate_argnums=program.donate_argnums)
  problem = module_to_problem(parse_hlo(captured.hlo_text, f"<{program.name}>"),
                              name=program.name)
  cost = captured.cost_analysis
  text = "\n".join([problem.summary(), "",
                    f"XLA's cost analysis of the same program: "
                    f"{cost.get('flops', 0):,.0f} flops, "
                    f"{cost.get('bytes accessed', 0):,.0f} bytes accessed; "
                    f"compiled in {captured.compile_seconds:.2f} s"])
  return text, problem


def compare(problem, fraction: float, train_seconds: float, agent: str = DEFAULT_AGENT) -> str:
  """Placements by XLA's heuristics and by a briefly trained agent."""
  capacity = problem.capacity_for(fraction)
  hardware = get_hardware("tpu-v4", capacity=capacity)
  slow, fast = simulation_bounds(problem, hardware)
  rows = [("all slow (bound)", slow)]
  for solver in ("xla-msa", "best-fit"):
    rows.append((solver, simulate_placement(problem, hardware,
                                            solve(solver, problem, hardware).levels)))
  if hardware.time_model == "xla":
    solution = solve_segments("xla-msa-prefetch", problem, hardware)
    rows.append(("xla-msa-prefetch", simulate_placement(solution.problem, hardware,
                                                        solution.placement.levels)))
  if train_seconds > 0:
    with tempfile.TemporaryDirectory() as workdir:
      summary = place_with_agent(problem, hardware, workdir, train_seconds, 0,
                                 agent_config(agent), progress=True)
    rows.append((f"mallocMuZero {agent} ({summary['games']} games, {train_seconds:.0f} s)",
                 summary["time_s"]))
  rows.append(("all fast (bound)", fast))
  lines = [f"Fast memory: {capacity:,} B ({fraction:.0%} of peak live bytes), "
           f"{hardware.name} preset", "",
           f"{'placement':<40} {'time/slow':>9} {'gap closed':>10}"]
  for name, t in rows:
    lines.append(f"{name:<40} {t / slow:>9.3f} {gap_closed(t, slow, fast):>10.1%}")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  logging.set_verbosity(logging.WARNING)  # JAX's backend probing is not news.
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    text, problem = describe(_PROGRAM.value)
    print(text, flush=True)
    print()
    print(compare(problem, _FRACTION.value, _TRAIN_SECONDS.value, _AGENT.value))
  except ValueError as e:
    print(f"malloc-demo: error: {e}", file=sys.stderr)
    sys.exit(1)


def run() -> None:
  """Console-script entry point."""
  # The console script's __main__ is not this module: lend it this module's
  # docstring and flags, which `--help` lists.
  sys.modules["__main__"].__doc__ = __doc__
  for flag in flags.FLAGS.get_key_flags_for_module(__name__):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(main, flags_parser=one_line_flags("malloc-demo"))


if __name__ == "__main__":
  run()
