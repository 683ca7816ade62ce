"""Training on a set of problems and playing held-out ones."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from malloc_muzero import Problem, check_placement, get_hardware
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
