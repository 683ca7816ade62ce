"""mallocMuZero training: targets, a short run, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from malloc_muzero import Problem, check_placement, get_hardware
from malloc_muzero.agent.replay import n_step_targets
from malloc_muzero.agent.search import SearchConfig
from malloc_muzero.agent.train import TrainConfig, Trainer
from malloc_muzero.solvers.chromosome import make_decoder


def test_n_step_targets_by_hand():
  rewards = np.array([[1.0, 2.0, 3.0, 4.0]])
  values = np.array([[10.0, 20.0, 30.0, 40.0]])
  active = np.array([[True, True, True, False]])
  # n = 2: z0 = 1 + 2 + v2, z1 = 2 + 3 + v3 (inactive: 0), z2 = 3 + 0 + 0.
  np.testing.assert_allclose(n_step_targets(rewards, values, active, 2),
                             [[1 + 2 + 30, 2 + 3, 3, 0]])


def _trainer(dynamics: str, seed: int = 0) -> tuple[Trainer, object, object, object]:
  problem = Problem.from_arrays(sizes=[1024, 2048, 1024, 3072, 1024, 2048],
                                starts=[0, 1, 2, 3, 4, 5], ends=[3, 4, 5, 6, 7, 8])
  hardware = get_hardware("tpu-v4", capacity=4096)
  decoder = make_decoder(problem, hardware)
  config = TrainConfig(latent_size=16, num_atoms=21, games_per_iteration=4,
                       updates_per_iteration=2, batch_size=8, unroll_steps=2,
                       n_step=3, replay_games=16,
                       search=SearchConfig(num_simulations=4, max_considered=4,
                                           dynamics=dynamics))
  return Trainer([decoder.problem], decoder.config, 1, config, seed), problem, \
      hardware, decoder


@pytest.mark.parametrize("dynamics", ["learned", "true"])
def test_short_run_is_finite_valid_and_seeded(dynamics):
  trainer, problem, hardware, decoder = _trainer(dynamics)
  first = trainer.run_iteration()
  second = trainer.run_iteration()
  for progress in (first, second):
    assert all(np.isfinite(v) for v in progress.losses.values())
    assert 0.0 <= progress.mean_return <= 1.0
  best_return, _, state = trainer.best
  placement = decoder.placement(state)
  assert check_placement(problem, hardware, placement) is None
  again, *_ = _trainer(dynamics)
  again.run_iteration()
  repeat = again.run_iteration()
  assert repeat.losses == pytest.approx(second.losses, rel=1e-5)
  assert repeat.mean_return == pytest.approx(second.mean_return, rel=1e-6)


@pytest.mark.parametrize("flag, words", [
    ("--capacity=0", "--capacity: expected a number of bytes"),
    ("--capacity_fraction=nan", "--capacity_fraction: expected a fraction in (0, 1]"),
    ("--time_budget_s=-5", "--time_budget_s: expected a finite number"),
])
def test_out_of_range_flags_are_refused_naming_the_flag(tmp_path, flag, words):
  import subprocess
  import sys

  done = subprocess.run([sys.executable, "-m", "experiments.train", "--program=scan_rnn",
                         f"--workdir={tmp_path}", flag], capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 2
  assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "metrics.jsonl").exists()
