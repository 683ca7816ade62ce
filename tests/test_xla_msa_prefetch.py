"""`xla-msa-prefetch` makes the decisions XLA's source gives, and valid ones.

The hand cases run on a machine where every instruction takes 1 s whatever
is placed (1 flop at 1 flop/s, at most 1 byte at 1 B/s), so that XLA's
picker times are step counts: `interval(s, e) = e - s - 1`. A buffer of 4
bytes copies in 4 s; the alternate memory holds 8 bytes; with a max ratio
of 1 a buffer may stay in alternate memory without a copy while
`interval(previous use + 1, use) < 8`; prefetches overlap at least 0.8 x 4
= 3.2 s, preferably 1.5 x 4 = 6 s; evictions end 6 s after the
allocation's start.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.programs import PROGRAMS
from hlo_tools import module_to_problem, parse_hlo
from malloc_muzero import Problem
from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import Hardware, MemoryLevel, get_hardware
from malloc_muzero.placement_io import load_segments, save_segments_json
from malloc_muzero.problem import EVICTION, PREFETCH
from malloc_muzero.segments import segment_problem
from malloc_muzero.simulator import simulate_placement, simulation_bounds
from malloc_muzero.solvers import SolverOptions, solve, solve_segments
from malloc_muzero.solvers.xla_msa_prefetch import MsaOptions, assign
from tests.xla_dumps import compile_program
from tests.xla_simulator_reference import reference_time

UNIT = Hardware(
    name="unit",
    levels=(MemoryLevel("default", None, 1, 1.0), MemoryLevel("alternate", 8, 1, 2.0)),
    peak_flops=1.0, peak_transcendentals=1.0, copy_bandwidth=1.0)
STEPS = 22


def _problem(buffers) -> Problem:
  """`buffers`: (name, size, start, end, write step, read steps)."""
  access = sorted([(b, write, 0, 1) for b, (*_, write, _) in enumerate(buffers)] +
                  [(b, step, 1, 0) for b, (*_, reads) in enumerate(buffers)
                   for step in reads])
  return Problem(
      name="hand", buffer_names=tuple(b[0] for b in buffers), sizes=[b[1] for b in buffers],
      starts=[b[2] for b in buffers], ends=[b[3] for b in buffers],
      buffer_kinds=("temporary",) * len(buffers),
      instruction_names=tuple(f"i{t}" for t in range(STEPS)), opcodes=("fusion",) * STEPS,
      flops=[1.0] * STEPS, transcendentals=[0.0] * STEPS, bytes_accessed=[1.0] * STEPS,
      access_buffer=[a[0] for a in access], access_instruction=[a[1] for a in access],
      access_bytes_read=[a[2] for a in access], access_bytes_written=[a[3] for a in access],
      schedule_length=STEPS, source={"kind": "synthetic"})


def _decisions(problem, order):
  segments = assign(problem, UNIT, MsaOptions(max_ratio=1.0), order=np.asarray(order))
  names = problem.buffer_names
  rows = [(names[b], s, e, level, offset) for b, s, e, level, offset in zip(
      segments.buffer, segments.start, segments.end, segments.level, segments.offset)]
  copies = [(names[b], "prefetch" if kind == PREFETCH else "eviction", s, d)
            for b, kind, s, d in zip(segments.copy_buffer, segments.copy_kind,
                                     segments.copy_start, segments.copy_done)]
  return rows, sorted(copies)


A = ("A", 4, 0, 20, 0, [2, 20])


def test_close_uses_share_one_allocation_without_copies():
  rows, copies = _decisions(_problem([("D", 4, 0, 9, 0, [3, 6, 9])]), [0])
  assert rows == [("D", 0, 9, 1, 0)] and copies == []


def test_a_distant_use_is_evicted_then_prefetched_at_the_preferred_start():
  # Use 2: no copy. Use 20: interval(3, 20) = 16 >= 8, so A, made in
  # alternate memory, is evicted: issued after its write at 0, done at the
  # first end 6 s after 0 (step 7), its chunk kept until then. The prefetch
  # may start after 11 (interval <= 8) and up to 15 (>= 3.2); preferred is
  # 13 (interval 6): issued before 14, done before 20.
  rows, copies = _decisions(_problem([A]), [0])
  assert rows == [("A", 0, 6, 1, 0), ("A", 7, 13, 0, -1), ("A", 14, 20, 1, 0)]
  assert copies == [("A", "eviction", 1, 7), ("A", "prefetch", 14, 20)]


def test_the_copy_resource_moves_a_prefetch_to_the_first_start_that_fits():
  # B goes first and takes A's preferred prefetch, steps 14..17. A's
  # candidates in XLA's order: 13 (behind B: 8 s of work in 6 steps), 14 (7
  # in 5), 12 (ahead of B, which then gets 3 of its 4 s), 15 (2 + 4 in 4),
  # 11: A uses 12..15 and B 16..19, both in time.
  rows, copies = _decisions(_problem([A, ("B", 4, 0, 20, 0, [1, 20])]), [1, 0])
  assert ("B", 14, 20, 1, 0) in rows
  assert [r for r in rows if r[0] == "A"] == [
      ("A", 0, 6, 1, 4), ("A", 7, 11, 0, -1), ("A", 12, 20, 1, 4)]
  assert ("A", "prefetch", 12, 20) in copies and ("B", "prefetch", 14, 20) in copies


def test_no_free_chunk_leaves_the_use_in_default_memory_and_the_eviction_stays():
  # C (8 bytes, all the alternate memory) cannot stay without a copy
  # (interval(11, 20) = 8 is not < 8); its prefetch starts after 11 (the
  # earliest, interval 8 <= 8), done at 20. A's prefetch then finds no chunk
  # at any start, and its use at 20 reads default memory.
  rows, copies = _decisions(_problem([A, ("C", 8, 10, 20, 10, [20])]), [1, 0])
  assert rows == [("A", 0, 6, 1, 0), ("A", 7, 20, 0, -1),
                  ("C", 10, 11, 0, -1), ("C", 12, 20, 1, 0)]
  assert copies == [("A", "eviction", 1, 7), ("C", "prefetch", 12, 20)]


def test_an_outstanding_prefetch_limit_is_honoured():
  problem = _problem([A, ("B", 4, 0, 20, 0, [1, 20])])
  segments = assign(problem, UNIT, MsaOptions(max_ratio=1.0, max_outstanding_prefetches=1),
                    order=np.array([1, 0]))
  prefetches = [(s, d) for kind, s, d in zip(segments.copy_kind, segments.copy_start,
                                             segments.copy_done) if kind == PREFETCH]
  assert len(prefetches) == 1  # A's would overlap B's at every start


def test_refuses_the_additive_model_and_windowed_problems():
  import dataclasses

  from malloc_muzero.windows import split_into_windows

  problem = _problem([A])
  with pytest.raises(ProblemError, match="XLA's time model"):
    assign(problem, dataclasses.replace(UNIT, time_model="additive"))
  with pytest.raises(ProblemError, match="without copies"):
    assign(split_into_windows(problem, min_gap=2).problem, UNIT)
  with pytest.raises(ProblemError, match="solve_segments"):
    solve("xla-msa-prefetch", problem, UNIT)


@pytest.mark.parametrize("name", ["transformer_train_step", "resnet_train_step",
                                  "scan_rnn", "cond_branches"])
def test_valid_on_programs_and_timed_alike_from_its_file(name, tmp_path):
  problem = module_to_problem(parse_hlo(compile_program(name).captured.hlo_text))
  for fraction in (0.1, 0.3):
    hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(fraction))
    solution = solve_segments("xla-msa-prefetch", problem, hardware, SolverOptions())
    time_s = simulate_placement(solution.problem, hardware, solution.placement.levels)
    assert time_s == pytest.approx(
        reference_time(solution.problem, hardware, solution.placement.levels), rel=1e-5)
    path = tmp_path / f"{name}_{fraction}.json"
    save_segments_json(path, problem, hardware, "xla-msa-prefetch", solution.segments,
                       time_s, simulation_bounds(problem, hardware))
    segments, solver, _ = load_segments(path, problem)
    again, placement = segment_problem(problem, segments)
    assert solver == "xla-msa-prefetch"
    assert simulate_placement(again, hardware, placement.levels) == pytest.approx(time_s)
  assert name in PROGRAMS


@pytest.mark.parametrize("name", ["transformer_train_step", "scan_rnn"])
def test_xla_cut_windows_reproduce_xla_and_any_placement_of_them_is_valid(name):
  from malloc_muzero.placement import Placement, check_placement
  from malloc_muzero.segments import check_segments, from_windows
  from malloc_muzero.windows import from_segments

  problem = module_to_problem(parse_hlo(compile_program(name).captured.hlo_text))
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.2))
  segments = assign(problem, hardware)
  windows, placement = from_segments(problem, segments)
  assert check_placement(windows.problem, hardware, placement) is None
  derived, derived_placement = segment_problem(problem, segments)
  assert simulate_placement(windows.problem, hardware, placement.levels) == pytest.approx(
      simulate_placement(derived, hardware, derived_placement.levels), rel=1e-6)
  # Any subset of XLA's pieces, and pieces XLA left in default memory moved
  # up, keep the segment rules (their copies come with them).
  rng = np.random.default_rng(0)
  for _ in range(5):
    keep = rng.random(windows.problem.num_buffers) < 0.5
    levels = np.where(keep, placement.levels, 0)
    subset = Placement(levels=levels, offsets=np.where(levels > 0, placement.offsets, -1))
    assert check_segments(problem, from_windows(windows, subset)) is None
  everything = Placement(levels=np.ones(windows.problem.num_buffers, np.int32),
                         offsets=np.zeros(windows.problem.num_buffers, np.int64))
  assert check_segments(problem, from_windows(windows, everything)) is None


def test_xla_cut_is_a_legal_reference_game():
  from malloc_muzero.agent.reference import make_reference, play_reference, xla_cut
  from malloc_muzero.game_instance import make_decoder

  problem = module_to_problem(parse_hlo(compile_program("transformer_train_step")
                                        .captured.hlo_text))
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.2))
  windows, placement = xla_cut(problem, hardware)
  decoder = make_decoder(windows.problem, hardware)
  reference = make_reference(windows.problem, hardware, decoder, placement)
  total, final = play_reference(decoder.problem, decoder.config.num_slots, reference)
  slow, _ = simulation_bounds(windows.problem, hardware)
  replayed = decoder.placement(final)  # every action was legal: XLA's levels all taken
  np.testing.assert_array_equal(replayed.levels, placement.levels)
  assert float(total) == pytest.approx(
      1 - simulate_placement(windows.problem, hardware, placement.levels) / slow, abs=1e-4)
