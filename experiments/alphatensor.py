"""Place the buffers of an AlphaTensor matmul program, beside plain and Strassen.

    python -m experiments.alphatensor --shape=4,4,4 --levels=2 --size=4096 --out=DIR

Builds the JAX program from the factorization (`experiments.alphatensor_programs`;
`--shape` one in the shipped file, `--levels` 1 or 2, `--size` 256 to 8192 and
divisible into the blocks, `--dtype` float32 or bfloat16), extracts its
problem, and places it with the baselines (and a briefly trained mallocMuZero
with `--train_seconds`) in a fast memory of `--capacity_fraction` of its peak
live bytes. It prints, for the AlphaTensor program, the plain `jnp.dot`
program and Strassen (2,2,2) at the same size: the simulated time of each
placement, its speed-up over `xla-msa`, the bounds and each solver's wall
time. It writes the problems and placements to `--out`. A bad request prints
one line `alphatensor: error: ...` and exits with status 2.

Compiling a two-level 4,4,4 program (2,401 block products) takes XLA one to
three minutes on a CPU, at any size: the operands are abstract
(`jax.ShapeDtypeStruct`), never materialised.
"""

from __future__ import annotations

import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

from experiments import alphatensor_programs as alphatensor
from experiments.alphatensor_programs import extract_problem
from experiments.comparison import hardware_at_fraction, timed_solve
from experiments.flag_parsing import one_line_flags
from malloc_muzero import ProblemError, get_hardware, save_placement_json
from malloc_muzero.agent.presets import AGENTS, DEFAULT_AGENT, agent_config
from malloc_muzero.agent.run import place_with_agent
from malloc_muzero.formatting import format_bytes
from malloc_muzero.placement_io import save_segments_json
from malloc_muzero.simulator import gap_closed, simulation_bounds
from malloc_muzero.solvers import SolverOptions, get_solver

_SHAPE = flags.DEFINE_string("shape", "4,4,4", "factorization shape n,m,p")
_LEVELS = flags.DEFINE_integer("levels", 1, "recursion levels (1 or 2)")
_SIZE = flags.DEFINE_integer("size", 256, "rows of the square matrices (256..8192)")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "element type")
_SOLVERS = flags.DEFINE_list("solvers", ["first-fit", "best-fit", "xla-msa", "anneal"],
                             "solvers to run")
_FRACTION = flags.DEFINE_float("capacity_fraction", 0.25, "capacity / peak live bytes")
_HARDWARE = flags.DEFINE_string("hardware", "tpu-v4", "hardware preset")
_TIME_MODEL = flags.DEFINE_enum("time_model", "xla", ["xla", "additive"],
                                "how placements are timed (malloc_muzero.simulator)")
_TIME_LIMIT = flags.DEFINE_float("time_limit", 10.0, "seconds per search solver")
_TRAIN = flags.DEFINE_float("train_seconds", 0.0, "mallocMuZero training seconds (0: none)")
_AGENT = flags.DEFINE_enum("agent", DEFAULT_AGENT, list(AGENTS),
                           "agent preset (malloc_muzero.agent.presets)")
_OUT = flags.DEFINE_string("out", "alphatensor_results", "output directory")


def _programs(shape: str, levels: int, size: int, dtype: str) -> list:
  """The AlphaTensor program, plain `jnp.dot` and, when it splits the same
  size, Strassen; ValueError naming what is wrong with the request."""
  programs = [alphatensor.program(shape, levels, size, dtype),
              alphatensor.plain_program(size, dtype)]
  if shape.replace(" ", "") != "2,2,2" and size % 2 ** levels == 0:
    programs.append(alphatensor.program("2,2,2", levels, size, dtype))
  return programs


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  try:  # The request first: its errors need neither the solvers nor the agent.
    programs = _programs(_SHAPE.value, _LEVELS.value, _SIZE.value, _DTYPE.value)
    if not 0 < _FRACTION.value <= 1:
      raise ValueError(f"--capacity_fraction={_FRACTION.value} is outside (0, 1]")
    get_hardware(_HARDWARE.value)
    for name in _SOLVERS.value:
      get_solver(name)
  except (ValueError, ProblemError) as error:
    print(f"alphatensor: error: {error}", file=sys.stderr)
    sys.exit(2)
  from tqdm import tqdm

  os.makedirs(_OUT.value, exist_ok=True)
  progress = sys.stderr.isatty()
  print(f"{'program':<36} {'placement':<22} {'time (us)':>10} {'vs xla-msa':>10} "
        f"{'gap closed':>10} {'wall s':>8}", flush=True)
  steps = len(programs) * (1 + len(_SOLVERS.value) + (_TRAIN.value > 0))
  with tqdm(total=steps, disable=not progress, desc="alphatensor", unit="step") as bar:
    for program in programs:
      bar.set_postfix_str(f"{program.name}: compile")
      start = time.monotonic()
      problem = extract_problem(program)
      problem.save_json(os.path.join(_OUT.value, f"{program.name}.json"))
      lines = [f"{program.name}: {problem.num_buffers:,} buffers, peak live "
               f"{format_bytes(problem.peak_live_bytes()[0])}, compiled and extracted "
               f"in {time.monotonic() - start:.1f} s"]
      bar.update()
      hardware = hardware_at_fraction(problem, _HARDWARE.value, _FRACTION.value, _TIME_MODEL.value)
      slow, fast = simulation_bounds(problem, hardware)
      times, walls = {}, {}
      for name in _SOLVERS.value:
        bar.set_postfix_str(f"{program.name}: {name}")
        solved = timed_solve(name, problem, hardware,
                             SolverOptions(time_limit_s=_TIME_LIMIT.value))
        times[name], walls[name] = solved.time_s, solved.wall_s
        path = os.path.join(_OUT.value, f"{program.name}.{name}.json")
        if solved.segments is not None:
          save_segments_json(path, problem, hardware, name, solved.segments, solved.time_s,
                             (slow, fast))
        else:
          save_placement_json(path, problem, hardware, solved.placement, solved.time_s,
                              (slow, fast))
        bar.update()
      if _TRAIN.value > 0:
        bar.set_postfix_str(f"{program.name}: mallocMuZero")
        start = time.monotonic()
        summary = place_with_agent(problem, hardware,
                                   os.path.join(_OUT.value, f"{program.name}.muzero"),
                                   _TRAIN.value, 0, agent_config(_AGENT.value), progress=False)
        times["mallocMuZero"] = summary["time_s"]
        walls["mallocMuZero"] = time.monotonic() - start
        bar.update()
      reference = times.get("xla-msa", slow)
      for name, t in [("all slow (bound)", slow), *times.items(),
                      ("all fast (bound)", fast)]:
        wall = f"{walls[name]:>8.1f}" if name in walls else f"{'':>8}"
        lines.append(f"{program.name:<36} {name:<22} {t * 1e6:>10.3f} "
                     f"{reference / t:>9.3f}x {gap_closed(t, slow, fast):>10.1%} {wall}")
      bar.write("\n".join(lines), file=sys.stdout)
  print(f"wrote problems and placements to {_OUT.value}/")

if __name__ == "__main__":
  app.run(main, flags_parser=one_line_flags("alphatensor"))
