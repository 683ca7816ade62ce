"""Command-line pieces shared by malloc-eval and malloc-solve."""

from __future__ import annotations

import argparse


MAX_BYTES = 2**63 - 1  # Sizes and capacities are int64.


class UsageError(Exception):
  """A command-line usage error, reported in one line."""


class Parser(argparse.ArgumentParser):
  """An argument parser whose usage errors are one line, not usage + error."""

  def error(self, message: str):
    raise UsageError(message)


def byte_count(text: str) -> int:
  try:
    value = int(text.replace("_", ""))
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"expected a whole number of bytes, found {text!r}") from None
  if value < 0:
    raise argparse.ArgumentTypeError(
        f"expected a non-negative number of bytes, found {value}")
  if value > MAX_BYTES:
    raise argparse.ArgumentTypeError(
        f"expected at most {MAX_BYTES} bytes (2**63 - 1), found {value}")
  return value


def seconds(text: str) -> float:
  """A positive, finite number of seconds."""
  import math

  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not (math.isfinite(value) and value > 0):
    raise argparse.ArgumentTypeError(f"expected a positive number of seconds, found {text!r}")
  return value


DEFAULT_HARDWARE = "tpu-v4"


def add_hardware_arguments(parser: argparse.ArgumentParser, recorded: bool = False) -> None:
  """`--hardware NAME`, `--capacity BYTES` and `--time-model NAME`; all
  default to None (`hardware_for` then takes `DEFAULT_HARDWARE`, or, with
  `recorded`, the model a placement file records)."""
  from malloc_muzero.hardware import TIME_MODELS

  default = ("the model the placement file records, else " if recorded else "") + \
      DEFAULT_HARDWARE
  parser.add_argument("--hardware", help=f"hardware preset (default: {default}; for a "
                      "MiniMalloc CSV problem, MiniMalloc's semantics: one memory of "
                      "the file's capacity, alignment 1)")
  parser.add_argument("--capacity", type=byte_count, metavar="BYTES",
                      help="capacity of the first fast memory level, bytes "
                      "(default: from a MiniMalloc file name, else the "
                      "preset's)")
  parser.add_argument("--time-model", choices=TIME_MODELS,
                      help="how a placement is timed: xla (XLA's RuntimeSimulator, "
                      "asynchronous copies on idle default-memory bandwidth, loop "
                      "bodies by trip count) or additive (the model of results "
                      f"before it) (default: {TIME_MODELS[0]})")


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
  """`--windows` and its two settings (see `malloc_muzero.windows`)."""
  from malloc_muzero import windows

  parser.add_argument("--windows", action="store_true",
                      help="split each buffer into windows around its uses, with "
                      "prefetches and evictions (malloc_muzero.windows); the "
                      "placement then places windows")
  parser.add_argument("--min-gap", type=int, default=windows.DEFAULT_MIN_GAP,
                      metavar="STEPS", help="with --windows: steps between two uses "
                      f"above which they go to different windows (default "
                      f"{windows.DEFAULT_MIN_GAP})")
  parser.add_argument("--prefetch-steps", type=int, default=windows.DEFAULT_PREFETCH_STEPS,
                      metavar="STEPS", help="with --windows: steps a prefetch or an "
                      f"eviction is spread over (default {windows.DEFAULT_PREFETCH_STEPS})")


def windows_for(problem, args):
  """`problem` split into windows (`malloc_muzero.windows.Windows`) when
  `args.windows`, else None."""
  if not args.windows:
    return None
  from malloc_muzero.windows import split_into_windows

  return split_into_windows(problem, args.min_gap, args.prefetch_steps)


def hardware_for(problem, name: str | None, capacity: int | None,
                 time_model: str | None = None):
  """The preset `name`, with `capacity` or a MiniMalloc problem's own, on
  `time_model` (None: the preset's). Without a name, `DEFAULT_HARDWARE`, or
  for a MiniMalloc problem MiniMalloc's semantics (`minimalloc_hardware`:
  one memory, alignment 1)."""
  import dataclasses

  from malloc_muzero.hardware import get_hardware, minimalloc_hardware

  minimalloc = problem.source.get("kind") == "minimalloc"
  if capacity is None and minimalloc:
    capacity = problem.source.get("capacity")
  if name is None and minimalloc:
    hardware = minimalloc_hardware(capacity)
    return hardware if time_model is None else dataclasses.replace(hardware,
                                                                   time_model=time_model)
  return get_hardware(DEFAULT_HARDWARE if name is None else name, capacity=capacity,
                      time_model=time_model)


def run_command(prog: str, parser: argparse.ArgumentParser, body, argv,
                path_of_args) -> int:
  """Parse `argv`, run `body(args) -> exit status`, and turn bad input into
  one line on stderr and exit status 2.

  Args:
    prog: the command's name, for messages.
    parser: a `Parser`.
    body: the command's work.
    argv: the arguments (None: sys.argv).
    path_of_args: names the file an OSError without a filename is about.
  """
  import sys

  from hlo_tools import HloParseError
  from malloc_muzero.errors import ProblemError

  try:
    args = parser.parse_args(argv)
  except UsageError as error:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2
  try:
    return body(args)
  except KeyboardInterrupt:
    print(f"{prog}: interrupted", file=sys.stderr)
    return 130
  except (ProblemError, HloParseError) as error:
    print(f"{prog}: error: {error}", file=sys.stderr)
  except OSError as error:
    where = error.filename if error.filename is not None else path_of_args(args)
    print(f"{prog}: error: {where}: {error.strerror or error}", file=sys.stderr)
  return 2
