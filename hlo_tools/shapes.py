"""XLA shapes: element types, layouts and byte sizes.

Byte sizes follow XLA's `ShapeUtil::ByteSizeOf(shape, pointer_size=8)`, the size
function the CPU compiler's buffer assignment uses:

* an array takes `elements * byte_width(element_type)` bytes, or
  `ceil(elements * n / 8)` when its layout packs elements into `E(n)` bits
  (sub-byte types such as `s4` are stored one per byte unless packed);
* a tuple takes one pointer (8 bytes) per element, its elements being separate
  buffers;
* `token[]` takes no bytes.

Layout tiling `T(...)` is kept, and `padded_byte_size` pads the minor dimensions
to the first tile as TPU compilers do; XLA's CPU backend does not tile.
"""

from __future__ import annotations

import dataclasses
import math

POINTER_SIZE = 8

# Bits per element of every XLA primitive type (xla_data.proto PrimitiveType).
ELEMENT_BITS: dict[str, int] = {
    "pred": 8,
    "s1": 1, "s2": 2, "s4": 4, "s8": 8, "s16": 16, "s32": 32, "s64": 64,
    "u1": 1, "u2": 2, "u4": 4, "u8": 8, "u16": 16, "u32": 32, "u64": 64,
    "f16": 16, "bf16": 16, "f32": 32, "f64": 64,
    "c64": 64, "c128": 128,
    "f4e2m1fn": 4, "f8e8m0fnu": 8,
    "f8e5m2": 8, "f8e4m3": 8, "f8e4m3fn": 8, "f8e4m3b11fnuz": 8,
    "f8e5m2fnuz": 8, "f8e4m3fnuz": 8, "f8e3m4": 8,
    "token": 0,
    "opaque": POINTER_SIZE * 8,
}


def byte_width(element_type: str) -> int:
  """Bytes of one unpacked element: sub-byte types take a whole byte."""
  return (ELEMENT_BITS[element_type] + 7) // 8


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
  """An array layout as printed after the shape: `{1,0:T(8,128)E(4)S(1)}`."""
  minor_to_major: tuple[int, ...] = ()
  tiles: tuple[tuple[int, ...], ...] = ()
  element_size_bits: int = 0
  memory_space: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
  """An XLA shape: an array (element type, dims, layout) or a tuple of shapes.

  Attributes:
    element_type: lower-case XLA type name ("f32", "pred", ...), or "tuple".
    dims: array dimensions; for a dynamic dimension, its bound.
    dynamic: which dimensions are dynamic (`<=N` or `?`).
    layout: the layout, or None when the text gave none.
    tuple_shapes: element shapes of a tuple, else ().
  """
  element_type: str
  dims: tuple[int, ...] = ()
  dynamic: tuple[bool, ...] = ()
  layout: Layout | None = None
  tuple_shapes: tuple["Shape", ...] = ()
  # Computed once at construction: analyses ask for them many times.
  elements: int = dataclasses.field(default=0, init=False, compare=False, repr=False)
  _byte_size: int = dataclasses.field(default=0, init=False, compare=False,
                                      repr=False)

  def __post_init__(self):
    object.__setattr__(self, "elements", math.prod(self.dims))
    object.__setattr__(self, "_byte_size", self._compute_byte_size())

  @property
  def is_tuple(self) -> bool:
    return self.element_type == "tuple"

  @property
  def is_array(self) -> bool:
    return self.element_type not in ("tuple", "token")

  @property
  def memory_space(self) -> int:
    return self.layout.memory_space if self.layout else 0

  def byte_size(self) -> int:
    """`ShapeUtil::ByteSizeOf(shape, 8)`: the bytes of this shape's own buffer."""
    return self._byte_size

  def _compute_byte_size(self) -> int:
    if self.is_tuple:
      return POINTER_SIZE * len(self.tuple_shapes)
    bits = self.layout.element_size_bits if self.layout else 0
    if bits:
      return (self.elements * bits + 7) // 8
    return self.elements * byte_width(self.element_type)

  def padded_byte_size(self) -> int:
    """Byte size with the minor dimensions padded to the layout's first tile."""
    if not self.is_array or not self.layout or not self.layout.tiles:
      return self.byte_size()
    tile = self.layout.tiles[0]
    order = self.layout.minor_to_major or tuple(reversed(range(len(self.dims))))
    dims = list(self.dims)
    for k, size in enumerate(reversed(tile)):
      if k < len(order) and size > 0:
        d = order[k]
        dims[d] = -(-dims[d] // size) * size
    elements = math.prod(dims)
    bits = self.layout.element_size_bits or 8 * byte_width(self.element_type)
    return (elements * bits + 7) // 8

  def subshape(self, index: tuple[int, ...]) -> "Shape":
    """The shape at a tuple `ShapeIndex`."""
    shape = self
    for i in index:
      shape = shape.tuple_shapes[i]
    return shape

  def leaf_indices(self) -> list[tuple[int, ...]]:
    """All shape indices, in XLA's pre-order (`{}` first, then `{0}`, `{0,0}`...)."""
    if not self.tuple_shapes:
      return [()]
    # Without a recursive closure: that is a reference cycle per call, which
    # only the collector frees (paused while a module is analysed).
    out: list[tuple[int, ...]] = []
    stack: list[tuple[Shape, tuple[int, ...]]] = [(self, ())]
    while stack:
      shape, prefix = stack.pop()
      out.append(prefix)
      for i in range(len(shape.tuple_shapes) - 1, -1, -1):
        stack.append((shape.tuple_shapes[i], prefix + (i,)))
    return out

  def __str__(self) -> str:
    if self.is_tuple:
      return "(" + ", ".join(str(s) for s in self.tuple_shapes) + ")"
    dims = ",".join(("<=" if dyn else "") + str(d)
                    for d, dyn in zip(self.dims, self.dynamic or
                                      (False,) * len(self.dims)))
    return f"{self.element_type}[{dims}]"


def format_index(index: tuple[int, ...]) -> str:
  """A ShapeIndex as XLA prints it: `{}`, `{1}`, `{0,2}`."""
  return "{" + ",".join(str(i) for i in index) + "}"
