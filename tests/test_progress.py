"""Progress on a terminal and in a log."""

from __future__ import annotations

from malloc_muzero.progress import progress_bar


def test_lines_name_the_phase_and_count_when_not_on_a_terminal(capsys):
  with progress_bar(3, "report", "solves", enabled=False) as bar:
    for name in ("a", "b", "c"):
      bar.set_postfix_str(f"problem {name}")
      bar.refresh()
      bar.update()
  lines = capsys.readouterr().err.splitlines()
  assert lines[0].startswith("report: 0/3 solves after") and lines[0].endswith("problem a")
  assert lines[-1].startswith("report: 3/3 solves") and lines[-1].endswith("problem c")


def test_lines_are_rate_limited_but_the_last_is_printed(capsys):
  with progress_bar(100, "train", "s", enabled=False, every_s=3600) as bar:
    for _ in range(100):
      bar.update()
  lines = capsys.readouterr().err.splitlines()
  assert len(lines) == 2 and lines[-1].startswith("train: 100/100 s")


def test_nothing_to_do_prints_nothing(capsys):
  with progress_bar(0, "report", "solves", enabled=False):
    pass
  assert capsys.readouterr().err == ""
