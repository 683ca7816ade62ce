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


@pytest.fixture
def train_flags():
  """experiments.train's flags, parsed with their defaults and restored after."""
  from absl import flags
  from absl.testing import flagsaver

  import experiments.train  # noqa: F401  (defines the flags)
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(["train"])
  with flagsaver.flagsaver():
    yield flags.FLAGS


@pytest.mark.parametrize("flag, value, words", [
    ("capacity_fraction", -1.0, "--capacity_fraction: expected a fraction in (0, 1]"),
    ("capacity_fraction", float("inf"), "--capacity_fraction: expected a fraction"),
    ("capacity", 2**63, "--capacity: expected a number of bytes in [1, 2**63 - 1]"),
    ("time_budget_s", float("nan"), "--time_budget_s: expected a finite number"),
    ("checkpoint_every_s", -1.0, "--checkpoint_every_s: expected a finite number"),
    ("iterations", 0, "--iterations: expected a number of iterations >= 1"),
    ("seed", -1, "--seed: expected a whole number in [0, 2**31 - 1]"),
    ("seed", 2**64, "--seed: expected a whole number"),
    ("games_per_iteration", 0, "--games_per_iteration: expected a whole number in [1,"),
    ("num_simulations", 0, "--num_simulations: expected a whole number in [1,"),
    ("value_scale", float("nan"), "--value_scale: expected a finite number > 0"),
    ("hardware", "tpu-v99", "--hardware: expected one of the hardware presets"),
    ("workdir", "/dev/null", "--workdir: expected a directory"),
])
def test_numeric_flags_are_checked_in_process(train_flags, flag, value, words):
  """Issue 17, cases 7 and 9 (and the same for every count and seed, which
  were tracebacks: --seed=-1, --games_per_iteration=0)."""
  from experiments.train import check_numeric_flags
  from malloc_muzero import ProblemError

  setattr(train_flags, flag, value)
  with pytest.raises(ProblemError) as caught:
    check_numeric_flags()
  assert words in str(caught.value) and "\n" not in str(caught.value)


def test_train_takes_a_minimalloc_files_capacity(train_flags, tmp_path):
  """Issue 17, case 8: `--problem=A.65536.csv` trains at 65,536 bytes, as
  malloc-solve and malloc-eval do; --capacity still wins."""
  from experiments.train import hardware_for
  from malloc_muzero.problem_io import load_problem

  path = tmp_path / "A.65536.csv"
  path.write_text("id,lower,upper,size\n0,0,4,40960\n1,2,6,40960\n")
  problem = load_problem(path)
  assert hardware_for(problem).levels[1].capacity == 65536
  train_flags.capacity = 4096
  assert hardware_for(problem).levels[1].capacity == 4096


def test_bad_flag_syntax_is_one_line_and_exit_2(train_flags, capsys):
  from experiments.train import parse_flags

  with pytest.raises(SystemExit) as caught:
    parse_flags(["train", "--capacity=abc"])
  assert caught.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("train: error: ") and "--capacity=abc" in err
  assert len(err.strip().splitlines()) == 1
