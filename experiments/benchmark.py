"""The benchmark: one buffer-assignment problem per workload, and a manifest.

Built by `python -m experiments.make_benchmark --out=DIR [--workloads=a,b,...]
[--alphatensor=2x2x2:2:2048,3x3x3:1:1536,...] [--force]` (`make_benchmark`
here is the library call behind it).

Compiles each workload of `experiments.workloads` (five models, each as
`<model>_inference` at batch 1 and `<model>_train` at batch 8) and each
AlphaTensor matrix multiplication of `--alphatensor` on the CPU, captures its
optimised HLO (`hlo_tools.capture_jax`), extracts its problem
(`hlo_tools.parse_hlo`, `hlo_tools.module_to_problem`) and writes it to
`DIR/<name>.json`. `--workloads` restricts the run to some names (model
workloads or AlphaTensor program names such as `alphatensor_2x2x2_l2_2048`).
An `--alphatensor` item is `NxMxP:LEVELS:SIZE[:DTYPE]` (DTYPE float32 or
bfloat16): the factorization of the n x m by m x p product, its recursion
levels and the rows of the square operands (`experiments.alphatensor_programs`).
The default builds Strassen (2x2x2) two levels deep at 2048, 3x3x3 one level at
1536 and 4x4x4 one level at 2048; 4x4x4 two levels deep (2401 block products)
takes minutes to compile and gives 8,000 buffers, so it is left to the flag.

A problem is skipped when the manifest lists it with the same fingerprint and
its file is there with the size the manifest records (`--force` rebuilds).
The fingerprint (SHA-256, hex) covers everything that decides the problem:
  * `FINGERPRINT_VERSION` (bumped when this command builds problems differently),
  * the problem's name and configuration (`config` below),
  * the contents of the files that define its program: the model's file and
    every file of `experiments/workloads/` that defines no model (`training.py`,
    `layers.py`, `registry.py`, `__init__.py`); or
    `experiments/alphatensor_programs.py` and the factorization file,
  * the versions of jax, jaxlib, flax and optax,
  * the contents of every `hlo_tools/*.py` (there is no separate hlo_tools
    version) and of `malloc_muzero/problem.py` (the problem's JSON form),
  * `XLA_FLAGS` and the machine architecture (`platform.machine()`).
It does not cover the rest of the environment (numpy, the CPU's model).

Each problem's JSON carries its manifest entry in `source["benchmark"]`, so a
lost or stale manifest is rebuilt from the problem files. The manifest is
written atomically after every problem and lists every problem file of the
directory that this command wrote (also those of earlier runs with other
`--workloads`); entries whose file is gone are dropped.

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
        "fingerprint": "3f5c...",       # str, 64 hex digits (see above)
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

Problems are listed models first (registry order), then AlphaTensor programs
in flag order, then other problems of earlier runs by name. Progress goes to
stderr (a tqdm bar naming the current workload); a table of the problems built
or skipped goes to stdout. Bad flags (an unknown workload, a bad
`--alphatensor` item) print one line `make_benchmark: error: ...` and exit 2;
a workload that fails to build prints one such line, the others are built, and
the exit status is 1.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import platform
import sys
import time
from typing import Callable


MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
FINGERPRINT_VERSION = 1
DEFAULT_ALPHATENSOR = ("2x2x2:2:2048", "3x3x3:1:1536", "3x3x3:2:2304", "4x4x4:1:2048")

# Workloads whose problems no agent trains on (the manifest's "split").
HELD_OUT_WORKLOADS = ("decoder_lm", "mobilenet_v2", "alphatensor_3x3x3")
SPLITS = ("train", "held_out")


def split_of(workload: str) -> str:
  """"held_out" for a workload of `HELD_OUT_WORKLOADS`, else "train"."""
  return "held_out" if workload in HELD_OUT_WORKLOADS else "train"


class UsageError(ValueError):
  """Bad flags: an unknown workload name or a malformed --alphatensor item."""


@dataclasses.dataclass(frozen=True)
class Item:
  """One problem of the benchmark, before it is built.

  Attributes:
    name: the problem's name (and file name, with ".json").
    workload: the manifest's `workload`.
    variant: the manifest's `variant`.
    kind: "model" or "alphatensor".
    source: the manifest's `source`.
    config: JSON-serialisable settings that decide the program.
    files: the source files whose contents decide the program.
    program: builds the `experiments.program.Program` to compile.
  """
  name: str
  workload: str
  variant: str
  kind: str
  source: str
  config: dict
  files: tuple[str, ...]
  program: Callable


def model_items() -> list[Item]:
  """The model workloads of `experiments.workloads`."""
  from experiments.workloads import WORKLOADS
  return [Item(w.name, w.model, w.variant, "model", w.source, w.config(), w.source_files(),
               w.program) for w in WORKLOADS.values()]


def alphatensor_item(spec: str) -> Item:
  """The item of an `NxMxP:LEVELS:SIZE[:DTYPE]` flag value.

  Raises:
    UsageError: a malformed item, a shape without a factorization or a size
      the blocks cannot split; the message names it.
  """
  from experiments import alphatensor_programs as alphatensor

  parts = spec.strip().split(":")
  try:
    dims = [int(d) for d in parts[0].split("x")]
    levels, size = int(parts[1]), int(parts[2])
    if len(parts) > 4 or len(dims) != 3:
      raise ValueError
  except (ValueError, IndexError):
    raise UsageError(f"bad --alphatensor item {spec!r}; expected NxMxP:LEVELS:SIZE[:DTYPE], "
                     f"e.g. 2x2x2:2:2048") from None
  dtype = parts[3] if len(parts) == 4 else "float32"
  if dtype not in ("float32", "bfloat16"):
    raise UsageError(f"bad dtype {dtype!r} in --alphatensor item {spec!r}; "
                     f"expected float32 or bfloat16")
  shape = ",".join(map(str, dims))
  try:
    program = alphatensor.program(shape, levels, size, dtype)
  except ValueError as error:
    raise UsageError(f"--alphatensor item {spec!r}: {error}") from None
  workload = "alphatensor_" + "x".join(map(str, dims))
  return Item(
      name=program.name, workload=workload, variant=program.name[len(workload) + 1:],
      kind="alphatensor",
      source=(f"experiments.alphatensor_programs:program({shape!r}, levels={levels}, "
              f"size={size}, dtype={dtype!r})"),
      config={"shape": shape, "levels": levels, "size": size, "dtype": dtype, "field": "r"},
      files=(alphatensor.__file__, os.path.join(alphatensor.DATA, alphatensor.FIELDS["r"])),
      program=lambda: program)


def select(items: list[Item], names: list[str]) -> list[Item]:
  """The items named (all when `names` is empty), in benchmark order.

  Raises:
    UsageError: an unknown name, listing the known ones.
  """
  known = {item.name: item for item in items}
  for name in names:
    if name not in known:
      raise UsageError(f"unknown workload {name!r}; expected one of {', '.join(known)}")
  return [item for item in items if not names or item.name in names]


def _file_hash(path: str) -> str:
  with open(path, "rb") as file:
    return hashlib.sha256(file.read()).hexdigest()


def environment_fingerprint() -> dict:
  """What every problem's fingerprint shares: versions, hlo_tools' code, XLA_FLAGS."""
  import flax
  import jax
  import jaxlib
  import optax

  import hlo_tools
  from malloc_muzero import problem

  code = sorted(glob.glob(os.path.join(os.path.dirname(hlo_tools.__file__), "*.py")))
  code.append(problem.__file__)
  return {"fingerprint_version": FINGERPRINT_VERSION,
          "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                       "flax": flax.__version__, "optax": optax.__version__},
          "code": {os.path.relpath(p, os.path.dirname(os.path.dirname(p))): _file_hash(p)
                   for p in code},
          "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "machine": platform.machine()}


def fingerprint(item: Item, environment: dict) -> str:
  """SHA-256 (hex) of what decides the item's problem (see the module docstring)."""
  covered = {"environment": environment, "name": item.name, "config": item.config,
             "files": {os.path.basename(p): _file_hash(p) for p in item.files}}
  return hashlib.sha256(json.dumps(covered, sort_keys=True).encode()).hexdigest()


def build(item: Item, digest: str, out: str) -> dict:
  """Compiles the item, writes `out/<name>.json` and returns its manifest entry."""
  import jax

  from hlo_tools import capture_jax, module_to_problem, parse_hlo

  start = time.perf_counter()
  program = item.program()
  captured = capture_jax(program.fn, *program.args, donate_argnums=program.donate_argnums)
  problem = module_to_problem(parse_hlo(captured.hlo_text), name=item.name)
  seconds = time.perf_counter() - start
  peak, step = problem.peak_live_bytes()
  entry = {"name": item.name, "workload": item.workload, "variant": item.variant,
           "source": item.source, "file": f"{item.name}.json",
           "buffers": problem.num_buffers, "peak_live_bytes": peak,
           "flops": problem.total_flops, "fingerprint": digest,
           "kind": item.kind, "config": item.config,
           "instructions": problem.num_instructions,
           "schedule_length": problem.schedule_length, "peak_live_step": step,
           "bytes_accessed": problem.total_bytes_accessed,
           "lower_seconds": round(captured.lower_seconds, 3),
           "compile_seconds": round(captured.compile_seconds, 3),
           "build_seconds": round(seconds, 3), "jax_version": jax.__version__}
  problem = dataclasses.replace(problem, source={**problem.source, "benchmark": entry})
  path = os.path.join(out, entry["file"])
  problem.save_json(path)
  return {**entry, "file_bytes": os.path.getsize(path)}


def read_manifest(out: str, warn: Callable[[str], None]) -> dict[str, dict]:
  """Name -> entry of the problems in `out`: the manifest's entries whose file
  is there, and those recovered from problem files the manifest lacks."""
  from malloc_muzero.json_file import read_json_file

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
  from malloc_muzero.json_file import read_json_file

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
  from malloc_muzero.atomic_file import atomic_write_text
  from malloc_muzero.json_file import dump_json

  rank = {name: i for i, name in enumerate(order)}
  names = sorted(entries, key=lambda n: (rank.get(n, len(rank)), n))
  data = {"version": MANIFEST_VERSION,
          "problems": [{**entries[n], "split": split_of(str(entries[n].get("workload")))}
                       for n in names]}
  atomic_write_text(os.path.join(out, MANIFEST), dump_json(data))


def _row(entry: dict, status: str) -> str:
  return (f"{entry['name']:<30} {entry['buffers']:>8,} {entry['peak_live_bytes']:>16,} "
          f"{entry['flops']:>12.4g} {entry['build_seconds']:>9.1f}  {status}")


def make_benchmark(out: str, names: list[str], alphatensor: list[str], force: bool) -> int:
  """Builds the benchmark in `out` (see the module docstring); the exit status.

  Raises:
    UsageError: an unknown name in `names` or a bad item in `alphatensor`.
  """
  from tqdm import tqdm

  items = model_items() + [alphatensor_item(spec) for spec in alphatensor if spec.strip()]
  items = list({item.name: item for item in items}.values())  # Each name once.
  chosen = select(items, names)
  os.makedirs(out, exist_ok=True)
  entries = read_manifest(out, lambda line: print(line, file=sys.stderr))
  environment = environment_fingerprint()
  order = [item.name for item in items]
  rows, failed = [], 0
  with tqdm(total=len(chosen), desc="make_benchmark", unit="problem", file=sys.stderr) as bar:
    for item in chosen:
      bar.set_postfix_str(item.name)
      digest = fingerprint(item, environment)
      if not force and is_current(entries.get(item.name), digest, out):
        bar.write(f"skipping {item.name}: current")
        rows.append(_row(entries[item.name], "skipped (current)"))
      else:
        try:
          entries[item.name] = build(item, digest, out)
        except Exception as error:  # pylint: disable=broad-except
          # One line per failed workload; the others are still built.
          message = str(error).strip().splitlines()
          bar.write(f"make_benchmark: error: {item.name}: {type(error).__name__}: "
                    f"{message[0] if message else ''}", file=sys.stderr)
          failed += 1  # An older build of it, if any, stays listed.
          rows.append(f"{item.name:<30} {'':>8} {'':>16} {'':>12} {'':>9}  failed")
        else:
          rows.append(_row(entries[item.name], "built"))
      write_manifest(out, entries, order)
      bar.update()
  write_manifest(out, entries, order)
  print(f"{'problem':<30} {'buffers':>8} {'peak live bytes':>16} {'flops':>12} "
        f"{'build (s)':>9}  status")
  print("\n".join(rows))
  print(f"{os.path.join(out, MANIFEST)} lists {len(entries)} problems")
  return 1 if failed else 0


@dataclasses.dataclass(frozen=True)
class Entry:
  """One problem of the manifest.

  Attributes:
    name: its unique name.
    path: the problem file (absolute).
    fingerprint: what identifies its contents (the manifest's, or a hash of
      the file).
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
  from malloc_muzero.errors import ProblemError

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
    fingerprint = item.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
      with open(file, "rb") as f:
        fingerprint = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    info = {k: v for k, v in item.items() if k not in ("name", "file", "fingerprint")}
    entries.append(Entry(item["name"], file, fingerprint, info))
  return entries
