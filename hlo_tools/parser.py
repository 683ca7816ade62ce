"""Parse HLO text, as XLA prints it after optimisation, into an `HloModule`.

Accepted input is what `compiled.as_text()` returns and what
`XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text` writes: a `HloModule` line
with attributes, optional stack-frame sections (FileNames, FunctionNames,
FileLocations, StackFrames), then computations of one instruction per line.
Comments (`/*...*/`, `//...`) are ignored. Unknown opcodes and attributes are
kept as they are. Every malformed input raises `HloParseError` with the file,
line and column and what was expected there.
"""

from __future__ import annotations

import operator
import os
import re
import stat

from hlo_tools.errors import HloParseError
from hlo_tools.gc_pause import gc_paused
from hlo_tools.module import (CALLED_COMPUTATION_ATTRIBUTES, HloComputation,
                              HloInstruction, HloModule)
from hlo_tools.shapes import ELEMENT_BITS, Layout, Shape

# Limits that keep every later integer computation exact in int64.
_MAX_DIM = 1 << 40
_MAX_ELEMENTS = 1 << 56
_MAX_TUPLE_DEPTH = 64

_SPACE_RE = re.compile(r"[ \t\r]*")
_NAME_RE = re.compile(r"%?([A-Za-z_][\w.\-]*)")
_ATTR_NAME_RE = re.compile(r"([A-Za-z_][\w.\-]*)=")
_OPCODE_RE = re.compile(r"[ \t]*([a-z][a-z0-9\-_]*)\(")
_HEAD_RE = re.compile(r"[ \t]*(ROOT[ \t]+)?%?([A-Za-z_][\w.\-]*)[ \t]*=[ \t]*")
_SIMPLE_OPERANDS_RE = re.compile(r"[ \t]*%?[A-Za-z_][\w.\-]*(?:[ \t]*,[ \t]*%?[A-Za-z_][\w.\-]*)*[ \t]*")
_SIMPLE_ATTRIBUTE_RE = re.compile(
    r'[ \t]*,[ \t]*([A-Za-z_][\w.\-]*)=([^,{}()\[\]"\s][^,{}()\[\]"]*)(?=,|$)')
# An array shape's whole text, for the shape cache: "f32[8,16]{1,0}".
_ARRAY_TEXT_RE = re.compile(r"[a-z][a-z0-9]*\[[^\]]*\](?:\{[^{}]*\})?")
# Possessive where what follows cannot take what a run took: the same match,
# found without keeping places to go back to.
_INSTRUCTION_HEAD = (
    r"[ \t]*+(ROOT[ \t]+)?%?([A-Za-z_][\w.\-]*+)[ \t]*+=[ \t]*+"      # [ROOT] %name =
    r"([a-z][a-z0-9]*+\[[^\]]*+\](?:\{[^{}]*+\})?|\([^()]*+\))"     # shape
    r"[ \t]+([a-z][a-z0-9\-_]*+)\(")                                  # opcode(
_FAST_INSTRUCTION_RE = re.compile(_INSTRUCTION_HEAD + r'([^()\[\]{}"]*)\)')  # operands)
# The common line: `_FAST_INSTRUCTION_RE`, also taking operands printed with
# array shapes ("f32[2]{0} %x"; what `_Parser.fast_instruction` reads), in one
# match with what the parser looks for next:
# * groups 6-8: one to three operands of `_SIMPLE_OPERANDS_RE`, each name a
#   group (else None; group 5 is the operands' text in every case);
# * groups 11-12: the name and value of one attribute in flat braces up to the
#   line's end (`metadata={op_name="..."}`, the commonest rest of a line), and
#   groups 9-10 those of one such attribute before it, if there is one
#   (`dimensions={0}, metadata={...}`, the next commonest); else None, and the
#   match ends at the operands' ')'. `_ATTRIBUTE_ITEM_RE.findall` would find
#   those items, with the same names and values, in more time.
# Each part is optional or tried in turn, so that the match is the one the
# operands alone would give (the head and operands match one way only).
# An attribute in flat braces with the ',' before it: (name, value).
_FLAT_ATTRIBUTE = (r'[ \t]*+,[ \t]*+([A-Za-z_][\w.\-]*+)='
                   r'(\{[^{}()\[\]"]*+(?:"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"[^{}()\[\]"]*+)*+\})')
_FAST_LINE_RE = re.compile(
    _INSTRUCTION_HEAD +
    r'((?:[ \t]*+%?([A-Za-z_][\w.\-]*+)(?:[ \t]*+,[ \t]*+%?([A-Za-z_][\w.\-]*+)'
    r'(?:[ \t]*+,[ \t]*+%?([A-Za-z_][\w.\-]*+))?)?[ \t]*+)(?=\))'
    r'|[^()\[\]{}"]*+(?=\))'
    r'|(?:[^()\[\]{}"a-z]++|[a-z][a-z0-9]*+(?:\[[^\]]*+\](?:\{[^{}]*+\})?)?+)*+)\)'
    r'(?:(?:' + _FLAT_ATTRIBUTE + r'(?=,))??' + _FLAT_ATTRIBUTE + r'$)?')
_FLAT_BRACES_RE = re.compile(r'\{(?:[^{}()\[\]"]|"(?:[^"\\\n]|\\.)*")*\}')
# Text with brackets nested at most `depth` deep, all closed, no parentheses,
# strings whole: what `_Line.balanced` reads without finding fault, and to the
# same end. Possessive, so that it never backtracks.
def _nested(depth: int) -> str:
  inner = r'(?:[^{}()\[\]"]++|"(?:[^"\\\n]++|\\.)*+"'
  for _ in range(depth):
    inner += r'|\{' + inner + r')*+\}|\[' + inner + r')*+\]'
  return inner + ")*+"


# One attribute of the common forms, as the loop in `parse_instruction` reads it:
# a plain value (`kind=kLoop`, taken by `_SIMPLE_ATTRIBUTE_RE`) or braces
# (`metadata={op_name="..."}`, `backend_config={"a":{"b":[]}}`, taken by
# `balanced`), each ending at a ',' or the line's end. Atomic, so that a line's
# attributes split one way only: the way that loop splits them.
_ATTRIBUTE_ITEM = (
    r'([ \t]*,[ \t]*([A-Za-z_][\w.\-]*)='
    r'((?>[^,{}()\[\]"\s][^,{}()\[\]"]*(?=,|$)'
    r'|\{' + _nested(3) + r'\}(?=,|$))))')
# A computation's parameter list, "(p: f32[2]{0}, q: s32[])", up to its ')'.
_PARAMETER_LIST_RE = re.compile(_nested(1) + r"(?=\))")
# A computation's header as `_Parser.parse_header` reads it, with no
# attributes: "[ENTRY] %name (p: f32[2]{0}) -> shape {" (the ENTRY possessive,
# as `accept` takes it).
_HEADER_RE = re.compile(
    r"[ \t\r]*(ENTRY)?+[ \t\r]*%?([A-Za-z_][\w.\-]*)[ \t\r]*\(" + _nested(1) +
    r"\)[ \t\r]*->[ \t\r]*(\([^()]*\)|[a-z][a-z0-9]*\[[^\]]*\](?:\{[^{}]*\})?)"
    r"[ \t\r]*\{[ \t\r]*$")
_ATTRIBUTE_ITEM_RE = re.compile(_ATTRIBUTE_ITEM)
# One operand as `_Parser.parse_operands` reads it, "%x" or "f32[2]{0} %x", with
# the ',' before it (none before the first): (text, shape text, name).
_OPERAND_ITEM_RE = re.compile(
    r'((?:^|,)[ \t]*(?:([a-z][a-z0-9]*\[[^\]]*\](?:\{[^{}]*\})?)[ \t]*)?+'
    r'%?([A-Za-z_][\w.\-]*+)[ \t]*)')
_FLAT_TUPLE_TEXT_RE = re.compile(r"\([^()]*\)")
_ARRAY_RE = re.compile(r"([a-z][a-z0-9]*)\[([^\]]*)\]")
_LAYOUT_RE = re.compile(r"\{([^{}]*)\}")
_TILE_RE = re.compile(r"T\(([^)]*)\)((?:\([^)]*\))*)")
_COMMENT_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|/\*.*?\*/|//.*$')
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SECTION_LINE_RE = re.compile(r"(\d+)\s+(.*)$")
_SECTIONS = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")
_CLOSE = {"(": ")", "{": "}", "[": "]"}
_SPECIAL_CACHE: dict[str, re.Pattern] = {}
_CALLING_ATTRIBUTES = frozenset(CALLED_COMPUTATION_ATTRIBUTES)
# Opcodes whose parentheses hold a literal, not operands.
_LITERAL_OPCODES = frozenset(("constant", "parameter"))
# Opcodes `_Parser.check` looks at besides those that call computations.
_CHECKED_OPCODES = frozenset(("get-tuple-element", "while", "call", "fusion", "conditional",
                              "map", "reduce", "async-start"))


_calls = operator.attrgetter("called")


def _special_chars(stop: str) -> re.Pattern:
  pattern = _SPECIAL_CACHE.get(stop)
  if pattern is None:
    pattern = re.compile("[" + re.escape('(){}[]"' + stop) + "]")
    _SPECIAL_CACHE[stop] = pattern
  return pattern


class _Line:
  """A cursor over one line of text, raising located errors."""

  __slots__ = ("text", "pos", "lineno", "filename", "shapes")

  def __init__(self, text: str, lineno: int, filename: str,
               shapes: dict[str, Shape] | None = None):
    self.text = text
    self.pos = 0
    self.lineno = lineno
    self.filename = filename
    # Shape text -> Shape, shared by the lines of one parse: shapes repeat.
    self.shapes = {} if shapes is None else shapes

  def error(self, expected: str, pos: int | None = None) -> HloParseError:
    pos = self.pos if pos is None else pos
    found = self.text[pos:pos + 20] or "end of line"
    return HloParseError(expected, self.filename, self.lineno, pos + 1, found)

  def skip_space(self) -> None:
    self.pos = _SPACE_RE.match(self.text, self.pos).end()

  def at_end(self) -> bool:
    self.skip_space()
    return self.pos >= len(self.text)

  def peek(self) -> str:
    self.skip_space()
    return self.text[self.pos:self.pos + 1]

  def accept(self, token: str) -> bool:
    self.skip_space()
    if self.text.startswith(token, self.pos):
      self.pos += len(token)
      return True
    return False

  def expect(self, token: str, what: str | None = None) -> None:
    if not self.accept(token):
      raise self.error(what or f"'{token}'")

  def match(self, pattern: re.Pattern, what: str) -> re.Match:
    self.skip_space()
    m = pattern.match(self.text, self.pos)
    if m is None:
      raise self.error(what)
    self.pos = m.end()
    return m

  def balanced(self, stop: str = "") -> str:
    """Raw text up to the next top-level character in `stop` (or the line's
    end), with brackets balanced and strings skipped."""
    self.skip_space()
    text = self.text
    start = pos = self.pos
    flat = _FLAT_BRACES_RE.match(text, pos)
    if flat is not None:  # The common "{...}" without nested brackets.
      end = flat.end()
      if end == len(text) or text[end] in stop:
        self.pos = end
        return text[start:end]
    depth: list[str] = []
    special = _special_chars(stop)
    while True:
      m = special.search(text, pos)
      if m is None:
        if depth:
          raise self.error(f"'{depth[-1]}' to close the bracket", len(text))
        self.pos = len(text)
        return text[start:]
      ch = m.group()
      k = m.start()
      if not depth and ch in stop:
        self.pos = k
        return text[start:k]
      if ch == '"':
        s = _STRING_RE.match(text, k)
        if s is None:
          raise self.error("a closing '\"'", k)
        pos = s.end()
      elif ch in _CLOSE:
        depth.append(_CLOSE[ch])
        pos = k + 1
      elif not depth:
        # An unmatched closing bracket ends the value; the caller checks it.
        self.pos = k
        return text[start:k]
      elif ch == depth[-1]:
        depth.pop()
        pos = k + 1
      elif ch in ")]}":
        raise self.error(f"'{depth[-1]}'", k)
      else:
        pos = k + 1

  # --- shapes --------------------------------------------------------------

  def shape(self) -> Shape:
    self.skip_space()
    text, pos = self.text, self.pos
    m = (_FLAT_TUPLE_TEXT_RE if text.startswith("(", pos) else _ARRAY_TEXT_RE).match(
        text, pos)
    if m is not None:
      cached = self.shapes.get(m.group())
      if cached is None:
        cached = self.shapes[m.group()] = self._parse_shape()
        if self.pos != m.end():  # Not the whole text: do not reuse it.
          del self.shapes[m.group()]
      else:
        self.pos = m.end()
      return cached
    return self._parse_shape()

  def _parse_shape(self, depth: int = 0) -> Shape:
    self.skip_space()
    if self.accept("("):
      if depth >= _MAX_TUPLE_DEPTH:
        raise self.error(f"tuple shapes nested at most {_MAX_TUPLE_DEPTH} deep")
      elements = []
      if not self.accept(")"):
        while True:
          elements.append(self._parse_shape(depth + 1))
          if self.accept(")"):
            break
          self.expect(",", "',' or ')' in a tuple shape")
      return Shape("tuple", tuple_shapes=tuple(elements))
    start = self.pos
    m = self.match(_ARRAY_RE, "a shape such as f32[8,16]{1,0} or (s32[], f32[2])")
    element_type = m.group(1)
    if element_type not in ELEMENT_BITS:
      raise self.error(f"an XLA element type ({', '.join(sorted(ELEMENT_BITS))})",
                       start)
    dims, dynamic = self._dims(m.group(2), m.start(2))
    layout = None
    if self.text.startswith("{", self.pos):
      layout_m = _LAYOUT_RE.match(self.text, self.pos)
      if layout_m is None:
        raise self.error("a layout such as {1,0} closed by '}'")
      layout = self._layout(layout_m.group(1), layout_m.start(1), len(dims))
      self.pos = layout_m.end()
    return Shape(element_type, dims, dynamic, layout)

  def _dims(self, text: str, offset: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    if not text.strip():
      return (), ()
    dims, dynamic = [], []
    elements = 1
    for part in text.split(","):
      part = part.strip()
      is_dynamic = part.startswith("<=") or part == "?"
      digits = part[2:] if part.startswith("<=") else part
      if digits == "?":
        digits = "0"
      if not _is_number(digits):
        raise self.error("a dimension size (a number, <=N or ?)", offset)
      size = int(digits)
      elements *= max(size, 1)
      if size > _MAX_DIM or elements > _MAX_ELEMENTS:
        raise self.error("dimensions of at most 2^40 and 2^56 elements in all",
                         offset)
      dims.append(size)
      dynamic.append(is_dynamic)
    return tuple(dims), tuple(dynamic)

  def _layout(self, text: str, offset: int, rank: int) -> Layout:
    order_text, _, rest = text.partition(":")
    order = []
    for part in order_text.split(","):
      part = part.strip()
      if part:
        if not _is_number(part) or int(part) >= rank:
          raise self.error(f"a minor-to-major layout of dimensions below {rank}",
                           offset)
        order.append(int(part))
    tiles = []
    element_bits = 0
    memory_space = 0
    if rest:
      for t in _TILE_RE.finditer(rest):
        for group in re.findall(r"\(([^)]*)\)", t.group(0)):
          tiles.append(tuple(int(v) if _is_number(v.strip().lstrip("-")) else -1
                             for v in group.split(",") if v.strip()))
      e = re.search(r"E\((\d+)\)", rest)
      if e:
        element_bits = int(e.group(1))
        if element_bits > 1024:
          raise self.error("an element size E(n) of at most 1024 bits", offset)
      s = re.search(r"S\((\d+)\)", rest)
      if s:
        memory_space = int(s.group(1))
    return Layout(tuple(order), tuple(tiles), element_bits, memory_space)


def _is_number(text: str) -> bool:
  """ASCII digits only (str.isdigit also accepts '²' and other digits)."""
  return text.isascii() and text.isdigit()


def _strip_comments(line: str) -> str:
  """Blank out /*...*/ and //... comments (outside strings), keeping columns."""
  if "/*" not in line and "//" not in line:
    return line

  def blank(m: re.Match) -> str:
    text = m.group()
    return text if text.startswith('"') else " " * len(text)

  return _COMMENT_RE.sub(blank, line)


class _Parser:

  def __init__(self, text: str, filename: str):
    self.filename = filename
    self.lines = text.split("\n")
    self.index = 0
    self.module: HloModule | None = None
    self.names: dict[str, HloInstruction] = {}
    # The instructions `link` looks at, in text order: those that name
    # computations, and those of `_CHECKED_OPCODES`.
    self.linked: list[HloInstruction] = []
    self.shapes: dict[str, Shape] = {}

  def error_at(self, lineno: int, expected: str, found: str | None = None):
    return HloParseError(expected, self.filename, lineno, 1, found)

  def next_line(self) -> _Line | None:
    """The next non-blank line, comments removed, or None at end of text."""
    while self.index < len(self.lines):
      raw = self.lines[self.index]
      self.index += 1
      text = _strip_comments(raw).rstrip()
      if text.strip():
        return _Line(text, self.index, self.filename, self.shapes)
    return None

  def parse(self) -> HloModule:
    line = self.next_line()
    if line is None:
      raise HloParseError("an 'HloModule' line", self.filename, 1, 1,
                          "empty text")
    if not line.accept("HloModule"):
      raise line.error("'HloModule name, attributes...' at the start of the text")
    name = line.match(_NAME_RE, "a module name").group(1)
    module = HloModule(name=name, filename=self.filename)
    self.module = module
    while line.accept(","):
      attr = line.match(_ATTR_NAME_RE, "a module attribute 'name=value'").group(1)
      module.attributes[attr] = line.balanced(",")
    if not line.at_end():
      raise line.error("',' or the end of the HloModule line")

    line = self.next_line()
    while line is not None:
      word = line.text.strip()
      if word in _SECTIONS:
        line = self.parse_section(word)
        continue
      computation = self.parse_computation(line)
      if computation.name in module._by_name:
        raise self.error_at(computation.line, "a unique computation name",
                            computation.name)
      module.computations.append(computation)
      module._by_name[computation.name] = computation
      line = self.next_line()
    self.link()
    return module

  def parse_section(self, title: str) -> _Line | None:
    table = self.module.stack_frames.setdefault(title, {})
    while True:
      line = self.next_line()
      if line is None:
        return None
      m = _SECTION_LINE_RE.match(line.text.strip())
      if m is None:
        return line
      table[int(m.group(1))] = m.group(2)

  def parse_computation(self, line: _Line) -> HloComputation:
    header = _HEADER_RE.match(line.text)
    if header is not None and header.group(3) in self.shapes:
      # The common header, its result's shape seen before.
      computation = HloComputation(name=header.group(2), is_entry=bool(header.group(1)),
                                   line=line.lineno, module=self.module)
    else:
      computation = self.parse_header(line)
    return self.parse_body(computation)

  def parse_header(self, line: _Line) -> HloComputation:
    is_entry = line.accept("ENTRY")
    name = line.match(_NAME_RE, "a computation: '[ENTRY] %name (params) -> shape {'")
    computation = HloComputation(name=name.group(1), is_entry=is_entry,
                                 line=line.lineno, module=self.module)
    line.expect("(", "'(' to open the parameter list of the computation")
    line.skip_space()
    parameter_list = _PARAMETER_LIST_RE.match(line.text, line.pos)
    if parameter_list is not None:
      line.pos = parameter_list.end()
    else:
      line.balanced(")")
    line.expect(")", "')' to close the parameter list")
    line.expect("->", "'->' and the result shape of the computation")
    line.shape()
    while line.accept(","):
      attr = line.match(_ATTR_NAME_RE, "a computation attribute 'name=value'")
      computation.attributes[attr.group(1)] = line.balanced(",{")
    line.expect("{", "'{' to open the computation body")
    if not line.at_end():
      raise line.error("the end of the line after '{'")
    return computation

  def parse_body(self, computation: HloComputation) -> HloComputation:
    names: dict[str, HloInstruction] = {}
    # (instruction, operand names, their columns or None: found again for an
    # error), of the instructions whose operands are linked at the end.
    pending: list[tuple[HloInstruction, list[str], list[int] | None]] = []
    lines, shapes, all_names, linked = self.lines, self.shapes, self.names, self.linked
    instructions, parameters = computation.instructions, computation.parameters
    line_match, attributes_findall = _FAST_LINE_RE.match, _ATTRIBUTE_ITEM_RE.findall
    simple_operands, operand_names_of = _SIMPLE_OPERANDS_RE.fullmatch, _NAME_RE.findall
    for index in range(self.index, len(lines)):
      text = lines[index]
      text = (_strip_comments(text) if "/*" in text or "//" in text else text).rstrip()
      if not text:
        continue
      instruction = None
      fast = line_match(text)
      if fast is not None:
        # The common line (`fast_instruction`), inline: plain operands (or a
        # parameter's number, a constant's flat literal) and one attribute
        # are the commonest case of all.
        (root, name, shape_text, opcode, operand_text, first, second, third, attr_before,
         value_before, attr, value) = fast.groups()
        shape = shapes.get(shape_text)
        if shape is None:
          shape = self.new_shape(shape_text, index + 1)
        literal = ""
        if shape is None:
          operand_names = None
        elif opcode in _LITERAL_OPCODES:
          literal = operand_text.strip()
          operand_names = [] if opcode == "constant" or _is_number(literal) else None
        elif first is not None:  # One to three names: `_NAME_RE.findall`'s.
          operand_names = ([first] if second is None else [first, second] if third is None
                           else [first, second, third])
        else:
          operand_names = (operand_names_of(operand_text)
                           if simple_operands(operand_text) is not None else None)
        if operand_names is not None:
          # The attributes, if the common forms take the rest of the line.
          if attr is not None:  # What the findall below finds: one or two items.
            attributes = ({attr: value} if attr_before is None else
                          {attr_before: value_before, attr: value})
          else:
            attributes = {}
            end = fast.end()
            if end < len(text):
              items = attributes_findall(text, end)
              if len(items) == 1:
                item, attr, value = items[0]
                if len(item) == len(text) - end:
                  attributes[attr] = value.strip()
                else:
                  attributes = None
              elif sum([len(item) for item, _, _ in items]) == len(text) - end:
                for _, attr, value in items:
                  attributes[attr] = value.strip()
              else:
                attributes = None
          if attributes is not None and (opcode != "get-tuple-element" or
                                         _is_number(attributes.get("index", ""))):
            instruction = HloInstruction(name, opcode, shape, [], attributes, [], literal,
                                         root is not None, index + 1, computation)
            columns = None
        if instruction is None:
          instruction = self.fast_instruction(fast, text, index + 1)
          if instruction is not None:
            instruction, operand_names, columns = instruction
            instruction.computation = computation
      if instruction is None:
        if text.strip() == "}":
          break
        line = _Line(text, index + 1, self.filename, shapes)
        instruction, operands = self.parse_instruction(line)
        instruction.computation = computation
        operand_names = [name for name, _ in operands]
        columns = [column for _, column in operands]
      name = instruction.name
      if name in all_names:  # Which holds this computation's `names` too.
        raise _Line(text, index + 1, self.filename).error(
            f"a unique instruction name, not '{name}' again", 0)
      names[name] = instruction
      all_names[name] = instruction
      instructions.append(instruction)
      opcode = instruction.opcode
      if opcode in _CHECKED_OPCODES or not _CALLING_ATTRIBUTES.isdisjoint(
          instruction.attributes):
        linked.append(instruction)
      if operand_names:
        # Operands defined above are linked at once; from the first that is
        # not (defined below, or nowhere), this and every later instruction
        # waits for the end of the computation, so that users keep text order.
        operands = None if pending else list(map(names.get, operand_names))
        if operands is None or None in operands:
          pending.append((instruction, operand_names, columns))
        elif len(operands) == 1:
          instruction.operands = operands
          operands[0].users.append(instruction)
        else:
          instruction.operands = operands
          for operand in operands:
            users = operand.users
            if not users or users[-1] is not instruction:
              users.append(instruction)
      if opcode == "parameter":
        number = instruction.parameter_number
        if number in parameters:
          raise self.error_at(index + 1, f"one parameter({number})")
        parameters[number] = instruction
      if instruction.is_root:
        if computation.root is not None:
          raise self.error_at(index + 1, "one ROOT instruction per computation")
        computation.root = instruction
    else:
      raise HloParseError(f"'}}' to close computation {computation.name} "
                          f"(opened at line {computation.line})",
                          self.filename, len(lines), 1, "end of text")
    self.index = index + 1

    if not computation.instructions:
      raise self.error_at(computation.line, "at least one instruction in "
                          f"computation {computation.name}")
    if computation.root is None:
      computation.root = computation.instructions[-1]
      computation.root.is_root = True
    if sorted(computation.parameters) != list(range(len(computation.parameters))):
      raise self.error_at(computation.line, "parameters numbered 0..n-1 in "
                          f"computation {computation.name}")
    for instruction, operand_names, columns in pending:
      if not operand_names:
        continue
      operands = [names.get(name) for name in operand_names]
      if None in operands:
        k = operands.index(None)
        if columns is None:
          columns = self.operand_columns(instruction)
        raise HloParseError(f"an operand defined in computation {computation.name}",
                            self.filename, instruction.line, columns[k], operand_names[k])
      instruction.operands = operands
      for operand in operands:
        users = operand.users
        if not users or users[-1] is not instruction:
          users.append(instruction)
    return computation

  def new_shape(self, text: str, lineno: int) -> Shape | None:
    """The shape of a common line's shape text, not seen before, parsed as
    `parse_instruction` parses it and kept for the lines after; None where
    that would find fault (`parse_instruction` then reports it)."""
    line = _Line(text, lineno, self.filename, self.shapes)
    try:
      shape = line.shape()
    except HloParseError:
      return None
    return shape if line.pos == len(text) else None

  def fast_instruction(self, fast: re.Match, text: str, lineno: int):
    """(instruction, operand names, None) of a common line, with a shape seen
    before, attributes of the common forms and operands printed without
    shapes; None for any other line, which `parse_instruction` then reads
    (and reports errors in) as before."""
    root, name, shape_text, opcode, operand_text = fast.group(1, 2, 3, 4, 5)
    shape = self.shapes.get(shape_text)
    if shape is None:
      return None
    end = fast.end(5) + 1  # After the operands' ')'.
    attributes = {}
    if end < len(text):
      # Matches that do not overlap and fill the rest of the line, all of it.
      items = _ATTRIBUTE_ITEM_RE.findall(text, end)
      if len(items) == 1:  # Most often metadata alone.
        item, attr, value = items[0]
        if len(item) != len(text) - end:
          return None
        attributes[attr] = value.strip()
      else:
        if sum([len(item) for item, _, _ in items]) != len(text) - end:
          return None
        for _, attr, value in items:
          attributes[attr] = value.strip()
    instruction = HloInstruction(name, opcode, shape, attributes=attributes,
                                 is_root=root is not None, line=lineno)
    operand_names: list[str] = []
    if opcode == "constant":
      instruction.literal = operand_text.strip()
    elif opcode == "parameter":
      literal = operand_text.strip()
      if not _is_number(literal):
        return None
      instruction.literal = literal
    elif _SIMPLE_OPERANDS_RE.fullmatch(operand_text):
      operand_names = _NAME_RE.findall(operand_text)
    elif operand_text.strip():
      # Operands printed with their shapes, each shape one seen before.
      items = _OPERAND_ITEM_RE.findall(operand_text)
      if sum(len(item) for item, _, _ in items) != len(operand_text) or \
          items[0][0].startswith(","):
        return None
      shapes = self.shapes
      for _, shape_text, operand_name in items:
        if shape_text and shape_text not in shapes:
          return None
        operand_names.append(operand_name)
    if opcode == "get-tuple-element" and \
        not _is_number(instruction.attributes.get("index", "")):
      return None
    return instruction, operand_names, None

  def operand_columns(self, instruction: HloInstruction) -> list[int]:
    """The columns of a fast-read instruction's operand names, as
    `parse_instruction` finds them (for an error message)."""
    text = _strip_comments(self.lines[instruction.line - 1]).rstrip()
    fast = _FAST_LINE_RE.match(text)
    if _SIMPLE_OPERANDS_RE.fullmatch(fast.group(5)):
      return [fast.start(5) + 1 + m.start() for m in _NAME_RE.finditer(fast.group(5))]
    return [column for _, column in self.parse_operands(
        _Line(text, instruction.line, self.filename, self.shapes), fast.group(5),
        fast.start(5))]

  def parse_instruction(self, line: _Line) -> tuple[HloInstruction, list]:
    fast = _FAST_INSTRUCTION_RE.match(line.text)
    if fast is not None and fast.group(3) in self.shapes:
      # The common line, with a shape seen before: one regex match.
      head, shape, opcode = fast, self.shapes[fast.group(3)], fast.group(4)
      operand_start, operand_text = fast.start(5), fast.group(5)
      line.pos = fast.end()
    else:
      head = _HEAD_RE.match(line.text)
      if head is None:
        raise line.error("an instruction: '[ROOT] %name = shape opcode(operands)'")
      line.pos = head.end()
      shape = line.shape()
      opcode_m = _OPCODE_RE.match(line.text, line.pos)
      if opcode_m is None:
        line.skip_space()
        raise line.error("an opcode followed by '('")
      opcode = opcode_m.group(1)
      line.pos = operand_start = opcode_m.end()
      operand_text = line.balanced(")")
      line.expect(")", "')' to close the operand list")
    instruction = HloInstruction(name=head.group(2), opcode=opcode, shape=shape,
                                 is_root=head.group(1) is not None,
                                 line=line.lineno)
    operands: list[tuple[str, int]] = []
    if opcode == "constant":
      instruction.literal = operand_text.strip()
    elif opcode == "parameter":
      if not _is_number(operand_text.strip()):
        raise line.error("a parameter number", operand_start)
      instruction.literal = operand_text.strip()
    elif _SIMPLE_OPERANDS_RE.fullmatch(operand_text):
      # The common case: "%a, %b". Columns are found only for error messages.
      operands = [(m.group(1), operand_start + 1 + m.start())
                  for m in _NAME_RE.finditer(operand_text)]
    elif operand_text.strip():
      operands = self.parse_operands(line, operand_text, operand_start)
    attributes = instruction.attributes
    text, end = line.text, len(line.text)
    while line.pos < end:
      simple = _SIMPLE_ATTRIBUTE_RE.match(text, line.pos)
      if simple is not None:
        attributes[simple.group(1)] = simple.group(2).strip()
        line.pos = simple.end()
        continue
      line.expect(",", "',' before the next attribute")
      attr = line.match(_ATTR_NAME_RE, "an attribute 'name=value'").group(1)
      value_start = line.pos
      attributes[attr] = line.balanced(",")
      if not attributes[attr] and attr != "sharding":
        raise line.error(f"a value for attribute {attr}", value_start)
    if opcode == "get-tuple-element":
      if not _is_number(attributes.get("index", "")):
        raise line.error("get-tuple-element with 'index=N'")
    return instruction, operands

  @staticmethod
  def parse_operands(line: _Line, text: str, offset: int) -> list[tuple[str, int]]:
    """Operands some of which are printed with their shapes: "f32[2]{0} %x"."""
    sub = _Line(text, line.lineno, line.filename, line.shapes)
    operands = []
    while True:
      sub.skip_space()
      if sub.peek() == "(" or (sub.peek() != "%" and _ARRAY_RE.match(sub.text, sub.pos)):
        sub.shape()
      column = offset + sub.pos + 1
      operands.append((sub.match(_NAME_RE, "an operand name").group(1), column))
      if sub.at_end():
        return operands
      sub.expect(",", "',' between operands")

  def link(self) -> None:
    """Resolve called computations, find ENTRY and check structural rules."""
    module = self.module
    if not module.computations:
      raise HloParseError("at least one computation", self.filename,
                          len(self.lines), 1, "end of text")
    entries = [c for c in module.computations if c.is_entry]
    if len(entries) > 1:
      raise self.error_at(entries[1].line, "one ENTRY computation")
    module.entry = entries[0] if entries else module.computations[-1]
    module.entry.is_entry = True
    for instruction in self.linked:
      attributes = instruction.attributes
      if attributes and not _CALLING_ATTRIBUTES.isdisjoint(attributes):
        for attr in CALLED_COMPUTATION_ATTRIBUTES:
          raw = attributes.get(attr)
          if raw is None:
            continue
          for callee in _NAME_RE.findall(raw):
            computation = module._by_name.get(callee)
            if computation is None:
              raise self.error_at(instruction.line,
                                  f"a computation named by {attr}=", callee)
            instruction.called.append(computation)
      if instruction.called or instruction.opcode in _CHECKED_OPCODES:
        self.check(instruction)
    self.check_acyclic()

  def check(self, instruction: HloInstruction) -> None:
    """Rules the analyses rely on, reported at the instruction's line."""
    opcode = instruction.opcode
    if opcode == "get-tuple-element":
      operand = self.single_operand(instruction)
      if not operand.shape.is_tuple or \
          instruction.tuple_index >= len(operand.shape.tuple_shapes):
        raise self.error_at(instruction.line, "a tuple index within the "
                            f"operand's shape {operand.shape}")
    elif opcode in ("while", "call", "fusion", "conditional", "map", "reduce",
                    "async-start") and not instruction.called:
      raise self.error_at(instruction.line, f"a called computation for {opcode}")
    if opcode == "while":
      if len(instruction.called_by_role("body")) != 1 or \
          len(instruction.called_by_role("condition")) != 1:
        raise self.error_at(instruction.line, "while with body= and condition=")
      self.single_operand(instruction)
    for callee in instruction.called:
      needed = len(callee.parameters)
      if opcode in ("fusion", "call", "async-start") and \
          needed != len(instruction.operands):
        raise self.error_at(instruction.line, f"{needed} operands for the "
                            f"parameters of {callee.name}")

  def single_operand(self, instruction: HloInstruction) -> HloInstruction:
    if len(instruction.operands) != 1:
      raise self.error_at(instruction.line,
                          f"one operand for {instruction.opcode}")
    return instruction.operands[0]

  def check_acyclic(self) -> None:
    state: dict[str, int] = {}
    for root in self.module.computations:
      stack = [(root, iter(self.callees(root)))]
      state[root.name] = state.get(root.name, 0) or 1
      if state[root.name] == 2:
        continue
      while stack:
        computation, children = stack[-1]
        child = next(children, None)
        if child is None:
          state[computation.name] = 2
          stack.pop()
        elif state.get(child.name) == 1:
          raise self.error_at(child.line, "computations that do not call "
                              "themselves", child.name)
        elif not state.get(child.name):
          state[child.name] = 1
          stack.append((child, iter(self.callees(child))))

  @staticmethod
  def callees(computation: HloComputation):
    for instruction in filter(_calls, computation.instructions):
      yield from instruction.called


def parse_hlo(text: str, filename: str = "<string>") -> HloModule:
  """Parse HLO text into an `HloModule`.

  Args:
    text: the module as XLA prints it.
    filename: named in error messages.

  Raises:
    HloParseError: the text is not well-formed HLO.
  """
  if "\x00" in text:
    k = text.index("\x00")
    line = text.count("\n", 0, k) + 1
    raise HloParseError("text, not a NUL byte", filename, line,
                        k - (text.rfind("\n", 0, k) + 1) + 1)
  with gc_paused(promote=True):
    return _Parser(text, filename).parse()


def parse_hlo_file(path: str | os.PathLike) -> HloModule:
  """Read and parse an HLO text file (UTF-8)."""
  path = os.fspath(path)
  try:
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):  # A FIFO would hang, /dev/zero fill memory.
      raise HloParseError("a regular HLO text file", path,
                          found="a directory" if stat.S_ISDIR(mode) else
                          "a FIFO" if stat.S_ISFIFO(mode) else "a device or special file")
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise HloParseError("a readable HLO text file", path, found=e.strerror) from None
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    raise HloParseError("UTF-8 text", path, line, column,
                        data[e.start:e.start + 4].hex()) from None
  return parse_hlo(text, path)
