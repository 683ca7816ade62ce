"""Progress of long work, on a terminal or in a log.

On a terminal, `progress_bar` is a tqdm bar. Elsewhere (a log file, CI, a pipe)
a bar's carriage returns make one unreadable line, so it prints one line per
step instead, with the phase (`set_postfix_str`) and the count, to stderr.
Both take the same calls: `update`, `set_postfix_str`, `refresh`, `n`, and
`with`.
"""

from __future__ import annotations

import sys
import time


class _Lines:
  """A tqdm look-alike that prints `desc: n/total phase` on each update."""

  def __init__(self, total, desc: str, unit: str, every_s: float):
    self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
    self.n, self._postfix, self._printed = 0, "", -float("inf")
    self._start = time.monotonic()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    if exc[0] is None and (self.n or self.total):  # Nothing to do: nothing to say.
      self._print(force=True)

  def set_postfix_str(self, text: str) -> None:
    self._postfix = text

  def update(self, n: int = 1) -> None:
    self.n += n
    self._print()

  def refresh(self) -> None:
    self._print()

  def _print(self, force: bool = False) -> None:
    now = time.monotonic()
    if not force and now - self._printed < self.every_s:
      return
    self._printed = now
    total = f"/{self.total:.0f}" if self.total is not None else ""
    print(f"{self.desc}: {self.n:.0f}{total} {self.unit} after {now - self._start:.0f} s"
          + (f", {self._postfix}" if self._postfix else ""), file=sys.stderr, flush=True)


def progress_bar(total=None, desc: str = "", unit: str = "it", enabled: bool | None = None,
             every_s: float = 0.0, **tqdm_options):
  """A progress display for `total` steps of `desc`.

  Args:
    total: steps in all (None: unknown).
    desc: what is being done.
    unit: what a step is.
    enabled: a bar (True), lines (False), or by whether stderr is a
      terminal (None).
    every_s: on lines, print at most once per this many seconds (the last
      line is always printed).
    **tqdm_options: passed to tqdm for the bar.
  """
  if enabled is None:
    enabled = sys.stderr.isatty()
  if enabled:
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, **tqdm_options)
  return _Lines(total, desc, unit, every_s)
