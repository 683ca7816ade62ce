"""`muzero`: play with search from a trained mallocMuZero checkpoint.

Restores the run in `options.checkpoint` (written by `experiments.train` for
the same problem and hardware), plays a batch of games with its search
configuration, and returns the best of its own play and of the best placement
the run kept.
"""

from __future__ import annotations

from malloc_muzero.errors import ProblemError
from malloc_muzero.solvers.registry import register


@register("muzero")
def muzero(problem, hardware, options):
  from malloc_muzero.agent import checkpoint
  from malloc_muzero.agent.run import make_trainer, play_with_search, run_identity

  if not options.checkpoint:
    raise ProblemError("--checkpoint DIR of a training run for the muzero solver",
                       "command line", where="--checkpoint")
  config, seed = checkpoint.load_train_config(options.checkpoint)
  (decoder,), trainer = make_trainer([problem], [hardware], config, seed)
  if not checkpoint.restore(options.checkpoint, trainer,
                            run_identity([problem], [hardware])):
    raise ProblemError("a checkpoint of a training run", options.checkpoint)
  placement, total = play_with_search(trainer, decoder, trainer.references[0],
                                      options.seed)
  if total >= trainer.best[0]:
    return placement
  return decoder.placement(trainer.best[2])
