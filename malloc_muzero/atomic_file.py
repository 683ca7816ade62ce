"""Atomic file writes: a crash never leaves a half-written file over a good one.

The data goes to a temporary file in the destination's directory, is flushed
and fsynced, and then renamed over the destination with `os.replace`, which is
atomic on POSIX and Windows. On any failure the temporary file is removed and
the destination keeps its old contents.

The destination must be a new path or a regular file: a device, a FIFO, a
directory or a symbolic link is refused (replacing it would destroy what it
was), as is an output that is also one of the command's inputs
(`refuse_input_as_output`). Its directory must exist. Inputs are read only
from regular files (`read_input_bytes`): a FIFO or a device such as
/dev/zero would hang a command or fill its memory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from malloc_muzero.errors import ProblemError


def _kind(mode: int) -> str:
  """What a file that is not a regular file is, in words."""
  return ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
          else "a FIFO" if stat.S_ISFIFO(mode) else "a device or special file")


def check_writable(path: str | os.PathLike) -> None:
  """Raises `ProblemError` naming `path` unless it is a regular file or a new
  path in an existing directory."""
  expected = "a regular file or a new path to write"
  if not os.fspath(path):
    raise ProblemError(expected, "command line", found="")
  try:
    mode = os.lstat(path).st_mode
  except FileNotFoundError:
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
      raise ProblemError(f"{expected}, in an existing directory", os.fspath(path),
                         found="no such directory") from None
    return
  except OSError as error:
    raise ProblemError(expected, os.fspath(path), found=error.strerror) from None
  if not stat.S_ISREG(mode):
    raise ProblemError(expected, os.fspath(path), found=_kind(mode))


def read_input_bytes(path: str | os.PathLike) -> bytes:
  """The contents of an input file, which must be a regular file (or a
  symbolic link to one).

  Raises:
    ProblemError: `path` is a directory, a FIFO or a device, naming it.
    OSError: it cannot be read.
  """
  mode = os.stat(path).st_mode  # Before opening: opening a FIFO waits for a writer.
  if not stat.S_ISREG(mode):
    raise ProblemError("a regular file to read", os.fspath(path), found=_kind(mode))
  with open(path, "rb") as file:
    return file.read()


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
    ProblemError: `path` exists and is not a regular file, or its directory
      does not exist.
    OSError: the write failed; its filename is `path` (not the temporary file).
  """
  with _replacing(path) as file:
    file.write(data)


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


def atomic_write_pieces(path: str | os.PathLike, pieces: Iterable[str],
                        encoding: str = "utf-8") -> None:
  """Replaces the file at `path` with the concatenation of `pieces`,
  atomically, without holding the whole text in memory: each piece is
  encoded and written as it comes (in batches of about 256 KiB).

  The file is `atomic_write_text(path, "".join(pieces))`, byte for byte; if
  `pieces` raises, the destination keeps its old contents.

  Args:
    path: the destination file; its directory must exist.
    pieces: the new contents, in order (any iterable of strings: a generator).
    encoding: the text encoding.
  """
  with _replacing(path) as file:
    batch: list[str] = []
    size = 0
    for piece in pieces:
      batch.append(piece)
      size += len(piece)
      if size >= _BATCH_CHARACTERS:
        file.write("".join(batch).encode(encoding))
        batch.clear()
        size = 0
    file.write("".join(batch).encode(encoding))


_BATCH_CHARACTERS = 1 << 18


@contextlib.contextmanager
def _replacing(path: str | os.PathLike):
  """A binary file to write the new contents of `path` to: a temporary file
  beside it, fsynced and renamed over `path` when the block ends, removed if
  it raises (see `atomic_write_bytes`)."""
  check_writable(path)
  given = os.fspath(path)
  path = Path(path)
  temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
  try:
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with open(descriptor, "wb") as file:
      yield file
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException as error:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(temporary)
    if isinstance(error, OSError) and error.filename != given:
      raise OSError(error.errno, error.strerror or str(error), given) from None
    raise
  _fsync_directory(path.parent)


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
