"""A parsed module -> `malloc_muzero.Problem`.

Buffers are XLA's HloBuffers (`hlo_tools.aliasing`), named after their first
value (`instr{index}`), sized by `ShapeUtil::ByteSizeOf`, and live over the
union of their values' ranges on the flattened schedule. Instructions are the
flattened schedule, one per step, with XLA's flops, transcendentals and bytes
accessed per execution, and how many times each runs in one run of the program
(`hlo_tools.schedule.execution_counts`: a loop body its trip count, XLA's
`known_trip_count` or `default_trip_count`; each of a conditional's n branches
1/n). `while`, `call`, `conditional` and `async-start` cost nothing at their
own step, since the instructions of their computations are scheduled too.
Custom-calls, whose cost XLA reports as unknown (-1), count no flops and the
bytes of their operands and outputs. The source records XLA's own aggregate
(`module_cost`: a loop body once, a conditional its dearest branch), which is
what `compiled.cost_analysis()` reports.

Each access records the bytes an instruction reads from and writes to a buffer,
from XLA's per-operand and per-output byte counts.

Memory as XLA's buffer assignment uses it: a buffer whose values leave gaps in
its range (a while loop's or a conditional's) reserves memory only over its
values' own ranges (`Problem.interval_buffer`), and an operand whose slot XLA
may give to the user defined where it dies is marked (`Problem.share_operand`,
by `hlo_tools.sharing`). With both, `Problem.peak_occupied_bytes()` is what
XLA's assignment occupies at its fullest step. The source records the peak of
XLA's live-range dump (`xla_peak_live_bytes`, a diagnostic, not the maximum)
and, when XLA's `*-buffer-assignment.txt` is beside the module or given, the
largest temporary allocation XLA needs (`xla_temp_bytes`).
"""

from __future__ import annotations

import array
import dataclasses
import os
import warnings
from collections import defaultdict

import numpy as np

from hlo_tools.cost import (CONTROL_FLOW, CostAnalysis, operand_key, output_key,
                           unpriced_opcodes)
from hlo_tools.errors import HloParseError
from hlo_tools.gc_pause import gc_paused
from hlo_tools.jax_capture import find_dump_module
from hlo_tools.liveness import Liveness, analyze_liveness
from hlo_tools.module import HloInstruction, HloModule
from hlo_tools.parser import parse_hlo_file
from hlo_tools.schedule import DEFAULT_TRIP_COUNT, execution_counts
from hlo_tools.sharing import operand_shares
from hlo_tools.xla_reports import largest_temp_allocation, read_buffer_assignment
from malloc_muzero.problem import Problem, _intersection


def load_module(path: str | os.PathLike, module: str | None = None) -> HloModule:
  """Parse an HLO text file, or one module of an XLA dump directory."""
  path = os.fspath(path)
  if os.path.isdir(path):
    path = find_dump_module(path, module)
  elif not os.path.exists(path):
    raise HloParseError("an HLO text file or an XLA dump directory", path,
                        found="no such file")
  return parse_hlo_file(path)


def module_to_problem(module: HloModule, name: str | None = None,
                      default_trip_count: float = DEFAULT_TRIP_COUNT, strict: bool = False,
                      xla_assignment: str | os.PathLike | None = None):
  """Extract the buffer-assignment problem of a parsed module.

  Args:
    module: the parsed module.
    name: the problem's name (default: the module's).
    default_trip_count: iterations of a `while` whose backend config has no
      `known_trip_count` (> 0; 5 as in XLA's cost analysis).
    strict: refuse opcodes that the cost analysis does not price as XLA does
      (`cost.unpriced_opcodes`); otherwise they cost their operand and
      output bytes and no flops, with a `UnpricedOpcodeWarning`.
    xla_assignment: XLA's `*-buffer-assignment.txt` for this module, whose
      largest temporary allocation the source records (`xla_temp_bytes`);
      default: the file XLA's dump puts beside the module's, if there is one.

  Raises:
    HloParseError: the module is inconsistent in a way the parser cannot see
      (for instance an operand count an opcode does not allow); the error names
      the instruction's line.
  """
  unpriced = unpriced_opcodes(module)
  if unpriced:
    listed = ", ".join(unpriced)
    if strict:
      raise HloParseError(f"opcodes XLA's cost analysis prices (not {listed})",
                          module.filename)
    warnings.warn(UnpricedOpcodeWarning(
        f"{module.filename}: opcodes costed as their operand and output bytes with no "
        f"flops, as for an opcode XLA's cost analysis does not know: {listed}"))
  if xla_assignment is None:
    xla_assignment = _beside(module.filename)
  with gc_paused():
    problem = _module_to_problem(module, name, default_trip_count)
  if xla_assignment is not None:
    try:
      temp = largest_temp_allocation(read_buffer_assignment(os.fspath(xla_assignment)))
    except (OSError, UnicodeDecodeError, ValueError) as error:
      raise HloParseError("a readable XLA buffer-assignment report",
                          os.fspath(xla_assignment), found=str(error)) from None
    problem = dataclasses.replace(problem, source={**problem.source, "xla_temp_bytes": temp})
  return problem


def _beside(filename: str) -> str | None:
  """XLA's buffer-assignment report dumped beside an optimised module."""
  if not filename.endswith("after_optimizations.txt"):
    return None
  path = filename[:-len(".txt")] + "-buffer-assignment.txt"
  return path if os.path.isfile(path) else None


class UnpricedOpcodeWarning(UserWarning):
  """Extraction met opcodes that it costs by their bytes alone."""


def _module_to_problem(module: HloModule, name: str | None, default_trip_count: float):
  if not default_trip_count > 0 or default_trip_count == float("inf"):
    raise ValueError(f"default_trip_count must be a positive number, not {default_trip_count}")
  liveness = run_guarded(module, None, analyze_liveness, module)
  cost = CostAnalysis(module)
  sequence = liveness.schedule.sequence
  counts = execution_counts(liveness.schedule, default_trip_count)

  # The buffers in columns (not a tuple and a list per buffer): their start,
  # their end (clamped to the last step) and size; the intervals of those of
  # several values only, a buffer of one value being live over [start, end].
  buffer_of_value = {}
  buffers = []
  last = len(sequence) - 1
  buffer_starts, buffer_ends, buffer_sizes = (array.array("q") for _ in range(3))
  several: dict[int, list[tuple[int, int]]] = {}
  for buffer in liveness.buffers:
    span = liveness.buffer_range(buffer)
    if span is None:
      continue
    b = len(buffers)
    for value in buffer.values:
      buffer_of_value[value] = b
    buffers.append(buffer)
    buffer_starts.append(span[0])
    buffer_ends.append(min(span[1], last))
    buffer_sizes.append(buffer.size)
    if len(buffer.values) > 1:
      several[b] = _intervals(buffer, liveness, last)

  # One pass over the steps, keeping columns (not a dict per step): the costs,
  # the entry's sum as XLA's cost analysis adds it (`CostAnalysis.computation`),
  # and the bytes each step reads from and writes to each buffer.
  flops, transcendentals, bytes_accessed, executions = (
      array.array("d") for _ in range(4))
  access_buffer, access_step = array.array("q"), array.array("q")
  access_read, access_written = array.array("q"), array.array("q")
  xla_cost: dict[str, float] = defaultdict(float)
  entry = module.entry
  for step, x in enumerate(sequence):
    try:
      step_cost, properties = _step_cost(x, cost, xla_cost if x.computation is entry
                                         else None)
    except _GUARDED as e:
      raise _guarded_error(module, x, e) from None
    flops.append(step_cost[0])
    transcendentals.append(step_cost[1])
    bytes_accessed.append(step_cost[2])
    executions.append(counts[x.computation])
    if properties is None:
      continue
    moved: dict[int, list[float]] = {}
    for values, amount, is_write in _accesses(x, properties, liveness):
      if amount <= 0:
        continue
      if len(values) == 1:  # Most often: one value, of one buffer or none.
        b = buffer_of_value.get(values[0])
        targets = [] if b is None else [b]
      else:
        targets = [buffer_of_value[v] for v in values if v in buffer_of_value]
      for b in targets:
        pair = moved.get(b)
        if pair is None:
          pair = moved[b] = [0.0, 0.0]
        pair[1 if is_write else 0] += amount / len(targets)
    for b, (read, written) in moved.items():
      access_buffer.append(b)
      access_step.append(step)
      access_read.append(round(read))
      access_written.append(round(written))
  # By buffer, then step.
  order = np.lexsort((np.frombuffer(access_step, np.int64),
                      np.frombuffer(access_buffer, np.int64)))

  output_values = {v for index, values in liveness.dataflow.value_sets[entry.root].items()
                   for v in values}
  time, rows = liveness.peak()
  xla_peak_live_bytes = sum(size for _, size in rows)
  del rows
  kinds = [_kind(b.values, entry, output_values) for b in buffers]
  shares = run_guarded(module, None, _shares, liveness, buffers, buffer_of_value, kinds,
                       buffer_starts, buffer_ends, several, buffer_sizes)
  gaps = [(b, s, e) for b, spans in several.items() if len(spans) > 1 for s, e in spans]
  # The analyses are done with: let a large module's go before the names are
  # made and the Problem checks its arrays.
  del liveness, buffer_of_value, several, output_values
  buffer_names = tuple(b.name for b in buffers)
  sizes = np.frombuffer(buffer_sizes, np.int64).copy()
  starts = np.frombuffer(buffer_starts, np.int64).astype(np.int32)
  ends = np.frombuffer(buffer_ends, np.int64).astype(np.int32)
  buffer_values = tuple(tuple(v.name for v in b.values) for b in buffers)
  del buffers, buffer_sizes, buffer_starts, buffer_ends
  return Problem(
      name=name or module.name,
      buffer_names=buffer_names,
      sizes=sizes,
      starts=starts,
      ends=ends,
      buffer_kinds=tuple(kinds),
      instruction_names=tuple(x.name for x in sequence),
      opcodes=tuple(x.opcode for x in sequence),
      flops=np.array(flops, np.float64),
      transcendentals=np.array(transcendentals, np.float64),
      bytes_accessed=np.array(bytes_accessed, np.float64),
      executions=np.array(executions, np.float64),
      access_buffer=np.frombuffer(access_buffer, np.int64)[order].astype(np.int32),
      access_instruction=np.frombuffer(access_step, np.int64)[order].astype(np.int32),
      access_bytes_read=np.frombuffer(access_read, np.int64)[order],
      access_bytes_written=np.frombuffer(access_written, np.int64)[order],
      schedule_length=len(sequence),
      source={"kind": "hlo", "file": module.filename, "module": module.name,
              "xla_peak_live_bytes": xla_peak_live_bytes,
              "xla_peak_time": time,
              # Shares and intervals were marked (a file extracted before has none).
              "shares_and_intervals": True,
              "xla_cost_analysis": {key: float(xla_cost.get(key, 0.0))
                                    for key in _XLA_COST_KEYS}},
      buffer_values=buffer_values,
      interval_buffer=np.array([g[0] for g in gaps], np.int32),
      interval_start=np.array([g[1] for g in gaps], np.int32),
      interval_end=np.array([g[2] for g in gaps], np.int32),
      share_operand=np.frombuffer(shares[0], np.int64).astype(np.int32),
      share_user=np.frombuffer(shares[1], np.int64).astype(np.int32),
      share_step=np.frombuffer(shares[2], np.int64).astype(np.int32),
  )


def _intervals(buffer, liveness: Liveness, last: int) -> list[tuple[int, int]]:
  """The merged ranges of a buffer's values (ends clamped to the last step)."""
  if len(buffer.values) == 1:
    span = liveness.ranges.get(buffer.values[0])
    return [] if span is None else [(span[0], min(span[1], last))]
  spans = sorted((s, min(e, last)) for s, e in
                 (liveness.ranges[v] for v in buffer.values if v in liveness.ranges))
  merged: list[list[int]] = []
  for start, end in spans:
    if merged and start <= merged[-1][1] + 1:
      merged[-1][1] = max(merged[-1][1], end)
    else:
      merged.append([start, end])
  return [(s, e) for s, e in merged]


def _shares(liveness: Liveness, buffers, buffer_of_value, kinds, starts, ends, several,
            buffer_sizes):
  """(operand buffer, user buffer, step) of the operand slots XLA may reuse,
  keeping those whose buffers' intervals meet at that step only (a buffer's
  intervals: `several[b]`, else `[(starts[b], ends[b])]`)."""
  # Kinds by buffer id, and each value's HloBuffer, without a dict entry each.
  kind_of = [None] * (max((b.id for b in liveness.buffers), default=-1) + 1)
  for i, b in enumerate(buffers):
    kind_of[b.id] = kinds[i]
  # The operand buffers of the shares kept at one step (one tenant each; a
  # user may have several): the shares come in order of step.
  seen_operand: set[int] = set()
  seen_at = None
  out = tuple(array.array("q") for _ in range(3))
  for operand, user in operand_shares(liveness.dataflow, liveness.buffers,
                                      liveness.ranges, kind_of,
                                      _BufferOf(buffer_of_value, buffers)):
    a, b = buffer_of_value.get(operand), buffer_of_value.get(user)
    if a is None or b is None:
      continue
    step = liveness.ranges[user][0]
    if step != seen_at:
      seen_operand, seen_at = set(), step
    sizes = operand.shape.byte_size(), user.shape.byte_size()
    spans_a, spans_b = several.get(a), several.get(b)
    if spans_a is None and spans_b is None:  # `_intersection`, of one interval each
      start_a, end_a, start_b, end_b = starts[a], ends[a], starts[b], ends[b]
      meet = (start_a if start_a > start_b else start_b) == step == \
          (end_a if end_a < end_b else end_b)
    else:
      meet = _intersection(spans_a or [(starts[a], ends[a])],
                           spans_b or [(starts[b], ends[b])]) == [(step, step)]
    if (not meet
        or a in seen_operand
        or buffer_sizes[b] > buffer_sizes[a] or sizes[1] > sizes[0]):
      continue
    seen_operand.add(a)
    for column, item in zip(out, (a, b, step)):
      column.append(item)
  return out


class _BufferOf:
  """Value -> its HloBuffer (`in` and `[]`), for the values of the problem's
  buffers: `buffers[buffer_of_value[value]]`, without a dict of its own."""

  __slots__ = ("buffer_of_value", "buffers")

  def __init__(self, buffer_of_value: dict, buffers: list):
    self.buffer_of_value = buffer_of_value
    self.buffers = buffers

  def __contains__(self, value) -> bool:
    return value in self.buffer_of_value

  def __getitem__(self, value):
    return self.buffers[self.buffer_of_value[value]]


_GUARDED = (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, RecursionError)


def run_guarded(module: HloModule, x: HloInstruction | None, fn, *args):
  """`fn(*args)`, turning a crash on inconsistent HLO into an `HloParseError`
  that names the instruction `x` (or the module) at fault."""
  try:
    return fn(*args)
  except _GUARDED as e:
    raise _guarded_error(module, x, e) from None


def _guarded_error(module: HloModule, x: HloInstruction | None, e: Exception) -> Exception:
  """The error `run_guarded` raises for `e`."""
  if isinstance(e, HloParseError):
    return e
  if x is None:
    return HloParseError(f"a consistent HLO module ({type(e).__name__}: {e})",
                         module.filename)
  return HloParseError(f"a well-formed {x.opcode} instruction "
                       f"({type(e).__name__}: {e})", module.filename, x.line, 1, x.name)


# The entry computation's sums that the source records (of XLA's cost analysis).
_XLA_COST_KEYS = ("flops", "transcendentals", "bytes accessed")


def _step_cost(x: HloInstruction, cost: CostAnalysis, entry_sum: dict | None):
  """((flops, transcendentals, bytes accessed), properties or None) of a step;
  adds those of its properties that the source records (`_XLA_COST_KEYS`) to
  `entry_sum`, the entry computation's, if given."""
  p = None
  if entry_sum is not None:
    p = cost.properties(x)
    for key in _XLA_COST_KEYS:
      value = p.get(key)
      if value:
        entry_sum[key] += value
  if x.opcode in CONTROL_FLOW:
    return (0.0, 0.0, 0.0), None
  if x.opcode == "custom-call":
    # XLA does not know a custom-call's cost (-1): count its operands and outputs.
    p = cost.preprocess(x)
    return (0.0, 0.0, p["bytes accessed"]), p
  if p is None:
    p = cost.properties(x)
  # Shapes that contradict each other (a reduce to more elements than its
  # input) would give negative counts; no instruction does negative work.
  flops, transcendentals, moved = (p.get("flops", 0.0), p.get("transcendentals", 0.0),
                                   p.get("bytes accessed", 0.0))
  # max(v, 0.0), as the builtin decides it (a NaN or -0.0 stays).
  return (0.0 if 0.0 > flops else flops, 0.0 if 0.0 > transcendentals else transcendentals,
          0.0 if 0.0 > moved else moved), p


def _accesses(x: HloInstruction, properties: dict, liveness: Liveness):
  """(values, bytes, is_write) for what `x` reads and writes."""
  sets = liveness.dataflow.value_sets
  for i, operand in enumerate(x.operands):
    operand_sets = sets.get(operand, {})
    leaves = (_array_leaves(operand.shape) if x.opcode == "fusion" and operand.shape.is_tuple
              else [])
    if leaves:
      for index in leaves:
        yield operand_sets.get(index, []), properties.get(operand_key(i, index), 0.0), False
    else:
      yield operand_sets.get((), []), properties.get(operand_key(i), 0.0), False
  own = sets.get(x, {})
  leaves = _array_leaves(x.shape) if x.opcode != "tuple" else []
  if leaves and any(output_key(index) in properties for index in leaves):
    for index in leaves:
      yield own.get(index, []), properties.get(output_key(index), 0.0), True
  elif leaves:
    # One figure for the whole tuple (e.g. a sort): split it by element size.
    total = properties.get(output_key(), 0.0)
    sizes = [x.shape.subshape(index).byte_size() for index in leaves]
    for index, size in zip(leaves, sizes):
      yield own.get(index, []), total * size / max(sum(sizes), 1), True
  else:
    yield own.get((), []), properties.get(output_key(), 0.0), True


def _array_leaves(shape) -> list[tuple[int, ...]]:
  """Shape indices of the array elements of a tuple shape ([] for an array)."""
  if not shape.is_tuple:
    return []
  return [i for i in shape.leaf_indices() if not shape.subshape(i).is_tuple]


def _kind(values, entry, output_values) -> str:
  if len(values) == 1:
    x = values[0].instruction
    is_parameter = x.opcode == "parameter" and x.computation is entry
    is_output = values[0] in output_values
    if is_parameter:
      return "parameter+output" if is_output else "parameter"
    if is_output:
      return "output"
    return "constant" if x.opcode == "constant" else "temporary"
  is_parameter = any(v.instruction.opcode == "parameter" and
                     v.instruction.computation is entry for v in values)
  is_output = any(v in output_values for v in values)
  if is_parameter and is_output:
    return "parameter+output"
  if is_parameter:
    return "parameter"
  if is_output:
    return "output"
  if all(v.instruction.opcode == "constant" for v in values):
    return "constant"
  return "temporary"
