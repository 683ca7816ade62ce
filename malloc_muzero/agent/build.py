"""A Trainer for problems: their games, the search's references, the warm
start's demonstrations, and what a checkpoint of it was trained on.

`make_trainer` is the one place that wires `Trainer` (`agent.train`) to
problems and hardware: the commands (`agent.run.train`, the `muzero`
solver, `agent.pretrained`) and the scripts build their trainers with it.
"""

from __future__ import annotations

from malloc_muzero.agent.imitation import best_actions
from malloc_muzero.agent.reference import make_reference
from malloc_muzero.agent.train import Trainer
from malloc_muzero.game_instance import make_decoders


def run_identity(problems, hardwares, granularities=None) -> dict:
  """What a checkpoint's run must have been trained on to be resumed or used:
  one problem's identity, or {"problems": [...]} for a set; with the slot
  size of each problem's game where one was chosen (`granularities`)."""
  identities = []
  granularities = granularities or [None] * len(problems)
  for problem, hardware, granularity in zip(problems, hardwares, granularities):
    windows = problem.source.get("windows")  # (malloc_muzero.windows' settings)
    identities.append({"problem": problem.name, "buffers": problem.num_buffers,
                       "hardware": hardware.name,
                       "capacity": [level.capacity for level in hardware.levels[1:]],
                       "time_model": hardware.time_model,
                       **({"windows": windows} if windows else {}),
                       **({"granularity": granularity} if granularity else {})})
  return identities[0] if len(identities) == 1 else {"problems": identities}


def reference_for(problem, hardware, decoder, search, placement=None):
  """XLA's placement (or `placement`, on the game's grid) as the search's
  reference, when the search uses one."""
  if search.uses_reference:
    return make_reference(problem, hardware, decoder, placement)
  return None


def make_trainer(problems, hardwares, config, seed: int, placements=None,
                 granularities=None):
  """(decoders, Trainer) for a problem or a set of problems (each on its own
  hardware, padded to one shape), with XLA's placement as the search's
  reference when `config.search.reference_bonus` asks for one (or, per
  problem, the one of `placements` that is not None: e.g. `xla_cut`'s), and
  for a warm start the problems in turn, each with the best placement the
  solvers find (`agent.imitation`). Each game's slot size is the one of
  `granularities` that is not None (`agent.reference.replay_grid`'s, which
  `placements` lie on), else the finest (`game_instance.grid`)."""
  decoders = make_decoders(problems, hardwares, granularities=granularities)
  placements = placements or [None] * len(problems)
  references = [reference_for(p, h, d, config.search, placement)
                for p, h, d, placement in zip(problems, hardwares, decoders, placements)]
  if all(r is None for r in references):
    references = None

  def demonstrations(iteration: int):
    index = iteration % len(problems)
    return decoders[index].problem, best_actions(problems[index], hardwares[index],
                                                 decoders[index], seed=iteration)

  return decoders, Trainer([d.problem for d in decoders], decoders[0].config,
                           len(hardwares[0].levels) - 1, config, seed, references,
                           demonstrations=demonstrations)
