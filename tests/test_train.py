"""mallocMuZero training: targets, a short run, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from malloc_muzero import Problem, check_placement, get_hardware
from malloc_muzero.agent.replay import n_step_targets
from malloc_muzero.agent.search import SearchConfig
from malloc_muzero.agent.train import TrainConfig, Trainer
from malloc_muzero.game_instance import make_decoder


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
    ("--train_seconds=-5", "--train_seconds: expected a finite number"),
])
def test_out_of_range_flags_are_refused_naming_the_flag(tmp_path, flag, words):
  import subprocess
  import sys

  done = subprocess.run([sys.executable, "-m", "experiments.train", "--programs=scan_rnn",
                         f"--workdir={tmp_path}", flag], capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 2
  assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "metrics.jsonl").exists()


def test_former_flag_names_still_work_saying_the_new_ones(tmp_path):
  """Issue 18: --time_budget_s is --train_seconds, --program --programs (and
  --problem, --eval_problem, --eval_program likewise); the old spellings
  still parse, with one line each naming the new flag."""
  import subprocess
  import sys

  done = subprocess.run([sys.executable, "-m", "experiments.train", "--program=scan_rnn",
                         f"--workdir={tmp_path}", "--time_budget_s", "-5"],
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == [
      "train: --program is deprecated; use --programs",
      "train: --time_budget_s is deprecated; use --train_seconds",
      "train: error: command line: --train_seconds: expected a finite number of "
      "seconds >= 0, found -5.0"], done.stderr


# experiments.train defines its flags on absl's global FLAGS when imported,
# and absl refuses a flag defined twice: in a test process that already
# imported another command (experiments.evaluate also defines --hardware),
# importing it fails. So the in-process checks run in a fresh interpreter.
_IN_PROCESS = r"""
import json, sys
from absl import flags
import experiments.train as train
from malloc_muzero import ProblemError
from malloc_muzero.problem_io import load_problem

flags.FLAGS(["train"])
answers = []
for flag, value in json.loads(sys.argv[1]):
  saved = getattr(flags.FLAGS, flag)
  setattr(flags.FLAGS, flag, value)
  try:
    train.check_numeric_flags()
    answers.append(None)
  except ProblemError as error:
    answers.append(str(error))
  setattr(flags.FLAGS, flag, saved)
problem = load_problem(sys.argv[2])
capacities = [train.hardware_from_flags(problem).levels[1].capacity]
flags.FLAGS.capacity = 4096
capacities.append(train.hardware_from_flags(problem).levels[1].capacity)
print(json.dumps({"answers": answers, "capacities": capacities}))
try:
  train.parse_flags(["train", "--capacity=abc"])
except SystemExit as exit:
  print("exit", exit.code)
"""

NUMERIC_CASES = [
    ("capacity_fraction", -1.0, "--capacity_fraction: expected a fraction in (0, 1]"),
    ("capacity_fraction", float("inf"), "--capacity_fraction: expected a fraction"),
    ("capacity", 2**63, "--capacity: expected a number of bytes in [1, 2**63 - 1]"),
    ("train_seconds", float("nan"), "--train_seconds: expected a finite number"),
    ("checkpoint_every_s", -1.0, "--checkpoint_every_s: expected a finite number"),
    ("iterations", 0, "--iterations: expected a number of iterations >= 1"),
    ("seed", -1, "--seed: expected a whole number in [0, 2**31 - 1]"),
    ("seed", 2**64, "--seed: expected a whole number"),
    ("games_per_iteration", 0, "--games_per_iteration: expected a whole number in [1,"),
    ("num_simulations", 0, "--num_simulations: expected a whole number in [1,"),
    ("departures", -1, "--departures: expected a whole number in [0,"),
    ("value_scale", float("nan"), "--value_scale: expected a finite number > 0"),
    ("hardware", "tpu-v99", "--hardware: expected one of the hardware presets"),
    ("workdir", "/dev/null", "--workdir: expected a directory"),
]


def test_flags_checked_in_process(tmp_path):
  """Issue 17, cases 7, 8 and 9 in the command's own process: every count
  and seed (which were tracebacks: --seed=-1, --games_per_iteration=0), a
  MiniMalloc file's capacity (`--problem_files=A.65536.csv` trains at 65,536
  bytes, as malloc-solve and malloc-eval do; --capacity still wins), and a
  malformed flag (one line, exit 2)."""
  import json
  import os
  import subprocess
  import sys

  path = tmp_path / "A.65536.csv"
  path.write_text("id,lower,upper,size\n0,0,4,40960\n1,2,6,40960\n")
  cases = json.dumps([[flag, value] for flag, value, _ in NUMERIC_CASES])
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  done = subprocess.run([sys.executable, "-c", _IN_PROCESS, cases, str(path)],
                        capture_output=True, text=True, cwd=root, timeout=300)
  lines = done.stdout.strip().splitlines()
  result = json.loads(lines[0])
  for (flag, _, words), answer in zip(NUMERIC_CASES, result["answers"], strict=True):
    assert answer is not None and words in answer and "\n" not in answer, (flag, answer)
  assert result["capacities"] == [65536, 4096]
  assert lines[1] == "exit 2"
  assert done.stderr.startswith("train: error: ") and "--capacity=abc" in done.stderr
  assert len(done.stderr.strip().splitlines()) == 1
