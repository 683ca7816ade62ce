"""scripts/flags_table.py: the page of every command's flags, and one name
for one thing across commands (issue 18)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import flags_table  # noqa: E402


def _command(display, *names, family="absl"):
  return flags_table.Command(family, display, [], flags=[
      flags_table.Flag(name, "float", "", f"help of {name}") for name in names])


def test_no_two_names_for_one_thing_in_the_source():
  """Fails when a command defines a flag under a known synonym
  (`--time_budget_s` where the others say `--train_seconds`) or a name that
  differs from another by a plural without a reason in ONE_AND_MANY."""
  names = flags_table.defined_names()
  assert {"train_seconds", "time_limit", "out", "capacity_fraction"} <= set(names)
  assert flags_table.name_problems(names) == []


def test_synonyms_and_plurals_are_reported():
  commands = [_command("a", "--train_seconds", "--widget", "--program"),
              _command("b", "--time_budget_s", "--widgets", "--programs"),
              _command("c", "-o/--output", family="console script")]
  lines = "\n".join(flags_table.disagreements(commands))
  names = lines.split("### One name, several meanings")[0]
  assert "`time_budget_s`, which is `train_seconds` elsewhere: `time_budget_s` in `b`" in names
  assert "`output`, which is `out` elsewhere" in names
  assert "`widget` / `widgets`" in names
  assert "`program` / `programs` (" not in names  # One and a list, justified.
  assert "- `program` / `programs`: one program" in names


def test_renamed_flags_rewrites_old_spellings(capsys):
  from malloc_muzero.cli_args import renamed_flags

  renames = {"--time_budget_s": "--train_seconds", "--output": "--out"}
  argv = ["--time_budget_s=5", "-o", "x", "-time_budget_s", "6", "--output", "y",
          "--", "--output"]
  assert renamed_flags("cmd", argv, renames) == [
      "--train_seconds=5", "-o", "x", "--train_seconds", "6", "--out", "y", "--",
      "--output"]
  err = capsys.readouterr().err.splitlines()
  assert err == ["cmd: --time_budget_s is deprecated; use --train_seconds",
                 "cmd: --output is deprecated; use --out"]


def test_committed_page_lists_no_synonyms():
  text = (ROOT / "docs" / "flags.md").read_text()
  section = text.split("### One thing, several names")[1].split("###")[0]
  assert section.split("\n\n")[1].strip() == "None found."
  meanings = text.split("### One name, several meanings")[1].split("###")[0]
  assert meanings.strip() == "None found."


@pytest.mark.slow
def test_page_is_current():
  """The committed page is what the script writes from the commands' --help
  (rerun `python scripts/flags_table.py --out docs/flags.md` after changing a
  flag)."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  done = subprocess.run([sys.executable, "scripts/flags_table.py"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr
  assert done.stdout == (ROOT / "docs" / "flags.md").read_text()
