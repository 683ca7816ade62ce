"""Problems for the experiments: from files, or compiled from catalogue programs."""

from __future__ import annotations

import glob
import os


def program_problem(name: str):
  """Compile a program of `experiments.programs` on this machine and extract
  its problem."""
  from experiments.programs import get_program
  from hlo_tools import capture_jax, module_to_problem, parse_hlo

  program = get_program(name)
  captured = capture_jax(program.fn, *program.args,
                         donate_argnums=program.donate_argnums)
  return module_to_problem(parse_hlo(captured.hlo_text), name=name)


def load_problems(pattern: str, programs: list[str]):
  """(name, Problem) pairs from files matching `pattern` (problem JSON,
  MiniMalloc CSV, HLO text; comma-separated paths or globs) and from
  catalogue programs."""
  from malloc_muzero.solve_cli import load_any_problem

  problems = []
  paths = [path for part in pattern.split(",") if part.strip()
           for path in sorted(glob.glob(part.strip()))]
  for path in dict.fromkeys(paths):
    problems.append((os.path.basename(path), load_any_problem(path)))
  for name in programs:
    problems.append((name, program_problem(name)))
  return problems
