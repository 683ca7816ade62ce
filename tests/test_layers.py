"""The packages import only downward, without cycles, and at the top.

The data flow (HLO -> Problem -> hardware and simulator -> game -> solvers ->
agent -> commands -> experiments) is a stack of layers; a module may import
its own layer and the layers below, never one above, also inside a function
(those imports are read too). `EXCEPTIONS` lists the upward imports that are
known, each with why; a new one fails here. No modules import each other,
and at most `MAX_DEFERRED` imports of the project's modules sit inside a
function, each saying why.
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


def import_graph() -> dict[str, set[str]]:
  """Each module's imports of the project's modules, anywhere in it."""
  known = modules()
  return {module: imports(path, set(known)) - {module} for module, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components of more than one module (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for child in sorted(graph.get(node, ())):
      if child not in index:
        visit(child)
        low[node] = min(low[node], low[child])
      elif child in on_stack:
        low[node] = min(low[node], index[child])
    if low[node] == index[node]:
      component = []
      while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found


def test_no_modules_import_each_other():
  """No cycle among the project's modules, counting imports inside functions."""
  assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle():
  assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The most imports of the project's own modules that may sit inside functions
# (issue 19). Each defers JAX where a command must start without it, and says
# so in a "# Deferred:" comment just above.
MAX_DEFERRED = 10


def _says_why(lines: list[str], lineno: int) -> bool:
  """Whether a "# Deferred" comment sits above line `lineno` (1-based),
  past the imports and comment lines just before it."""
  for line in reversed(lines[max(0, lineno - 6):lineno - 1]):
    line = line.strip()
    if line.startswith("# Deferred"):
      return True
    if not (line.startswith(("from ", "import ", "#")) or line.endswith((",", ")"))):
      return False
  return False


def deferred_imports() -> list[tuple[str, int, bool]]:
  """(file, line, whether a "# Deferred" comment says why) of every import of
  the project's modules inside a function, in the packages and scripts/."""
  found = []
  for path in [*modules().values(), *(ROOT / "scripts").glob("*.py")]:
    text = path.read_text()
    lines = text.splitlines()
    for function in ast.walk(ast.parse(text)):
      if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        continue
      for node in ast.walk(function):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        if any(name and name.split(".")[0] in PACKAGES for name in names):
          found.append((str(path.relative_to(ROOT)), node.lineno,
                        _says_why(lines, node.lineno)))
  return sorted(set(found))


def test_few_imports_inside_functions_and_each_says_why():
  found = deferred_imports()
  assert len(found) <= MAX_DEFERRED, found
  assert all(reason for *_, reason in found), [f for f in found if not f[2]]


def test_the_reason_check_sees_a_missing_reason():
  lines = ["def f():", "  # Deferred: JAX, once the flags are read.", "  import jax",
           "  from malloc_muzero import simulator", "", "def g():",
           "  x = 1", "  from malloc_muzero import simulator"]
  assert _says_why(lines, 4) and not _says_why(lines, 8)
