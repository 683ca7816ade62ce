"""The flattened instruction sequence, numbered as XLA's HloLiveRange numbers it.

XLA's `HloLiveRange::FlattenSchedule` walks the entry computation's schedule;
before a `while` it flattens the condition, then the body; before a `call`,
`conditional` or `async-start` it flattens each called computation in order.
Each computation is flattened once, at its first call. Fused computations and
the `to_apply` of reductions are not scheduled: their instructions run inside
the instruction that calls them. For a scheduled module (`is_scheduled=true`),
the printed order of a computation is its schedule.
"""

from __future__ import annotations

import dataclasses

from hlo_tools.module import HloComputation, HloInstruction, HloModule

_CALLERS = ("call", "conditional", "async-start")


@dataclasses.dataclass(frozen=True)
class Schedule:
  """A flattened schedule.

  Attributes:
    sequence: instructions in flattened order; position = logical time.
    time: instruction -> its logical time.
    spans: computation -> [start, end) logical times of its instructions.
    async_context: computation -> the async computation it runs under.
  """
  sequence: list[HloInstruction]
  time: dict[HloInstruction, int]
  spans: dict[HloComputation, tuple[int, int]]
  async_context: dict[HloComputation, HloComputation]

  @property
  def end_time(self) -> int:
    """`schedule_end_time()`: one past the last instruction."""
    return len(self.sequence)


def flatten_schedule(module: HloModule) -> Schedule:
  """Flatten the module's schedule starting at its entry computation."""
  sequence: list[HloInstruction] = []
  time: dict[HloInstruction, int] = {}
  spans: dict[HloComputation, tuple[int, int]] = {}
  async_context: dict[HloComputation, HloComputation] = {}

  # Iterative depth-first walk, so that deep nesting never hits Python's
  # recursion limit. A frame is [computation, next instruction index, async
  # context, callees of that instruction still to flatten (None: not listed)].
  stack = [[module.entry, 0, None, None]]
  spans[module.entry] = (0, -1)
  while stack:
    frame = stack[-1]
    computation, k, context, pending = frame
    if k == len(computation.instructions):
      spans[computation] = (spans[computation][0], len(sequence))
      stack.pop()
      continue
    instruction = computation.instructions[k]
    if pending is None:
      pending = frame[3] = _scheduled_callees(instruction, context)
    if pending:
      callee, callee_context = pending.pop(0)
      if callee not in spans:
        spans[callee] = (len(sequence), -1)
        if callee_context is not None:
          async_context[callee] = callee_context
        stack.append([callee, 0, callee_context, None])
      continue
    time[instruction] = len(sequence)
    sequence.append(instruction)
    frame[1] = k + 1
    frame[3] = None
  return Schedule(sequence, time, spans, async_context)


def _scheduled_callees(instruction: HloInstruction,
                       context: HloComputation | None):
  """Computations flattened before `instruction`, with their async context."""
  if instruction.opcode == "while":
    return [(c, context) for c in instruction.called_by_role("condition") +
            instruction.called_by_role("body")]
  if instruction.opcode in _CALLERS:
    is_async = instruction.opcode == "async-start"
    return [(c, c if is_async else context) for c in instruction.called]
  return []


# XLA's cost analysis assumes this many iterations of a loop whose trip count
# it does not know (`HloCostAnalysis`'s while-loop weighting, and memory space
# assignment's `xla_tpu_...while_execution_count` default).
DEFAULT_TRIP_COUNT = 5


def trip_count(instruction: HloInstruction,
               default: float = DEFAULT_TRIP_COUNT) -> float:
  """Iterations of a `while`: XLA's `known_trip_count` when its backend
  config carries one (as `while_loop_trip_count_annotator` writes it), else
  `default`."""
  known = instruction.backend_config.get("known_trip_count", {})
  count = known.get("n") if isinstance(known, dict) else None
  try:
    return float(int(count))
  except (TypeError, ValueError):
    return float(default)


def execution_counts(schedule: Schedule,
                     default_trip_count: float = DEFAULT_TRIP_COUNT
                     ) -> dict[HloComputation, float]:
  """How many times each scheduled computation runs in one run of the module.

  The entry runs once. A `while` body and condition run the loop's trip count
  times its caller's count (`trip_count`); each of a conditional's `n`
  branches counts 1/n; `call` and `async-start` callees run as often as their
  caller. Nested loops multiply. A computation called from several places is
  flattened once (`flatten_schedule`) and counted from its first caller in
  that order.

  Args:
    schedule: the module's flattened schedule.
    default_trip_count: iterations of a loop without `known_trip_count`, > 0.

  Returns:
    Computation -> executions (a float: a branch runs a fraction of the time
    on average), for every computation of `schedule.spans`.
  """
  # `spans` lists computations in the order they were first reached, so each
  # caller comes before its callees.
  counts: dict[HloComputation, float] = {}
  for computation in schedule.spans:
    count = counts.setdefault(computation, 1.0)
    for instruction in computation.instructions:
      callees = [callee for callee, _ in _scheduled_callees(instruction, None)]
      if instruction.opcode == "while":
        factor = trip_count(instruction, default_trip_count)
      elif instruction.opcode == "conditional":
        factor = 1.0 / max(len(callees), 1)
      else:
        factor = 1.0
      for callee in callees:
        counts.setdefault(callee, count * factor)
  return counts
