"""Per-instruction costs by the rules of XLA's `HloCostAnalysis`.

For every instruction this computes XLA's property map: `flops`,
`transcendentals`, `bytes accessed`, the bytes read from each operand
(`bytes accessed{i}{index}`) and written to each output index
(`bytes accessedout{index}`). The rules, checked against
`compiled.cost_analysis()` on the CPU backend:

* elementwise ops count one flop per output element, or one transcendental for
  exp, log, tanh, sqrt, rsqrt, sin, cos, ... (`_TRANSCENDENTAL`);
* `dot`: 2 x output elements x the product of the lhs contracting dimensions;
  `convolution`: 2 x input features / groups x output features x batch x the
  valid (kernel, output) positions of every spatial dimension;
* `reduce`, `reduce-window`, `map`, `scatter`, `select-and-scatter` multiply the
  cost of the applied computation by the number of applications;
* a fusion costs its fused computation's flops; its bytes are its output (only
  the update for an in-place dynamic-update-slice) plus what it reads of each
  parameter (a slice reads only the slice; several plain readers share one read);
* `while` costs its body and condition once (no trip count), `call` its callee,
  `conditional` the per-key maximum over its branches;
* byte sizes are `ShapeUtil::ByteSizeOf(shape, 8)`; parameters, constants,
  get-tuple-element and bitcast move no bytes; custom-calls report -1.

`module_cost` sums the entry computation as XLA does; `analyze_cost` gives the
costs of every instruction, which `extract` attributes to the flattened
schedule (where a while's body already appears, so control-flow instructions
themselves cost nothing there).
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict

from hlo_tools.module import HloComputation, HloInstruction, HloModule
from hlo_tools.shapes import Shape, format_index

Properties = dict[str, float]

_TRANSCENDENTAL = frozenset((
    "acosh", "erf", "exponential", "log", "logistic", "power", "sqrt", "cbrt",
    "rsqrt", "tanh", "sine", "cosine", "exponential-minus-one", "log-plus-one",
    "atan2", "tan"))
_ELEMENTWISE = _TRANSCENDENTAL | frozenset((
    "abs", "ceil", "count-leading-zeros", "floor", "imag", "is-finite", "not",
    "negate", "popcnt", "real", "round-nearest-afz", "round-nearest-even", "sign",
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "remainder",
    "and", "or", "xor", "shift-left", "shift-right-arithmetic",
    "shift-right-logical", "complex", "compare", "clamp", "select", "convert",
    "reduce-precision", "bitcast-convert", "stochastic-convert"))
_NOT_FROM_SUBCOMPUTATION = ("bytes accessed", "utilization")
# Convolutions with more (kernel, output) pairs per dimension are not enumerated.
_MAX_WINDOW_PAIRS = 1 << 22
CONTROL_FLOW = frozenset(("while", "call", "conditional", "async-start"))
# XLA opcodes whose cost, in HloCostAnalysis, is the bytes of their operands
# and outputs and no flops: the default rule below gives them exactly that.
_BYTES_ONLY = frozenset((
    "copy", "broadcast", "reshape", "dynamic-reshape", "transpose", "concatenate", "pad",
    "iota", "reverse", "copy-start", "copy-done", "async-update", "async-done",
    "all-gather", "all-gather-start", "all-gather-done", "all-reduce-done", "all-to-all",
    "ragged-all-to-all", "collective-broadcast", "collective-permute",
    "collective-permute-start", "collective-permute-done", "reduce-scatter", "send",
    "send-done", "recv", "recv-done", "infeed", "outfeed", "partition-id", "replica-id",
    "optimization-barrier", "get-dimension-size", "set-dimension-size",
    "rng-get-and-update-state"))
# Every opcode `CostAnalysis` prices as XLA does; others get the bytes-only
# rule, and `unpriced_opcodes` lists them so that extraction can warn.
PRICED = _ELEMENTWISE | _BYTES_ONLY | CONTROL_FLOW | frozenset((
    "parameter", "constant", "get-tuple-element", "bitcast", "domain", "after-all",
    "add-dependency", "tuple", "slice", "dynamic-slice", "dynamic-update-slice", "dot",
    "convolution", "fft", "rng", "rng-bit-generator", "map", "reduce", "reduce-window",
    "select-and-scatter", "fusion", "custom-call", "sort", "gather", "scatter",
    "all-reduce", "all-reduce-start"))


def unpriced_opcodes(module: HloModule) -> list[str]:
  """Opcodes of `module` (fused computations included) that `CostAnalysis`
  does not price as XLA does: it charges them their operand and output
  bytes and no flops."""
  opcodes = set()
  for computation in module.computations:
    opcodes.update(map(_opcode, computation.instructions))
  return sorted(opcodes - PRICED)


_opcode = operator.attrgetter("opcode")


# Opcodes whose properties are XLA's defaults (`preprocess`), plus an
# elementwise op's flops or transcendentals; and those that move nothing.
_DEFAULT_RULE = _ELEMENTWISE | _BYTES_ONLY
_NOTHING_MOVED = frozenset(("parameter", "constant"))
# Opcodes that only view their operand: no bytes moved, no flops.
_VIEWS = frozenset(("get-tuple-element", "bitcast"))
_OPERAND_KEYS = [f"bytes accessed{i}{{}}" for i in range(256)]
_UTILIZATION_KEYS = [f"utilization{i}{{}}" for i in range(256)]
_OUTPUT_KEY = "bytes accessedout{}"


def operand_key(i: int, index: tuple[int, ...] = ()) -> str:
  """XLA's key for the bytes read from operand i at a shape index."""
  if not index and i < len(_OPERAND_KEYS):
    return _OPERAND_KEYS[i]
  return f"bytes accessed{i}{format_index(index)}"


def output_key(index: tuple[int, ...] = ()) -> str:
  """XLA's key for the bytes written to an output index."""
  return f"bytes accessedout{format_index(index)}" if index else _OUTPUT_KEY


def _utilization_key(i: int) -> str:
  return _UTILIZATION_KEYS[i] if i < len(_UTILIZATION_KEYS) else f"utilization{i}{{}}"


def _size(shape: Shape) -> int:
  return shape.byte_size()


class CostAnalysis:
  """XLA's cost properties of instructions and computations, memoised."""

  def __init__(self, module: HloModule):
    self.module = module
    self._computations: dict[HloComputation, Properties] = {}
    self._instructions: dict[HloInstruction, Properties] = {}

  def computation(self, computation: HloComputation) -> Properties:
    """The sum of the properties of all its instructions."""
    total = self._computations.get(computation)
    if total is None:
      total = defaultdict(float)
      operand_keys, utilization_keys = _OPERAND_KEYS, _UTILIZATION_KEYS
      most = len(operand_keys)
      for x in computation.instructions:
        op, operands = x.opcode, x.operands
        n = len(operands)
        if not n and op in _NOTHING_MOVED:
          continue  # A parameter or constant: every property 0.
        if op in _DEFAULT_RULE and n <= most:
          # What adding `self.properties(x)` adds, key by key in its order,
          # without building it: XLA's default properties, and an
          # elementwise op's flops or transcendentals.
          shape = x.shape
          out = shape._byte_size
          if n == 1:
            size = operands[0].shape._byte_size
            if out + size:
              total["bytes accessed"] += out + size
            if out:
              total[_OUTPUT_KEY] += out
            if size:
              total[operand_keys[0]] += size
            total[utilization_keys[0]] += 1.0
          else:
            sizes = [o.shape._byte_size for o in operands]
            moved = out + sum(sizes)
            if moved:
              total["bytes accessed"] += moved
            if out:
              total[_OUTPUT_KEY] += out
            for operand_key_i, utilization_key_i, size in zip(operand_keys,
                                                               utilization_keys, sizes):
              if size:
                total[operand_key_i] += size
              total[utilization_key_i] += 1.0
          if op in _ELEMENTWISE and shape.elements and not shape.is_tuple:
            total["transcendentals" if op in _TRANSCENDENTAL else "flops"] += \
                shape.elements
        elif n == 1 and op in _VIEWS:
          # All that a bitcast's or get-tuple-element's properties hold that
          # is not 0 (`_instruction`).
          total[utilization_keys[0]] += 1.0
        else:
          for key, value in self.properties(x).items():
            if value:
              total[key] += value
      self._computations[computation] = total
    return total

  def instruction(self, x: HloInstruction) -> Properties:
    p = self._instructions.get(x)
    if p is None:
      p = self._instruction(x)
      self._instructions[x] = p
    return p

  def properties(self, x: HloInstruction) -> Properties:
    """`instruction(x)`, without keeping it: a caller that reads each
    instruction once (a computation's sum, extraction's steps) keeps memory
    to the computations' sums. The caller must not change the dict."""
    p = self._instructions.get(x)
    return self._instruction(x) if p is None else p

  # --- handlers ------------------------------------------------------------

  def preprocess(self, x: HloInstruction) -> Properties:
    """XLA's default properties: output and operand bytes, no flops."""
    p: Properties = defaultdict(float)
    out = x.shape._byte_size
    sizes = [o.shape._byte_size for o in x.operands]
    p["bytes accessed"] = out + sum(sizes)
    p[_OUTPUT_KEY] = out
    if len(sizes) <= len(_OPERAND_KEYS):
      for operand_key_i, utilization_key_i, size in zip(_OPERAND_KEYS, _UTILIZATION_KEYS,
                                                         sizes):
        p[operand_key_i] = size
        p[utilization_key_i] = 1.0
    else:
      for i, size in enumerate(sizes):
        p[operand_key(i)] = size
        p[_utilization_key(i)] = 1.0
    return p

  def _instruction(self, x: HloInstruction) -> Properties:
    op = x.opcode
    if op == "fusion":
      return self._fusion(x)
    p = self.preprocess(x)
    if op in _ELEMENTWISE:
      p["transcendentals" if op in _TRANSCENDENTAL else "flops"] = x.shape.elements \
          if not x.shape.is_tuple else 0
    elif op in ("parameter", "constant"):
      p["bytes accessed"] = 0
      p[output_key()] = 0
    elif op in _VIEWS:
      p["bytes accessed"] = 0
      p[output_key()] = 0
      p[operand_key(0)] = 0
    elif op in ("domain", "after-all", "add-dependency"):
      p["bytes accessed"] = 0
      p[output_key()] = 0
      for i in range(len(x.operands)):
        p[operand_key(i)] = 0
    elif op == "tuple":
      p["bytes accessed"] = p[output_key()] = _size(x.shape)
      for i in range(len(x.operands)):
        p[operand_key(i)] = 0
    elif op == "slice":
      self._slice(x, p)
    elif op == "dynamic-slice":
      self._dynamic_slice(x, p)
    elif op == "dynamic-update-slice":
      self._dynamic_update_slice(x, p)
    elif op == "dot":
      lhs = x.operands[0].shape
      width = math.prod(lhs.dims[d] for d in x.int_list("lhs_contracting_dims"))
      p["flops"] = 2 * x.shape.elements * width
    elif op == "convolution":
      p["flops"] = _convolution_flops(x)
    elif op == "fft":
      data = x.operands[0].shape
      data = data.tuple_shapes[0] if data.is_tuple else data
      log_lengths = math.prod(max(n, 1).bit_length() - 1
                              for n in x.int_list("fft_length"))
      p["flops"] = 2 * 4 * log_lengths * data.elements
    elif op == "rng":
      p["transcendentals"] = x.shape.elements
    elif op == "rng-bit-generator":
      p["transcendentals"] = _elements_recursive(x.shape)
    elif op in ("map", "reduce", "reduce-window"):
      if op == "map":
        count = x.shape.elements
      elif op == "reduce":
        out = x.shape.tuple_shapes[0] if x.shape.is_tuple else x.shape
        count = x.operands[0].shape.elements - out.elements
      else:
        count = _reduce_window_count(x)
      self._apply(p, self.computation(x.called[0]), count)
    elif op == "select-and-scatter":
      select, scatter = x.called_by_role("select")[0], x.called_by_role("scatter")[0]
      source = x.operands[1].shape.elements
      window = math.prod(w["size"] for w in _window(x))
      self._apply(p, self.computation(select), source * (window - 1), add=True)
      self._apply(p, self.computation(scatter), source, add=True)
    elif op in ("call", "async-start"):
      p = defaultdict(float, self.computation(x.called[0]))
    elif op == "while":
      p = defaultdict(float)
      for c in x.called:
        for key, value in self.computation(c).items():
          p[key] += value
    elif op == "conditional":
      p = defaultdict(float, self.computation(x.called[0]))
      for branch in x.called[1:]:
        for key, value in self.computation(branch).items():
          p[key] = max(p[key], value)
    elif op == "custom-call":
      p["optimal_seconds"] = -1
      p["bytes accessed"] = -1
      p[output_key()] = -1
      for i in range(len(x.operands)):
        p[operand_key(i)] = -1
      p["flops"] = -1
    elif op == "sort":
      n = x.operands[0].shape.elements
      p["flops"] = n * (n - 1).bit_length()  # n * ceil(log2 n)
      if x.shape.is_tuple:
        # XLA (jaxlib 0.10) counts a tuple-shaped sort's element buffers.
        out = sum(_size(s) for s in _leaves(x.shape))
        p[output_key()] = out
        p["bytes accessed"] = out + sum(_size(o.shape) for o in x.operands)
    elif op == "gather":
      self._gather(x, p)
    elif op == "scatter":
      self._scatter(x, p)
    elif op in ("all-reduce", "all-reduce-start"):
      arrays = [s for s in _subshapes(x.shape) if s.is_array]
      p["flops"] = sum(s.elements for s in arrays)
      p[output_key()] = sum(_size(s) for s in arrays)
      p["bytes accessed"] = p[output_key()] + sum(_size(o.shape) for o in x.operands)
    # Everything else (copy, broadcast, reshape, transpose, concatenate, pad,
    # iota, collectives, unknown opcodes): the default bytes, no flops.
    return p

  @staticmethod
  def _apply(p: Properties, sub: Properties, count: float, add: bool = False):
    for key, value in sub.items():
      if not key.startswith(_NOT_FROM_SUBCOMPUTATION):
        p[key] = (p[key] if add else 0) + value * count

  @staticmethod
  def _slice(x: HloInstruction, p: Properties) -> None:
    out = _size(x.shape)
    p["bytes accessed"] = 2 * out
    p[output_key()] = p[operand_key(0)] = out
    p[_utilization_key(0)] = _ratio(x.shape.elements, x.operands[0].shape.elements)

  @staticmethod
  def _dynamic_slice(x: HloInstruction, p: Properties) -> None:
    out = _size(x.shape)
    index = _size(x.operands[1].shape) if len(x.operands) > 1 else 0
    p["bytes accessed"] = 2 * out + index
    p[output_key()] = p[operand_key(0)] = out
    p[operand_key(1)] = index
    p[_utilization_key(0)] = _ratio(x.shape.elements, x.operands[0].shape.elements)

  @staticmethod
  def _dynamic_update_slice(x: HloInstruction, p: Properties) -> None:
    update = _size(x.operands[1].shape)
    index = _size(x.operands[2].shape) if len(x.operands) > 2 else 0
    p["bytes accessed"] = 2 * update + index
    p[output_key()] = update
    p[operand_key(0)] = 0
    p[operand_key(1)] = update
    p[operand_key(2)] = index
    n = x.shape.elements
    p[_utilization_key(0)] = _ratio(n - x.operands[1].shape.elements, n)

  @staticmethod
  def _gather(g: HloInstruction, p: Properties) -> Properties:
    out = _size(g.shape)
    indices = _size(g.operands[1].shape)
    p["bytes accessed"] = 2 * out + indices
    p[operand_key(0)] = out
    p[operand_key(1)] = indices
    p[_utilization_key(0)] = _ratio(g.shape.elements, g.operands[0].shape.elements)
    p[output_key()] = out
    return p

  def _scatter(self, s: HloInstruction, p: Properties) -> Properties:
    n = (len(s.operands) - 1) // 2
    updates = s.operands[n + 1:]
    total = 0
    for i in range(n):
      size = _size(updates[i].shape)
      p[operand_key(i)] = p[operand_key(n + 1 + i)] = size
      total += size
    indices = _size(s.operands[n].shape)
    p[operand_key(n)] = indices
    p["bytes accessed"] = 3 * total + indices
    p[output_key()] = total
    if s.called and updates:
      self._apply(p, self.computation(s.called[0]), updates[0].shape.elements)
    return p

  # --- fusion --------------------------------------------------------------

  def _fusion(self, f: HloInstruction) -> Properties:
    fused = f.called[0]
    if f.attributes.get("kind") == "kCustom":
      for h in fused.instructions:
        if h.opcode == "gather":
          return self._gather(h, self.preprocess(f))
        if h.opcode == "scatter":
          return self._scatter(h, self.preprocess(f))
    p: Properties = defaultdict(float, self.computation(fused))
    p["bytes accessed"] = 0
    root = fused.root
    for index in f.shape.leaf_indices():
      sub = f.shape.subshape(index)
      if not sub.is_array:
        continue
      r = root
      if len(index) == 1 and root.opcode == "tuple" and index[0] < len(root.operands):
        r = root.operands[index[0]]
      size = _size(r.operands[1].shape) if r.opcode == "dynamic-update-slice" \
          else _size(sub)
      p["bytes accessed"] += size
      p[output_key(index)] = size
    if f.shape.is_tuple:
      p[output_key()] = 0
      _sum_tuple_outputs(p, f.shape, ())
    for h in fused.instructions:
      if h.opcode == "constant" and h.shape.is_array and h.shape.elements > 1:
        p["bytes accessed"] += _size(h.shape)
    for i in range(len(fused.parameters)):
      parameter = fused.parameters[i]
      if not parameter.shape.is_tuple:
        size = self._parameter_read_bytes(parameter)
      else:
        size = 0
        for index in parameter.shape.leaf_indices():
          if parameter.shape.subshape(index).is_tuple:
            continue
          read = self._parameter_read_bytes(_tuple_element_reader(parameter, index))
          size += read
          p[operand_key(i, index)] = read
      p["bytes accessed"] += size
      p[operand_key(i)] = size
      p[_utilization_key(i)] = 1.0
    return p

  def _parameter_read_bytes(self, h: HloInstruction | None) -> float:
    """`FusionParameterReadBytes`: what a fused computation reads of `h`."""
    if h is None:
      return 0
    size, seen = 0, False
    for u in h.users:
      op = u.opcode
      if op == "fusion" and u.called:
        inner = u.called[0]
        for k in [k for k, o in enumerate(u.operands) if o is h]:
          inner_seen = False
          root = inner.root
          simple = not root.operands or inner.parameters.get(k) is root.operands[0]
          for fu in u.users:
            if simple and fu.opcode == "slice":
              size += _size(fu.shape)
            elif simple and fu.opcode == "dynamic-slice":
              if fu.operands[0] is u:
                size += _size(fu.shape)
              elif not inner_seen:
                inner_seen = True
                size += _size(u.shape)
            elif simple and fu.opcode == "dynamic-update-slice":
              if fu.operands[0] is not u and not inner_seen:
                inner_seen = True
                size += _size(u.shape)
            elif not inner_seen:
              inner_seen = True
              size += self._parameter_read_bytes(inner.parameters.get(k))
      elif op == "slice":
        size += _size(u.shape)
      elif op == "dynamic-slice":
        if u.operands[0] is h:
          size += _size(u.shape)
        elif not seen:
          seen = True
          size += _size(h.shape)
      elif op == "dynamic-update-slice":
        if u.operands[0] is not h and not seen:
          seen = True
          size += _size(h.shape)
      elif op in ("broadcast", "reshape"):
        size += _size(h.shape)
      elif not seen:
        seen = True
        size += _size(h.shape)
    return size


def _ratio(a: float, b: float) -> float:
  return a / b if b else 0.0


def _elements_recursive(shape: Shape) -> int:
  if shape.is_tuple:
    return sum(_elements_recursive(s) for s in shape.tuple_shapes)
  return shape.elements


def _subshapes(shape: Shape):
  yield shape
  for s in shape.tuple_shapes:
    yield from _subshapes(s)


def _leaves(shape: Shape):
  return [s for s in _subshapes(shape) if not s.is_tuple]


def _sum_tuple_outputs(p: Properties, shape: Shape, index: tuple[int, ...]) -> float:
  total = p[output_key(index)]
  if total or not shape.is_tuple:
    return total
  for i, sub in enumerate(shape.tuple_shapes):
    total += _sum_tuple_outputs(p, sub, index + (i,))
  p[output_key(index)] = total
  return total


def _tuple_element_reader(parameter: HloInstruction, index: tuple[int, ...]):
  """The get-tuple-element chain that reads `index` of a tuple parameter."""
  h = parameter
  for i in index:
    h = next((u for u in h.users if u.opcode == "get-tuple-element" and
              u.tuple_index == i), None)
    if h is None:
      return None
  return h


def _window(x: HloInstruction) -> list[dict[str, int]]:
  """The `window={size=3x3 stride=2x2 pad=0_1x0_1 ...}` attribute, per dimension."""
  fields = dict(item.split("=", 1) for item in
                x.attributes.get("window", "{}").strip("{}").split() if "=" in item)
  rank = len(fields["size"].split("x")) if "size" in fields else 0

  def get(key: str, d: int, default: str) -> str:
    return fields[key].split("x")[d] if key in fields else default

  dims = []
  for d in range(rank):
    low, _, high = get("pad", d, "0_0").partition("_")
    dims.append(dict(size=int(get("size", d, "1")), stride=int(get("stride", d, "1")),
                     pad_low=int(low), pad_high=int(high or 0),
                     base_dilation=int(get("lhs_dilate", d, "1")),
                     window_dilation=int(get("rhs_dilate", d, "1"))))
  return dims


def _reduce_window_count(x: HloInstruction) -> int:
  window = _window(x)
  out = x.shape.tuple_shapes[0] if x.shape.is_tuple else x.shape
  count = (math.prod(w["size"] for w in window) - 1) * out.elements
  reduced = sum(w["size"] != 1 for w in window)
  padded = sum(w["pad_low"] != 0 or w["pad_high"] != 0 for w in window)
  if reduced == 1 and padded == 1 and not x.shape.is_tuple:
    # XLA's "optimized" reduce-window of a single padded dimension.
    for d, w in enumerate(window):
      if w["size"] != 1 and w["pad_low"] and w["pad_high"] and \
          w["pad_low"] == w["pad_high"] and w["size"] == 2 * w["pad_low"] + 1:
        if w["pad_low"] == x.shape.dims[d] - 1:
          n = x.shape.dims[d]
          count = out.elements // n + (n - 1)
        break
  return count


def _convolution_flops(x: HloInstruction) -> int:
  lhs, rhs, out = x.operands[0].shape, x.operands[1].shape, x.shape
  lhs_labels, _, rest = x.attributes["dim_labels"].partition("_")
  rhs_labels, _, out_labels = rest.partition("->")
  feature_groups = int(x.attributes.get("feature_group_count", 1))
  batch_groups = int(x.attributes.get("batch_group_count", 1))
  in_features = lhs.dims[lhs_labels.index("f")]
  out_features = out.dims[out_labels.index("f")]
  batch = lhs.dims[lhs_labels.index("b")]
  window = _window(x)
  valid = []
  for s, w in enumerate(window):
    i = lhs.dims[lhs_labels.index(str(s))]
    k = rhs.dims[rhs_labels.index(str(s))]
    o = out.dims[out_labels.index(str(s))]
    valid.append(_valid_positions(i, k, o, w))
  return 2 * (in_features // feature_groups) * out_features * \
      (batch // batch_groups) * math.prod(valid)


def _valid_positions(i: int, k: int, o: int, w: dict[str, int]) -> int:
  """(kernel, output) position pairs of one spatial dimension that read input."""
  stride, low, high = w["stride"], w["pad_low"], w["pad_high"]
  base, dilation = w["base_dilation"], w["window_dilation"]
  if i == o and k == o and i == base and dilation == 1 and \
      max(1, i - 1) == stride and low == 0 and high == 0:
    return i
  if i == 1 and k == o and dilation == 1 and base == 1 and stride == 1 and \
      high == o - 1 and low == o - 1:
    return o
  if k * o > _MAX_WINDOW_PAIRS:
    return k * o  # An upper bound, for windows too large to enumerate.
  count = 0
  for kk in range(k):
    if stride == 1 and base == 1:
      start = low - kk * dilation
      count += max(min(i + start, o) - max(start, 0), 0)
      continue
    for oo in range(o):
      u = oo * stride - low + kk * dilation
      position = int(u / base) if base > 1 else u  # C++ division truncates.
      if u == position * base and 0 <= position < i:
        count += 1
  return count


def analyze_cost(module: HloModule) -> CostAnalysis:
  """Cost properties of every instruction of the module, computed on demand."""
  return CostAnalysis(module)


def module_cost(module: HloModule) -> dict[str, float]:
  """What `compiled.cost_analysis()` reports: the entry computation's sum."""
  total = CostAnalysis(module).computation(module.entry)
  return {key: value for key, value in total.items() if value}
