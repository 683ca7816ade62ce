"""Get optimised HLO text from a JAX function or from an XLA dump directory."""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Any, Callable, Sequence

from hlo_tools.errors import HloParseError
from malloc_muzero.compilation_cache import bypassed

# Files of `--xla_dump_hlo_as_text` holding the module after optimisation:
# `module_0006.jit_f.cpu_after_optimizations.txt`, `...gpu_after_optimizations.txt`,
# or `...after_optimizations.txt`; not the `-buffer-assignment` and other reports.
_AFTER_OPT_RE = re.compile(r"^module_(\d+)\.(.+?)\.(?:\w+_)?after_optimizations\.txt$")


@dataclasses.dataclass(frozen=True)
class Captured:
  """An optimised module and what XLA says about it.

  Attributes:
    hlo_text: the module after optimisation, as XLA prints it.
    cost_analysis: `compiled.cost_analysis()` (flops, bytes accessed, ...).
    dump_dir: where XLA dumped its reports, if asked to.
    lower_seconds: wall time of tracing and lowering to StableHLO.
    compile_seconds: wall time of XLA's compilation.
  """
  hlo_text: str
  cost_analysis: dict[str, float]
  dump_dir: str | None = None
  lower_seconds: float = 0.0
  compile_seconds: float = 0.0


def capture_jax(fn: Callable[..., Any], *args: Any,
                donate_argnums: Sequence[int] = (),
                dump_dir: str | None = None) -> Captured:
  """Compile `fn` on example arguments and return its optimised HLO.

  Args:
    fn: a JAX-traceable function.
    *args: example arguments (arrays, pytrees or `jax.ShapeDtypeStruct`s).
    donate_argnums: arguments whose buffers the program may reuse.
    dump_dir: if given, XLA also writes its dumps there (`-live-range.txt`,
      `-buffer-assignment.txt`, ...), as `--xla_dump_to` would.

  XLA compiles the program afresh, also where a command turned JAX's
  persistent compilation cache on (`malloc_muzero.compilation_cache`), so
  that it dumps and its compile time is its own.
  """
  import time

  import jax

  options = {}
  if dump_dir is not None:
    options = {"xla_dump_to": dump_dir, "xla_dump_hlo_as_text": True}
  start = time.perf_counter()
  lowered = jax.jit(fn, donate_argnums=tuple(donate_argnums)).lower(*args)
  lowered_at = time.perf_counter()
  with bypassed():
    compiled = lowered.compile(compiler_options=options or None)
  compiled_at = time.perf_counter()
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # Older JAX: one dict per device.
    cost = cost[0] if cost else {}
  return Captured(compiled.as_text(), dict(cost or {}), dump_dir,
                  lowered_at - start, compiled_at - lowered_at)


def dump_modules(dump_dir: str) -> dict[str, str]:
  """Module name -> path of its after-optimisation HLO text in an XLA dump dir."""
  modules: dict[str, str] = {}
  for path in sorted(glob.glob(os.path.join(glob.escape(dump_dir), "*.txt"))):
    m = _AFTER_OPT_RE.match(os.path.basename(path))
    if m:
      modules[f"module_{m.group(1)}.{m.group(2)}"] = path
  return modules


def find_dump_module(dump_dir: str, module: str | None = None) -> str:
  """The after-optimisation HLO file of one module in an XLA dump directory.

  Args:
    dump_dir: a directory written by `--xla_dump_to`.
    module: a module name (`jit_f`), or a full dump prefix (`module_0006.jit_f`).
      Without one, the directory must hold exactly one module, or the largest
      program is meant and its name must be given.

  Raises:
    HloParseError: no such module, or the choice is ambiguous; the message lists
      the modules present.
  """
  modules = dump_modules(dump_dir)
  if not modules:
    raise HloParseError("an XLA dump directory with *after_optimizations.txt files "
                        "(XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text)",
                        dump_dir)
  if module is None:
    if len(modules) == 1:
      return next(iter(modules.values()))
    candidates = modules
  else:
    candidates = {k: v for k, v in modules.items()
                  if k == module or k.split(".", 1)[1] == module}
    if len(candidates) == 1:
      return next(iter(candidates.values()))
    if not candidates:
      candidates = modules
  names = ", ".join(sorted(candidates))
  what = "--module naming one of" if module is None else \
      f"a module named {module!r}; choose one of"
  raise HloParseError(f"{what}: {names}", dump_dir)
