"""`anneal`: simulated annealing over the level decisions.

The state is a preference chromosome (`game_instance.Decoder`) decoded by argmax,
starting from the best of the heuristics' decisions (`heuristic_seeds`). A move gives
one buffer's preferences a new random order of levels. Each iteration
evaluates a batch of moves in one call of the JAX game and takes the best of
them, always if it improves the return and otherwise with probability
`exp(delta / T)`; `T` cools geometrically from `T0` to `T1` over the budget.
The best placement seen is returned.

Budget and reproducibility. An iteration is one batch of `MOVES_PER_STEP`
moves. With `options.iterations` (and no time limit) it runs exactly that many
and cools by iterations done: the same seed gives the same placement. With a
time limit alone (default 10 s) it cools by the time elapsed and runs as many
iterations as the machine allows, so a seed does not fix the placement.
"""

from __future__ import annotations

import jax
import numpy as np

from malloc_muzero.game_instance import Decoder, make_decoder
from malloc_muzero.placement import Placement
from malloc_muzero.solvers.chromosome import heuristic_seeds
from malloc_muzero.solvers.registry import Budget, register

MOVES_PER_STEP = 32
T0, T1 = 0.02, 1e-4  # In units of the return (a fraction of all-slow time).
DEFAULT_SECONDS = 10.0


@register("anneal", iterations=True)
def anneal(problem, hardware, options):
  decoder = make_decoder(problem, hardware)
  seeds = np.stack(heuristic_seeds(decoder, problem, hardware))
  return anneal_decoded(decoder, seeds, options.budget(DEFAULT_SECONDS), options.seed,
                        options.progress, options.iterations)[0]


def anneal_decoded(decoder: Decoder, seeds: np.ndarray, budget: Budget, seed: int = 0,
                   progress: bool = False, total: int | None = None) -> tuple[Placement, float]:
  """(best placement, its return): annealing over chromosomes of `decoder`'s
  game from the best of `seeds` ([K, N, L] chromosomes) until `budget` is
  spent. `total`: the iterations the progress bar counts to (None: unknown).
  The agent uses it to improve its start on its own game and grid
  (`agent.reference.annealed_start`)."""
  from tqdm import tqdm

  rng = np.random.default_rng(seed)
  key = jax.random.key(seed)
  n_real = int((np.asarray(decoder.problem.buffer_index) >= 0).sum())
  _, levels = decoder.shape
  states, values = decoder.decode_batch(seeds, key, sample=False)
  first = int(np.argmax(np.asarray(values)))
  current, value = seeds[first], float(values[first])
  state = jax.tree.map(lambda x: x[first], states)
  best = (decoder.placement(state), value)
  done = 0
  with tqdm(disable=not progress, desc="anneal", unit="step", total=total) as bar:
    while budget.more(done):
      temperature = T0 * (T1 / T0) ** budget.progress(done)
      candidates = np.repeat(current[None], MOVES_PER_STEP, axis=0)
      rows = rng.integers(n_real, size=MOVES_PER_STEP)
      candidates[np.arange(MOVES_PER_STEP), rows] = np.argsort(
          rng.random((MOVES_PER_STEP, levels)), axis=1)
      states, returns = decoder.decode_batch(candidates, key, sample=False)
      returns = np.asarray(returns)
      pick = int(np.argmax(returns))
      delta = float(returns[pick]) - value
      if delta >= 0 or rng.random() < np.exp(delta / temperature):
        current, value = candidates[pick], float(returns[pick])
        if value > best[1]:
          best = (decoder.placement(states, pick), value)
      done += 1
      bar.update()
      bar.set_postfix(best=f"{best[1]:.4f}", T=f"{temperature:.1e}")
  return best
