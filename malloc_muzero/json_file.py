"""Read a JSON file, reporting bad bytes or syntax as `ProblemError`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator

from malloc_muzero.atomic_file import read_input_bytes
from malloc_muzero.errors import ProblemError


def read_json_file(path: str | os.PathLike):
  """The parsed contents of a UTF-8 JSON file.

  Raises:
    ProblemError: not a regular file, invalid UTF-8 (naming the line) or
      invalid JSON (naming the line and column).
    OSError: the file cannot be read.
  """
  filename = str(path)
  data = read_input_bytes(path)
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as error:
    line = data.count(b"\n", 0, error.start) + 1
    raise ProblemError("UTF-8 text", filename, f"line {line}",
                       data[error.start:error.end]) from None
  try:
    return json.loads(text)
  except json.JSONDecodeError as error:
    raise ProblemError(f"valid JSON ({error.msg})", filename,
                       f"line {error.lineno} column {error.colno}") from None


class JsonReader:
  """Checks parsed JSON field by field, naming the file and JSON path of the
  first thing that is wrong. Subclasses add the checks of one format."""

  def __init__(self, filename: str):
    self.filename = filename

  def fail(self, where: str, expected: str, found=None):
    raise ProblemError(expected, self.filename, where, found)

  def fields(self, value, where: str, keys) -> dict:
    """Checks that `value` is an object with exactly the fields `keys`."""
    if not isinstance(value, dict):
      self.fail(where, "a JSON object", value)
    for key in keys:
      if key not in value:
        self.fail(where, f'a "{key}" field')
    for key in value:
      if key not in keys:
        self.fail(where, f"only the fields {', '.join(keys)}", key)
    return value

  def array(self, value, where: str) -> list:
    if not isinstance(value, list):
      self.fail(where, "a JSON array", value)
    return value


def dump_json(data: dict, row_keys: tuple[str, ...] | None = None) -> str:
  """JSON text of a flat object, with each element of its lists on a line of
  its own (only the lists under `row_keys`, when given): diffable files."""
  return "".join(json_pieces(data, row_keys))


class JsonRows:
  """A list to write one element per line, given as a count and an iterable
  that yields the elements (made as they are written, not held: see
  `json_pieces`)."""

  def __init__(self, count: int, items: Iterable):
    self.count = count
    self.items = items


# `json.dumps(item, allow_nan=False)` builds an encoder per call; one encoder
# writes the same text.
_ENCODE = json.JSONEncoder(allow_nan=False).encode


def json_pieces(data: dict, row_keys: tuple[str, ...] | None = None) -> Iterator[str]:
  """The text of `dump_json(data, row_keys)`, piece by piece.

  A value may also be `JsonRows`, written like a list under `row_keys` (the
  text of `dump_json` with the list of its items), its items encoded one at
  a time as they come: a file of millions of rows is written without its
  whole text, or its whole list of items, in memory.
  """
  yield "{\n"
  for number, (key, value) in enumerate(data.items()):
    yield f",\n {_ENCODE(key)}: " if number else f" {_ENCODE(key)}: "
    if isinstance(value, JsonRows):
      rows, count, items = True, value.count, value.items
    else:
      rows = isinstance(value, list) and value and (row_keys is None or key in row_keys)
      count, items = len(value) if rows else 0, value
    if not rows:
      yield _ENCODE(value)
      continue
    if not count:
      yield "[]"
      continue
    yield "[\n"
    written = 0
    for item in items:
      yield (",\n  " if written else "  ") + _ENCODE(item)
      written += 1
    if written != count:
      raise ValueError(f"JsonRows of {key!r}: {written} items, not {count}")
    yield "\n ]"
  yield "\n}\n"
