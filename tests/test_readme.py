"""The README's commands and Python run as printed, from a fresh directory.

The README's fenced blocks are read in order: a ```python block whose first
line is `# NAME.py` is a file the other blocks use; the other ```python blocks
are run; the commands of the ```sh blocks are run when they are quick (the
extraction, solving and checking of the small example), and otherwise their
program and flags are checked against the command's own --help.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = pathlib.Path(sys.executable).parent

# The README's two commands; .ci/run and the project's design depend on them.
TWO_COMMANDS = (
    "python3.11 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/malloc-demo",
    "python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]' && "
    ".venv/bin/python -m pytest -n 2",
)

# A command is run when it matches one of these (and none of SLOW).
QUICK = re.compile(r'^(XLA_FLAGS=("[^"]*"|\S+) python my_program\.py'
                   r"|malloc-extract |malloc-eval |malloc-solve |python -c )")
SLOW = re.compile(r"--solver[ =](muzero|exact|best)\b|--time-limit[ =](\d{2,}|[6-9])")


def blocks(text: str) -> list[tuple[str, str]]:
  """(language, body) of every fenced block, in order."""
  return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def commands(shell: str) -> list[str]:
  """The commands of a shell block: continuations joined, quoted newlines kept."""
  found, current = [], ""
  for line in shell.splitlines():
    current += line + "\n"
    if current.rstrip().endswith("\\") or current.count('"') % 2:
      continue
    if current.strip():
      found.append(current.strip())
    current = ""
  return found


def _env() -> dict[str, str]:
  return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
              JAX_PLATFORMS="cpu")


def _help(program: list[str]) -> str:
  done = subprocess.run(program + ["--help"], cwd=ROOT, env=_env(), capture_output=True,
                        text=True, timeout=300)
  return done.stdout + done.stderr


def _program(command: str) -> list[str] | None:
  """The argv prefix that names the program, or None for other commands."""
  words = command.split()
  if words[0].startswith("malloc-"):
    return [str(BIN / words[0])]
  if words[:2] == ["python", "-m"] and words[2].startswith("experiments."):
    return [sys.executable, "-m", words[2]]
  if words[0] == "python" and words[1].startswith("scripts/"):
    return [sys.executable, words[1]]
  return None


def test_the_two_commands_are_printed_as_ci_runs_them():
  text = README.read_text()
  section = text[text.index("## Two commands"):text.index("\n## ", text.index("## Two commands") + 3)]
  shell = [body.strip() for lang, body in blocks(section) if lang == "sh"]
  assert shell == list(TWO_COMMANDS)


def test_the_readme_runs_as_printed(tmp_path):
  text = README.read_text()
  ran, checked = [], []
  helps: dict[str, str] = {}
  for lang, body in blocks(text):
    if lang == "python":
      first = body.splitlines()[0]
      if re.fullmatch(r"# \w+\.py", first):
        (tmp_path / first[2:]).write_text(body)
        continue
      out = io.StringIO()
      cwd, path = os.getcwd(), list(sys.path)
      os.chdir(tmp_path)
      sys.path.insert(0, str(tmp_path))
      try:
        with contextlib.redirect_stdout(out):
          exec(compile(body, "README.md", "exec"), {"__name__": "readme"})
      finally:
        os.chdir(cwd)
        sys.path[:] = path
        sys.modules.pop("my_program", None)
      ran.append(("python", out.getvalue()))
    elif lang == "sh":
      for command in commands(body):
        if command in TWO_COMMANDS:
          continue
        if QUICK.match(command) and not SLOW.search(command):
          done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=_env(),
                                capture_output=True, text=True, timeout=300)
          assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
          ran.append((command, done.stdout))
          continue
        program = _program(command)
        assert program is not None, f"a README command of an unknown program: {command}"
        key = " ".join(program)
        if key not in helps:
          helps[key] = _help(program)
          assert "Traceback" not in helps[key], helps[key]
        arguments = " " + command.split(None, 3 if program[0] == sys.executable
                                        and program[1] == "-m" else 1)[-1]
        for flag in re.findall(r"(?<=\s)--?([A-Za-z][\w-]*)", arguments):
          assert (f"--{flag}" in helps[key] or f"--[no]{flag}" in helps[key]
                  or f"-{flag}" in helps[key]), f"{command}: no --{flag} in its --help"
        checked.append(command)
  assert any(c.startswith("malloc-solve") for c, _ in ran)
  assert any(c.startswith("malloc-eval") for c, _ in ran)
  assert any(c.startswith("python -m experiments.train") for c in checked)
  # What the From Python section promises it prints, and the files it writes.
  section = text[text.index("### From Python"):]
  promised = re.search(r"`(xla-msa: [^`]*)`", section.replace("\n", " ")).group(1)
  printed = "".join(out for kind, out in ran if kind == "python")
  assert " ".join(promised.split()) in printed
  assert (tmp_path / "problem.json").exists()
  assert (tmp_path / "xla-msa.png").exists() and (tmp_path / "anneal.png").exists()


@pytest.mark.parametrize("page", sorted((ROOT / "docs").rglob("*.md")) + [README],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
  text = page.read_text()
  for target in re.findall(r"\]\(([^)\s]+)\)", text):
    if re.match(r"[a-z]+:", target) or target.startswith("#"):
      continue
    path = (page.parent / target.split("#")[0]).resolve()
    assert path.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
