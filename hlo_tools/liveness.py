"""Live ranges of values and buffers, by the rules of XLA's `HloLiveRange`.

On the flattened schedule (`hlo_tools.schedule`), a value's range `[start, end]`
(inclusive) runs
* from its defining instruction's time, or the start of its computation for a
  parameter;
* to the latest of: its last use, the times of the instructions that hold it
  (tuples, get-tuple-elements), and the end of a computation whose ROOT holds it;
* with two rules for control flow: a value fed into a `while` is used up when
  the loop body starts (its parameter's time), and the use by a `call` is
  replaced by the uses inside the called computation;
* read-only entry parameters (not donated) live to the end of the schedule.
Then, within each buffer, the ranges of its values are made to follow on from
one another (`NormalizeAliasedBuffers`).

The peak is found as XLA finds it, quirks included: a sweep over start and end
events (an end counts at `end + 1`, after the starts of that time) that sizes a
tuple element by its defining instruction's whole shape.
"""

from __future__ import annotations

import dataclasses

from hlo_tools.aliasing import HloBuffer, alias_buffers
from hlo_tools.dataflow import Dataflow, HloValue, analyze_dataflow
from hlo_tools.module import HloModule
from hlo_tools.schedule import Schedule, flatten_schedule


@dataclasses.dataclass
class Liveness:
  """Schedule, values, buffers and their live ranges.

  Attributes:
    schedule: the flattened schedule.
    dataflow: values and value sets.
    buffers: values merged into buffers.
    ranges: value -> [start, end], inclusive logical times.
  """
  schedule: Schedule
  dataflow: Dataflow
  buffers: list[HloBuffer]
  ranges: dict[HloValue, list[int]]

  @property
  def end_time(self) -> int:
    return self.schedule.end_time

  def buffer_range(self, buffer: HloBuffer) -> tuple[int, int] | None:
    """The union of its values' ranges (None if none is scheduled)."""
    if len(buffer.values) == 1:
      span = self.ranges.get(buffer.values[0])
      return None if span is None else (span[0], span[1])
    spans = [self.ranges[v] for v in buffer.values if v in self.ranges]
    if not spans:
      return None
    return min(s for s, _ in spans), max(e for _, e in spans)

  def xla_lines(self) -> list[str]:
    """The BufferLiveRange lines of XLA's dump: `name{index}:start-end`."""
    return [f"{v.name}:{self.ranges[v][0]}-{self.ranges[v][1]}"
            for v in self.dataflow.values if v in self.ranges]

  def peak(self) -> tuple[int, list[tuple[HloValue, int]]]:
    """XLA's peak: its time, and the values live then with their bytes,
    largest first (as `Live ranges at T (peak)` lists them)."""
    ranges = self.ranges
    values = [v for v in self.dataflow.values if v in ranges]  # in id order
    # The events (time, is_end, id) in order, each as one integer
    # ((2 * time + is_end) * n + k for the k-th value): no tuple per event.
    n = len(values)
    events = []
    for k, v in enumerate(values):
      start, end = ranges[v]
      events.append(2 * start * n + k)
      events.append((2 * end + 3) * n + k)
    events.sort()
    memory = peak = 0
    peak_time = None
    for event in events:
      time, k = divmod(event, n)
      time, is_end = divmod(time, 2)
      size = values[k].instruction.shape.byte_size()
      memory += -size if is_end else size
      if peak < memory:
        peak, peak_time = memory, time
    del events
    peak_time = peak_time or 0
    rows = [(v, v.shape.byte_size()) for v in values
            if ranges[v][0] <= peak_time <= ranges[v][1]]
    rows.sort(key=lambda r: (-r[1], r[0].instruction.name, r[0].index))
    return peak_time, rows

  def format_xla(self) -> str:
    """The module's live-range report in the layout of XLA's `-live-range.txt`
    (without its stack-trace breakdown)."""
    out = [f"HloLiveRange (max {self.end_time}):", "  InstructionSequence:"]
    out += [f"    {i}:{x.name}" for i, x in enumerate(self.schedule.sequence)]
    out.append("  BufferLiveRange:")
    out += ["    " + line for line in self.xla_lines()]
    time, rows = self.peak()
    out.append(f"  Live ranges at {time} (peak):")
    total = 0
    for v, size in rows:
      total += size
      out.append(f"    {v.name}: {size} bytes (cumulative: {total} bytes)")
    return "\n".join(out) + "\n"


def analyze_liveness(module: HloModule) -> Liveness:
  """Flatten the schedule, run dataflow and alias analysis, compute ranges."""
  schedule = flatten_schedule(module)
  dataflow = analyze_dataflow(module)
  buffers = alias_buffers(dataflow)
  ranges = _value_ranges(schedule, dataflow, module)
  dataflow.forget_uses()
  _normalize_aliased_buffers(buffers, ranges)
  return Liveness(schedule, dataflow, buffers, ranges)


def _value_ranges(schedule: Schedule, dataflow: Dataflow,
                  module: HloModule) -> dict[HloValue, list[int]]:
  time, spans = schedule.time, schedule.spans
  entry = module.entry
  aliased_parameters = {(number, index)
                        for _, number, index in module.input_output_alias()}
  ranges: dict[HloValue, list[int]] = {}
  for x, t in time.items():
    computation = x.computation
    span = spans[computation]
    start = span[0] if x.opcode == "parameter" else t
    definition_end = span[1] if x.is_root else t
    context = schedule.async_context.get(computation)
    if context is not None:
      for caller in dataflow.callers[context]:
        done = [u for u in caller.users if u.opcode == "async-done"]
        if done and done[0] in time:
          definition_end = max(definition_end, time[done[0]])
    for values in dataflow.value_sets.get(x, {}).values():
      for v in values:
        if v.instruction is not x:
          continue
        end = definition_end
        for position, _ in v.positions[1:]:
          if position.is_root:
            if position.computation in spans:
              end = max(end, spans[position.computation][1])
          elif position in time:
            end = max(end, time[position])
        if x.opcode == "parameter" and computation is entry and \
            (x.parameter_number, v.index) not in aliased_parameters:
          end = schedule.end_time
        else:
          for user, _, _ in dataflow.uses(v):
            if user.opcode == "call" and user.called and user.called[0] in spans:
              continue
            if user.opcode == "while":
              body = user.called_by_role("body")[0]
              if body in spans and 0 in body.parameters:
                user = body.parameters[0]
            if user in time:
              end = max(end, time[user])
        ranges[v] = [start, end]
  return ranges


def _normalize_aliased_buffers(buffers: list[HloBuffer],
                               ranges: dict[HloValue, list[int]]) -> None:
  """Make the ranges of one buffer's values follow on from each other."""
  for buffer in buffers:
    ordered = sorted((ranges[v][0], ranges[v][1], v.id, v)
                     for v in buffer.values if v in ranges)
    items = [ranges[entry[3]] for entry in ordered]
    for a, b in zip(items, items[1:]):
      b[1] = max(a[1], b[1])
      a[1] = min(a[1], b[0])
