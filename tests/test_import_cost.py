"""The console scripts import JAX only once they run.

Importing `malloc-extract`'s, `malloc-solve`'s or `malloc-eval`'s module must
not import JAX: `--help` and a bad input (one line, an exit status) stay
quick, and `malloc-extract` needs no JAX at all unless asked for a placement.
`hlo_tools` and the `malloc_muzero` package never import it. (The
`experiments` commands and `malloc-demo` import what they run at the top, as
every other module does: issue 19.) Each check runs in a fresh interpreter.
"""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The console scripts ([project.scripts]) that start without JAX.
ENTRY_POINTS = ("hlo_tools.cli", "malloc_muzero.eval_cli", "malloc_muzero.solve_cli")


def heavy_imports(*modules: str) -> list[str]:
  """Which of JAX, flax, optax, mctx and orbax importing `modules` imports."""
  code = ("import importlib, sys\n"
          f"for name in {list(modules)!r}:\n"
          "  importlib.import_module(name)\n"
          "print(' '.join(m for m in ('jax', 'flax', 'optax', 'mctx', 'orbax') "
          "if m in sys.modules))\n")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
  return result.stdout.split()


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_does_not_import_jax(module):
  assert heavy_imports(module) == [], f"importing {module} imports them"


def test_hlo_tools_and_the_package_do_not_import_jax():
  modules = ["malloc_muzero"] + sorted(
      ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
      for path in (ROOT / "hlo_tools").glob("*.py"))
  assert heavy_imports(*modules) == []


def test_the_check_sees_jax():
  assert "jax" in heavy_imports("malloc_muzero.simulator")



# `python -m experiments.X` commands and `malloc-demo`: they import JAX at the top.
COMMANDS = ("experiments.ablation", "experiments.agent_table", "experiments.alphatensor",
            "experiments.demo", "experiments.make_benchmark", "experiments.report",
            "experiments.train")


def test_importing_a_command_starts_no_jax_backend():
  """No module makes an array when imported: a backend started at import
  would come before `jax.distributed.initialize` (experiments.train's
  multi-host runs) and before the flags that set up XLA."""
  code = ("import importlib, sys\n"
          "import jax._src.xla_bridge as bridge\n"
          "started = []\n"
          "for name in sys.argv[1:]:\n"
          "  importlib.import_module(name)\n"
          "  started += [name] * bool(bridge._backends)\n"
          "print(' '.join(started))\n")
  for command in COMMANDS:  # One interpreter each: their absl flags would clash.
    result = subprocess.run([sys.executable, "-c", code, command], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == [], f"importing {command} starts a JAX backend"
