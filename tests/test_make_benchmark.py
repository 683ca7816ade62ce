"""make_benchmark: problems and a manifest that agree, skipping, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from experiments import benchmark
from experiments.manifest import split_of
from malloc_muzero import Problem

# The cheapest problems: a one-level Strassen product of 256 x 256 matrices
# (30 buffers) and MobileNet-V2's inference pass (424 buffers, ~3 s to compile).
SMALL = "2x2x2:1:256"
SMALL_NAME = "alphatensor_2x2x2_l1_256"
MANIFEST_KEYS = {"name", "workload", "variant", "source", "file", "buffers",
                 "peak_live_bytes", "flops", "fingerprint", "split"}


def _run(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "experiments.make_benchmark", *args],
                        capture_output=True, text=True, timeout=600)


def _manifest(out) -> dict:
  with open(os.path.join(out, "manifest.json")) as file:
    return json.load(file)


def _check_agrees_with_files(out, manifest: dict) -> None:
  for entry in manifest["problems"]:
    assert MANIFEST_KEYS <= set(entry)
    problem = Problem.load_json(os.path.join(out, entry["file"]))
    assert problem.name == entry["name"]
    assert entry["buffers"] == problem.num_buffers
    assert entry["peak_live_bytes"] == problem.peak_live_bytes()[0]
    assert entry["flops"] == problem.total_flops
    assert len(entry["fingerprint"]) == 64
    assert problem.source["benchmark"]["fingerprint"] == entry["fingerprint"]


def test_builds_then_skips(tmp_path):
  out = str(tmp_path / "benchmark")
  args = (f"--out={out}", f"--workloads=mobilenet_v2_inference,{SMALL_NAME}",
          f"--alphatensor={SMALL}")
  first = _run(*args)
  assert first.returncode == 0, first.stderr[-2000:]
  assert "make_benchmark" in first.stderr  # The progress bar.
  manifest = _manifest(out)
  assert manifest["version"] == 1
  entries = {e["name"]: e for e in manifest["problems"]}
  assert list(entries) == ["mobilenet_v2_inference", SMALL_NAME]
  assert sorted(os.listdir(out)) == sorted(["manifest.json", *(e["file"] for e in
                                                               entries.values())])
  mobilenet = entries["mobilenet_v2_inference"]
  assert (mobilenet["workload"], mobilenet["variant"], mobilenet["source"]) == (
      "mobilenet_v2", "inference",
      "experiments.workloads.mobilenet:mobilenet_v2 (inference, batch 1, 224x224 images)")
  assert mobilenet["split"] == "held_out"
  strassen = entries[SMALL_NAME]
  assert (strassen["workload"], strassen["variant"]) == ("alphatensor_2x2x2", "l1_256")
  assert strassen["split"] == "train"
  assert strassen["buffers"] > 10 and strassen["flops"] > 7 * 2 * 128 ** 3
  _check_agrees_with_files(out, manifest)

  mtimes = {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out)}
  second = _run(*args)
  assert second.returncode == 0, second.stderr[-2000:]
  assert f"skipping {SMALL_NAME}: current" in second.stdout
  assert "skipping mobilenet_v2_inference: current" in second.stdout
  assert _manifest(out) == manifest
  for file in mtimes:
    if file != "manifest.json":
      assert os.path.getmtime(os.path.join(out, file)) == mtimes[file]


def test_stale_lost_and_partial_manifests(tmp_path, capsys):
  """In-process: a changed fingerprint rebuilds, a lost manifest is recovered
  from the problem files, and a run on a subset keeps the others listed."""
  out = str(tmp_path)
  assert benchmark.make_benchmark(out, [SMALL_NAME], [SMALL], force=False) == 0
  entry = _manifest(out)["problems"][0]

  os.remove(os.path.join(out, "manifest.json"))
  assert benchmark.make_benchmark(out, [SMALL_NAME], [SMALL], force=False) == 0
  assert f"skipping {SMALL_NAME}" in capsys.readouterr().out
  assert _manifest(out)["problems"] == [entry]

  manifest = _manifest(out)
  manifest["problems"][0]["fingerprint"] = "0" * 64  # As if the code had changed.
  with open(os.path.join(out, "manifest.json"), "w") as file:
    json.dump(manifest, file)
  assert benchmark.make_benchmark(out, [SMALL_NAME], [SMALL], force=False) == 0
  assert "skipping" not in capsys.readouterr().out
  assert _manifest(out)["problems"][0]["fingerprint"] == entry["fingerprint"]

  other = "alphatensor_2x2x2_l1_512"
  assert benchmark.make_benchmark(out, [other], [SMALL, "2x2x2:1:512"], force=False) == 0
  manifest = _manifest(out)
  assert [e["name"] for e in manifest["problems"]] == [SMALL_NAME, other]
  _check_agrees_with_files(out, manifest)


def test_unknown_workload_is_one_line_and_exit_2(tmp_path):
  result = _run(f"--out={tmp_path}", "--workloads=mobilenet_v2_inference,resnet18")
  assert result.returncode == 2
  assert result.stderr.startswith("make_benchmark: error: unknown workload 'resnet18'; "
                                  "expected one of resnet50_inference, "), result.stderr
  assert result.stderr.count("\n") == 1 and "alphatensor_2x2x2_l2_2048" in result.stderr
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize("item,message", [
    ("13x13x13:1:1024", "no factorization of shape '13,13,13'"),
    ("4x4x4:2:1000", "divisible by 4^2 = 16"),
    ("4x4", "expected NxMxP:LEVELS:SIZE[:DTYPE]"),
    ("2x2x2:1:256:float16", "expected float32 or bfloat16"),
])
def test_bad_alphatensor_items_are_named(tmp_path, item, message):
  with pytest.raises(benchmark.UsageError) as error:
    benchmark.make_benchmark(str(tmp_path), [], [item], force=False)
  assert message in str(error.value) and repr(item) in str(error.value)


def test_the_split_holds_out_whole_families_among_them_a_decoder_lm_and_alphatensor():
  names = [item.name for item in benchmark.model_items()] + [
      benchmark.alphatensor_item(spec).name for spec in benchmark.DEFAULT_ALPHATENSOR]
  items = {item.name: item for item in benchmark.model_items()}
  items.update({benchmark.alphatensor_item(spec).name: benchmark.alphatensor_item(spec)
                for spec in benchmark.DEFAULT_ALPHATENSOR})
  held_out = [n for n in names if split_of(items[n].workload) == "held_out"]
  assert len(held_out) >= 5 and "decoder_lm_train" in held_out
  assert any(n.startswith("alphatensor_") for n in held_out)
  trained = {items[n].workload for n in names if n not in held_out}
  assert not trained & {items[n].workload for n in held_out}  # no family on both sides


def test_a_problem_rebuilt_unchanged_keeps_its_digest(tmp_path):
  """The report's results are keyed by `problem_digest`: a rebuild that changes
  only the build record (times, the build fingerprint, which covers hlo_tools'
  code) or the file's layout keeps the key; a changed buffer does not."""
  from experiments.manifest import benchmark_entries, problem_digest

  problem = Problem.from_arrays(sizes=[1024, 2048, 512], starts=[0, 1, 2], ends=[2, 3, 4],
                                name="p")
  data = problem.to_json_dict()
  data["source"] = {"kind": "hlo", "benchmark": {"compile_seconds": 1.0, "fingerprint": "a"}}
  path = tmp_path / "p.json"
  path.write_text(json.dumps(data))
  manifest = {"version": 1, "problems": [{"name": "p", "file": "p.json", "fingerprint": "a"}]}
  (tmp_path / "manifest.json").write_text(json.dumps(manifest))
  digest = problem_digest(str(path))
  assert benchmark_entries(str(tmp_path))[0].fingerprint == digest

  data["source"]["benchmark"] = {"compile_seconds": 2.5, "fingerprint": "b"}
  path.write_text(json.dumps(data, indent=2, sort_keys=True))
  manifest["problems"][0]["fingerprint"] = "b"
  (tmp_path / "manifest.json").write_text(json.dumps(manifest))
  assert problem_digest(str(path)) == digest
  assert benchmark_entries(str(tmp_path))[0].fingerprint == digest

  data["source"]["kind"] = "synthetic"  # What the problem says of itself is its content.
  path.write_text(json.dumps(data))
  assert problem_digest(str(path)) != digest
  data["source"]["kind"] = "hlo"
  data["buffers"][0]["size"] = 4096
  path.write_text(json.dumps(data))
  assert problem_digest(str(path)) != digest

  csv = tmp_path / "p.csv"
  csv.write_text("id,lower,upper,size\n0,0,2,4\n")
  assert problem_digest(str(csv)).startswith("sha256:")
