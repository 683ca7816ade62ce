"""Training on problems drawn afresh at every iteration.

`generated_trainer` sets up a `Trainer` whose `problem_source` draws a new
problem from a `malloc_muzero.generator.ProblemGenerator` at each iteration
(seeded by the run's seed and the iteration, so that a resumed run draws the
same ones), each with a fast memory of `fraction` of its own peak live bytes
and a slot grid of its own over it. Every drawn problem is padded to one
game config, sized from the generator's bounds, so that one network and one
jitted self-play play them all. For a warm start
(`TrainConfig.imitation_iterations`), its `demonstrations` are the best
placements the solvers find for the problems drawn at its first iterations
(`agent.imitation`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from malloc_muzero import game
from malloc_muzero.agent.imitation import best_actions
from malloc_muzero.agent.reference import make_reference
from malloc_muzero.agent.train import Trainer
from malloc_muzero.hardware import get_hardware
from malloc_muzero.game_instance import Decoder, grid

# Accesses per buffer a generated problem has at most (reads and the write
# of `generator._draw`: up to three nearby reads, a skip connection, a
# backward read, a definition; a weight's two reads and its update).
_MAX_ACCESSES = 8


def generated_game_config(generator, num_slots: int) -> game.GameConfig:
  """The game config every problem of `generator` fits (every instruction
  tracked; a granularity of 1, which each problem replaces by its own)."""
  return game.GameConfig(granularity=1, num_slots=num_slots,
                         max_buffers=generator.max_buffers,
                         max_instructions=generator.max_instructions,
                         max_accesses=_MAX_ACCESSES, max_tracked=None)


def draw(generator, seed: int, iteration: int, hardware_name: str, fraction: float,
         config: game.GameConfig, time_model: str | None = None):
  """(problem, hardware, decoder) of the problem drawn at `iteration`."""
  problem = generator(np.random.default_rng([seed, iteration]))
  hardware = get_hardware(hardware_name, capacity=problem.capacity_for(fraction),
                          time_model=time_model)
  granularity, _ = grid(hardware, config.num_slots)
  mine = dataclasses.replace(config, granularity=granularity)
  return problem, hardware, Decoder(game.make_game_problem(problem, hardware, mine), mine,
                                    len(hardware.levels))


def generated_trainer(generator, hardware_name: str, fraction: float, train_config,
                      seed: int, num_slots: int = 128, time_model: str | None = None):
  """A `Trainer` on problems drawn from `generator`, a new one per iteration
  (with XLA's placement as the reference when the search uses one)."""
  config = generated_game_config(generator, num_slots)
  guided = train_config.search.uses_reference

  def source(iteration: int):
    problem, hardware, decoder = draw(generator, seed, iteration, hardware_name, fraction,
                                      config, time_model)
    return decoder.problem, (make_reference(problem, hardware, decoder) if guided else None)

  def demonstrations(iteration: int):
    problem, hardware, decoder = draw(generator, seed, iteration, hardware_name, fraction,
                                      config, time_model)
    return decoder.problem, best_actions(problem, hardware, decoder, seed=iteration)

  first, reference = source(0)
  fast_levels = len(get_hardware(hardware_name).levels) - 1
  return Trainer([first], config, fast_levels, train_config, seed,
                 [reference] if guided else None, problem_source=source,
                 demonstrations=demonstrations)
