"""Checkpoints: exact resume, refusal of a different run, corrupt files, kill."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from malloc_muzero import ProblemError
from malloc_muzero.agent import checkpoint
from tests.test_train import _trainer

IDENTITY = {"problem": "tiny"}


def _params(trainer):
  return [np.asarray(x) for x in jax.tree.leaves(trainer.state.params)]


def test_resume_continues_exactly(tmp_path):
  straight, *_ = _trainer("learned")
  for _ in range(3):
    straight.run_iteration()
  first, *_ = _trainer("learned")
  first.run_iteration()
  checkpoint.save(str(tmp_path), first, IDENTITY)
  resumed, *_ = _trainer("learned")   # as a new process would
  assert checkpoint.restore(str(tmp_path), resumed, IDENTITY)
  assert resumed.iteration == 1
  resumed.run_iteration()
  resumed.run_iteration()
  for a, b in zip(_params(straight), _params(resumed)):
    np.testing.assert_array_equal(a, b)
  assert resumed.best[0] == straight.best[0]


def test_a_different_run_or_a_corrupt_checkpoint_is_refused(tmp_path):
  trainer, *_ = _trainer("learned")
  trainer.run_iteration()
  checkpoint.save(str(tmp_path), trainer, IDENTITY)
  other, *_ = _trainer("learned", seed=5)
  with pytest.raises(ProblemError, match=r"seed \(saved 0, now 5\)"):
    checkpoint.restore(str(tmp_path), other, IDENTITY)
  with pytest.raises(ProblemError, match="problem"):
    checkpoint.restore(str(tmp_path), _trainer("learned")[0], {"problem": "other"})
  for path in glob.glob(str(tmp_path / "checkpoints" / "*" / "**" / "*"), recursive=True):
    if os.path.isfile(path) and os.path.getsize(path) > 100:
      with open(path, "r+b") as f:
        f.truncate(10)
  with pytest.raises(ProblemError, match="complete checkpoint"):
    checkpoint.restore(str(tmp_path), _trainer("learned")[0], IDENTITY)


@pytest.mark.slow
def test_killed_run_resumes(tmp_path):
  workdir = tmp_path / "run"
  # Started under the flags' former names (--program, --time_budget_s), it
  # resumes under the new ones (issue 18).
  command = [sys.executable, "-m", "experiments.train", "--program=scan_rnn",
             f"--workdir={workdir}", "--checkpoint_every_s=0", "--games_per_iteration=4",
             "--num_simulations=4", "--time_budget_s=600"]
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  deadline = time.monotonic() + 300
  while checkpoint.latest_iteration(str(workdir)) in (None, 1) and \
      time.monotonic() < deadline:
    time.sleep(1)
  process.send_signal(signal.SIGKILL)
  process.wait()
  saved = checkpoint.latest_iteration(str(workdir))
  assert saved is not None and saved >= 2
  # A resumed run spends what is left of its budget (the seconds before the
  # kill count, compilation included), so it gets a large one and stops after
  # one more iteration.
  resumed = subprocess.run([*command[:3], "--programs=scan_rnn", *command[4:-1],
                            "--train_seconds=600", f"--iterations={saved + 1}"],
                           capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr
  assert "(resumed)" in resumed.stdout
  assert checkpoint.latest_iteration(str(workdir)) > saved


def test_muzero_solver_plays_from_a_checkpoint(tmp_path, monkeypatch):
  from malloc_muzero.agent import pretrained
  from malloc_muzero.agent.build import run_identity
  from malloc_muzero.solvers import SolverOptions, solve_segments

  trainer, problem, hardware, _ = _trainer("learned")
  trainer.run_iteration()
  checkpoint.save(str(tmp_path), trainer, run_identity([problem], [hardware]))
  assert checkpoint.load_game(str(tmp_path)) == "whole"
  solution = solve_segments("muzero", problem, hardware,
                            SolverOptions(checkpoint=str(tmp_path)))  # (checked)
  assert len(solution.segments.buffer) == problem.num_buffers  # whole buffers
  monkeypatch.setattr(pretrained, "PRETRAINED", str(tmp_path / "no pretrained network"))
  with pytest.raises(ProblemError, match="--checkpoint"):
    solve_segments("muzero", problem, hardware)


def test_an_agent_on_xla_cut_is_never_slower_than_xla(tmp_path):
  """mlp_train_step at 25%: XLA's cut, with xla-msa's placement of it, is
  faster than either of XLA's answers, so the agent plays the cut; its run's
  answer and the muzero solver's, as segments of the whole buffers, are valid
  and never slower than that start."""
  import dataclasses

  from experiments.comparison import hardware_at_fraction
  from experiments.problem_sources import program_problem
  from malloc_muzero import simulate_placement
  from malloc_muzero.agent.reference import starting_game
  from malloc_muzero.agent.run import train
  from malloc_muzero.solvers import SolverOptions, solve_segments

  problem = program_problem("mlp_train_step")
  hardware = hardware_at_fraction(problem, "tpu-v4", 0.25, "xla")
  start = starting_game(problem, hardware)
  assert start.game == "xla_cut" and start.problem.num_buffers > problem.num_buffers
  for game in ("whole", "xla_cut"):
    assert start.time_s <= starting_game(problem, hardware, games=(game,)).time_s
  base = _trainer("learned")[0].config
  config = dataclasses.replace(base, search=dataclasses.replace(base.search,
                                                                reference_bonus=4.0))
  summary = train([start.problem], [hardware], str(tmp_path), 0.0, 0, config,
                  progress=False, reference_placements=[start.placement])
  assert summary["time_s"] <= start.time_s
  assert checkpoint.load_game(str(tmp_path)) == "xla_cut"
  solution = solve_segments("muzero", problem, hardware,
                            SolverOptions(checkpoint=str(tmp_path)))  # (checked)
  assert simulate_placement(solution.problem, hardware,
                            solution.placement.levels) <= start.time_s * (1 + 1e-6)


def test_training_run_writes_its_outputs(tmp_path):
  import json

  from malloc_muzero.agent.run import train

  trainer, problem, hardware, _ = _trainer("learned")
  summary = train([problem], [hardware], str(tmp_path), 0.0, 0, trainer.config,
                  progress=False)
  assert summary["iterations"] == 1 and not summary["resumed"]
  with open(tmp_path / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  assert rows[0]["games"] == trainer.config.games_per_iteration
  assert {"mean_return", "loss_policy", "games_per_s"} <= set(rows[0])
  assert (tmp_path / "best_placement.json").exists()
  assert (tmp_path / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
  assert glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
  again = train([problem], [hardware], str(tmp_path), 0.0, 0, trainer.config,
                progress=False)
  assert again["resumed"] and again["iterations"] == 1  # no budget: nothing more


def test_the_budget_counts_the_set_up(tmp_path, monkeypatch):
  """A run's set-up (here made 3 s slower) is spent from its budget: with 2 s,
  it plays its one iteration, and the seconds it records include the set-up."""
  import json

  from malloc_muzero.agent import run

  build = run.make_trainer

  def slow_make_trainer(*args, **kwargs):
    time.sleep(3.0)
    return build(*args, **kwargs)

  monkeypatch.setattr(run, "make_trainer", slow_make_trainer)
  trainer, problem, hardware, _ = _trainer("learned")
  summary = run.train([problem], [hardware], str(tmp_path), 2.0, 0, trainer.config,
                      progress=False)
  assert summary["iterations"] == 1
  with open(tmp_path / "metrics.jsonl") as f:
    (row,) = [json.loads(line) for line in f]
  assert row["seconds"] >= 3.0 + row["games"] / row["games_per_s"]


def test_metrics_keep_one_line_per_iteration_and_survive_a_torn_line(tmp_path):
  import json

  from malloc_muzero.agent import run_files
  from malloc_muzero.agent.run import train

  trainer, problem, hardware, _ = _trainer("learned")
  train([problem], [hardware], str(tmp_path), 0.0, 0, trainer.config, progress=False)
  metrics = tmp_path / "metrics.jsonl"
  # A dead run's lines past the checkpoint, and a line torn by a kill.
  with open(metrics, "a") as f:
    f.write(json.dumps({"iteration": 2, "games": 8, "seconds": 9.0}) + "\n")
    f.write('{"iteration": 3, "ga')
  with pytest.warns(UserWarning, match="torn last line"):
    assert [row["iteration"] for row in run_files.read_metrics(str(metrics))] == [1, 2]
  with pytest.warns(UserWarning):
    again = train([problem], [hardware], str(tmp_path), 0.0, 0, trainer.config,
                  progress=False)
  assert again["resumed"] and again["iterations"] == 1
  rows = [json.loads(line) for line in metrics.read_text().splitlines()]
  assert [row["iteration"] for row in rows] == [1]  # nothing counted twice


def test_a_workdir_is_locked_while_a_run_uses_it(tmp_path):
  import os

  from malloc_muzero.agent import run_files

  with run_files.lock(str(tmp_path)):
    with pytest.raises(ProblemError, match=f"pid {os.getpid()} holds it"):
      with run_files.lock(str(tmp_path)):
        pass
  with run_files.lock(str(tmp_path)):  # released when the holder is done
    pass


def test_bad_metrics_lines_name_the_file_and_line(tmp_path):
  from malloc_muzero.agent import run_files

  path = tmp_path / "metrics.jsonl"
  path.write_text('{"iteration": 1}\nnot json\n{"iteration": 2}\n')
  with pytest.raises(ProblemError, match="line 2"):
    run_files.read_metrics(str(path))


@pytest.mark.slow
def test_twenty_kills_lose_and_repeat_nothing(tmp_path):
  """Fault injection: a run killed 20 times at random moments (compilation,
  self-play, update, checkpoint and metrics writes) and resumed each time
  ends with the checkpoint and metrics of a run never killed."""
  import json
  import random

  from malloc_muzero.agent import run_files

  # Enough iterations that the run is still going at the 20th kill: with the
  # compilation cache a resumed run gets through about one iteration between
  # kills (3 to 20 s apart, on a busy machine), and once 12 were done after 16.
  iterations = 40

  def command(workdir):
    return [sys.executable, "-m", "experiments.train", "--programs=scan_rnn",
            f"--workdir={workdir}", "--checkpoint_every_s=0", "--games_per_iteration=4",
            "--num_simulations=4", "--train_seconds=100000", f"--iterations={iterations}"]

  straight = tmp_path / "straight"
  subprocess.run(command(straight), check=True, capture_output=True, timeout=900)
  killed = tmp_path / "killed"
  rng = random.Random(0)
  kills = 0
  while kills < 20:
    process = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
      code = process.wait(timeout=rng.uniform(3.0, 15.0))
    except subprocess.TimeoutExpired:
      process.send_signal(signal.SIGKILL)
      process.wait()
      kills += 1
      continue
    assert code == 0 and kills >= 20, f"finished after {kills} kills (exit {code})"
  done = subprocess.run(command(killed), capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr
  assert checkpoint.latest_iteration(str(killed)) == iterations

  def rows(workdir):
    return [{k: v for k, v in row.items() if k not in ("seconds", "games_per_s")}
            for row in run_files.read_metrics(str(workdir / "metrics.jsonl"))]
  assert rows(killed) == rows(straight)
  assert [r["iteration"] for r in rows(killed)] == list(range(1, iterations + 1))
  assert json.loads((killed / "best_placement.json").read_text())["buffers"] == \
      json.loads((straight / "best_placement.json").read_text())["buffers"]


def test_a_guided_run_is_never_slower_than_the_placement_it_starts_from(tmp_path):
  import dataclasses

  from malloc_muzero import simulate_placement
  from malloc_muzero.agent.run import train
  from malloc_muzero.placement_io import load_placement_json
  from malloc_muzero.solvers import solve

  trainer, problem, hardware, _ = _trainer("learned")
  # One iteration of an untrained guided search: its games may or may not
  # reach XLA's placement; the answer never falls below it.
  config = dataclasses.replace(trainer.config, search=dataclasses.replace(
      trainer.config.search, reference_bonus=0.5))
  summary = train([problem], [hardware], str(tmp_path), 0.0, 0, config, progress=False)
  msa = simulate_placement(problem, hardware, solve("xla-msa", problem, hardware).levels)
  assert summary["time_s"] <= msa * (1 + 1e-9)
  saved = load_placement_json(tmp_path / "best_placement.json", problem)
  assert simulate_placement(problem, hardware, saved.levels) == pytest.approx(
      summary["time_s"])
  if summary["from_reference"]:
    assert summary["time_s"] == pytest.approx(msa)


def test_an_exported_network_plays_a_problem_it_never_saw(tmp_path):
  """`agent.pretrained`: export a trained network, load it back (the same
  parameters), and play another problem with it, on its slot count, within a
  deadline; the muzero solver does so without --checkpoint."""
  import jax

  from malloc_muzero import check_placement, get_hardware
  from malloc_muzero.agent import pretrained
  from malloc_muzero.problem import Problem

  trainer, _, _, _ = _trainer("learned")
  trainer.run_iteration()
  pretrained.export(trainer, {"problem": "tiny"}, str(tmp_path), "a test")
  description, params = pretrained.load(str(tmp_path))
  assert description["num_slots"] == trainer.game_config.num_slots
  assert description["games"] == trainer.config.games_per_iteration
  assert description["trained_on"] == {"problem": "tiny"}
  for saved, trained in zip(jax.tree.leaves(params), jax.tree.leaves(trainer.state.params)):
    np.testing.assert_array_equal(saved, np.asarray(trained))
  unseen = Problem.from_arrays(sizes=[512, 1024, 2048, 512, 1024, 512, 2048],
                               starts=[0, 0, 1, 2, 3, 4, 5], ends=[2, 4, 3, 6, 5, 7, 7])
  hardware = get_hardware("tpu-v4", capacity=3072)
  for network in pretrained.NETWORKS:
    game, placement = pretrained.play(unseen, hardware, 0.0, 0, str(tmp_path), network=network)
    assert check_placement(game.problem, hardware, placement) is None
  with pytest.raises(ProblemError, match="exported mallocMuZero network"):
    pretrained.load(str(tmp_path / "nothing"))


def test_a_truncated_checkpoint_is_one_line_and_nothing_else(tmp_path, caplog):
  """Issue 17, case 11: every file of the checkpoint cut to 10 bytes (a kill in
  mid-write) gives the ProblemError naming the checkpoint, and no log line."""
  import logging

  trainer, *_ = _trainer("learned")
  trainer.run_iteration()
  checkpoint.save(str(tmp_path), trainer, IDENTITY)
  for path in glob.glob(str(tmp_path / "checkpoints" / "**" / "*"), recursive=True):
    if os.path.isfile(path) and os.path.getsize(path) > 100:
      with open(path, "r+b") as f:
        f.truncate(10)
  caplog.set_level(logging.DEBUG)
  with pytest.raises(ProblemError, match="checkpoints: expected a complete checkpoint"):
    checkpoint.restore(str(tmp_path), _trainer("learned")[0], IDENTITY)
  logged = [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING]
  assert not logged, logged


def test_a_run_on_a_chosen_grid_plays_on_it(tmp_path):
  """A run records the slot size of its game (`replay_grid`'s, when the agent
  chose one) and the muzero solver plays its checkpoint on that grid (a run
  that recorded none, as before the grid was chosen, on the finest:
  `test_muzero_solver_plays_from_a_checkpoint`)."""
  from malloc_muzero.agent.build import run_identity
  from malloc_muzero.game_instance import grid
  from malloc_muzero.solvers import SolverOptions, solve_segments

  trainer, problem, hardware, _ = _trainer("learned")
  finest = grid(hardware)[0]
  trainer.run_iteration()
  checkpoint.save(str(tmp_path), trainer, run_identity([problem], [hardware], [finest]))
  assert checkpoint.load_granularity(str(tmp_path)) == finest
  solution = solve_segments("muzero", problem, hardware,
                            SolverOptions(checkpoint=str(tmp_path)))  # (checked)
  assert len(solution.segments.buffer) == problem.num_buffers
