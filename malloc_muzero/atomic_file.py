"""Atomic file writes: a crash never leaves a half-written file over a good one.

The data goes to a temporary file in the destination's directory, is flushed
and fsynced, and then renamed over the destination with `os.replace`, which is
atomic on POSIX and Windows. On any failure the temporary file is removed and
the destination keeps its old contents.

The destination must be a new path or a regular file: a device, a FIFO, a
directory or a symbolic link is refused (replacing it would destroy what it
was), as is an output that is also one of the command's inputs
(`refuse_input_as_output`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from malloc_muzero.errors import ProblemError


def check_writable(path: str | os.PathLike) -> None:
  """Raises `ProblemError` naming `path` unless it is new or a regular file."""
  try:
    mode = os.lstat(path).st_mode
  except FileNotFoundError:
    return
  if not stat.S_ISREG(mode):
    kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a device or special file")
    raise ProblemError("a regular file or a new path to write", os.fspath(path), found=kind)


def refuse_input_as_output(output: str | os.PathLike, *inputs: str | os.PathLike) -> None:
  """Raises `ProblemError` naming `output` if it is the same file as an input
  (by path or by inode)."""
  for given in inputs:
    if given is None:
      continue
    same = os.path.abspath(output) == os.path.abspath(given)
    with contextlib.suppress(OSError):
      same = same or os.path.samefile(output, given)
    if same:
      raise ProblemError(f"an output other than the input {os.fspath(given)!r}",
                         os.fspath(output))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Replaces the file at `path` with `data`, atomically.

  A new file gets the default permissions (0o666 less the umask).

  Args:
    path: the destination file; its directory must exist.
    data: the complete new contents.

  Raises:
    ProblemError: `path` exists and is not a regular file.
  """
  check_writable(path)
  path = Path(path)
  temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
  try:
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with open(descriptor, "wb") as file:
      file.write(data)
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(temporary)
    raise
  _fsync_directory(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str,
                      encoding: str = "utf-8") -> None:
  """Replaces the file at `path` with `text`, atomically.

  Line endings are written as they are in `text` (no newline translation).

  Args:
    path: the destination file; its directory must exist.
    text: the complete new contents.
    encoding: the text encoding.
  """
  atomic_write_bytes(path, text.encode(encoding))


def _fsync_directory(directory: Path) -> None:
  """Makes the rename durable; a no-op where directories cannot be opened."""
  try:
    descriptor = os.open(directory, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(descriptor)
  except OSError:
    pass
  finally:
    os.close(descriptor)
