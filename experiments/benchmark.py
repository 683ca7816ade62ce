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
lost or stale manifest is rebuilt from the problem files (`experiments.manifest`
holds the manifest's format, its split, and how it is read and written). The manifest is
written atomically after every problem and lists every problem file of the
directory that this command wrote (also those of earlier runs with other
`--workloads`); entries whose file is gone are dropped.

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

from experiments import alphatensor_programs as alphatensor
from experiments.manifest import MANIFEST, is_current, read_manifest, write_manifest
# Still importable from here for experiments.ablation and the scripts; their
# home is experiments.manifest.
from experiments.manifest import Entry, benchmark_entries  # noqa: F401
from experiments.workloads import WORKLOADS
import hlo_tools
from hlo_tools import capture_jax, module_to_problem, parse_hlo
from malloc_muzero import problem

FINGERPRINT_VERSION = 1
DEFAULT_ALPHATENSOR = ("2x2x2:2:2048", "3x3x3:1:1536", "3x3x3:2:2304", "4x4x4:1:2048")

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
  return [Item(w.name, w.model, w.variant, "model", w.source, w.config(), w.source_files(),
               w.program) for w in WORKLOADS.values()]


def alphatensor_item(spec: str) -> Item:
  """The item of an `NxMxP:LEVELS:SIZE[:DTYPE]` flag value.

  Raises:
    UsageError: a malformed item, a shape without a factorization or a size
      the blocks cannot split; the message names it.
  """
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
