"""Placements as segments and copies: from windows, the rules, and times that
survive the JSON round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from malloc_muzero.placement import Placement, check_placement
from malloc_muzero.placement_io import load_segments, save_placement_json
from malloc_muzero.problem import EVICTION, PREFETCH
from malloc_muzero.segments import (Segments, check_segments, from_windows,
                                    segment_problem, whole_buffers)
from malloc_muzero.simulator import simulate_placement, simulation_bounds
from malloc_muzero.windows import split_into_windows
from tests.test_windows import _hardware, _problem


def _windowed_placement():
  windows = split_into_windows(_problem(), min_gap=16, prefetch_steps=4)
  # a@0 and a@1 in fast memory at offset 0, b at 4096.
  return windows, Placement([1, 1, 1], [0, 0, 4096])


def test_windows_become_segments_of_the_original_buffers():
  windows, placement = _windowed_placement()
  segments = from_windows(windows, placement)
  rows = list(zip(segments.buffer.tolist(), segments.start.tolist(), segments.end.tolist(),
                  segments.level.tolist(), segments.offset.tolist()))
  # "a": fast around its first uses, default memory between, fast again.
  assert rows == [(0, 0, 6, 1, 0), (0, 7, 25, 0, -1), (0, 26, 35, 1, 0), (1, 1, 3, 1, 4096)]
  copies = list(zip(segments.copy_buffer.tolist(), segments.copy_kind.tolist(),
                    segments.copy_start.tolist(), segments.copy_done.tolist()))
  assert copies == [(0, EVICTION, 3, 7), (0, PREFETCH, 26, 30)]
  assert check_segments(_problem(), segments) is None
  # a@1 in the default memory: its range merges with the stretch before it,
  # and its prefetch goes.
  segments = from_windows(windows, Placement([1, 0, 1], [0, -1, 4096]))
  assert segments.start.tolist() == [0, 7, 1] and segments.end.tolist() == [6, 35, 3]
  assert segments.copy_kind.tolist() == [EVICTION]


def test_segment_problem_times_what_the_windows_time():
  windows, placement = _windowed_placement()
  hardware = _hardware()
  derived, levels = segment_problem(_problem(), from_windows(windows, placement))
  assert check_placement(derived, hardware, levels) is None
  for chosen in ([1, 1, 1], [0, 1, 0], [1, 0, 1], [0, 0, 0]):
    placement = Placement(chosen, [0 if c else -1 for c in chosen[:2]] + [4096 if chosen[2] else -1])
    derived, levels = segment_problem(_problem(), from_windows(windows, placement))
    assert simulate_placement(derived, hardware, levels.levels) == pytest.approx(
        simulate_placement(windows.problem, hardware, placement.levels), rel=1e-6)
  assert simulation_bounds(derived, hardware) == pytest.approx(
      simulation_bounds(windows.problem, hardware))


def _broken(**changes) -> Segments:
  windows, placement = _windowed_placement()
  segments = from_windows(windows, placement)
  return dataclasses.replace(segments, **{
      key: np.asarray(value) for key, value in changes.items()})


@pytest.mark.parametrize("changes, words", [
    ({"end": [6, 24, 35, 3]}, "do not cover"),          # a gap at 25
    ({"start": [0, 6, 26, 1]}, "do not cover"),         # an overlap at 6
    ({"buffer": [0, 0, 0], "start": [0, 7, 26], "end": [6, 25, 35],
      "level": [1, 0, 1], "offset": [0, -1, 0]}, "has no segment"),  # b lost
    ({"copy_done": [7, 31]}, "not through before an access"),  # a read at 30
    ({"copy_start": [2, 26], "copy_done": [7, 30]}, "before the write"),
    ({"copy_start": [3, 25]}, "where no fast segment begins"),
    ({"copy_done": [8, 30]}, "where no fast segment ends"),
    ({"copy_start": [3, 26], "copy_done": [2, 30]}, "before it starts"),
])
def test_broken_segments_are_named(changes, words):
  problem = dataclasses.replace(_problem(), access_bytes_written=[4096, 0, 0, 0, 0, 0])
  if "copy_start" in changes and changes["copy_start"][0] == 2:
    # A write at 2 inside a@0's segment: an eviction issued at 2 is too early.
    problem = dataclasses.replace(_problem(), access_bytes_written=[4096, 4096, 0, 0, 0, 0])
  message = check_segments(problem, _broken(**changes))
  assert message is not None and words in message


def test_json_placements_give_the_time_they_claim(tmp_path):
  windows, placement = _windowed_placement()
  hardware = _hardware()
  claimed = simulate_placement(windows.problem, hardware, placement.levels)
  path = tmp_path / "p.json"
  save_placement_json(path, windows.problem, hardware, placement, claimed,
                      simulation_bounds(windows.problem, hardware), windows)
  segments, solver, recorded = load_segments(path, _problem())
  assert recorded == hardware
  derived, levels = segment_problem(_problem(), segments)
  assert simulate_placement(derived, recorded, levels.levels) == pytest.approx(claimed, rel=1e-6)
  # A whole-buffer placement is one segment per buffer.
  whole = whole_buffers(_problem(), Placement([1, 1], [0, 4096]))
  assert whole.whole and check_segments(_problem(), whole) is None
