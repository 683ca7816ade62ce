"""The agent against XLA's two answers, `anneal` and `genetic`, from a
report's records, with the counts issue 15 asks for.

    python scripts/agent_against_baselines.py RESULTS.jsonl [--capacity-fraction 0.25]
        [--budget 300] [--agent replay_grid] [--problems a,b,...]

Reads the records `experiments.report` keeps (`results.jsonl` beside a
benchmark, or `results/report_5min/results.jsonl`), keeps those at the
capacity fraction and per-solver budget given, with status ok (the last
record of each problem and solver wins; `--agent` keeps only agent records
whose configuration key contains it), and prints, per problem, the share of
the slow-fast gap each closes (bold: the fastest of the row) and the agent's
wall time; then how often the agent is never slower than `xla-msa`,
strictly faster, faster than both `anneal` and `genetic`, and faster than
XLA's better answer (`xla-msa` or `xla-msa-prefetch`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from malloc_muzero.simulator import gap_closed  # noqa: E402

AGENT = "mallocMuZero"
COLUMNS = (AGENT, "xla-msa", "xla-msa-prefetch", "anneal", "genetic")


def read_records(path: str, fraction: float, budget: float, agent: str | None,
                 problems: list[str] | None) -> tuple[list[str], dict]:
  """(problems in first-seen order, {(problem, solver): record})."""
  order, records = [], {}
  with open(path) as lines:
    for line in lines:
      record = json.loads(line)
      if (record.get("capacity_fraction") != fraction or record.get("budget_s") != budget
          or record.get("status") != "ok"):
        continue
      if record["solver"] == AGENT and agent and agent not in record.get("agent", ""):
        continue
      if problems and record["problem"] not in problems:
        continue
      if record["problem"] not in order:
        order.append(record["problem"])
      records[record["problem"], record["solver"]] = record
  return order, records


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("records")
  parser.add_argument("--capacity-fraction", type=float, default=0.25)
  parser.add_argument("--budget", type=float, default=300.0)
  parser.add_argument("--agent", default=None)
  parser.add_argument("--problems", default=None)
  args = parser.parse_args()
  try:
    order, records = read_records(args.records, args.capacity_fraction, args.budget, args.agent,
                                  args.problems.split(",") if args.problems else None)
  except (OSError, ValueError, KeyError) as error:  # Bad input: one line, exit status 2.
    print(f"agent_against_baselines: {args.records}: {error}", file=sys.stderr)
    sys.exit(2)
  print("| problem | agent | xla-msa | xla-msa-prefetch | anneal | genetic | agent wall, s |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  counts = {"never slower than xla-msa": 0, "strictly faster than xla-msa": 0,
            "faster than anneal and genetic": 0, "faster than XLA's better answer": 0}
  rows = 0
  for problem in order:
    if (problem, AGENT) not in records:
      continue
    times = {s: records[problem, s]["time_s"] for s in COLUMNS if (problem, s) in records}
    fastest = min(times.values())
    cells = []
    for solver in COLUMNS:
      if solver not in times:
        cells.append("-")
        continue
      record = records[problem, solver]
      share = 100 * gap_closed(record["time_s"], record["slow_s"], record["fast_s"])
      cells.append(f"**{share:.3f}%**" if times[solver] <= fastest * (1 + 1e-12) else f"{share:.3f}%")
    agent = times[AGENT]
    inf = float("inf")
    rows += 1
    counts["never slower than xla-msa"] += agent <= times.get("xla-msa", inf)
    counts["strictly faster than xla-msa"] += agent < times.get("xla-msa", inf)
    counts["faster than anneal and genetic"] += (agent < times.get("anneal", inf) and
                                                 agent < times.get("genetic", inf))
    counts["faster than XLA's better answer"] += agent < min(times.get("xla-msa", inf),
                                                             times.get("xla-msa-prefetch", inf))
    print(f"| {problem} | " + " | ".join(cells) +
          f" | {records[problem, AGENT]['wall_s']:.0f} |")
  print()
  for name, count in counts.items():
    print(f"- agent {name}: {count} of {rows}")


if __name__ == "__main__":
  main()
