"""AlphaTensor matmul programs against jnp.dot, and their clear errors."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.alphatensor_programs import (check_size, extract_problem,
                                              load_factorization, matmul, program,
                                              shapes)


def _operands(rows, inner, cols, dtype=np.float64):
  rng = np.random.default_rng(0)
  return (rng.standard_normal((rows, inner)).astype(dtype),
          rng.standard_normal((inner, cols)).astype(dtype))


# Strassen, 3,3,3, 4,4,4 and the rectangular 3,4,5 and 4,4,5, at one and two
# levels. The algorithm runs in NumPy against NumPy's product (float64, exact
# to rounding): the same code as the JAX program without eager JAX's cost per
# operation; the JAX program itself is checked against jnp.dot below.
@pytest.mark.parametrize("shape,levels,dims", [
    ("2,2,2", 1, (8, 8, 8)), ("2,2,2", 2, (16, 16, 16)),
    ("3,3,3", 1, (9, 9, 9)), ("3,3,3", 2, (27, 27, 27)),
    ("4,4,4", 1, (16, 16, 16)), ("4,4,4", 2, (32, 32, 32)),
    ("3,4,5", 1, (6, 8, 10)), ("3,4,5", 2, (18, 32, 50)),
    ("4,4,5", 1, (8, 8, 10)), ("4,4,5", 2, (16, 16, 25)),
])
def test_product_matches_dot(shape, levels, dims):
  a, b = _operands(*dims)
  check_size(shape, levels, *dims)
  np.testing.assert_allclose(matmul(a, b, shape, levels), a @ b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape,levels,dims,dtype,tolerance", [
    ("2,2,2", 2, (16, 16, 16), jnp.float32, 1e-4),
    ("4,4,4", 1, (16, 16, 16), jnp.float32, 1e-4),
    ("3,4,5", 1, (6, 8, 10), jnp.float32, 1e-4),
    ("4,4,4", 1, (16, 16, 16), jnp.bfloat16, 0.1),
])
def test_jax_product_matches_dot(shape, levels, dims, dtype, tolerance):
  a, b = (jnp.asarray(x, dtype) for x in _operands(*dims, np.float32))
  product = matmul(a, b, shape, levels)
  assert product.dtype == dtype
  expected = jnp.dot(a.astype(jnp.float32), b.astype(jnp.float32))
  scale = float(jnp.abs(expected).max())
  np.testing.assert_allclose(np.asarray(product, np.float32), np.asarray(expected),
                             atol=tolerance * scale)


def test_program_runs_on_concrete_operands():
  p = program("2,2,2", levels=1, size=256, concrete=True)
  a, b = p.args
  np.testing.assert_allclose(p.fn(a, b), jnp.dot(a, b), rtol=1e-4, atol=1e-3)


def test_operands_are_abstract_up_to_8192():
  for dtype in ("float32", "bfloat16"):
    p = program("4,4,4", levels=2, size=8192, dtype=dtype)
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in p.args)
    assert p.args[0].shape == (8192, 8192) and p.args[0].dtype == jnp.dtype(dtype)
  # Tracing alone shows the 8192 program is well formed, without compiling it.
  out = jax.eval_shape(program("2,2,2", levels=2, size=8192).fn, *p.args)
  assert out.shape == (8192, 8192)


def test_ranks_and_shapes():
  assert load_factorization("2,2,2")[0].shape == (4, 7)    # Strassen
  assert load_factorization("4,4,4")[0].shape[1] == 49
  assert len(shapes("r")) == 93


def test_bad_input_is_named():
  with pytest.raises(ValueError, match="no factorization of shape '13,13,13'"):
    load_factorization("13,13,13")
  with pytest.raises(ValueError, match=r"divisible by 4\^2 = 16"):
    program("4,4,4", levels=2, size=1000)
  with pytest.raises(ValueError, match=r"size 128 is outside 256\.\.8192"):
    program("2,2,2", levels=1, size=128)
  with pytest.raises(ValueError, match=r"size 16384 is outside"):
    program("2,2,2", levels=1, size=16384)
  with pytest.raises(ValueError, match=r"levels 3 is outside 1\.\.2"):
    program("2,2,2", levels=3, size=256)
  with pytest.raises(ValueError, match="unknown field"):
    load_factorization("2,2,2", field="q")


def test_program_compiles_to_a_problem():
  p = program("2,2,2", levels=1, size=256, dtype="bfloat16")
  problem = extract_problem(p)
  assert problem.name == p.name == "alphatensor_2x2x2_l1_256_bfloat16"
  assert problem.num_buffers > 10
  assert problem.total_flops > 7 * 2 * 128 ** 3 * 0.9
  assert problem.peak_live_bytes()[0] >= 3 * 256 * 256 * 2  # A, B and C in bf16.


def _command(*args):
  return subprocess.run([sys.executable, "-m", "experiments.alphatensor", *args],
                        capture_output=True, text=True, timeout=600)


def test_command_table(tmp_path):
  out = tmp_path / "out"
  result = _command("--shape=2,2,2", "--levels=1", "--size=256",
                    "--solvers=first-fit,xla-msa", f"--out={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "alphatensor_2x2x2_l1_256" in result.stdout and "dot_256" in result.stdout
  assert "all fast (bound)" in result.stdout
  assert (out / "dot_256.xla-msa.json").exists()
  assert (out / "alphatensor_2x2x2_l1_256.json").exists()


# Each case as the command would run it, all in one fresh interpreter (the
# flags of experiments.alphatensor would clash with other commands' in this
# one, and an interpreter per case costs seconds of imports).
_ERRORS_SCRIPT = """
import contextlib, io, json, sys
from absl import flags
from experiments import alphatensor
for args in json.loads(sys.argv[1]):
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["alphatensor", *args])
  stderr = io.StringIO()
  with contextlib.redirect_stderr(stderr):
    try:
      alphatensor.main(["alphatensor"])
      code = 0
    except SystemExit as exit:
      code = exit.code
  print(json.dumps([code, stderr.getvalue()]))
"""


def test_command_errors(tmp_path):
  import json
  cases = [
      (["--shape=13,13,13"], "no factorization of shape '13,13,13'"),
      (["--shape=4,4,4", "--levels=2", "--size=1000"], "divisible by 4^2 = 16"),
      (["--shape=3,3,3", "--size=256"], "(256) must be divisible by 3^1"),
      (["--size=128"], "size 128 is outside 256..8192"),
      (["--size=16384"], "size 16384 is outside 256..8192"),
      (["--levels=3"], "levels 3 is outside 1..2"),
      (["--solvers=nope"], "a solver among"),
  ]
  result = subprocess.run(
      [sys.executable, "-c", _ERRORS_SCRIPT,
       json.dumps([[*args, f"--out={tmp_path}"] for args, _ in cases])],
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  outcomes = [json.loads(line) for line in result.stdout.splitlines()]
  assert len(outcomes) == len(cases)
  for (args, fragment), (code, stderr) in zip(cases, outcomes):
    lines = stderr.strip().splitlines()
    assert code == 2, (args, stderr)
    assert len(lines) == 1 and lines[0].startswith("alphatensor: error: "), (args, lines)
    assert fragment in lines[0], (args, lines)
  # And once as a command, for the exit status.
  result = _command("--size=128", f"--out={tmp_path}")
  assert result.returncode == 2 and result.stderr.startswith("alphatensor: error: size 128")
  assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_command_at_8192(tmp_path, dtype):
  result = _command("--shape=2,2,2", "--levels=2", "--size=8192", f"--dtype={dtype}",
                    "--solvers=xla-msa,anneal", "--time_limit=2", f"--out={tmp_path}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "alphatensor_2x2x2_l2_8192" in result.stdout and "dot_8192" in result.stdout
