"""Every notebook of experiments/notebooks runs top to bottom on its defaults.

Each runs with nbclient in a fresh kernel of this interpreter (the venv's
python, not whatever `python` the PATH finds), in a temporary directory so
that its outputs (training runs, plots) stay out of the repository. A failing
cell fails the test with the cell's source and traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "experiments", "notebooks")
# The longest (about 1.5 min on a busy 2-core CPU) runs with -m slow.
SLOW = {"training.ipynb"}
TIMEOUT_S = 600  # per cell


def _notebooks():
  names = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))
  return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
  """A kernel spec that starts this interpreter, in a private Jupyter path."""
  root = tmp_path_factory.mktemp("jupyter")
  spec_dir = root / "kernels" / "malloc-muzero-test"
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(json.dumps({
      "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      "display_name": "malloc_muzero tests", "language": "python"}))
  previous = os.environ.get("JUPYTER_PATH")
  os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), previous]))
  yield "malloc-muzero-test"
  if previous is None:
    del os.environ["JUPYTER_PATH"]
  else:
    os.environ["JUPYTER_PATH"] = previous


@pytest.mark.parametrize("name", _notebooks())
def test_notebook_runs(name, kernel_name, tmp_path):
  with open(os.path.join(NOTEBOOKS, name)) as f:
    notebook = nbformat.read(f, as_version=4)
  # The committed notebook carries no outputs; the check that the kernel is
  # this interpreter and environment (the venv) rides along as one more cell.
  assert all(not cell.get("outputs") for cell in notebook.cells), \
      f"{name} is committed with outputs"
  notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
  client = nbclient.NotebookClient(
      notebook, kernel_name=kernel_name, timeout=TIMEOUT_S,
      resources={"metadata": {"path": str(tmp_path)}})
  try:
    client.execute()
  except nbclient.exceptions.CellExecutionError as error:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # IPython colours tracebacks.
    pytest.fail(f"{name}: a cell failed:\n{plain}", pytrace=False)
  printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
  assert printed.strip() == sys.prefix, "the kernel did not run in this environment"
