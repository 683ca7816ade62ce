"""`mcts`: Gumbel MuZero search with the game's true dynamics, no learning.

Plays rounds of `GAMES` games at once until its budget (at least one round), each move chosen by `mctx.gumbel_muzero_policy`
over the real mallocGame (`solvers.true_dynamics`), and returns the best. Moves
are searched `CHUNK` at a time; when the time limit falls inside the first
round, its games are finished without search (each move the heuristic prior's
favourite), so that a problem of thousands of buffers still gets an answer
near the limit. The
simulations per move and the actions considered at the root are module
constants here; the agent's training command will expose them as flags.

Without a learned value its leaves are worth 0, so it sees only as far as its
simulations reach: it is myopic, and weaker than `xla-msa` on real programs
(on the transformer training step at a quarter of peak live bytes it closes
25% of the gap where xla-msa closes 57%). It is the scaffold of the
true-dynamics agent, which adds the trained prediction network's values.

Budget and reproducibility. An iteration is one round. With
`options.iterations` (and no time limit) it plays exactly that many rounds,
each searched to the end, and the same seed gives the same placement. With a
time limit alone (default 10 s) the number of rounds, and where the last one
stops searching, depend on the machine, so a seed does not fix the placement.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from malloc_muzero import game
from malloc_muzero.solvers import true_dynamics
from malloc_muzero.game_instance import make_decoder
from malloc_muzero.solvers.registry import register

GAMES = 4
CHUNK = 64
NUM_SIMULATIONS = 32
MAX_CONSIDERED = 16
DEFAULT_SECONDS = 10.0


@register("mcts", iterations=True)
def mcts(problem, hardware, options):
  budget = options.budget(DEFAULT_SECONDS)
  decoder = make_decoder(problem, hardware)
  best, rounds = (None, -np.inf), 0
  while best[0] is None or budget.more(rounds):
    key = jax.random.fold_in(jax.random.key(options.seed), rounds)
    states, returns = _round(decoder, key, budget.deadline)
    top = int(np.argmax(np.asarray(returns)))
    if float(returns[top]) > best[1]:
      best = (decoder.placement(states, top), float(returns[top]))
    rounds += 1
  return best[0]


def _round(decoder, key, deadline: float):
  """One round of games: (final states, returns)."""
  problem = decoder.problem
  states = jax.vmap(lambda _: game.init(problem, decoder.config.num_slots))(
      np.arange(GAMES))
  returns = np.zeros(GAMES)
  for chunk in range(-(-problem.valid.shape[0] // CHUNK)):
    if time.monotonic() >= deadline:
      states, rewards = true_dynamics.finish(problem, states)
      return states, returns + np.asarray(rewards)
    states, rewards = true_dynamics.search_moves(
        problem, states, jax.random.fold_in(key, chunk), CHUNK, NUM_SIMULATIONS,
        MAX_CONSIDERED)
    returns += np.asarray(rewards)
  return states, returns
