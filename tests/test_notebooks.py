"""Every notebook of experiments/notebooks runs top to bottom on its defaults,
and is ready for Colab.

Each runs with nbclient in a fresh kernel of this interpreter (the venv's
python, not whatever `python` the PATH finds), in a temporary directory so
that its outputs (training runs, plots) stay out of the repository. A failing
cell fails the test with the cell's source and traceback. The notebooks are
committed with their outputs, plots included, and a fresh run must give
outputs of the same kinds, cell by cell. Each has an "Open in Colab" badge,
says which runtime it needs, and installs the package from the repository
whose address pyproject.toml's [project.urls] holds, the one place it is
written.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "experiments", "notebooks")
# The longest (about 1.5 min on a busy 2-core CPU) runs with -m slow.
SLOW = {"training.ipynb"}
TIMEOUT_S = 600  # per cell


NAMES = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))


def _notebooks():
  return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES]


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


def _read(name: str):
  with open(os.path.join(NOTEBOOKS, name)) as f:
    return nbformat.read(f, as_version=4)


def _kinds(cell) -> list[str]:
  """What a code cell's outputs are, not what they say: printed text, images,
  results, errors (stderr left out: warnings vary by machine)."""
  kinds = set()
  for output in cell.get("outputs", []):
    if output.output_type == "stream":
      kinds.update(["stdout"] if output.name == "stdout" else [])
    elif output.output_type == "error":
      kinds.add("error")
    else:
      kinds.add("image" if "image/png" in output.get("data", {}) else output.output_type)
  return sorted(kinds)


def repository_url() -> str:
  """The repository's address: pyproject.toml's [project.urls] Repository."""
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)["project"]["urls"]["Repository"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_ready_for_colab(name):
  notebook = _read(name)
  url = repository_url()
  first = notebook.cells[0]
  assert first.cell_type == "markdown"
  badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
           f"(https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}"
           f"/blob/main/experiments/notebooks/{name})")
  assert badge in first.source, f"{name}: no Colab badge to {url}"
  runtime = first.source[first.source.index("**Runtime:**"):]
  assert all(word in runtime for word in ("CPU", "GPU", "TPU", "What changes")), runtime
  for cell in notebook.cells:
    assert "placeholder" not in cell.source.lower(), f"{name}: {cell.source}"
  install = notebook.cells[1].source
  assert re.findall(r'^REPOSITORY_URL = "([^"]*)"$', install, re.M) == [url], install
  assert "pyproject.toml" in install and "git+{REPOSITORY_URL}" in install


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_with_its_outputs_and_plots(name):
  cells = [cell for cell in _read(name).cells if cell.cell_type == "code"]
  assert all(cell.execution_count for cell in cells), f"{name}: a cell was not run"
  kinds = [kind for cell in cells for kind in _kinds(cell)]
  assert "image" in kinds and "stdout" in kinds and "error" not in kinds, (name, kinds)


@pytest.mark.parametrize("name", _notebooks())
def test_notebook_runs(name, kernel_name, tmp_path):
  notebook = _read(name)
  committed = [_kinds(cell) for cell in notebook.cells]
  # The check that the kernel is this interpreter and environment (the venv)
  # rides along as one more cell.
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
  fresh = [_kinds(cell) for cell in notebook.cells[:-1]]
  assert fresh == committed, f"{name}: the committed outputs differ in kind from a fresh run"
