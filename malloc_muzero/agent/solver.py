"""`muzero`: play with search from a trained mallocMuZero network.

The agent offered as a solver. It registers itself through the solver
registry's plugin group (`solvers.registry.PLUGIN_GROUP`, declared in
pyproject.toml), so the solvers below it never import the agent; the registry
loads this module, and with it the agent's (JAX, flax, mctx, orbax), when the
solver is first looked up, not when it lists the solvers
(`malloc-solve --help`).

Without `options.checkpoint`, plays with the pretrained network that ships
with the package (`agent.pretrained`). Otherwise restores the run in
`options.checkpoint` (written by `experiments.train` or
`experiments.report` for the same problem and hardware), plays batches of
games with its search configuration until `options.time_limit_s` (one batch
without a limit; batch k plays with seed `options.seed + k`, so a seed and
a number of batches give one answer), and answers with the best of its own
play, the best placement the run kept, the placement the run's search
starts from (`agent.reference.starting_game`) and XLA's answers off the
game's grid (`agent.reference.never_slower_than_xla`). The
run's game is the problem's whole buffers or XLA's cut of them (its run
description says which), so the answer is segments of the problem's buffers.
"""

from __future__ import annotations

import os

from malloc_muzero.agent import checkpoint, pretrained
from malloc_muzero.agent.build import make_trainer, run_identity
from malloc_muzero.agent.play import play_until
from malloc_muzero.agent.reference import never_slower_than_xla, starting_game
from malloc_muzero.errors import ProblemError
from malloc_muzero.game_instance import grid
from malloc_muzero.simulator import simulate_placement
from malloc_muzero.solvers.registry import checked_segments, register_segments


@register_segments("muzero")
def muzero(problem, hardware, options):
  deadline = options.deadline(0.0)  # No time limit: one batch of games.
  if options.checkpoint:
    game, placement = _play_checkpoint(problem, hardware, options, deadline)
  elif os.path.exists(os.path.join(pretrained.PRETRAINED, pretrained.DESCRIPTION_FILE)):
    game, placement = pretrained.play(problem, hardware, deadline, options.seed,
                                      pretrained.PRETRAINED)
  else:
    raise ProblemError("--checkpoint DIR of a training run for the muzero solver (this "
                       "installation has no pretrained network)", "command line",
                       where="--checkpoint")
  answer = checked_segments("muzero", problem, hardware, game.segments_of(placement))
  return never_slower_than_xla(problem, hardware, answer)[0].segments


def _play_checkpoint(problem, hardware, options, deadline: float):
  """(game, placement of its problem): the best of the run's games, its
  start and batches played from its checkpoint until `deadline`."""
  config, seed = checkpoint.load_train_config(options.checkpoint)
  # The run's grid: the slot size it saved, or the finest (a run that saved none).
  saved = checkpoint.load_granularity(options.checkpoint)
  game = starting_game(problem, hardware, games=(checkpoint.load_game(options.checkpoint),),
                       granularity=saved or grid(hardware)[0])
  (decoder,), trainer = make_trainer([game.problem], [hardware], config, seed,
                                     [game.placement], [game.granularity])
  if not checkpoint.restore(options.checkpoint, trainer,
                            run_identity([game.problem], [hardware], [saved])):
    raise ProblemError("a checkpoint of a training run", options.checkpoint)

  def time_of(placement):
    return simulate_placement(game.problem, hardware, placement.levels)

  placement = min((decoder.placement(trainer.best.state), game.placement), key=time_of)
  return game, play_until(trainer, decoder, trainer.references[0], deadline, options.seed,
                          placement, time_of)
