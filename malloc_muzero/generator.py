"""Random buffer-assignment problems, drawn like those of compiled programs.

In the manner of jumanji's generators: a `ProblemGenerator` is a frozen
description of a distribution, and calling it with a seed (or a NumPy
`Generator`) draws a new `Problem`, so that training can see a new problem at
every iteration. Each problem is a scheduled program of `num_instructions`
instructions, an inference pass or a training step, whose statistics follow
those of the benchmark's programs (`experiments.make_benchmark`; measured on
its 14 problems, `python scripts/problem_statistics.py`):

* About one buffer per instruction: each instruction writes one buffer (its
  output) and reads one to three earlier ones, most of them made a few steps
  before, some much earlier (skip connections).
* Inference: a third to two thirds of the buffers are parameters (weights),
  live for the whole program and read once or twice. Training: a quarter to
  a third are weights, parameters updated in place (`parameter+output`), read in the forward
  half and again in the backward half; most activations made in the forward
  half (80%) are read again at the mirrored step of the backward half, so that a
  training step's buffers live a quarter to a half of the program, as the
  benchmark's do.
* Sizes are log-normal around a per-problem scale of 30 KB to 3 MB, and a
  share of the weights are small (biases, norms: 250 B to 3 KB).
* Most instructions are memory-bound (0.01 to 1 flop per byte); one in six
  is compute-heavy (10 to 100 flops per byte, a matmul or a convolution); one
  in ten also computes transcendentals.

Every access moves its buffer's whole size; an instruction's
`bytes_accessed` is the sum of its accesses. The problems are valid by
construction (`Problem`'s own checks run on each).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.problem import Problem

VARIANTS = ("inference", "train")


@dataclasses.dataclass(frozen=True)
class ProblemGenerator:
  """A distribution of problems.

  Attributes:
    min_instructions: the fewest instructions of a problem.
    max_instructions: the most (each problem draws its count uniformly).
    train_share: the probability of a training step (else inference).
    compute_heavy_share: the share of compute-heavy instructions.
  """
  min_instructions: int = 64
  max_instructions: int = 512
  train_share: float = 0.5
  compute_heavy_share: float = 1 / 6

  def __post_init__(self):
    if not 4 <= self.min_instructions <= self.max_instructions:
      raise ProblemError("4 <= min_instructions <= max_instructions", where="generator",
                         found=(self.min_instructions, self.max_instructions))
    for name in ("train_share", "compute_heavy_share"):
      if not 0 <= getattr(self, name) <= 1:
        raise ProblemError("a probability in [0, 1]", where=name, found=getattr(self, name))

  @property
  def max_buffers(self) -> int:
    """The most buffers a problem may have (one per instruction)."""
    return self.max_instructions

  def __call__(self, seed) -> Problem:
    """A new problem; the same seed gives the same problem."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    steps = int(rng.integers(self.min_instructions, self.max_instructions + 1))
    variant = VARIANTS[int(rng.random() < self.train_share)]
    return _draw(rng, steps, variant, self.compute_heavy_share)


def _draw(rng: np.random.Generator, steps: int, variant: str, heavy_share: float) -> Problem:
  train = variant == "train"
  scale = rng.uniform(4.5, 6.5)                   # log10 bytes of a typical activation
  weight_share = rng.uniform(0.25, 0.35) if train else rng.uniform(0.35, 0.65)
  weights = max(1, int(round(weight_share * steps)))
  activations = steps - weights                   # one buffer per instruction in all
  sizes, starts, ends, kinds, reads = [], [], [], [], []

  def size(log_mean: float, spread: float) -> int:
    return int(max(4, round(10 ** rng.normal(log_mean, spread) / 4) * 4))

  half = steps // 2
  # Weights: live for the whole program, read in the forward pass (and, in a
  # training step, at the mirrored backward step, and written by the update).
  for w in range(weights):
    small = rng.random() < 0.4
    sizes.append(size(rng.uniform(2.4, 3.5), 0.1) if small else size(scale, 0.6))
    starts.append(0)
    ends.append(steps - 1)
    kinds.append("parameter+output" if train else "parameter")
    forward = int(rng.integers(0, half if train else steps))
    reads.append([forward] + ([steps - 1 - forward] if train else
                              [int(rng.integers(0, steps))] if rng.random() < 0.3 else []))
  # Activations: instruction i writes buffer i's activation (spread evenly).
  writers = np.sort(rng.choice(steps, size=activations, replace=False))
  for a, step in enumerate(writers.tolist()):
    sizes.append(size(scale, 0.5))
    starts.append(step)
    uses = [step + int(rng.geometric(1 / 3)) for _ in range(int(rng.integers(1, 4 if train else 3)))]
    if rng.random() < 0.1:
      uses.append(step + int(rng.integers(8, 40)))          # a skip connection
    if train and step < half and rng.random() < 0.8:
      uses.append(steps - 1 - step)                         # saved for the backward pass
    uses = sorted({u for u in uses if step < u < steps})
    kinds.append("temporary" if uses else "output")
    ends.append(uses[-1] if uses else steps - 1)
    reads.append(uses)
  # Accesses: one write at each activation's start, and each read.
  access = []
  for b, (start, kind, uses) in enumerate(zip(starts, kinds, reads)):
    if not kind.startswith("parameter"):
      access.append((b, start, 0, sizes[b]))
    elif kind == "parameter+output":
      access.append((b, steps - 1, 0, sizes[b]))            # the update
    for use in uses:
      access.append((b, use, sizes[b], 0))
  merged: dict[tuple[int, int], list[int]] = {}
  for b, step, read, written in access:
    row = merged.setdefault((b, step), [0, 0])
    row[0] += read
    row[1] += written
  keys = sorted(merged)
  access_buffer = np.array([b for b, _ in keys], np.int64)
  access_step = np.array([s for _, s in keys], np.int64)
  read = np.array([merged[k][0] for k in keys], np.int64)
  written = np.array([merged[k][1] for k in keys], np.int64)
  moved = np.bincount(access_step, (read + written).astype(np.float64), minlength=steps)
  heavy = rng.random(steps) < heavy_share
  intensity = np.where(heavy, 10 ** rng.uniform(1, 2, steps), 10 ** rng.uniform(-2, 0, steps))
  flops = np.round(intensity * moved)
  transcendentals = np.where(rng.random(steps) < 0.1, np.round(moved / 40), 0.0)
  return Problem(
      name=f"generated_{variant}_{steps}", buffer_names=tuple(f"b{b}" for b in range(steps)),
      sizes=sizes, starts=starts, ends=ends, buffer_kinds=tuple(kinds),
      instruction_names=tuple(f"i{t}" for t in range(steps)),
      opcodes=tuple("fusion" if not h else "convolution" for h in heavy.tolist()),
      flops=flops, transcendentals=transcendentals, bytes_accessed=moved,
      access_buffer=access_buffer, access_instruction=access_step,
      access_bytes_read=read, access_bytes_written=written, schedule_length=steps,
      source={"kind": "generated", "variant": variant})
