"""Property tests of the commands on hostile input: mutated MiniMalloc CSV
files, problem JSON and placement JSON, and random command lines.

Every input is either read and run, or refused with exit status 2 (1 for
`malloc-extract`'s bad input, as documented) and one line on stderr that
names the file or flag and says what was expected. Never a traceback, never
a hang, and never a partly written output: after a refusal no output file and
no temporary file is left; after a success the output reads back.
(tests/test_fuzz_hlo.py fuzzes the HLO parser the same way.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hlo_tools.cli import main as extract_main
from malloc_muzero.eval_cli import main as eval_main
from malloc_muzero.problem import Problem
from malloc_muzero.solve_cli import main as solve_main
from tests.test_fuzz_hlo import _time_limit

_PROGS = {solve_main: "malloc-solve", eval_main: "malloc-eval",
          extract_main: "malloc-extract"}
# Cheap solvers: every example runs one on a problem of a few buffers.
_SOLVERS = ("first-fit", "best-fit", "xla-msa", "random", "pack")

_WEIRD = st.one_of(
    st.sampled_from(["0", "-1", "1", "3", "nan", "inf", "-inf", "1e309", "2147483647",
                     "2147483648", "9223372036854775807", "9223372036854775808",
                     "99999999999999999999", "0x10", "1_000", "", " ", "--", "-o", "\x00"]),
    st.text(max_size=8))
_JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.text(max_size=6),
    st.integers(-3, 40),
    st.sampled_from([-1, 0, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True))
_JSON_VALUES = st.recursive(_JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6)


def _program() -> Problem:
  """Three buffers, two instructions, five accesses: every field in use."""
  return Problem(
      name="prog", buffer_names=("a", "b", "c"),
      sizes=np.array([1024, 1024, 2048]), starts=np.array([0, 0, 1]),
      ends=np.array([1, 1, 1]), buffer_kinds=("parameter", "temporary", "output"),
      instruction_names=("i0", "i1"), opcodes=("fusion", "dot"),
      flops=np.array([1e6, 2e6]), transcendentals=np.array([0.0, 10.0]),
      bytes_accessed=np.array([2048.0, 4096.0]),
      access_buffer=np.array([0, 1, 0, 1, 2]), access_instruction=np.array([0, 0, 1, 1, 1]),
      access_bytes_read=np.array([1024, 0, 1024, 1024, 0]),
      access_bytes_written=np.array([0, 1024, 0, 0, 2048]),
      schedule_length=2, source={"kind": "synthetic"})


def _run(main, argv: list[str]) -> tuple[int, str]:
  """(exit status, stderr) of a command run in this process, within 20 s."""
  out, err = io.StringIO(), io.StringIO()
  with _time_limit(20), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(argv)
  return code, err.getvalue()


def _check(main, argv: list[str], directory: str, output: str | None = None) -> int:
  """Runs a command and checks the property; returns its exit status."""
  before = set(os.listdir(directory))
  code, err = _run(main, argv)
  prog = _PROGS[main]
  event(f"{prog} exit {code}")  # (--hypothesis-show-statistics counts them)
  assert "Traceback" not in err, err
  allowed = {0, 1, 2} if main is not solve_main else {0, 2}
  assert code in allowed, (code, err)
  refused = code == 2 or (code == 1 and main is extract_main)
  if refused:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    named = [os.path.basename(a) for a in argv if a.strip()] + [
        "command line", "argument", "the following arguments", "unrecognized"]
    assert any(word and word in lines[0] for word in named), err
    if "command line" in lines[0] or "argument" in lines[0]:
      assert "expected" in lines[0] or "invalid choice" in lines[0] or \
          "unrecognized" in lines[0] or "required" in lines[0] or \
          "expected one argument" in lines[0] or "not allowed with" in lines[0], err
    else:
      assert "expected" in lines[0], err
  after = set(os.listdir(directory))
  assert not [name for name in after if name.endswith(".tmp")], after
  if output is not None and os.path.basename(output) not in before:
    written = os.path.exists(output)
    assert written == (code == 0 and main is solve_main) or (
        written and main is extract_main and code == 0), (code, err)
  return code


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
_FAST, _NIGHTLY = 40, 1000  # examples per test: default suite, and -m slow


# MiniMalloc CSV ---------------------------------------------------------------

_HEADER = st.sampled_from(
    ["id,lower,upper,size", "id,lower,upper,size,offset", "buffer,start,end,size",
     "size,upper,lower,id", "buffer_id,begin,upper,size", "\ufeffid,lower,upper,size"] * 3
    + ["id,lower,upper", "id,id,size", "id,lower,upper,size,alignment", ""])
_HEADERS = st.one_of(_HEADER, _HEADER, _HEADER, _HEADER, st.text(max_size=12))
_CELL = st.one_of(st.integers(-3, 40).map(str), st.sampled_from(
    ["2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
     "10000000000000000000000", "+5", " 7 ", "", "1.5", "0x1"]), st.text(max_size=4))
_ROW = st.tuples(st.integers(0, 30), st.integers(1, 10), st.integers(0, 40000))
_CSV = dict(
    header=_HEADERS,
    # Mostly well-formed rows (lower, length, size), a few cells then spoilt.
    rows=st.lists(_ROW, max_size=8),
    spoilt=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 5), _CELL), max_size=2),
    name=st.sampled_from(["p.csv", "A.65536.csv"] * 4 + [
        "B.0.csv", "C.1.csv", "D.99999999999999999999999.csv",
        "E.9223372036854775807.csv"]),
    crlf=st.booleans(),
    tail=st.sampled_from([b""] * 6 + [b"\xff", b"\x00", b"\n\n", b"7"]),
    solver=st.sampled_from(_SOLVERS), as_csv=st.booleans())


def _csv_case(header, rows, spoilt, name, crlf, tail, solver, as_csv):
  columns = header.split(",")
  cells = []
  for number, (lower, length, size) in enumerate(rows):
    value = {"id": str(number), "buffer": str(number), "buffer_id": str(number),
             "lower": str(lower), "begin": str(lower), "start": str(lower),
             "upper": str(lower + length), "end": str(lower + length - 1),
             "size": str(size), "offset": ""}
    cells.append([value.get(column, "1") for column in columns])
  for row, column, cell in spoilt:
    if row < len(cells):
      cells[row][column % len(cells[row])] = cell
  newline = "\r\n" if crlf else "\n"
  text = newline.join([header] + [",".join(row) for row in cells]) + newline
  with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
      f.write(text.encode("utf-8", "surrogatepass") + tail)
    output = os.path.join(directory, "out.csv" if as_csv else "out.json")
    code = _check(solve_main, [path, "--solver", solver, "--time-limit", "5", "-o", output],
                  directory, output)
    if code == 0:
      _check(eval_main, [path, output], directory)


@settings(max_examples=_FAST, **_SETTINGS)
@given(**_CSV)
def test_minimalloc_csv_is_run_or_refused_in_one_line(**case):
  _csv_case(**case)


@pytest.mark.slow
@settings(max_examples=_NIGHTLY, **_SETTINGS)
@given(**_CSV)
def test_many_minimalloc_csv_files(**case):
  _csv_case(**case)


# Problem and placement JSON -------------------------------------------------


def _mutate_json(data, steps: list[int], action: str, value, text_cut: float | None):
  """`data` with one place changed: replaced by `value`, deleted, or (with
  `text_cut`) the file's text cut short at that fraction."""
  text = None
  if action != "cut":
    parent, key = None, None
    node = data
    for step in steps:
      if isinstance(node, dict) and node:
        parent, key = node, sorted(node)[step % len(node)]
      elif isinstance(node, list) and node:
        parent, key = node, step % len(node)
      else:
        break
      node = parent[key]
    if parent is None:
      data = value
    elif action == "delete":
      del parent[key]
    else:
      parent[key] = value
    text = json.dumps(data, allow_nan=True)  # NaN and Infinity, as Python reads them
  else:
    full = json.dumps(data)
    text = full[:int(text_cut * len(full))]
  return text


_JSON_MUTATION = dict(steps=st.lists(st.integers(0, 1000), max_size=4),
                      action=st.sampled_from(["replace", "replace", "delete", "cut"]),
                      value=_JSON_VALUES, text_cut=st.floats(0, 1, exclude_max=True))


def _problem_case(steps, action, value, text_cut, solver):
  with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "p.json")
    _program().save_json(path)
    with open(path) as f:
      data = json.load(f)
    with open(path, "w") as f:
      f.write(_mutate_json(data, steps, action, value, text_cut))
    output = os.path.join(directory, "out.json")
    if _check(solve_main, [path, "--solver", solver, "-o", output], directory, output) == 0:
      _check(eval_main, [path, output], directory)


@settings(max_examples=_FAST, **_SETTINGS)
@given(solver=st.sampled_from(_SOLVERS), **_JSON_MUTATION)
def test_problem_json_is_run_or_refused_in_one_line(**case):
  _problem_case(**case)


@pytest.mark.slow
@settings(max_examples=_NIGHTLY, **_SETTINGS)
@given(solver=st.sampled_from(_SOLVERS), **_JSON_MUTATION)
def test_many_problem_json_files(**case):
  _problem_case(**case)


def _placement_case(steps, action, value, text_cut, solver, flags):
  with tempfile.TemporaryDirectory() as directory:
    problem, placement = (os.path.join(directory, name) for name in ("p.json", "pl.json"))
    _program().save_json(problem)
    assert _run(solve_main, [problem, "--solver", solver, "-o", placement])[0] == 0
    with open(placement) as f:
      data = json.load(f)
    with open(placement, "w") as f:
      f.write(_mutate_json(data, steps, action, value, text_cut))
    _check(eval_main, [problem, placement] + flags, directory)


_EVAL_FLAGS = st.sampled_from([[], ["--capacity", "1024"], ["--time-model", "additive"],
                               ["--hardware", "h100"]])


@settings(max_examples=_FAST, **_SETTINGS)
@given(solver=st.sampled_from(["xla-msa", "first-fit"]), flags=_EVAL_FLAGS,
       **_JSON_MUTATION)
def test_placement_json_is_checked_or_refused_in_one_line(**case):
  _placement_case(**case)


@pytest.mark.slow
@settings(max_examples=_NIGHTLY, **_SETTINGS)
@given(solver=st.sampled_from(["xla-msa", "first-fit"]), flags=_EVAL_FLAGS,
       **_JSON_MUTATION)
def test_many_placement_json_files(**case):
  _placement_case(**case)


# Command lines ----------------------------------------------------------------



def _or_weird(*good: str):
  """Mostly one of `good`, else a weird value."""
  return st.sampled_from(good * 3) | _WEIRD


_SOLVE_FLAGS = {"--solver": st.sampled_from(_SOLVERS + ("nope", "", "FIRST-FIT")),
                "--hardware": _or_weird("tpu-v4", "h100", "nnp-i", "TPU_v4"),
                "--capacity": _or_weird("65536", "1", "4096"),
                "--capacity-fraction": _or_weird("0.5", "1", "0.01", "1.5"),
                "--iterations": _or_weird("1", "50"),
                "--seed": _or_weird("0", "7", "2147483647"),
                "--time-limit": _or_weird("5", "0.5", "1e-9"),
                "--time-model": _or_weird("xla", "additive"),
                "--min-gap": _or_weird("1", "64"), "--prefetch-steps": _or_weird("0", "4"),
                "--module": _WEIRD,
                "--windows": st.none(), "-o": st.sampled_from(
                    ["out.json", "out.csv", "out.txt", "", ".", "/dev/null", "INPUT",
                     "missing/out.json", "out.JSON"])}
_EVAL_ONLY = ("--solver", "--seed", "--time-limit", "--iterations", "--module", "-o")
_EXTRACT_FLAGS = {"--module": _WEIRD, "--live-ranges": st.none(), "--strict": st.none(),
                  "--format": _or_weird("json", "csv"),
                  "--default-trip-count": _or_weird("1", "5", "0.5"),
                  "-o": _SOLVE_FLAGS["-o"]}
_HLO = ("HloModule m\n\nENTRY %e (p: f32[128]) -> f32[128] {\n"
        "  %p = f32[128]{0} parameter(0)\n  %s = f32[128]{0} sine(f32[128]{0} %p)\n"
        "  ROOT %t = f32[128]{0} add(f32[128]{0} %s, f32[128]{0} %p)\n}\n")


@st.composite
def _command_lines(draw):
  command = draw(st.sampled_from(["solve", "eval", "extract"]))
  specs = _EXTRACT_FLAGS if command == "extract" else {
      flag: spec for flag, spec in _SOLVE_FLAGS.items()
      if command == "solve" or flag not in _EVAL_ONLY}
  chosen = draw(st.lists(st.sampled_from(sorted(specs)), max_size=6, unique=True))
  if command == "solve" and draw(st.integers(0, 9)):  # Mostly with the required flags.
    chosen = sorted(set(chosen) | {"--solver", "-o"})
  flags = []
  for flag in chosen:
    value = draw(specs[flag])
    flags += [flag] if value is None else [flag, value]
  source = draw(st.sampled_from(["p.json", "A.65536.csv"]))
  return command, source, flags, draw(st.booleans())


def _command_case(command_line):
  command, source, flags, time_limited = command_line
  with tempfile.TemporaryDirectory() as directory:
    _program().save_json(os.path.join(directory, "p.json"))
    with open(os.path.join(directory, "A.65536.csv"), "w") as f:
      f.write("id,lower,upper,size\n0,0,3,40960\n1,2,6,40960\n2,4,8,8192\n")
    with open(os.path.join(directory, "m.hlo"), "w") as f:
      f.write(_HLO)
    main = {"solve": solve_main, "eval": eval_main, "extract": extract_main}[command]
    source = "m.hlo" if command == "extract" else source
    inputs = [source]
    if command == "eval":
      placement = "pl.csv" if source.endswith(".csv") else "pl.json"
      assert _run(solve_main, [os.path.join(directory, source), "--solver", "first-fit",
                               "-o", os.path.join(directory, placement)])[0] == 0
      inputs.append(placement)
    if command == "solve" and time_limited and "--time-limit" not in flags:
      flags = flags + ["--time-limit", "5"]

    def resolve(value: str) -> str:
      if value == "INPUT":
        return os.path.join(directory, source)
      if value.startswith(("out", "missing/")):
        return os.path.join(directory, value)
      return value
    flags = [resolve(value) for value in flags]
    argv = [os.path.join(directory, name) for name in inputs] + flags
    output = next((flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag == "-o"
                   and flags[i + 1].startswith(directory)), None)
    _check(main, argv, directory, output)


@settings(max_examples=_FAST, **_SETTINGS)
@given(command_line=_command_lines())
def test_command_lines_run_or_are_refused_in_one_line(command_line):
  _command_case(command_line)


@pytest.mark.slow
@settings(max_examples=_NIGHTLY, **_SETTINGS)
@given(command_line=_command_lines())
def test_many_command_lines(command_line):
  _command_case(command_line)
