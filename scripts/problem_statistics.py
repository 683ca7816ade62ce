"""Statistics of the benchmark's problems beside those of generated ones.

    python scripts/problem_statistics.py --benchmark=DIR [--generated=20]

For each problem of a benchmark (`experiments.make_benchmark`) and for
`--generated` problems of `malloc_muzero.generator.ProblemGenerator()`,
prints the buffers per instruction, the share of parameters (weights), the
10/50/90% quantiles of log10 buffer sizes, the 50/90% quantiles and the
mean of live ranges as a share of the schedule, the mean reads per buffer and the
10/50/90% quantiles of flops per byte accessed: what the generator is drawn
to resemble.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from malloc_muzero import Problem  # noqa: E402
from malloc_muzero.generator import ProblemGenerator  # noqa: E402


def row(name: str, p: Problem) -> str:
  life = (p.ends - p.starts + 1) / p.schedule_length
  reads = np.bincount(p.access_buffer[p.access_bytes_read > 0], minlength=p.num_buffers)
  weights = sum(k.startswith("parameter") for k in p.buffer_kinds) / p.num_buffers
  intensity = p.flops / np.maximum(p.bytes_accessed, 1)
  logs = np.log10(np.maximum(p.sizes, 1))
  q = lambda x, qs: "/".join(f"{np.quantile(x, v):.{2 if x is life else 1}f}" for v in qs)
  return (f"{name[:28]:<28} {p.num_buffers / p.num_instructions:>5.2f} {weights:>7.2f} "
          f"{q(logs, (.1, .5, .9)):>14} {q(life, (.5, .9))}/{life.mean():.2f} "
          f"{reads.mean():>6.2f} "
          f"{q(intensity, (.1, .5, .9)):>16}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--benchmark", default="benchmark")
  parser.add_argument("--generated", type=int, default=20)
  args = parser.parse_args()
  print(f"{'problem':<28} {'N/M':>5} {'weights':>7} {'log10 size':>14} {'life (mean)':>15} "
        f"{'reads':>6} {'flops/byte':>16}")
  for path in sorted(glob.glob(os.path.join(args.benchmark, "*.json"))):
    if os.path.basename(path) != "manifest.json":
      print(row(os.path.basename(path)[:-5], Problem.load_json(path)))
  generator = ProblemGenerator()
  for seed in range(args.generated):
    problem = generator(seed)
    print(row(f"{problem.name} (seed {seed})", problem))


if __name__ == "__main__":
  main()
