"""A training run's own files: its lock and its metrics, kept consistent
with its checkpoints whatever kills the run; a finished run read back
(`read_run`) and its learning curve drawn (`plot_curve`).

* `lock(workdir)` holds an exclusive lock on `workdir/lock` for the run's
  life; a second run into the same workdir is refused with the holder's pid.
* `metrics.jsonl` has one line per iteration. `read_metrics` drops a torn
  last line (a kill in mid-write) with a warning, and names the file and line
  of any other bad one. `truncate_metrics` keeps the lines up to the
  checkpoint a run resumes from, so no iteration is counted twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings

from malloc_muzero.agent.presets import agent_label
from malloc_muzero.atomic_file import atomic_write_bytes, atomic_write_text
from malloc_muzero.errors import ProblemError
from malloc_muzero.json_file import read_json_file

LOCK_FILE = "lock"
METRICS_FILE = "metrics.jsonl"


@contextlib.contextmanager
def lock(workdir: str):
  """Holds `workdir`'s lock while the block runs.

  Raises:
    ProblemError: another process holds it (naming its pid).
  """
  path = os.path.join(workdir, LOCK_FILE)
  descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
  try:
    try:
      fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
      raise ProblemError("a workdir no other training run is using (pid "
                         f"{holder} holds it; wait for it or choose another --workdir)",
                         workdir) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    yield
  finally:
    os.close(descriptor)  # Releases the lock.


def read_metrics(path: str) -> list[dict]:
  """The rows of a metrics file; a torn last line is dropped with a warning.

  Raises:
    ProblemError: a line other than the last that is not a JSON object,
      naming the file and line.
    OSError: the file cannot be read.
  """
  with open(path) as f:
    lines = f.read().split("\n")
  complete = lines[-1] == ""  # Every complete line ends with a newline.
  rows = []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    last = number == len(lines) or (number == len(lines) - 1 and complete)
    try:
      row = json.loads(line)
      if not isinstance(row, dict):
        raise ValueError("not an object")
    except ValueError as error:
      if last:
        warnings.warn(f"{path}: line {number}: dropped a torn last line ({error})",
                      stacklevel=2)
        break
      raise ProblemError("a JSON object per line", path, f"line {number}",
                         line[:80]) from None
    rows.append(row)
  return rows


def truncate_metrics(path: str, iteration: int) -> list[dict]:
  """Keeps the rows of iterations up to `iteration` (the checkpoint's), and
  returns them; a missing file is an empty one."""
  if not os.path.exists(path):
    return []
  rows = read_metrics(path)
  kept = [row for row in rows if row.get("iteration", 0) <= iteration]
  if len(kept) != len(rows) or not _ends_cleanly(path):
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in kept))
  return kept


def _ends_cleanly(path: str) -> bool:
  with open(path, "rb") as f:
    f.seek(0, os.SEEK_END)
    if f.tell() == 0:
      return True
    f.seek(-1, os.SEEK_END)
    return f.read(1) == b"\n"


def read_run(workdir: str) -> dict:
  """A finished run: its identity, best placement's time and its curve."""
  paths = {name: os.path.join(workdir, name)
           for name in ("run.json", "best_placement.json", "metrics.jsonl")}
  run = None
  for name, path in paths.items():
    if not os.path.exists(path):
      raise ProblemError("a finished experiments.train run", workdir,
                         found=f"no {name}")
    if name == "run.json":
      run = read_json_file(path)
      if "problems" in run:
        raise ProblemError("a run on one problem", workdir,
                           found="a run on a set (its results are in evaluation.json)")
  placement = read_json_file(paths["best_placement.json"])
  curve = read_metrics(paths["metrics.jsonl"])
  return {"workdir": workdir, "problem": run["problem"], "hardware": run["hardware"],
          "capacity": run["capacity"][0],
          # Runs from before the time model was recorded ran on the additive one.
          "time_model": run.get("time_model", "additive"),
          "label": agent_label(run["train_config"]) + (
              ", windows" if run.get("windows") else ""),
          "time_s": placement["simulated_time_s"], "curve": curve}


def plot_curve(metrics_path: str, path: str) -> None:
  """Mean and best return of self-play against games played."""
  import io

  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  rows = read_metrics(metrics_path)
  figure = Figure(figsize=(6, 3.5))
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  games = [r["games"] for r in rows]
  axes.plot(games, [r["mean_return"] for r in rows], label="self-play mean")
  axes.plot(games, [r["best_return"] for r in rows], label="best so far")
  axes.set_xlabel("self-play games")
  axes.set_ylabel("return (share of all-slow time saved)")
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110)
  atomic_write_bytes(path, buffer.getvalue())
