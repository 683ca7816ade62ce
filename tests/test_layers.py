"""The packages import only downward.

The data flow (HLO -> Problem -> hardware and simulator -> game -> solvers ->
agent -> commands -> experiments) is a stack of layers; a module may import
its own layer and the layers below, never one above, also inside a function
(those imports are read too). `EXCEPTIONS` lists the upward imports that are
known, each with why; a new one fails here.
"""

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("malloc_muzero", "hlo_tools", "experiments")

LAYERS = ("base", "model", "formats", "game", "solvers", "agent", "commands", "experiments")
BASE = {"errors", "atomic_file", "json_file", "formatting", "progress", "slot_bits",
        "free_runs", "compilation_cache"}
MODEL = {"problem", "hardware", "simulator", "placement", "segments", "windows",
         "prefetch_picker", "generator"}
FORMATS = {"problem_io", "placement_io", "minimalloc_csv", "placement_report", "viz"}
GAME = {"game", "players", "game_instance", "environment"}
COMMANDS = {"cli_args", "solve_cli", "eval_cli"}

# (importer, imported): why it is still there.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def layer(module: str) -> str:
  parts = module.split(".")
  if parts[0] == "experiments":
    return "experiments"
  if parts[0] == "hlo_tools":
    return "commands" if module == "hlo_tools.cli" else "formats"
  if module == "malloc_muzero":
    return "commands"  # the package's API re-exports every layer
  name = parts[1]
  for members, where in ((BASE, "base"), (MODEL, "model"), (FORMATS, "formats"),
                         (GAME, "game"), (COMMANDS, "commands")):
    if name in members:
      return where
  if name in ("solvers", "agent"):
    return name
  raise AssertionError(f"{module}: no layer; add it to tests/test_layers.py")


def modules() -> dict[str, pathlib.Path]:
  found = {}
  for package in PACKAGES:
    for path in (ROOT / package).rglob("*.py"):
      name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
      found[name.removesuffix(".__init__")] = path
  return found


def imports(path: pathlib.Path, known: set[str]) -> set[str]:
  """The project's modules that `path` imports, anywhere in it."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      # `from package import module` imports the module; `from module import
      # name` the module.
      for alias in node.names:
        candidate = f"{node.module}.{alias.name}"
        found.add(candidate if candidate in known else node.module)
    elif isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
  return {name for name in found if name in known}


def upward_imports() -> set[tuple[str, str]]:
  known = modules()
  upward = set()
  for module, path in known.items():
    for imported in imports(path, set(known)):
      if LAYERS.index(layer(imported)) > LAYERS.index(layer(module)):
        upward.add((module, imported))
  return upward


def test_every_module_has_a_layer():
  for module in modules():
    layer(module)


def test_no_import_goes_up_but_the_known_ones():
  upward = upward_imports()
  unknown = sorted(upward - EXCEPTIONS.keys())
  assert not unknown, "imports from a higher layer: " + ", ".join(
      f"{a} -> {b} ({layer(a)} -> {layer(b)})" for a, b in unknown)
  gone = sorted(EXCEPTIONS.keys() - upward)
  assert not gone, f"exceptions no longer needed (remove them): {gone}"


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
  """An import of the agent from the simulator, inside a function, is caught."""
  simulator = ROOT / "malloc_muzero" / "simulator.py"
  copy = tmp_path / "simulator.py"
  copy.write_text(simulator.read_text()
                  + "\n\ndef _f():\n  from malloc_muzero.agent import search\n")
  known = modules()
  assert "malloc_muzero.agent.search" in imports(copy, set(known))
  monkeypatch.setattr(sys.modules[__name__], "modules",
                      lambda: {**known, "malloc_muzero.simulator": copy})
  assert ("malloc_muzero.simulator", "malloc_muzero.agent.search") in upward_imports()
