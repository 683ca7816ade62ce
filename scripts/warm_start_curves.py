"""Learning curves of training runs with and without a warm start, side by side.

    python scripts/warm_start_curves.py --runs /tmp/pre_warm,/tmp/pre_cold \\
        --out docs/agent/warm_start_curves.png

Reads each `experiments.train` work directory (`run.json`, `metrics.jsonl`)
and prints, per run and per slice of its wall time, the mean gain of the
self-play games over the reference they depart from (XLA's placement of the
problem drawn, as a share of its all-slow time: `mean_gain`; the returns
themselves vary more from problem to problem than with training), and the
policy and value losses. The plot draws the three against training seconds,
one line per run; a run's warm-start iterations
(`TrainConfig.imitation_iterations`, demonstrations instead of self-play) are
shaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from malloc_muzero.agent import run_files  # noqa: E402

SLICES = 4


def read(workdir: str) -> tuple[int, list[dict]]:
  """(warm-start iterations, the run's metric records)."""
  with open(os.path.join(workdir, "run.json")) as f:
    warm = json.load(f)["train_config"].get("imitation_iterations", 0)
  with open(os.path.join(workdir, run_files.METRICS_FILE)) as f:
    return warm, [json.loads(line) for line in f if line.strip()]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs", required=True, help="comma-separated work directories")
  parser.add_argument("--out", default=None, help="a PNG for the curves (default: none)")
  args = parser.parse_args()
  runs = {os.path.basename(os.path.normpath(d)): read(d) for d in args.runs.split(",")}
  print(f"{'run':<14} {'warm':>5} {'seconds':>13} {'self-play its':>13} "
        f"{'mean gain':>11} {'policy loss':>11} {'value loss':>10}")
  for name, (warm, records) in runs.items():
    end = records[-1]["seconds"]
    for k in range(SLICES):
      low, high = end * k / SLICES, end * (k + 1) / SLICES
      part = [r for r in records if low <= r["seconds"] < high or
              (k == SLICES - 1 and r["seconds"] == high)]
      played = [r for r in part if r["iteration"] > warm]
      mean = lambda rows, key: sum(r[key] for r in rows) / len(rows) if rows else float("nan")
      print(f"{name:<14} {warm:>5} {low:>6.0f}-{high:<6.0f} {len(played):>13} "
            f"{mean(played, 'mean_gain'):>11.2e} {mean(part, 'loss_policy'):>11.3f} "
            f"{mean(part, 'loss_value'):>10.3f}")
  if args.out:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, (warm, records) in runs.items():
      played = [r for r in records if r["iteration"] > warm]
      line, = axes[0].plot([r["seconds"] for r in played], [r["mean_gain"] for r in played],
                           ".-", label=f"{name} ({warm} demonstrations)")
      for axis, key in ((axes[1], "loss_policy"), (axes[2], "loss_value")):
        axis.plot([r["seconds"] for r in records], [r[key] for r in records], ".-",
                  color=line.get_color())
      if warm:
        last = records[min(warm, len(records)) - 1]["seconds"]
        for axis in axes:
          axis.axvspan(0, last, color=line.get_color(), alpha=0.08)
    for axis, title in zip(axes, ("self-play games' mean gain over XLA", "policy loss", "value loss")):
      axis.set_title(title)
      axis.set_xlabel("training seconds")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
