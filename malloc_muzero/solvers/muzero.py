"""`muzero`: play with search from a trained mallocMuZero checkpoint.

Restores the run in `options.checkpoint` (written by `experiments.train` or
`experiments.report` for the same problem and hardware), plays a batch of
games with its search configuration, and answers with the best of its own
play, the best placement the run kept, the placement the run's search
starts from (`agent.reference.starting_game`) and XLA's answers off the
game's grid (`agent.reference.never_slower_than_xla`). The
run's game is the problem's whole buffers or XLA's cut of them (its run
description says which), so the answer is segments of the problem's buffers.
"""

from __future__ import annotations

from malloc_muzero.errors import ProblemError
from malloc_muzero.solvers.registry import register_segments


@register_segments("muzero")
def muzero(problem, hardware, options):
  from malloc_muzero.agent import checkpoint
  from malloc_muzero.agent.reference import never_slower_than_xla, starting_game
  from malloc_muzero.agent.run import make_trainer, play_with_search, run_identity
  from malloc_muzero.simulator import simulate_placement
  from malloc_muzero.solvers.registry import checked_segments

  if not options.checkpoint:
    raise ProblemError("--checkpoint DIR of a training run for the muzero solver",
                       "command line", where="--checkpoint")
  config, seed = checkpoint.load_train_config(options.checkpoint)
  start = starting_game(problem, hardware, games=(checkpoint.load_game(options.checkpoint),))
  (decoder,), trainer = make_trainer([start.problem], [hardware], config, seed,
                                     [start.placement])
  if not checkpoint.restore(options.checkpoint, trainer,
                            run_identity([start.problem], [hardware])):
    raise ProblemError("a checkpoint of a training run", options.checkpoint)
  played, _ = play_with_search(trainer, decoder, trainer.references[0], options.seed)
  placement = min((played, decoder.placement(trainer.best[2]), start.placement),
                  key=lambda p: simulate_placement(start.problem, hardware, p.levels))
  answer = checked_segments("muzero", problem, hardware, start.segments_of(placement))
  return never_slower_than_xla(problem, hardware, answer)[0].segments
