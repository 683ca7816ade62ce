"""The README's Python snippet runs as printed, from a fresh directory."""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_from_python_snippet_runs_and_prints_what_the_readme_says(tmp_path):
  text = README.read_text()
  section = text[text.index("### From Python"):]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  promised = re.search(r"`(xla-msa: [^`]*)`", section.replace("\n", " ")).group(1)
  out = io.StringIO()
  cwd = os.getcwd()
  os.chdir(tmp_path)
  try:
    with contextlib.redirect_stdout(out):
      exec(compile(code, "README.md", "exec"), {})
  finally:
    os.chdir(cwd)
  assert " ".join(promised.split()) in out.getvalue()
  assert (tmp_path / "problem.json").exists()
