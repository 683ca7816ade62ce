"""Problems for the experiments: from files, or compiled from catalogue programs."""

from __future__ import annotations

import glob
import os

from experiments.programs import get_program
from hlo_tools import capture_jax, module_to_problem, parse_hlo
from hlo_tools.xla_assignment import problem_report, xla_placement
from malloc_muzero import ProblemError
from malloc_muzero.solve_cli import load_any_problem


def program_problem(name: str, dump_dir: str | None = None):
  """Compile a program of `experiments.programs` on this machine and extract
  its problem. With `dump_dir` (a new or empty directory), XLA also writes its
  dumps there, and the problem records XLA's temporary allocation
  (`source["xla_temp_bytes"]`, from `report_in(dump_dir)`)."""
  program = get_program(name)
  captured = capture_jax(program.fn, *program.args,
                         donate_argnums=program.donate_argnums, dump_dir=dump_dir)
  return module_to_problem(parse_hlo(captured.hlo_text), name=name,
                           xla_assignment=dump_dir and report_in(dump_dir))


def report_in(dump_dir: str) -> str:
  """The one `*after_optimizations-buffer-assignment.txt` XLA dumped in
  `dump_dir` (one module compiled there)."""
  found = glob.glob(os.path.join(glob.escape(dump_dir),
                                 "*after_optimizations-buffer-assignment.txt"))
  if len(found) != 1:
    raise ProblemError("one buffer-assignment report XLA dumped", dump_dir,
                       found=len(found))
  return found[0]


def load_problems(pattern: str, programs: list[str], xla: dict | None = None):
  """(name, Problem) pairs from files matching `pattern` (problem JSON,
  MiniMalloc CSV, HLO text; comma-separated paths or globs) and from
  catalogue programs.

  With `xla` (a dict), also XLA's own assignment of each problem where a
  buffer-assignment report is available, as `xla[name]`
  (`hlo_tools.xla_assignment.XlaPlacement`): programs are compiled with XLA's
  dumps on (in a temporary directory, removed after), and a problem from an
  XLA dump (HLO text, or a problem JSON extracted from one) takes the report
  beside its HLO file.
  """
  import tempfile

  problems = []
  paths = [path for part in pattern.split(",") if part.strip()
           for path in sorted(glob.glob(part.strip()))]
  for path in dict.fromkeys(paths):
    problem = load_any_problem(path)
    problems.append((os.path.basename(path), problem))
    report = problem_report(problem) if xla is not None else None
    if report is not None:
      xla[os.path.basename(path)] = xla_placement(problem, report)
  for name in programs:
    if xla is None:
      problems.append((name, program_problem(name)))
      continue
    with tempfile.TemporaryDirectory(prefix="xla_dump_") as dump_dir:
      problem = program_problem(name, dump_dir)
      xla[name] = xla_placement(problem, report_in(dump_dir))
    problems.append((name, problem))
  return problems
