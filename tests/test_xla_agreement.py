"""hlo_tools against XLA itself, on programs compiled on the fly.

For every program of `experiments.programs`, XLA dumps its optimised module and
its own `-live-range.txt`, and JAX reports `compiled.cost_analysis()`. We parse
the dumped module and compare: the flattened schedule, every BufferLiveRange
line, the peak, flops and bytes accessed.
"""

from __future__ import annotations

import collections
import glob
import os

import pytest

from experiments.programs import PROGRAMS
from hlo_tools import (analyze_liveness, load_module, module_cost,
                       module_to_problem, parse_hlo)
from tests.xla_dumps import compile_program

# The catalogue covers scan and while loops, cond, remat, grad, convolutions,
# attention, dynamic-update-slice in a loop, bf16, int8 and pred, tuple outputs
# and donated arguments.
NAMES = sorted(PROGRAMS)


def _module(name):
  compiled = compile_program(name)
  path, = glob.glob(os.path.join(compiled.captured.dump_dir,
                                 "*after_optimizations.txt"))
  return compiled, load_module(path)


@pytest.mark.parametrize("name", NAMES)
def test_dump_is_the_compiled_module(name):
  compiled, module = _module(name)
  assert module.is_scheduled
  text_module = parse_hlo(compiled.captured.hlo_text)
  assert [c.name for c in text_module.computations] == \
      [c.name for c in module.computations]


@pytest.mark.parametrize("name", NAMES)
def test_schedule_matches_xla(name):
  compiled, module = _module(name)
  liveness = analyze_liveness(module)
  assert [x.name for x in liveness.schedule.sequence] == compiled.live_range.sequence
  assert liveness.end_time == compiled.live_range.max_time


@pytest.mark.parametrize("name", NAMES)
def test_live_ranges_match_xla(name):
  compiled, module = _module(name)
  ours = analyze_liveness(module).xla_lines()
  theirs = compiled.live_range.lines
  common = sum((collections.Counter(ours) & collections.Counter(theirs)).values())
  agreement = common / max(len(ours), len(theirs))
  missing = sorted(set(theirs) - set(ours))[:5]
  extra = sorted(set(ours) - set(theirs))[:5]
  assert agreement >= 0.99, f"{agreement:.3f}: XLA only {missing}, ours only {extra}"
  # Line order agrees too, except across the branches of a conditional, whose
  # internal computation order the HLO text does not show.
  if not any(x.opcode == "conditional" for x in module.instructions()):
    assert ours == theirs


@pytest.mark.parametrize("name", NAMES)
def test_peak_matches_xla(name):
  compiled, module = _module(name)
  time, rows = analyze_liveness(module).peak()
  assert time == compiled.live_range.peak_time
  assert sum(size for _, size in rows) == compiled.live_range.peak_bytes
  problem = module_to_problem(module)
  assert problem.source["xla_peak_live_bytes"] == compiled.live_range.peak_bytes


@pytest.mark.parametrize("name", NAMES)
def test_cost_matches_xla(name):
  compiled, module = _module(name)
  xla = compiled.captured.cost_analysis
  ours = module_cost(module)
  assert ours.get("flops", 0) == pytest.approx(xla.get("flops", 0), rel=1e-6)
  assert ours.get("transcendentals", 0) == pytest.approx(
      xla.get("transcendentals", 0), rel=1e-6)
  assert ours["bytes accessed"] == pytest.approx(xla["bytes accessed"], rel=1e-6)
  # The whole property map, per-operand keys included.
  assert ours == pytest.approx(xla, rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_problem_totals_match_xla(name):
  compiled, module = _module(name)
  xla = compiled.captured.cost_analysis
  problem = module_to_problem(module)
  # The summary's "XLA's cost analysis" figures are XLA's own.
  recorded = problem.source["xla_cost_analysis"]
  for key in ("flops", "transcendentals", "bytes accessed"):
    assert recorded[key] == pytest.approx(xla.get(key, 0.0), rel=1e-6)
  # Each instruction once: what XLA adds up, but for conditionals, whose
  # every branch the problem schedules where XLA takes the dearest.
  once_flops = float(problem.flops.sum())
  has_conditional = any(x.opcode == "conditional" for x in module.instructions())
  if has_conditional:
    assert once_flops >= 0.99 * xla.get("flops", 0)
  else:
    assert once_flops == pytest.approx(xla.get("flops", 0), rel=0.01)
    # Bytes: XLA counts a `while` or `call` through its computations, which
    # the problem schedules as their own steps; the while itself moves none.
    assert float(problem.bytes_accessed.sum()) == pytest.approx(
        xla["bytes accessed"], rel=1e-6)
  # Executed totals weight each instruction by how often it runs.
  assert problem.total_flops == pytest.approx(float(problem.flops @ problem.executions))
  has_loop = any(x.opcode == "while" for x in module.instructions())
  assert (problem.executions != 1).any() == (has_loop or has_conditional)


def test_executions_of_a_scan_and_a_conditional():
  scan = module_to_problem(_module("scan_rnn")[1])
  assert sorted(set(scan.executions.tolist())) == [1.0, 6.0]  # lax.scan length=6
  # The body's flops count six times; XLA's total counts them once.
  assert scan.total_flops > 5 * compiled_flops("scan_rnn")
  cond = module_to_problem(_module("cond_branches")[1])
  assert sorted(set(cond.executions.tolist())) == [0.5, 1.0]   # two branches
  # XLA's total takes the dearest branch (sin(x @ w)); the executed one,
  # their mean, about half of it.
  assert cond.total_flops == pytest.approx(compiled_flops("cond_branches") / 2, rel=0.02)
  assert "executed; XLA's cost analysis" in cond.summary()


def compiled_flops(name: str) -> float:
  return _module(name)[0].captured.cost_analysis["flops"]
