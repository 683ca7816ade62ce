"""experiments.report: RESULTS.md, its plots, the results cache, bad input.

The command runs in a subprocess: its flags would clash with those of
experiments.evaluate, which other tests import into this interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from malloc_muzero import Problem


def _benchmark(directory, names=("p0", "p1")) -> None:
  """A benchmark directory as make_benchmark writes it, over tiny problems."""
  problems = []
  (directory / "problems").mkdir(parents=True)
  for seed, name in enumerate(names):
    rng = np.random.default_rng(seed)
    n = 20 + 10 * seed
    starts = rng.integers(0, 20, n)
    problem = Problem.from_arrays(sizes=rng.integers(1, 8, n) * 1024, starts=starts,
                                  ends=starts + rng.integers(0, 6, n), name=name)
    problem.save_json(directory / "problems" / f"{name}.json")
    problems.append({"name": name, "workload": "synthetic", "variant": f"seed {seed}",
                     "source": "tests", "file": f"problems/{name}.json", "buffers": n,
                     "peak_live_bytes": problem.peak_live_bytes()[0], "flops": 0,
                     "fingerprint": f"synthetic-{seed}"})
  (directory / "manifest.json").write_text(json.dumps({"version": 1, "problems": problems}))


def _report(benchmark, out, *args):
  return subprocess.run(
      [sys.executable, "-m", "experiments.report", f"--benchmark={benchmark}",
       f"--out={out}", "--time_limit=1", "--train_seconds=0", *args],
      capture_output=True, text=True, timeout=600)


def _results(benchmark) -> list[dict]:
  with open(benchmark / "results.jsonl") as f:
    return [json.loads(line) for line in f]


def test_page_plots_and_cache(tmp_path):
  benchmark, out = tmp_path / "bench", tmp_path / "site" / "RESULTS.md"
  _benchmark(benchmark)
  out.parent.mkdir()
  result = _report(benchmark, out, "--solvers=first-fit,xla-msa")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "computed 4," in result.stdout
  page = out.read_text()
  for fragment in ("python -m experiments.report", "--solvers=first-fit,xla-msa",
                   "**tpu-v4**", "CMEM", "25% of each problem's peak live bytes",
                   "| placement | time/slow | gap closed | wall s | notes |",
                   "#### p0", "#### p1", "| all fast (bound) | 0.250 |",
                   "| first-fit |", "| xla-msa |", "no agent",
                   "![time_over_slow.tpu-v4.png](results/time_over_slow.tpu-v4.png)"):
    assert fragment in page, fragment
  for name in ("time_over_slow", "gap_closed"):
    assert (out.parent / "results" / f"{name}.tpu-v4.png").read_bytes()[:4] == b"\x89PNG"
  first = {(r["problem"], r["solver"]): r for r in _results(benchmark)}
  assert len(first) == 4 and all(r["status"] == "ok" for r in first.values())
  for r in first.values():
    assert r["fast_s"] <= r["time_s"] <= r["slow_s"]

  # A rerun computes only what is missing, and keeps what was cached.
  result = _report(benchmark, out, "--solvers=first-fit,xla-msa,best-fit")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "computed 2," in result.stdout and "4 results cached" in result.stderr
  second = {(r["problem"], r["solver"]): r for r in _results(benchmark)}
  assert len(second) == 6 and "| best-fit |" in out.read_text()
  assert all(second[k]["wall_s"] == first[k]["wall_s"] for k in first)

  # --force recomputes the selection (here one problem and one solver).
  result = _report(benchmark, out, "--solvers=first-fit", "--problems=p1", "--force")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "computed 1," in result.stdout
  page = out.read_text()
  assert "#### p1" in page and "#### p0" not in page and "| xla-msa |" not in page
  assert len(_results(benchmark)) == 6


@pytest.mark.parametrize("setup,args,fragment", [
    ("none", [], "manifest.json: expected a manifest.json written by "
                 "experiments.make_benchmark"),
    ("not json", [], "manifest.json: expected a JSON manifest"),
    ("version 2", [], "manifest.json: version: expected an object with \"version\": 1"),
    ("missing file", [], "problems[0].file: expected a problem file relative to the "
                         "manifest, found 'gone.json'"),
    ("ok", ["--problems=p0,p9"], "--problems: expected a problem of the manifest among "
                                 "p0, p1, found 'p9'"),
    ("ok", ["--solvers=first-fit,nope"], "expected a solver among"),
    ("ok", ["--capacity_fraction=1.5"], "--capacity_fraction: expected a fraction in"),
])
def test_bad_input(tmp_path, setup, args, fragment):
  benchmark = tmp_path / "bench"
  if setup == "ok":
    _benchmark(benchmark)
  elif setup != "none":
    benchmark.mkdir()
    manifest = {"not json": "{", "version 2": json.dumps({"version": 2, "problems": []}),
                "missing file": json.dumps({"version": 1, "problems": [
                    {"name": "p", "file": "gone.json"}]})}[setup]
    (benchmark / "manifest.json").write_text(manifest)
  result = _report(benchmark, tmp_path / "RESULTS.md", *args)
  assert result.returncode == 2, result.stderr[-1000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("report: error: "), lines
  assert fragment in lines[0], lines[0]
  assert not (tmp_path / "RESULTS.md").exists()


@pytest.mark.slow
def test_every_solver_and_the_agent(tmp_path):
  """The default solvers (all registered) and a short training run; `muzero`
  plays from that run."""
  benchmark, out = tmp_path / "bench", tmp_path / "RESULTS.md"
  _benchmark(benchmark, names=("p0",))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.report", f"--benchmark={benchmark}",
       f"--out={out}", "--time_limit=1", "--train_seconds=1"],
      capture_output=True, text=True, timeout=1200)
  assert result.returncode == 0, result.stderr[-2000:]
  records = {r["solver"]: r for r in _results(benchmark)}
  from malloc_muzero.solvers import solver_names
  assert set(records) == {"mallocMuZero", *solver_names()}
  assert all(r["status"] == "ok" for r in records.values()), records
  assert records["exact"]["detail"] == "proved optimal"
  assert "| mallocMuZero |" in out.read_text()


def test_without_out_the_page_goes_beside_the_benchmark(tmp_path):
  """Never over a committed RESULTS.md in the working directory."""
  benchmark = tmp_path / "bench"
  _benchmark(benchmark)
  committed = tmp_path / "RESULTS.md"
  committed.write_text("the committed page\n")
  result = subprocess.run(
      [sys.executable, "-m", "experiments.report", f"--benchmark={benchmark}",
       "--time_limit=1", "--train_seconds=0", "--solvers=first-fit"],
      capture_output=True, text=True, timeout=600, cwd=tmp_path,
      env={**os.environ, "PYTHONPATH": os.getcwd()})
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"wrote {benchmark}/RESULTS.md" in result.stdout
  assert (benchmark / "RESULTS.md").exists()
  assert committed.read_text() == "the committed page\n"


def test_ablation_on_the_held_out_problems(tmp_path):
  """experiments.ablation plays only the held-out problems, with the shipped
  network, its untrained twin and no network, beside the baselines; a
  benchmark without held-out problems is refused in one line."""
  _benchmark(tmp_path / "bench", names=("p0", "p1"))
  command = [sys.executable, "-m", "experiments.ablation", f"--benchmark={tmp_path / 'bench'}",
             "--time_limit=1", f"--out={tmp_path / 'ablation.md'}"]
  refused = subprocess.run(command, capture_output=True, text=True, timeout=600)
  assert refused.returncode == 2
  assert refused.stderr.strip().splitlines() == [
      f"ablation: error: {tmp_path / 'bench'}: expected a benchmark with held-out problems"]
  manifest = json.loads((tmp_path / "bench" / "manifest.json").read_text())
  manifest["problems"][1]["split"] = "held_out"
  (tmp_path / "bench" / "manifest.json").write_text(json.dumps(manifest))
  done = subprocess.run(command, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr
  lines = (tmp_path / "ablation.md").read_text().splitlines()
  contenders = [line.split(" | ")[1] for line in lines if line.startswith("| p1 |")]
  assert not any(line.startswith("| p0 |") for line in lines)  # (in training)
  assert contenders[:3] == ["search, pretrained network", "search, untrained network",
                            "search, no network"]
  assert {"xla-msa", "anneal", "genetic"} <= set(contenders[3:])
