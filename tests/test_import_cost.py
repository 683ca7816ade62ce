"""The commands import JAX only once they run.

Importing a console script's module, or an `experiments` entry point's, must
not import JAX: `--help` and a bad input (one line, an exit status) stay
quick, and flags (XLA_FLAGS, `jax.distributed`) are set before JAX starts.
`hlo_tools` and the `malloc_muzero` package never import it (`malloc-extract`
needs no JAX at all). Each check runs in a fresh interpreter.
"""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Console scripts ([project.scripts]) and `python -m experiments.X` entry points.
# (`experiments.evaluate` imports JAX at module level, and is not here.)
ENTRY_POINTS = (
    "hlo_tools.cli",
    "malloc_muzero.eval_cli",
    "malloc_muzero.solve_cli",
    "experiments.ablation",
    "experiments.agent_table",
    "experiments.alphatensor",
    "experiments.demo",
    "experiments.make_benchmark",
    "experiments.report",
    "experiments.train",
)


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
