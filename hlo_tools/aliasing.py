"""HloBuffers: values that must share memory, as XLA's `HloAliasAnalysis` merges them.

Values are merged into one buffer when they are
* the init, parameters, body result and result of one `while` element;
* the roots of a `conditional`'s branches and its result;
* a donated entry parameter and the output it is aliased with
  (`input_output_alias`);
* the operand and result of an in-place operation: `dynamic-update-slice`,
  `scatter`, `output_to_operand_aliasing` of a custom-call or fusion, and a
  fusion whose root updates one of its parameters in place.
"""

from __future__ import annotations

import dataclasses

from hlo_tools.dataflow import (Dataflow, HloValue, Index,
                                output_to_operand_aliasing)
from hlo_tools.module import HloInstruction

InPlacePair = tuple[tuple[int, Index], Index]  # ((operand, operand index), output index)


@dataclasses.dataclass(eq=False, slots=True)
class HloBuffer:
  """A set of values that share one allocation.

  Attributes:
    id: buffer number, in order of the first value's id.
    values: its values, in id order.
  """
  id: int
  values: list[HloValue]

  @property
  def name(self) -> str:
    """The name of its first value, in XLA's `instr{index}` form."""
    return self.values[0].name

  @property
  def size(self) -> int:
    """Bytes: the largest of its values (they are equal in valid HLO)."""
    if len(self.values) == 1:
      return self.values[0].shape.byte_size()
    return max(v.shape.byte_size() for v in self.values)


def in_place_pairs(x: HloInstruction) -> list[InPlacePair]:
  """`GetInPlaceInputOutputPairs`: operands an instruction updates in place."""
  opcode = x.opcode
  if opcode == "dynamic-update-slice":
    return [((0, ()), ())]
  if opcode == "scatter":
    n = (len(x.operands) - 1) // 2
    return [((0, ()), ())] if n == 1 else [((i, ()), (i,)) for i in range(n)]
  if opcode in ("custom-call", "fusion", "async-start"):
    pairs = output_to_operand_aliasing(x)
    if opcode == "fusion":
      pairs = _fusion_in_place_pairs(x) + pairs
    return pairs
  return []


def _follow(x: HloInstruction, index: Index) -> tuple[HloInstruction, Index]:
  """Trace a fused value back through tuple, get-tuple-element and bitcast."""
  rest = list(index)
  while x.opcode == "tuple" and rest and rest[0] < len(x.operands):
    x = x.operands[rest.pop(0)]
  while x.opcode == "get-tuple-element" and x.operands:
    rest.insert(0, x.tuple_index)
    x = x.operands[0]
  while not rest and x.opcode == "bitcast" and x.operands:
    x = x.operands[0]
  return x, tuple(rest)


def _fusion_in_place_pairs(fusion: HloInstruction) -> list[InPlacePair]:
  if not fusion.called:
    return []
  fused = fusion.called[0]
  out = []
  for index in fusion.shape.leaf_indices():
    if fusion.shape.subshape(index).is_tuple:
      continue
    source, source_index = _follow(fused.root, index)
    found = None
    for (operand, operand_index), output_index in in_place_pairs(source):
      if output_index == source_index and operand < len(source.operands):
        target, target_index = _follow(source.operands[operand], operand_index)
        if target.opcode == "fusion":
          for (o, oi), out_i in in_place_pairs(target):
            if out_i == target_index and o < len(target.operands):
              target, target_index = _follow(target.operands[o], oi)
        found = (target, target_index)
    if found and found[0].opcode == "parameter":
      out.append(((found[0].parameter_number, found[1]), index))
  return out


def alias_buffers(dataflow: Dataflow) -> list[HloBuffer]:
  """Group the values of `dataflow` into buffers."""
  parent: dict[int, int] = {}

  def find(i: int) -> int:
    root = i
    while parent.get(root, root) != root:
      root = parent[root]
    while parent.get(i, i) != root:
      parent[i], i = root, parent[i]
    return root

  def union(a: HloValue, b: HloValue) -> None:
    ra, rb = find(a.id), find(b.id)
    if ra != rb:
      parent[max(ra, rb)] = min(ra, rb)

  sets = dataflow.value_sets
  module = dataflow.module
  pairs_of: dict[HloInstruction, list[InPlacePair]] = {}

  def in_place(x: HloInstruction) -> list[InPlacePair]:
    pairs = pairs_of.get(x)
    if pairs is None:
      pairs = pairs_of[x] = in_place_pairs(x)
    return pairs

  entry = module.entry
  io_alias = {output: (param, param_index)
              for output, param, param_index in module.input_output_alias()}
  for value in dataflow.values:
    aliased: list[HloValue] = []
    uses = dataflow.uses(value)
    for position, index in value.positions:
      if position is entry.root and index in io_alias:
        number, param_index = io_alias[index]
        parameter = entry.parameters.get(number)
        if parameter is not None:
          aliased += sets[parameter].get(param_index, [])
      if position.is_root:
        for caller in dataflow.callers[position.computation]:
          if (caller.opcode == "while" and
              caller.called_by_role("body")[0] is position.computation) or \
              caller.opcode == "conditional":
            aliased += sets[caller].get(index, [])
      for (operand, operand_index), output_index in in_place(position):
        if output_index == index and operand < len(position.operands):
          aliased += sets[position.operands[operand]].get(operand_index, [])
    for user, k, index in uses:
      if user.opcode == "while":
        aliased += sets[user].get(index, [])
      for (operand, operand_index), output_index in in_place(user):
        if k == operand and index == operand_index:
          aliased += sets[user].get(output_index, [])
    if value.instruction.opcode == "parameter":
      for caller in dataflow.callers[value.instruction.computation]:
        if caller.opcode == "while":
          aliased += sets[caller].get(value.index, [])
    for other in aliased:
      union(value, other)
  groups: dict[int, list[HloValue]] = {}
  for value in dataflow.values:
    groups.setdefault(find(value.id), []).append(value)
  return [HloBuffer(i, values) for i, values in enumerate(groups.values())]
