"""HloValues: which instruction defines which value, where each value flows.

A re-implementation of XLA's `HloDataflowAnalysis` in the mode buffer assignment
runs it (SSA form, bitcasts define no value):

* Most instructions define a value at every shape index of their result.
  `tuple` and `copy` define only `{}` (their elements flow from the operands);
  `get-tuple-element`, `bitcast`, `while`, `call`, `conditional`, `domain`,
  `opt-barrier`, `add-dependency`, `copy-done` define nothing; `copy-start`
  defines `{}`, `{0}`, `{2}`. Parameters of the entry (and of computations run in
  an embedded context, such as fused computations) define every index; those of
  a while body or condition, a conditional branch or a called computation
  receive the caller's values.
* Where different values meet (a while's init and its body's result, the roots of
  a conditional's branches) a *phi* value is defined. Phis that turn out to
  merge a single value are replaced by it (`PhiGraph::Optimize`), so an element
  that passes through a loop unchanged keeps its value.
* Values are numbered as XLA numbers them: computations in order, instructions
  in post order, indices in pre order; phis when created. Printing in that order
  reproduces the order of XLA's `-live-range.txt`, except across the branches of
  a `conditional`, whose internal computation order the text does not show.
"""

from __future__ import annotations

import heapq
import operator
import re
from collections import defaultdict

from hlo_tools.module import HloComputation, HloInstruction, HloModule
from hlo_tools.shapes import Shape, format_index

Index = tuple[int, ...]

_PASS_THROUGH = frozenset(("bitcast", "add-dependency", "domain", "opt-barrier"))
_DEFINE_NOTHING = _PASS_THROUGH | {"while", "call", "conditional",
                                   "get-tuple-element", "copy-done",
                                   "all-reduce-done"}
_CONTROL_FLOW = frozenset(("call", "conditional", "while", "async-start",
                           "async-update", "async-done"))
_called = operator.attrgetter("called")
_ALIAS_RE = re.compile(r"\{([\d,\s]*)\}\s*:\s*\(\s*(\d+)\s*,\s*\{([\d,\s]*)\}")


def _ints(text: str) -> Index:
  return tuple(int(v) for v in text.replace(" ", "").split(",") if v)


class HloValue:
  """A value: defined once by an instruction at a shape index.

  Attributes:
    id: XLA's value id (printing order).
    instruction: the defining instruction.
    index: the shape index it defines.
    is_phi: whether it merges values at a while or conditional.
    positions: (instruction, index) pairs holding the value, definition first.
  """

  __slots__ = ("id", "instruction", "index", "is_phi", "positions")

  def __init__(self, value_id: int, instruction: HloInstruction, index: Index,
               is_phi: bool):
    self.id = value_id
    self.instruction = instruction
    self.index = index
    self.is_phi = is_phi
    self.positions: list[tuple[HloInstruction, Index]] = [(instruction, index)]

  @property
  def shape(self) -> Shape:
    return self.instruction.shape.subshape(self.index)

  @property
  def name(self) -> str:
    """XLA's `name{index}` form, as the live-range dump prints it."""
    return self.instruction.name + format_index(self.index)

  def __repr__(self) -> str:
    return f"<{self.id} {self.name}{' (phi)' if self.is_phi else ''}>"


def post_order(computation: HloComputation) -> list[HloInstruction]:
  """`HloComputation::MakeInstructionPostOrder`: operands before users."""
  visited: dict[HloInstruction, bool] = {}
  out: list[HloInstruction] = []
  for root in computation.instructions:
    if root.users:
      continue
    stack = [root]
    while stack:
      current = stack[-1]
      done = visited.get(current)
      if done is not None:
        stack.pop()
        if not done:
          out.append(current)
          visited[current] = True
        continue
      visited[current] = False
      for operand in reversed(current.operands):
        if operand not in visited:
          stack.append(operand)
      for predecessor in control_predecessors(current):
        if predecessor not in visited:
          stack.append(predecessor)
  # Instructions only reachable through cycles of users (never in valid HLO)
  # are appended so that every instruction gets a value set.
  if len(out) != len(computation.instructions):
    seen = set(out)
    out += [i for i in computation.instructions if i not in seen]
  return out


def control_predecessors(instruction: HloInstruction) -> list[HloInstruction]:
  raw = instruction.attributes.get("control-predecessors")
  if not raw or instruction.computation is None:
    return []
  names = {i.name: i for i in instruction.computation.instructions}
  return [names[n] for n in re.findall(r"%?([A-Za-z_][\w.\-]*)", raw) if n in names]


def output_to_operand_aliasing(instruction: HloInstruction) -> list[tuple[tuple[int, Index], Index]]:
  """`output_to_operand_aliasing={ {0}: (1, {}) }` as ((operand, index), output index)."""
  raw = instruction.attributes.get("output_to_operand_aliasing", "")
  return [((int(m.group(2)), _ints(m.group(3))), _ints(m.group(1)))
          for m in _ALIAS_RE.finditer(raw)]


class Dataflow:
  """The values of a module and the value set of every scheduled instruction.

  Attributes:
    module: the analysed module.
    values: live values in id order.
    value_sets: instruction -> {shape index: [values]} for instructions of
      computations in a control-flow context (not fused computations).
    callers: computation -> control-flow instructions that call it.
  """

  def __init__(self, module: HloModule):
    self.module = module
    self.entry = module.entry
    self.callers: dict[HloComputation, list[HloInstruction]] = defaultdict(list)
    self.context: dict[HloComputation, str] = {}
    self._next_id = 0
    self._values: dict[int, HloValue] = {}
    self._phi_inputs: dict[int, list[HloValue]] = {}
    self._deleted: set[int] = set()
    self._uses: dict[int, list] = {}
    self.value_sets: dict[HloInstruction, dict[Index, list[HloValue]]] = {}
    self._post_orders: dict[HloComputation, list[HloInstruction]] = {}
    self._find_contexts()
    self._initialize()
    self._propagate()
    self._optimize_phis()
    self._finish()
    # What only the analysis needed: memory a large module need not keep.
    self._post_orders.clear()
    self._values, self._phi_inputs, self._deleted = {}, {}, set()

  # --- call graph ----------------------------------------------------------

  def _find_contexts(self) -> None:
    # Each computation's instructions that call others (most call none).
    calling = {computation: list(filter(_called, computation.instructions))
               for computation in self.module.computations}
    for instructions in calling.values():
      for instruction in instructions:
        for callee in instruction.called:
          self.callers[callee].append(instruction)
    self.context[self.entry] = "control"
    work = [self.entry]
    while work:
      computation = work.pop()
      for instruction in calling[computation]:
        for callee in instruction.called:
          context = ("control" if instruction.opcode in _CONTROL_FLOW and
                     self.context[computation] == "control" else "embedded")
          if callee not in self.context:
            self.context[callee] = context
            work.append(callee)
          elif self.context[callee] != context:
            self.context[callee] = "both"
    self.flow_computations = [c for c in self.module.computations
                              if self.context.get(c) == "control"]

  def _post_order(self, computation: HloComputation) -> list[HloInstruction]:
    """`post_order(computation)`, found once (the analysis walks it thrice);
    dropped when the analysis is done."""
    order = self._post_orders.get(computation)
    if order is None:
      order = self._post_orders[computation] = post_order(computation)
    return order

  # --- value definitions ---------------------------------------------------

  def _new_value(self, instruction: HloInstruction, index: Index,
                 is_phi: bool = False) -> HloValue:
    value = HloValue(self._next_id, instruction, index, is_phi)
    self._next_id += 1
    self._values[value.id] = value
    return value

  def _initialize(self) -> None:
    for computation in self.flow_computations:
      for x in self._post_order(computation):
        indices = x.shape.leaf_indices()
        sets = {i: [] for i in indices}
        self.value_sets[x] = sets
        opcode = x.opcode
        if opcode in _DEFINE_NOTHING:
          defined: list[Index] = []
        elif opcode == "parameter":
          defined = indices if (computation is self.entry or
                                not self.callers[computation]) else []
        elif opcode in ("copy", "tuple"):
          defined = [()]
        elif opcode == "copy-start":
          defined = [i for i in ((), (0,), (2,)) if i in sets]
        elif opcode in ("async-start", "async-update", "async-done"):
          defined = [i for i in indices if x.shape.subshape(i).is_tuple or
                     (opcode == "async-start" and i and i[0] > 1)]
        else:
          defined = indices
        for i in defined:
          sets[i] = [self._new_value(x, i)]

  # --- propagation ---------------------------------------------------------

  def _set(self, x: HloInstruction, index: Index, values: list[HloValue]) -> bool:
    values = sorted(set(values), key=lambda v: v.id)
    if self.value_sets[x][index] != values:
      self.value_sets[x][index] = values
      return True
    return False

  def _copy_from(self, x: HloInstruction, source: dict, prefix: Index = (),
                 skip_root: bool = False) -> bool:
    changed = False
    for index in self.value_sets[x]:
      if skip_root and not index:
        continue
      changed |= self._set(x, index, source.get(prefix + index, []))
    return changed

  def _phi(self, x: HloInstruction, inputs: list[dict]) -> bool:
    changed = False
    sets = self.value_sets[x]
    for index, current in sets.items():
      value = current[0] if current else None
      incoming = [v for inp in inputs for v in inp.get(index, [])]
      defined_here = value is not None and value.instruction is x and \
          value.index == index
      if not incoming:
        continue
      if len(incoming) == 1:
        if value is not incoming[0]:
          if defined_here:
            self._deleted.add(value.id)
          sets[index] = [incoming[0]]
          changed = True
      elif value is None or not (defined_here and value.is_phi):
        phi = self._new_value(x, index, is_phi=True)
        sets[index] = [phi]
        self._phi_inputs[phi.id] = incoming
        changed = True
      elif self._phi_inputs[value.id] != incoming:
        self._phi_inputs[value.id] = incoming
        changed = True
    return changed

  def _update(self, x: HloInstruction) -> bool:
    opcode = x.opcode
    sets = self.value_sets
    if opcode in _PASS_THROUGH:
      return self._copy_from(x, sets[x.operands[0]]) if x.operands else False
    if opcode == "copy":
      return self._copy_from(x, sets[x.operands[0]], skip_root=True)
    if opcode == "get-tuple-element":
      return self._copy_from(x, sets[x.operands[0]], (x.tuple_index,))
    if opcode == "tuple":
      changed = False
      for i, operand in enumerate(x.operands):
        for index, values in sets[operand].items():
          if (i,) + index in sets[x]:
            changed |= self._set(x, (i,) + index, values)
      return changed
    if opcode == "parameter":
      return self._update_parameter(x)
    if opcode == "call":
      return self._copy_from(x, sets[x.called[0].root])
    if opcode == "while":
      body = x.called_by_role("body")[0]
      return self._phi(x, [sets[body.root], sets[x.operands[0]]])
    if opcode == "conditional":
      return self._phi(x, [sets[b.root] for b in x.called])
    if opcode == "copy-start" and (1,) in sets[x]:
      return self._set(x, (1,), sets[x.operands[0]][()])
    if opcode == "copy-done":
      return self._set(x, (), sets[x.operands[0]].get((0,), []))
    return False

  def _update_parameter(self, x: HloInstruction) -> bool:
    computation = x.computation
    if self.context[computation] != "control" or not self.callers[computation]:
      return False
    sets = self.value_sets
    inputs, need_phi = [], False
    number = x.parameter_number
    for caller in self.callers[computation]:
      if caller.opcode in ("call", "async-start"):
        if number < len(caller.operands):
          inputs.append(sets[caller.operands[number]])
      elif caller.opcode == "while":
        inputs.append(sets[caller.operands[0]])
        body = caller.called_by_role("body")[0]
        if x is not body.root:
          inputs.append(sets[body.root])
        need_phi = True
      elif caller.opcode == "conditional":
        j = caller.called.index(computation)
        if j + 1 < len(caller.operands):
          inputs.append(sets[caller.operands[j + 1]])
        need_phi = True
    if need_phi:
      return self._phi(x, inputs)
    changed = False
    for index in sets[x]:
      changed |= self._set(x, index, [v for inp in inputs for v in inp.get(index, [])])
    return changed

  def _propagate(self) -> None:
    priority: dict[HloInstruction, int] = {}
    # Post-order schedule of the call graph: callees numbered before callers.
    stack = [(self.entry, iter(self._post_order(self.entry)))]
    visited = {self.entry}
    while stack:
      computation, instructions = stack[-1]
      x = next(instructions, None)
      if x is None:
        stack.pop()
        continue
      if x.opcode in _CONTROL_FLOW and x.opcode not in ("async-update", "async-done"):
        callees = [c for c in x.called if c not in visited]
        if callees:
          # Number x after its callees: walk them first, then come back to x.
          stack[-1] = (computation, _prepend(x, instructions))
          for callee in reversed(callees):
            visited.add(callee)
            stack.append((callee, iter(self._post_order(callee))))
          continue
      if x not in priority:
        priority[x] = len(priority)
    heap: list[tuple[int, int, HloInstruction]] = []
    queued: set[HloInstruction] = set()
    counter = 0

    def add(x: HloInstruction) -> None:
      nonlocal counter
      if x not in queued and x in self.value_sets:
        queued.add(x)
        counter += 1
        heapq.heappush(heap, (priority.get(x, 1 << 60), counter, x))

    for computation in self.flow_computations:
      for x in self._post_order(computation):
        add(x)
    while heap:
      _, _, x = heapq.heappop(heap)
      queued.discard(x)
      if not self._update(x):
        continue
      for user in x.users:
        add(user)
        if user.opcode == "conditional":
          for j, branch in enumerate(user.called):
            if j + 1 < len(user.operands) and user.operands[j + 1] is x and \
                0 in branch.parameters:
              add(branch.parameters[0])
        else:
          for callee in user.called:
            if self.context.get(callee) == "control":
              for k, operand in enumerate(user.operands):
                if operand is x and k in callee.parameters:
                  add(callee.parameters[k])
      if x.is_root:
        for caller in self.callers[x.computation]:
          if caller.opcode == "while":
            add(caller)
            for c in caller.called:
              if 0 in c.parameters:
                add(c.parameters[0])
          elif self.context[x.computation] == "control" or \
              caller.opcode == "conditional":
            add(caller)

  def _optimize_phis(self) -> None:
    """`PhiGraph::Optimize`: replace phis that merge a single value."""
    replaced: dict[int, int] = {}

    def find(i: int) -> int:
      while i in replaced:
        i = replaced[i]
      return i

    changed = True
    while changed:
      changed = False
      for phi_id in sorted(self._phi_inputs):
        if phi_id in replaced:
          continue
        inputs = [find(v.id) for v in self._phi_inputs[phi_id]]
        inputs = [i for i in inputs if i != phi_id]
        if not inputs:
          continue
        if all(i == inputs[0] for i in inputs):
          replaced[phi_id] = inputs[0]
          changed = True
          continue
        seen, work, single, ok = set(), [phi_id], None, True
        while work:
          t = work.pop()
          if t in seen:
            continue
          seen.add(t)
          if t in self._phi_inputs and t not in replaced:
            work += [find(v.id) for v in self._phi_inputs[t]]
          elif single is not None and single != t:
            ok = False
            break
          else:
            single = t
        if ok and single is not None:
          for t in seen:
            if t != single and t in self._phi_inputs:
              replaced[t] = single
          changed = True
    for sets in self.value_sets.values():
      for index, values in sets.items():
        if len(values) == 1 and values[0].is_phi and values[0].id in replaced:
          self._deleted.add(values[0].id)
          sets[index] = [self._values[find(values[0].id)]]

  def _finish(self) -> None:
    live = {v.id for sets in self.value_sets.values()
            for values in sets.values() for v in values}
    for i in list(self._values):
      if i in self._deleted and i not in live:
        del self._values[i]
    for computation in self.flow_computations:
      for x in computation.instructions:
        for index, values in self.value_sets[x].items():
          for value in values:
            if value.instruction is not x:
              value.positions.append((x, index))
    self.values: list[HloValue] = sorted(self._values.values(), key=lambda v: v.id)

  # --- uses ----------------------------------------------------------------

  def uses(self, value: HloValue) -> list[tuple[HloInstruction, int, Index]]:
    """`HloValue::GetUses`: (user, operand number, index) that read the value.

    Computed once per value (alias analysis and live ranges both ask; then
    `forget_uses` drops them)."""
    cached = self._uses.get(value.id)
    if cached is None:
      cached = self._uses[value.id] = self._compute_uses(value)
    return cached

  def forget_uses(self) -> None:
    """Drop the uses found so far (`uses` finds them again if asked): memory
    that a large module need not keep once its live ranges are known."""
    self._uses.clear()

  def _compute_uses(self, value: HloValue) -> list[tuple[HloInstruction, int, Index]]:
    roots = None  # The value's positions that are roots, found if asked.
    out = []
    for position, index in value.positions:
      for user in position.users:
        if user.opcode in ("get-tuple-element", "copy"):
          may_use = index == ()
        else:
          may_use = user.opcode not in ("domain", "tuple")
        if not may_use:
          if roots is None:
            roots = {p for p, _ in value.positions if p.is_root}
          if user not in roots:
            continue
        operands = user.operands
        if operands.count(position) == 1:  # Most often: its one operand number.
          out.append((user, operands.index(position), index))
          continue
        for k, operand in enumerate(operands):
          if operand is position:
            out.append((user, k, index))
    return out


def _prepend(first, rest):
  yield first
  yield from rest


def analyze_dataflow(module: HloModule) -> Dataflow:
  """Run the dataflow analysis on a parsed module."""
  return Dataflow(module)
