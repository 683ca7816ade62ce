"""The benchmark's manifest: its format, its split, how it is read and written.

`experiments.benchmark` (behind `python -m experiments.make_benchmark`) builds
the problems and writes `DIR/manifest.json` beside them (`write_manifest`,
`read_manifest`, `is_current`); the commands that read a benchmark
(`experiments.report`, `experiments.ablation`, scripts) take its problems
from `benchmark_entries`.

Manifest format, `DIR/manifest.json`:

    {"version": 1,
     "problems": [
       {"name": "resnet50_train",       # the problem's name, unique
        "workload": "resnet50",         # the model; "alphatensor_2x2x2" for AlphaTensor
        "variant": "train",             # "inference" or "train"; AlphaTensor:
                                        #   "l<levels>_<size>[_<dtype>]", e.g. "l2_2048"
        "source": "experiments.workloads.resnet:resnet50 (train, batch 8, 224x224 images)",
                                        # AlphaTensor: "experiments.alphatensor_programs:
                                        #   program('2,2,2', levels=2, size=2048, dtype='float32')"
        "file": "resnet50_train.json",  # the problem JSON, relative to the manifest's directory
        "buffers": 1779,                # int, Problem.num_buffers
        "peak_live_bytes": 1573025108,  # int bytes, Problem.peak_live_bytes()[0]
        "flops": 191867486208.0,        # float, Problem.total_flops
        "fingerprint": "3f5c...",       # str, 64 hex digits (experiments.benchmark)
        "split": "train",               # "train" or "held_out" (`split_of`)
        # More keys, which readers may ignore:
        "kind": "model",                # "model" or "alphatensor"
        "config": {...},                # what the fingerprint covers of the workload
        "instructions": 2370,           # int, Problem.num_instructions
        "schedule_length": 2370,        # int, Problem.schedule_length
        "peak_live_step": 1416,         # int, the schedule step of the peak
        "bytes_accessed": 1.2e10,       # float bytes, Problem.total_bytes_accessed
        "lower_seconds": 4.9,           # float, tracing and lowering to StableHLO
        "compile_seconds": 21.2,        # float, XLA's compilation
        "build_seconds": 27.5,          # float, wall time from building the program
                                        #   to the extracted problem (compile + extract)
        "jax_version": "0.10.2",
        "file_bytes": 12345678},        # int, size of the problem file
       ...]}

The split keeps whole families out of training: every problem of a workload
in `HELD_OUT_WORKLOADS` (the decoder LM, MobileNetV2 and the 3x3x3 AlphaTensor
programs, both variants of each) is "held_out", the rest "train". An agent
trained on the "train" problems (or on generated ones) is measured on the
"held_out" ones, which it never saw. The split is not part of the
fingerprint: changing it rewrites the manifest, not the problems.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from typing import Callable

from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.errors import ProblemError
from malloc_muzero.json_file import dump_json, read_json_file

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

# Workloads whose problems no agent trains on (the manifest's "split").
HELD_OUT_WORKLOADS = ("decoder_lm", "mobilenet_v2", "alphatensor_3x3x3")
SPLITS = ("train", "held_out")


def split_of(workload: str) -> str:
  """"held_out" for a workload of `HELD_OUT_WORKLOADS`, else "train"."""
  return "held_out" if workload in HELD_OUT_WORKLOADS else "train"


def read_manifest(out: str, warn: Callable[[str], None]) -> dict[str, dict]:
  """Name -> entry of the problems in `out`: the manifest's entries whose file
  is there, and those recovered from problem files the manifest lacks."""
  path = os.path.join(out, MANIFEST)
  entries: dict[str, dict] = {}
  if os.path.exists(path):
    try:
      data = read_json_file(path)
      if data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"version {data.get('version')!r}, not {MANIFEST_VERSION}")
      entries = {e["name"]: e for e in data["problems"]}
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as error:
      warn(f"make_benchmark: warning: ignoring {path} ({error}); recovering it from the "
           f"problem files")
  entries = {name: e for name, e in entries.items() if isinstance(e.get("file"), str)
             and os.path.isfile(os.path.join(out, e["file"]))}
  listed = {e["file"] for e in entries.values()}
  for file in sorted(glob.glob(os.path.join(glob.escape(out), "*.json"))):
    name = os.path.basename(file)
    if name == MANIFEST or name in listed:
      continue
    entry = _recover(file)
    if entry is not None and entry["name"] not in entries:
      entries[entry["name"]] = entry
  return entries


def _recover(path: str) -> dict | None:
  """The manifest entry stored in a problem file by `build`, or None."""
  try:
    entry = read_json_file(path).get("source", {}).get("benchmark")
  except (ValueError, AttributeError, OSError):
    return None
  if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
    return None
  return {**entry, "file": os.path.basename(path), "file_bytes": os.path.getsize(path)}


def is_current(entry: dict | None, digest: str, out: str) -> bool:
  """Whether `entry` was built with this fingerprint and its file is intact."""
  if entry is None or entry.get("fingerprint") != digest:
    return False
  path = os.path.join(out, entry["file"])
  return os.path.isfile(path) and os.path.getsize(path) == entry.get("file_bytes")


def write_manifest(out: str, entries: dict[str, dict], order: list[str]) -> None:
  """Writes `out/manifest.json` atomically: `order` first, then the rest by name."""
  rank = {name: i for i, name in enumerate(order)}
  names = sorted(entries, key=lambda n: (rank.get(n, len(rank)), n))
  data = {"version": MANIFEST_VERSION,
          "problems": [{**entries[n], "split": split_of(str(entries[n].get("workload")))}
                       for n in names]}
  atomic_write_text(os.path.join(out, MANIFEST), dump_json(data))


def problem_digest(path: str) -> str:
  """"sha256:" and 64 hex digits of what a solver reads of a problem file.

  A problem JSON is hashed without the build record `experiments.benchmark`
  adds to its source (`source.benchmark`: compile and build times, the build
  fingerprint), as canonical JSON; any other file (a MiniMalloc CSV) byte for
  byte. So a problem rebuilt by other code (the build fingerprint covers
  `hlo_tools`' source) or on another day keeps its digest, and results
  computed on it (`experiments.report`'s cache) stay valid, as long as the
  problem itself is unchanged.
  """
  with open(path, "rb") as f:
    data = f.read()
  try:
    problem = json.loads(data)
  except (UnicodeDecodeError, json.JSONDecodeError):
    problem = None
  if isinstance(problem, dict):
    source = problem.get("source")
    if isinstance(source, dict) and "benchmark" in source:
      problem = {**problem, "source": {k: v for k, v in source.items() if k != "benchmark"}}
    data = json.dumps(problem, sort_keys=True, separators=(",", ":")).encode()
  return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class Entry:
  """One problem of the manifest.

  Attributes:
    name: its unique name.
    path: the problem file (absolute).
    fingerprint: what identifies its contents (`problem_digest`): equal for
      equal problems, whatever code or machine built them.
    info: the manifest's other fields (workload, variant, source, ...).
  """
  name: str
  path: str
  fingerprint: str
  info: dict


def benchmark_entries(benchmark: str) -> list[Entry]:
  """The problems of a built benchmark, `benchmark/manifest.json`, for the
  commands that read one (`experiments.report`, `experiments.ablation`).

  Raises:
    ProblemError: no manifest, or one that is not version 1 with a list of
      problems, each with a unique `name` and a `file` that exists; the
      message names the file and the field.
  """
  path = os.path.join(benchmark, MANIFEST)
  if not os.path.isfile(path):
    raise ProblemError(f"a {MANIFEST} written by experiments.make_benchmark "
                       f"--out={benchmark}", path, found="no such file")
  try:
    with open(path) as f:
      data = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
    raise ProblemError("a JSON manifest", path, found=str(error)) from None
  if not isinstance(data, dict) or data.get("version") != 1:
    raise ProblemError("an object with \"version\": 1", path, "version",
                       data.get("version") if isinstance(data, dict) else data)
  problems = data.get("problems")
  if not isinstance(problems, list) or not problems:
    raise ProblemError("a non-empty list of problems", path, "problems", problems)
  entries, names = [], set()
  for index, item in enumerate(problems):
    where = f"problems[{index}]"
    if not isinstance(item, dict):
      raise ProblemError("an object", path, where, item)
    for field in ("name", "file"):
      if not isinstance(item.get(field), str) or not item[field]:
        raise ProblemError("a non-empty string", path, f"{where}.{field}", item.get(field))
    if item["name"] in names:
      raise ProblemError("a name no other problem has", path, f"{where}.name", item["name"])
    names.add(item["name"])
    file = os.path.join(os.path.dirname(os.path.abspath(path)), item["file"])
    if not os.path.isfile(file):
      raise ProblemError("a problem file relative to the manifest", path,
                         f"{where}.file", item["file"])
    info = {k: v for k, v in item.items() if k not in ("name", "file", "fingerprint")}
    entries.append(Entry(item["name"], file, problem_digest(file), info))
  return entries
