"""Command-line pieces shared by malloc-eval and malloc-solve."""

from __future__ import annotations

import argparse
import math

from hlo_tools import HloParseError
from malloc_muzero import compilation_cache, windows
from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import TIME_MODELS, get_hardware, minimalloc_hardware
from malloc_muzero.windows import split_into_windows


MAX_BYTES = 2**63 - 1  # Sizes and capacities are int64.


class UsageError(Exception):
  """A command-line usage error, reported in one line."""


def renamed_flags(prog: str, argv: list[str], renames: dict[str, str]) -> list[str]:
  """`argv` with each deprecated flag spelling replaced by its new name, and
  for each one used a line on stderr saying the new name.

  Args:
    prog: the command's name, for the message.
    argv: the arguments, without the program name.
    renames: old spelling -> new one, with their dashes (`{"--output": "--out"}`).
      An absl flag's single-dash form (`-time_budget_s`) is renamed too.
  """
  import sys

  renamed, told = [], set()
  for index, arg in enumerate(argv):
    if arg == "--":
      renamed += argv[index:]
      break
    name, equals, value = arg.partition("=")
    old = "--" + name.lstrip("-") if name.startswith("-") else None
    if old in renames:
      if old not in told:
        told.add(old)
        print(f"{prog}: {old} is deprecated; use {renames[old]}", file=sys.stderr)
      arg = renames[old] + equals + value
    renamed.append(arg)
  return renamed


class Parser(argparse.ArgumentParser):
  """An argument parser whose usage errors are one line, not usage + error,
  and which takes the deprecated spellings `renames` (old -> new, see
  `renamed_flags`) of its flags."""

  def __init__(self, *args, renames: dict[str, str] | None = None, **kwargs):
    super().__init__(*args, **kwargs)
    self.renames = dict(renames or {})

  def parse_known_args(self, args=None, namespace=None):
    import sys

    if self.renames:
      args = renamed_flags(self.prog, list(sys.argv[1:] if args is None else args),
                           self.renames)
    return super().parse_known_args(args, namespace)

  def error(self, message: str):
    raise UsageError(message)


MAX_STEPS = 2**31 - 1  # Schedule steps are int32.
MAX_SEED = 2**31 - 1


def _whole_number(text: str, what: str, low: int, high: int, high_text: str) -> int:
  """`text` as an integer in [low, high], else an ArgumentTypeError saying so."""
  try:
    value = int(text.replace("_", ""))
  except ValueError:
    value = None
  if value is None or not low <= value <= high:
    raise argparse.ArgumentTypeError(f"expected {what}: a whole number in [{low}, "
                                     f"{high_text}], found {text!r}")
  return value


def byte_count(text: str) -> int:
  """A capacity: a positive number of bytes that fits int64."""
  return _whole_number(text, "a number of bytes", 1, MAX_BYTES, "2**63 - 1")


def seed(text: str) -> int:
  """A seed in [0, 2**31 - 1], which every solver's generator takes."""
  return _whole_number(text, "a seed", 0, MAX_SEED, "2**31 - 1")


MAX_ITERATIONS = 2**31 - 1


def iteration_count(text: str) -> int:
  """An iteration budget: a whole number in [1, 2**31 - 1]."""
  return _whole_number(text, "a number of iterations", 1, MAX_ITERATIONS, "2**31 - 1")


def step_count(low: int):
  """A number of schedule steps in [low, 2**31 - 1]."""
  def parse(text: str) -> int:
    return _whole_number(text, "a number of steps", low, MAX_STEPS, "2**31 - 1")
  return parse


def hardware_name(text: str) -> str:
  """The name of a hardware preset (checked by `get_hardware`)."""
  try:
    get_hardware(text)
  except ProblemError as error:
    raise argparse.ArgumentTypeError(f"expected {error.expected}, found {text!r}") from None
  return text


def seconds(text: str) -> float:
  """A positive, finite number of seconds."""
  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not (math.isfinite(value) and value > 0):
    raise argparse.ArgumentTypeError(f"expected a positive number of seconds, found {text!r}")
  return value


def fraction(text: str) -> float:
  """A share of the peak live bytes, in (0, 1]."""
  try:
    value = float(text)
  except ValueError:
    value = math.nan
  if not 0 < value <= 1:  # (False for nan.)
    raise argparse.ArgumentTypeError("expected a share of the peak live bytes in (0, 1], "
                                     f"found {text!r}")
  return value


def capacity_of(problem, args) -> int | None:
  """The capacity the flags ask for: `--capacity`, or `--capacity-fraction`
  of `problem`'s peak live bytes (`Problem.capacity_for`); None: neither."""
  if args.capacity_fraction is not None:
    return problem.capacity_for(args.capacity_fraction)
  return args.capacity


DEFAULT_HARDWARE = "tpu-v4"


def add_hardware_arguments(parser: argparse.ArgumentParser, recorded: bool = False) -> None:
  """`--hardware NAME`, `--capacity BYTES` or `--capacity-fraction F` (see
  `capacity_of`) and `--time-model NAME`; all default to None
  (`command_hardware` then takes `DEFAULT_HARDWARE`, or, with `recorded`, the
  model a placement file records)."""
  default = ("the model the placement file records, else " if recorded else "") + \
      DEFAULT_HARDWARE
  parser.add_argument("--hardware", type=hardware_name, help=f"hardware preset (default: {default}; for a "
                      "MiniMalloc CSV problem, MiniMalloc's semantics: one memory of "
                      "the file's capacity, alignment 1)")
  capacity = parser.add_mutually_exclusive_group()
  capacity.add_argument("--capacity", type=byte_count, metavar="BYTES",
                        help="capacity of the first fast memory level, bytes "
                        "(default: from a MiniMalloc file name, else the "
                        "preset's)")
  capacity.add_argument("--capacity-fraction", type=fraction, metavar="F",
                        help="capacity of the first fast memory level as a share of "
                        "the problem's peak live bytes, in (0, 1] (instead of "
                        "--capacity)")
  parser.add_argument("--time-model", choices=TIME_MODELS,
                      help="how a placement is timed: xla (XLA's RuntimeSimulator, "
                      "asynchronous copies on idle default-memory bandwidth, loop "
                      "bodies by trip count) or additive (the model of results "
                      f"before it) (default: {TIME_MODELS[0]})")


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
  """`--windows` and its two settings (see `malloc_muzero.windows`)."""
  parser.add_argument("--windows", action="store_true",
                      help="split each buffer into windows around its uses, with "
                      "prefetches and evictions (malloc_muzero.windows); the "
                      "placement then places windows")
  parser.add_argument("--min-gap", type=step_count(1), default=windows.DEFAULT_MIN_GAP,
                      metavar="STEPS", help="with --windows: steps between two uses "
                      f"above which they go to different windows (default "
                      f"{windows.DEFAULT_MIN_GAP})")
  parser.add_argument("--prefetch-steps", type=step_count(0), default=windows.DEFAULT_PREFETCH_STEPS,
                      metavar="STEPS", help="with --windows: steps a prefetch or an "
                      f"eviction is spread over (default {windows.DEFAULT_PREFETCH_STEPS})")


def windows_for(problem, args):
  """`problem` split into windows (`malloc_muzero.windows.Windows`) when
  `args.windows`, else None."""
  if not args.windows:
    return None

  return split_into_windows(problem, args.min_gap, args.prefetch_steps)


def command_hardware(problem, name: str | None, capacity: int | None,
                     time_model: str | None = None):
  """The hardware a command's `--hardware`, `--capacity` (bytes) and
  `--time-model` ask for (see `add_hardware_arguments`): the preset `name`,
  with `capacity` or a MiniMalloc problem's own, on `time_model` (None: the
  preset's). Without a name, `DEFAULT_HARDWARE`, or for a MiniMalloc problem
  MiniMalloc's semantics (`minimalloc_hardware`: one memory, alignment 1)."""
  import dataclasses

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
                path_of_args, bad_input_status: int = 2) -> int:
  """Parse `argv`, run `body(args) -> exit status`, and turn bad flags and
  bad input into one line on stderr and exit status 2 (Ctrl-C: 130). Once
  the flags are parsed, the command compiles through JAX's persistent cache
  (`malloc_muzero.compilation_cache`).

  Args:
    prog: the command's name, for messages.
    parser: a `Parser`.
    body: the command's work.
    argv: the arguments (None: sys.argv).
    path_of_args: names the file an OSError without a filename is about.
    bad_input_status: the exit status of bad input (malloc-extract's is 1).
  """
  import sys

  try:
    args = parser.parse_args(argv)
  except UsageError as error:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2
  compilation_cache.enable()
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
  return bad_input_status
