"""Training on a set of problems and playing held-out ones."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from malloc_muzero import Problem, check_placement, get_hardware
from malloc_muzero.errors import ProblemError
from malloc_muzero.agent import generalisation
from malloc_muzero.agent.presets import agent_config
from malloc_muzero.agent.build import make_trainer
from malloc_muzero.agent.play import play_with_search, unseen_game
from malloc_muzero.game_instance import make_decoders

SMALL = Problem.from_arrays(sizes=[1024, 2048, 1024], starts=[0, 1, 2], ends=[2, 3, 4])
LARGE = Problem.from_arrays(sizes=[4096, 8192, 4096, 12288, 4096, 8192, 4096],
                            starts=[0, 1, 2, 3, 4, 5, 6], ends=[3, 4, 5, 6, 7, 8, 9])


def test_a_set_shares_one_padded_shape_and_keeps_each_own_grid():
  hardwares = [get_hardware("tpu-v4", capacity=8192), get_hardware("tpu-v4", capacity=65536)]
  small, large = make_decoders([SMALL, LARGE], hardwares, num_slots=16)
  for field in ("max_buffers", "max_instructions", "max_accesses", "num_tracked", "num_slots"):
    assert getattr(small.config, field) == getattr(large.config, field)
  assert small.config.max_buffers == 7 and small.config.num_slots == 16
  # Each fast memory is cut into the same 16 slots, of its own size.
  assert (small.config.granularity, large.config.granularity) == (512, 4096)
  assert int(small.problem.capacity_slots[0]) == int(large.problem.capacity_slots[0]) == 16


def test_a_set_with_one_buffer_of_two_values_keeps_gaps_for_every_problem():
  import dataclasses

  import jax
  gapped = dataclasses.replace(LARGE, interval_buffer=[3, 3], interval_start=[3, 5],
                               interval_end=[3, 6])
  hardwares = [get_hardware("tpu-v4", capacity=8192), get_hardware("tpu-v4", capacity=65536)]
  small, large = make_decoders([SMALL, gapped], hardwares, num_slots=16)
  assert small.config.gaps and large.config.gaps
  # One padded shape: the two games stack (a set trains as one batch).
  jax.tree.map(lambda a, b: np.stack([a, b]), small.problem, large.problem)


def test_a_network_plays_a_problem_it_never_saw():
  config = agent_config("guided")
  hardwares = [get_hardware("tpu-v4", capacity=4096)]
  _, trainer = make_trainer([SMALL], hardwares, config, seed=0)
  unseen_hardware = get_hardware("tpu-v4", capacity=16384)
  placement, total, _ = play_with_search(trainer, *unseen_game(trainer, LARGE, unseen_hardware),
                                      seed=0)
  assert check_placement(LARGE, unseen_hardware, placement) is None
  assert 0.0 <= total <= 1.0
  rows = generalisation.evaluate(trainer, [LARGE], [unseen_hardware], ["held out"], 0)
  row = rows[0]
  assert row.split == "held out" and row.all_fast_s <= row.trained_s <= row.all_slow_s
  assert "| held out |" in generalisation.table(rows)


def test_the_command_trains_on_a_set_and_plays_a_held_out_program(tmp_path):
  command = [sys.executable, "-m", "experiments.train", "--programs=scan_rnn,mlp_train_step",
             "--eval_programs=remat_mlp", f"--workdir={tmp_path}", "--train_seconds=0",
             "--games_per_iteration=4", "--num_simulations=4", "--agent=guided",
             "--capacity_fraction=0.3"]
  result = subprocess.run(command, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr
  rows = json.loads((tmp_path / "evaluation.json").read_text())
  assert [(r["problem"], r["split"]) for r in rows] == [
      ("scan_rnn", "train"), ("mlp_train_step", "train"), ("remat_mlp", "held out")]
  for r in rows:
    assert r["all_fast_s"] <= r["trained_s"] <= r["all_slow_s"]
    assert np.isfinite(r["untrained_s"])
  saved = json.loads((tmp_path / "placements" / "remat_mlp.json").read_text())
  assert saved["simulated_time_s"] == rows[2]["trained_s"]
  assert "| remat_mlp | held out |" in result.stdout

  bad = subprocess.run(command[:3] + ["--eval_problem=x.json", f"--workdir={tmp_path}/b"],
                       capture_output=True, text=True, timeout=300)
  assert bad.returncode == 2 and "exactly one of" in bad.stderr
  assert "Traceback" not in bad.stderr


def test_agent_table_refuses_a_set_run_with_a_clear_error(tmp_path):
  import pytest

  from malloc_muzero import ProblemError
  from malloc_muzero.agent.run_files import read_run
  (tmp_path / "run.json").write_text(json.dumps({"problems": [{"problem": "a"}]}))
  with pytest.raises(ProblemError, match="a run on a set"):
    read_run(str(tmp_path))


def test_a_network_sized_grid_is_as_fine_as_the_problem_own_grid():
  """Asked for the slot count a problem's own grid has, `make_decoder` cuts
  the same slots (a capacity that is not a multiple of the alignment must
  not double the slot size)."""
  from malloc_muzero.game_instance import make_decoder
  for capacity in (34846, 163842, 492804, 4096, 1 << 27):
    hardware = get_hardware("tpu-v4", capacity=capacity)
    own = make_decoder(SMALL, hardware).config
    sized = make_decoder(SMALL, hardware, own.num_slots).config
    assert (sized.granularity, sized.num_slots) == (own.granularity, own.num_slots)
    assert capacity // own.granularity <= own.num_slots


def test_a_network_grid_takes_the_slot_size_on_which_xla_loses_least():
  """On 128 slots of a 15.5 MiB memory the finest slot is 126,464 B, and a
  1 MiB buffer takes 9 of them: 8.5% lost to rounding, so XLA's replay keeps
  fewer buffers fast. Slots of 128 KiB fit them exactly; `replay_grid` takes
  such a size when XLA's replay is faster on it, and never a slower one;
  on a tie, the one that loses least to rounding."""
  from malloc_muzero.agent.reference import replay_grid, xla_msa_on_grid
  from malloc_muzero.game_instance import grid, grid_candidates, make_decoder
  from malloc_muzero.simulator import simulate_placement

  mib, n = 1 << 20, 40
  rng = np.random.default_rng(0)
  starts = rng.integers(0, 30, n)
  problem = Problem.from_arrays(sizes=[mib] * n, starts=starts, ends=starts + 8)
  hardware = get_hardware("tpu-v4", capacity=16_252_928)
  finest, _ = grid(hardware, 128)
  candidates = grid_candidates(problem, hardware, 128)
  assert candidates[-1] == finest == 126_464 and candidates[0] == 131_072
  assert all(finest <= g < 2 * finest and g % 512 == 0 for g in candidates)
  # The windows of a cut are pieces of the same buffers, more of them: the
  # same candidates.
  pieces = Problem.from_arrays(sizes=[mib] * 2 * n, starts=np.repeat(starts, 2),
                               ends=np.repeat(starts, 2) + 4)
  assert grid_candidates(pieces, hardware, 128) == candidates

  def replayed(g):
    placement = xla_msa_on_grid(problem, hardware, g, 128)
    return float(simulate_placement(problem, hardware, placement.levels))

  chosen, slots, placement = replay_grid(problem, hardware, 128)
  assert slots == 128 and chosen in candidates
  assert replayed(chosen) == min(replayed(g) for g in candidates) < replayed(finest)
  assert float(simulate_placement(problem, hardware, placement.levels)) == replayed(chosen)
  # On the finer grid of at most MAX_SLOTS slots, the size that fits the
  # buffers exactly (16 KiB, not 15,872 B).
  assert grid(hardware)[0] == 15_872
  assert replay_grid(problem, hardware)[:2] == (16_384, 16_252_928 // 16_384)
  decoder = make_decoder(problem, hardware, 128, granularity=chosen)
  assert (decoder.config.granularity, decoder.config.num_slots) == (chosen, 128)
  with pytest.raises(ProblemError, match="granularity"):
    make_decoder(problem, hardware, 128, granularity=finest - 512)
