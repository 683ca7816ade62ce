"""`genetic`: EGRL-style evolution of Boltzmann chromosomes.

As in EGRL (Khadka et al., ICLR 2021), a chromosome holds, for every buffer, a
preference for each memory level and a temperature; a placement is sampled
from the Boltzmann distribution `softmax(preferences / temperature)` among
the levels with room (`game_instance.Decoder`). Each generation evaluates the
whole population in one batched call of the JAX game, keeps the elites,
fills the rest with children of tournament-selected parents (uniform
crossover of buffers' rows) and mutates them (Gaussian noise on some rows,
log-normal noise on their temperatures). The best placement ever sampled is
returned. The first members start from the heuristics' decisions
(`chromosome.heuristic_seeds`).

Budget and reproducibility. An iteration is one generation. With
`options.iterations` (and no time limit) it evolves exactly that many and the
same seed gives the same placement. With a time limit alone (default 20 s)
it runs as many generations as the machine allows (at least one), so a seed
does not fix the placement.
"""

from __future__ import annotations

import jax
import numpy as np

from malloc_muzero.game_instance import Decoder, make_decoder
from malloc_muzero.solvers.chromosome import heuristic_seeds
from malloc_muzero.solvers.registry import Budget, register

POPULATION = 64
ELITES = 4
TOURNAMENT = 3
MUTATION_RATE = 0.05
MUTATION_SCALE = 1.0
DEFAULT_SECONDS = 20.0


def evolve(decoder: Decoder, seeds: list[np.ndarray], budget: Budget,
           rng: np.random.Generator, progress: bool = False):
  """Evolve from `seeds` ([N, L] preferences) for `budget`'s generations
  (at least one).

  Returns:
    (best placement, its return, generations run).
  """
  from tqdm import tqdm

  n, levels = decoder.shape
  population = rng.normal(0.0, 1.0, (POPULATION, n, levels)).astype(np.float32)
  for i, seed in enumerate(seeds[:POPULATION]):
    population[i] = seed
  temperature = np.ones((POPULATION, n), np.float32)
  key = jax.random.key(int(rng.integers(2**31)))
  best = (None, -np.inf)
  generations = 0
  with tqdm(disable=not progress, desc="genetic", unit="gen",
            total=budget.iterations) as bar:
    while generations == 0 or budget.more(generations):
      key, sample_key = jax.random.split(key)
      states, returns = decoder.decode_batch(population / temperature[..., None],
                                             sample_key, sample=True)
      returns = np.asarray(returns)
      top = int(np.argmax(returns))
      if returns[top] > best[1]:
        best = (decoder.placement(states, top), float(returns[top]))
      population, temperature = _next_generation(population, temperature,
                                                 returns, rng)
      generations += 1
      bar.update()
      bar.set_postfix(best=f"{best[1]:.4f}")
  return best[0], best[1], generations


def _next_generation(population, temperature, fitness, rng):
  order = np.argsort(-fitness)
  size, n, _ = population.shape
  children = [population[order[:ELITES]]]
  child_temperature = [temperature[order[:ELITES]]]

  def tournament() -> int:
    entrants = rng.integers(size, size=TOURNAMENT)
    return int(entrants[np.argmax(fitness[entrants])])

  count = size - ELITES
  mothers = np.array([tournament() for _ in range(count)])
  fathers = np.array([tournament() for _ in range(count)])
  take_mother = rng.random((count, n)) < 0.5
  genes = np.where(take_mother[..., None], population[mothers], population[fathers])
  temps = np.where(take_mother, temperature[mothers], temperature[fathers])
  mutate = rng.random((count, n)) < MUTATION_RATE
  genes = genes + mutate[..., None] * rng.normal(0.0, MUTATION_SCALE, genes.shape)
  temps = temps * np.exp(mutate * rng.normal(0.0, 0.2, temps.shape))
  children.append(genes.astype(np.float32))
  child_temperature.append(np.clip(temps, 0.05, 20.0).astype(np.float32))
  return np.concatenate(children), np.concatenate(child_temperature)


@register("genetic", iterations=True)
def genetic(problem, hardware, options):
  budget = options.budget(DEFAULT_SECONDS)
  decoder = make_decoder(problem, hardware)
  rng = np.random.default_rng(options.seed)
  seeds = [4.0 * seed for seed in heuristic_seeds(decoder, problem, hardware)]
  placement, _, _ = evolve(decoder, seeds, budget, rng, options.progress)
  return placement
