"""Generated problems: valid, reproducible, like the benchmark's, playable."""

from __future__ import annotations

import numpy as np
import pytest

from malloc_muzero import ProblemError, get_hardware, simulate_placement, simulation_bounds
from malloc_muzero.generator import ProblemGenerator
from malloc_muzero.solvers import solve, solve_segments


def test_the_same_seed_gives_the_same_problem_and_others_differ():
  generator = ProblemGenerator(min_instructions=32, max_instructions=96)
  a, b, c = generator(7), generator(7), generator(8)
  assert a.to_json_dict() == b.to_json_dict()
  assert a.to_json_dict() != c.to_json_dict()
  assert 32 <= a.num_instructions <= 96 and a.num_buffers <= generator.max_buffers


def test_draws_resemble_the_benchmark_programs():
  # The benchmark's ranges (scripts/problem_statistics.py): about one buffer
  # per instruction; inference 36-64% weights; in a training step 30-33%
  # weights and buffers living 41-47% of the program on average; most
  # instructions memory-bound, some compute-heavy.
  problems = [ProblemGenerator()(seed) for seed in range(24)]
  for p in problems:
    life = (p.ends - p.starts + 1) / p.schedule_length
    weights = sum(k.startswith("parameter") for k in p.buffer_kinds) / p.num_buffers
    intensity = p.flops / np.maximum(p.bytes_accessed, 1)
    assert 0.7 <= p.num_buffers / p.num_instructions <= 1.0
    assert np.median(intensity) < 1 and np.quantile(intensity, 0.95) > 10
    if p.source["variant"] == "train":
      assert 0.25 <= weights <= 0.35 and 0.35 <= life.mean() <= 0.55
    else:
      assert 0.35 <= weights <= 0.65
  assert {p.source["variant"] for p in problems} == {"train", "inference"}


def test_generated_problems_are_solved_and_timed_like_any_other():
  problem = ProblemGenerator(min_instructions=64, max_instructions=128)(3)
  hardware = get_hardware("tpu-v4", capacity=problem.capacity_for(0.25))
  slow, fast = simulation_bounds(problem, hardware)
  assert slow > fast > 0
  msa = simulate_placement(problem, hardware, solve("xla-msa", problem, hardware).levels)
  assert fast <= msa < slow
  solution = solve_segments("xla-msa-prefetch", problem, hardware)
  assert simulate_placement(solution.problem, hardware, solution.placement.levels) > fast


@pytest.mark.parametrize("settings", [dict(min_instructions=2), dict(min_instructions=100,
                                      max_instructions=50), dict(train_share=1.5)])
def test_bad_settings_are_refused(settings):
  with pytest.raises(ProblemError):
    ProblemGenerator(**settings)


def test_a_trainer_draws_a_new_problem_every_iteration():
  from malloc_muzero.agent.generated import draw, generated_game_config, generated_trainer
  from malloc_muzero.agent.search import SearchConfig
  from malloc_muzero.agent.train import TrainConfig

  generator = ProblemGenerator(min_instructions=24, max_instructions=48)
  config = TrainConfig(latent_size=16, num_atoms=21, games_per_iteration=4,
                       updates_per_iteration=2, batch_size=8, unroll_steps=2, n_step=3,
                       replay_games=16,
                       search=SearchConfig(num_simulations=4, max_considered=4,
                                           reference_bonus=1.0))
  trainer = generated_trainer(generator, "tpu-v4", 0.25, config, seed=3, num_slots=32)
  first = trainer.run_iteration()
  second = trainer.run_iteration()
  assert all(np.isfinite(v) for v in {**first.losses, **second.losses}.values())
  game_config = generated_game_config(generator, 32)
  drawn = [draw(generator, 3, i, "tpu-v4", 0.25, game_config)[0] for i in range(2)]
  assert drawn[0].to_json_dict() != drawn[1].to_json_dict()
  # Many draws all fit the one padded config.
  for i in range(40):
    draw(generator, 3, i, "tpu-v4", 0.25, game_config)


def test_a_generated_run_checkpoints_and_resumes(tmp_path):
  from malloc_muzero.agent.run import train
  from malloc_muzero.agent.search import SearchConfig
  from malloc_muzero.agent.train import TrainConfig

  config = TrainConfig(latent_size=16, num_atoms=21, games_per_iteration=4,
                       updates_per_iteration=1, batch_size=8, unroll_steps=2, n_step=3,
                       replay_games=16, search=SearchConfig(num_simulations=4,
                                                            max_considered=4))
  generated = {"generator": ProblemGenerator(min_instructions=24, max_instructions=40),
               "hardware_name": "tpu-v4", "fraction": 0.25, "num_slots": 32}
  first = train([], [], str(tmp_path), 1e6, 0, config, progress=False, max_iterations=1,
                generated=generated)
  assert first["iterations"] == 1 and not first["resumed"]
  again = train([], [], str(tmp_path), 1e6, 0, config, progress=False, max_iterations=2,
                generated=generated)
  assert again["resumed"] and again["iterations"] == 2
  other = dict(generated, fraction=0.5)
  with pytest.raises(ProblemError):
    train([], [], str(tmp_path), 1e6, 0, config, progress=False, max_iterations=3,
          generated=other)
