"""How long extraction takes next to XLA's compile of the same program.

    python scripts/bench_extract.py [--layers 4] [--d-model 128] [--repeats 5]

Compiles a decoder-only transformer's training step (at least 500 KB of HLO
text at the default size) and, alternating in one run, measures:
* XLA: `lowered.compile()` of `jax.jit(step).lower(...)` on this machine's
  backend (caches cleared, so every repeat compiles afresh), as `capture_jax`
  times it;
* the library: `parse_hlo` + `module_to_problem` in this process (each
  shown, and their CPU time);
* the command: `malloc-extract FILE -o problem.json` as a new process
  (Python start-up and imports included).
Prints the median of each and its ratio to XLA's compile time, and the two
CPU times: on a busy machine wall-clock times swell, CPU times much less.

    python scripts/bench_extract.py --chain 1000000

instead extracts a generated chain of that many unique instructions (each
reads the previous one and the parameter) with `malloc-extract FILE -o
problem.json` in a new process, and prints its time (wall and CPU) and peak
memory (the process's maximum resident set) beside the sizes of the HLO text
and of the problem's JSON: the peak as a multiple of the JSON's size, and the
same less the memory of the command on a one-instruction chain (Python,
imports). Memory in proportion to the problem (issue 17), as a figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from experiments.programs import transformer_train_step  # noqa: E402
from hlo_tools import module_to_problem, parse_hlo  # noqa: E402


_OPCODES = ("add", "multiply", "subtract", "maximum")


def chain_hlo(length: int) -> str:
  """HLO text of a chain of `length` unique elementwise instructions on
  f32[16], each reading the one before and the parameter."""
  lines = ["HloModule chain, is_scheduled=true", "",
           "ENTRY %main (p: f32[16]) -> f32[16] {", "  %p = f32[16]{0} parameter(0)"]
  previous = "%p"
  for i in range(length):
    root = "ROOT " if i == length - 1 else ""
    lines.append(f"  {root}%x{i} = f32[16]{{0}} {_OPCODES[i % len(_OPCODES)]}("
                 f"f32[16]{{0}} {previous}, f32[16]{{0}} %p)")
    previous = f"%x{i}"
  return "\n".join(lines + ["}", ""])


def _extract_in_a_new_process(hlo_path: str, out_path: str) -> tuple[float, float, int]:
  """(seconds, CPU seconds, peak resident bytes) of `malloc-extract hlo_path -o
  out_path`."""
  code = ("import resource, subprocess, sys, time; start = time.perf_counter(); "
          "subprocess.run([sys.executable, '-m', 'hlo_tools.cli', sys.argv[1], '-o', "
          "sys.argv[2]], check=True, capture_output=True); "
          "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
          "print(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, "
          "usage.ru_maxrss)")
  # A wrapper process of its own, so that RUSAGE_CHILDREN sees this extraction only.
  done = subprocess.run([sys.executable, "-c", code, hlo_path, out_path], check=True,
                        capture_output=True, text=True)
  seconds, cpu_seconds, kilobytes = done.stdout.split()
  return float(seconds), float(cpu_seconds), int(kilobytes) * 1024


def bench_chain(length: int) -> None:
  """Time and peak memory of extracting a chain of `length` instructions."""
  with tempfile.TemporaryDirectory() as tmp:
    rows = []
    for n in (1, length):
      hlo_path = os.path.join(tmp, f"chain{n}.hlo")
      out_path = os.path.join(tmp, f"chain{n}.json")
      with open(hlo_path, "w") as f:
        f.write(chain_hlo(n))
      seconds, cpu, peak = _extract_in_a_new_process(hlo_path, out_path)
      rows.append((n, os.path.getsize(hlo_path), os.path.getsize(out_path), seconds, cpu,
                   peak))
  (_, _, _, base_s, base_cpu, base_peak), (n, hlo_bytes, json_bytes, seconds, cpu, peak) = rows
  mb = 1e6
  print(f"chain of {n:,} instructions: {hlo_bytes / mb:,.1f} MB of HLO text, "
        f"{json_bytes / mb:,.1f} MB of problem JSON")
  print(f"malloc-extract -o problem.json: {seconds:,.1f} s ({cpu:,.1f} s of CPU)")
  print(f"peak memory: {peak / mb:,.0f} MB = {peak / json_bytes:.1f}x the problem's JSON "
        f"({base_peak / mb:,.0f} MB for a chain of 1: start-up and imports, "
        f"{base_s:.1f} s, {base_cpu:.1f} s of CPU)")
  above = peak - base_peak
  print(f"above start-up: {above / mb:,.0f} MB = {above / json_bytes:.1f}x the problem's "
        f"JSON, {above / hlo_bytes:.1f}x the HLO text, {above / n:,.0f} B per instruction")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--layers", type=int, default=4)
  parser.add_argument("--d-model", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--chain", type=int, metavar="N",
                      help="measure time and peak memory of extracting a generated "
                      "chain of N instructions instead")
  args = parser.parse_args()
  if args.chain:
    bench_chain(args.chain)
    return

  program = transformer_train_step(layers=args.layers, d_model=args.d_model)
  compile_s, library_s, command_s = [], [], []
  parse_s, extract_s, library_cpu_s, compile_cpu_s = [], [], [], []
  with tempfile.TemporaryDirectory() as tmp:
    hlo_path = os.path.join(tmp, "transformer.hlo")
    out_path = os.path.join(tmp, "problem.json")
    for repeat in range(args.repeats):
      jax.clear_caches()  # Compile afresh every time.
      lowered = jax.jit(program.fn, donate_argnums=program.donate_argnums).lower(
          *program.args)
      start, start_cpu = time.perf_counter(), time.process_time()
      compiled = lowered.compile()  # What `capture_jax` times.
      compile_s.append(time.perf_counter() - start)
      compile_cpu_s.append(time.process_time() - start_cpu)
      if repeat == 0:
        hlo_text = compiled.as_text()
        with open(hlo_path, "w") as f:
          f.write(hlo_text)
      start, start_cpu = time.perf_counter(), time.process_time()
      module = parse_hlo(hlo_text, hlo_path)
      parsed = time.perf_counter()
      problem = module_to_problem(module)
      library_s.append(time.perf_counter() - start)
      library_cpu_s.append(time.process_time() - start_cpu)
      parse_s.append(parsed - start)
      extract_s.append(library_s[-1] - parse_s[-1])
      start = time.perf_counter()
      subprocess.run([sys.executable, "-m", "hlo_tools.cli", hlo_path, "-o", out_path],
                     check=True, capture_output=True)
      command_s.append(time.perf_counter() - start)

  size_kb = len(hlo_text) / 1000
  xla = statistics.median(compile_s)
  print(f"transformer training step: {args.layers} layers, d_model {args.d_model}; "
        f"{size_kb:,.0f} KB of HLO, {problem.num_instructions} scheduled "
        f"instructions, {problem.num_buffers} buffers; median of {args.repeats}")
  print()
  print(f"{'what':<42} {'seconds':>9} {'/ XLA compile':>14}")
  rows = [("XLA compile", xla),
          ("parse + extract (library, in process)", statistics.median(library_s)),
          ("  of which parse_hlo", statistics.median(parse_s)),
          ("  of which module_to_problem", statistics.median(extract_s)),
          ("malloc-extract -o (new process)", statistics.median(command_s))]
  for what, seconds in rows:
    print(f"{what:<42} {seconds:>9.3f} {seconds / xla:>13.1%}")
  xla_cpu, library_cpu = statistics.median(compile_cpu_s), statistics.median(library_cpu_s)
  print(f"CPU time (steadier on a busy machine; XLA's counts all its threads): "
        f"XLA compile {xla_cpu:.3f} s, parse + extract {library_cpu:.3f} s = "
        f"{library_cpu / xla_cpu:.1%}")


if __name__ == "__main__":
  main()
