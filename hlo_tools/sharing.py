"""Operand slots that XLA may give to the user defined where the operand dies.

When an instruction defines a value at the step where one of its operands'
values dies, XLA may put the new value in the operand's slot instead of
allocating new bytes. Two paths of its buffer assignment do so:

* the heap simulator (`HeapSimulator::RunComputation`, with
  `may_reuse_operand_buffers`), for two temporaries that are each alone in
  their HloBuffer (an aliased buffer is never shared with an operand);
* the reuse of an allocation (`BufferAssigner::MaybeAssignBuffer`, whose
  `LiveRangeInterferes` lets a user's range start where its operand's ends),
  for instance a temporary in an output's or a donated parameter's
  allocation: never a constant's or a read-only parameter's, never a
  tuple-shaped value, and no other values of the two buffers live at once.

Both need, besides:
* the operand value's range ends at the step where the user's starts;
* the operand value is defined by an operand of the user itself (not reached
  through a bitcast or get-tuple-element), and the user is not a `copy`;
* `HloDataflowAnalysis::CanShareOperandBufferWithUser`: not a constant; the
  operand's and the output's shapes equal (dimensions, element type and
  layout, so the same bytes); and the user elementwise on that operand (an
  elementwise opcode, a fusion whose uses of the parameter are elementwise all
  the way, a loop or input fusion whose uses are elementwise or tuples), or a
  `dynamic-update-slice`, `scatter` or `triangular-solve` on its updated
  operand, or a `sort` of an operand with no other user.

One slot takes one new tenant: walking the schedule as the heap simulator
does (at each step the values defined there by (start, end, id); for each,
its instruction's operands in order and their values at the top-level index),
the first operand value that qualifies is paired and is then taken. Then,
once every value defined at the step has had its first pick, each user that
got one is also paired with its other qualifying operand values that no user
took: XLA's allocator may put the user in any of them (which one depends on
the order in which it assigns buffers, which the problem does not replay).
These are the pairs XLA *may* share: its allocator, which places values
greedily, does not always use them all (docs/memory_fidelity.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hlo_tools.aliasing import HloBuffer, in_place_pairs
from hlo_tools.dataflow import Dataflow, HloValue, Index
from hlo_tools.module import HloInstruction

# `HloInstruction::IsOpElementwise`.
ELEMENTWISE_OPCODES = frozenset((
    "abs", "round-nearest-afz", "round-nearest-even", "ceil", "clz", "convert",
    "bitcast-convert", "copy", "cosine", "exponential", "exponential-minus-one",
    "floor", "imag", "is-finite", "log", "log-plus-one", "not", "negate", "popcnt",
    "real", "reduce-precision", "rsqrt", "sign", "sine", "sqrt", "cbrt", "tan",
    "tanh", "erf", "logistic", "stochastic-convert",
    "add", "atan2", "compare", "complex", "divide", "maximum", "minimum",
    "multiply", "power", "remainder", "subtract", "and", "or", "xor",
    "shift-left", "shift-right-arithmetic", "shift-right-logical",
    "clamp", "select",
))


def operand_shares(dataflow: Dataflow, buffers: list[HloBuffer],
                   ranges: dict[HloValue, list[int]], kinds,
                   buffer_of=None) -> Iterator[tuple[HloValue, HloValue]]:
  """(operand value, user value) pairs that XLA may put at the same bytes.

  Args:
    dataflow: the module's values.
    buffers: its HloBuffers.
    ranges: value -> inclusive [start, end] on the flattened schedule.
    kinds: buffer id -> its kind ("temporary", "output", "parameter",
      "parameter+output" for a donated parameter, "constant"): a dict, or a
      list indexed by buffer id (None for a buffer without one).
    buffer_of: value -> its HloBuffer (`in` and `[]`), for at least every
      value in `ranges`; default: found from `buffers`.

  Yields:
    The pairs, in schedule order; the operand value ends at the step where the
    user value starts. Each value is the operand of at most one pair (one
    slot, one new tenant); a user's first pair comes before any user's other
    pairs at that step.
  """
  if buffer_of is None:
    buffer_of = {v: b for b in buffers for v in b.values}
  kind_of = kinds.get if isinstance(kinds, dict) else kinds.__getitem__
  # The values defined at each step, in order of (start, end, id): sorted as
  # columns, not with a tuple (or a list per step) per value.
  defined = [value for value in ranges if value in buffer_of and
             value.instruction.opcode not in ("parameter", "constant")]
  count = len(defined)
  order = np.lexsort((np.fromiter((v.id for v in defined), np.int64, count),
                      np.fromiter((ranges[v][1] for v in defined), np.int64, count),
                      np.fromiter((ranges[v][0] for v in defined), np.int64, count)))
  # Operand values already given away, at this step: one whose range ends at
  # an earlier step can never be chosen again (its end must be the step).
  taken: set[HloValue] = set()
  taken_at = None
  paired: list[tuple[HloValue, int]] = []  # Users paired at this step, and from where.

  def candidates(value, step, first=0):
    """(operand position, operand value) that `value`'s instruction may give
    it, from its operand `first` on, in order."""
    x = value.instruction
    for position in range(first, len(x.operands)):
      for u in dataflow.value_sets.get(x.operands[position], {}).get((), []):
        if (u not in taken and u in ranges and ranges[u][1] == step and u in buffer_of
            and any(o is u.instruction for o in x.operands)
            and _may_share(u, value, buffer_of, ranges, kind_of)
            and can_share_operand_buffer_with_user(u.instruction, u.index, x, value.index,
                                                   dataflow)):
          yield position, u

  def the_others():
    """Each paired user's other operand values that no user took."""
    for user, position in paired:
      for _, u in candidates(user, taken_at, position):
        taken.add(u)
        yield u, user

  for k in order:
    value = defined[k]
    step = ranges[value][0]
    if step != taken_at:
      yield from the_others()
      taken, taken_at, paired = set(), step, []
    if value.instruction.opcode == "copy":
      continue
    position, chosen = next(candidates(value, step), (None, None))
    if chosen is not None:
      taken.add(chosen)
      paired.append((value, position))
      yield chosen, value
  yield from the_others()


def _may_share(operand: HloValue, user: HloValue, buffer_of, ranges, kind_of) -> bool:
  """Whether XLA's heap simulator, or its reuse of an allocation, may put
  `user` in `operand`'s slot (besides `CanShareOperandBufferWithUser`)."""
  a, b = buffer_of[operand], buffer_of[user]
  if a is b:
    return False
  kind_a, kind_b = kind_of(a.id), kind_of(b.id)
  # The heap simulator: two temporaries, each alone in its buffer.
  if kind_a == kind_b == "temporary" and len(a.values) == 1 and len(b.values) == 1:
    return True
  # Reusing an allocation: never a constant's, a read-only parameter's or a
  # tuple's; and no other two values of the two buffers are live at once.
  if {kind_a, kind_b} & {"constant", "parameter", None}:
    return False
  if operand.shape.is_tuple or user.shape.is_tuple:
    return False
  for x in a.values:
    for y in b.values:
      if (x is not operand or y is not user) and x in ranges and y in ranges and \
          ranges[x][0] <= ranges[y][1] and ranges[y][0] <= ranges[x][1]:
        return False
  return True


def can_share_operand_buffer_with_user(operand: HloInstruction, operand_index: Index,
                                       user: HloInstruction, user_index: Index,
                                       dataflow: Dataflow) -> bool:
  """`HloDataflowAnalysis::CanShareOperandBufferWithUser`, without a backend
  hint and without the GPU's slice-input fusions."""
  if operand.opcode == "constant":
    return False
  operand_shape = operand.shape.subshape(operand_index)
  user_shape = user.shape.subshape(user_index)
  if operand_shape != user_shape:
    return False
  number = next(k for k, o in enumerate(user.operands) if o is operand)
  for (k, k_index), output_index in in_place_pairs(user):
    if output_index == user_index and user.operands[k] is operand and k_index == operand_index:
      return True
  opcode = user.opcode
  if opcode == "fusion" and user.called:
    parameter = user.called[0].parameters.get(number)
    kind = user.attributes.get("kind", "")
    if parameter is not None and kind in ("kLoop", "kInput"):
      return _uses_elementwise_or_tuple(parameter)
    if parameter is not None and kind == "kOutput":
      return _output_fusion_add(user, parameter)
  if opcode in ("while", "conditional"):
    return True
  if opcode in ("dynamic-update-slice", "scatter", "triangular-solve"):
    positions = [k for k, o in enumerate(user.operands) if o is operand]
    return positions == [1 if opcode == "triangular-solve" else 0]
  if opcode == "sort":
    if len(operand.users) != 1:
      return False
    if len(user.operands) == 1:
      return True
    positions = [k for k, o in enumerate(user.operands) if o is operand]
    return len(positions) == 1 and bool(user_index) and user_index[0] == positions[0]
  if opcode == "call":
    return False  # Calls are inlined before buffer assignment.
  return _elementwise_on_operand(user, number)


def _elementwise(x: HloInstruction) -> bool:
  """`HloInstruction::IsElementwise()` (on every operand)."""
  if x.opcode == "fusion":
    return bool(x.called) and all(
        i.opcode == "parameter" or _elementwise(i) for i in x.called[0].instructions)
  if x.opcode == "map":
    dims = x.int_list("dimensions")
    return not dims or dims == tuple(range(len(x.shape.dims)))
  if x.opcode == "bitcast-convert" and x.operands:
    return _bits(x.shape) == _bits(x.operands[0].shape)
  return x.opcode in ELEMENTWISE_OPCODES


def _elementwise_on_operand(x: HloInstruction, number: int) -> bool:
  """`HloInstruction::IsElementwiseOnOperand(number)`."""
  if x.opcode == "dynamic-update-slice":
    return number == 0
  if x.opcode == "fusion":
    if not x.called or number not in x.called[0].parameters:
      return False
    start = x.called[0].parameters[number]
    seen, work = {id(start)}, [start]
    while work:
      current = work.pop(0)
      for user in current.users:
        if id(user) in seen:
          continue
        positions = [k for k, o in enumerate(user.operands) if o is current]
        if _elementwise(user) or all(_elementwise_on_operand(user, k) for k in positions):
          seen.add(id(user))
          work.append(user)
        else:
          return False
    return True
  return _elementwise(x)


def _uses_elementwise_or_tuple(parameter: HloInstruction) -> bool:
  """`AreTransitiveUsesElementwiseOrTuple` of a fused parameter."""
  seen, stack = set(), [parameter]
  while stack:
    current = stack.pop()
    seen.add(id(current))
    for user in current.users:
      for k, o in enumerate(user.operands):
        if o is current and user.opcode != "tuple" and not _elementwise_on_operand(user, k):
          return False
      if id(user) not in seen:
        stack.append(user)
  return True


def _output_fusion_add(fusion: HloInstruction, parameter: HloInstruction) -> bool:
  """An output fusion whose root adds a dot or convolution to the parameter,
  its only use."""
  root = fusion.called[0].root
  if root is None or root.opcode != "add":
    return False
  matched = [k for k, o in enumerate(root.operands)
             if o.opcode in ("dot", "convolution")]
  if not matched:
    return False
  other = 1 if matched[0] == 0 else 0
  uses = [(u, k) for u in parameter.users for k, o in enumerate(u.operands) if o is parameter]
  return len(uses) == 1 and uses[0] == (root, other)


def _bits(shape) -> int:
  size = shape.byte_size()
  return size * 8 // max(shape.elements, 1) if shape.elements else 0
