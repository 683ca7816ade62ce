"""Matrix multiplication in JAX from AlphaTensor's factorizations.

A factorization (U, V, W) of the n x m by m x p matrix-multiplication tensor,
of rank R, multiplies A (split into n x m blocks) by B (m x p blocks) with R
block products instead of n*m*p:

  M_r = (sum_i U[i, r] A_i) (sum_j V[j, r] B_j),   c = W M,

where blocks are numbered row-major and c lists the blocks of C transposed
(block (i, j) of C is c[j * n + i]). Each block product can itself use the
same factorization: `levels` recursion levels. The factorizations published
with the AlphaTensor paper (Fawzi et al., Nature 2022; CC BY 4.0) are shipped
in `experiments/data/alphatensor/` with their notice.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from experiments.program import Program
from hlo_tools import module_to_problem, parse_hlo

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "alphatensor")
FIELDS = {"r": "factorizations_r.npz", "f2": "factorizations_f2.npz"}
MIN_SIZE, MAX_SIZE = 256, 8192  # Matrix sizes the programs are built for.
MAX_LEVELS = 2  # 49^3 block products of 4,4,4 would be beyond any compiler.


@functools.cache
def _factorizations(field: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
  if field not in FIELDS:
    raise ValueError(f"unknown field {field!r}; expected one of {', '.join(FIELDS)}")
  # The shipped file stores (U, V, W) triples of different shapes as object
  # arrays, hence allow_pickle; only this packaged, trusted file is read so.
  with np.load(os.path.join(DATA, FIELDS[field]), allow_pickle=True) as data:
    return {key: tuple(np.asarray(f) for f in data[key]) for key in data.files}


def shapes(field: str = "r") -> list[str]:
  """The "n,m,p" shapes with a factorization."""
  return sorted(_factorizations(field), key=lambda k: tuple(map(int, k.split(","))))


def load_factorization(shape: str, field: str = "r"):
  """(U, V, W) of an "n,m,p" shape; ValueError naming the available ones."""
  factors = _factorizations(field)
  key = shape.replace(" ", "")
  if key not in factors:
    raise ValueError(f"no factorization of shape {shape!r} in {FIELDS[field]}; "
                     f"expected one of {', '.join(shapes(field))}")
  return factors[key]


def _dims(shape: str) -> tuple[int, int, int]:
  n, m, p = (int(v) for v in shape.replace(" ", "").split(","))
  return n, m, p


def _check_square_size(size: int) -> None:
  if not MIN_SIZE <= size <= MAX_SIZE:
    raise ValueError(f"size {size} is outside {MIN_SIZE}..{MAX_SIZE}; the programs "
                     f"multiply square matrices of {MIN_SIZE} to {MAX_SIZE} rows")


def operands(size: int, dtype: str = "float32", concrete: bool = False) -> tuple:
  """The two size x size operands of a program.

  Args:
    size: rows (and columns) of A and B.
    dtype: "float32" or "bfloat16".
    concrete: random arrays (seeded) to multiply for real; otherwise
      `jax.ShapeDtypeStruct`s, all that compiling needs, so that an 8192 x 8192
      program is built without materialising 2 x 256 MiB of random numbers.

  Returns:
    (A, B).
  """
  if not concrete:
    return tuple(jax.ShapeDtypeStruct((size, size), jnp.dtype(dtype)) for _ in range(2))
  rng = np.random.default_rng(0)
  return tuple(jnp.asarray(rng.standard_normal((size, size), np.float32), dtype)
               for _ in range(2))


def matmul(a: jnp.ndarray, b: jnp.ndarray, shape: str, levels: int = 1,
           field: str = "r") -> jnp.ndarray:
  """A @ B with the factorization of `shape`, recursing `levels` times.

  Args:
    a: [rows, inner] JAX array (or tracer); or a NumPy array, to run the same
      algorithm in NumPy (the tests check it in float64 in milliseconds, where
      eager JAX dispatches tens of thousands of tiny operations).
    b: [inner, cols], of the same kind.
    shape: the factorization's "n,m,p" shape.
    levels: recursion levels; rows, inner and cols must be divisible by
      n, m and p to the power `levels` (`check_size`).
    field: "r" or "f2" (see FIELDS).

  Returns:
    [rows, cols] A @ B.
  """
  u, v, w = load_factorization(shape, field)
  n, m, p = _dims(shape)
  return _multiply(a, b, (n, m, p), u, v, w, levels)


def _blocks(x: jnp.ndarray, rows: int, cols: int) -> list[jnp.ndarray]:
  r, c = x.shape[0] // rows, x.shape[1] // cols
  return [x[i * r:(i + 1) * r, j * c:(j + 1) * c] for i in range(rows) for j in range(cols)]


def _combine(blocks: list[jnp.ndarray], coefficients: np.ndarray) -> jnp.ndarray:
  terms = [float(c) * x for c, x in zip(coefficients, blocks) if c != 0]
  total = terms[0]
  for term in terms[1:]:
    total = total + term
  return total


def _multiply(a, b, dims, u, v, w, levels):
  if levels == 0:
    return a @ b
  n, m, p = dims
  a_blocks, b_blocks = _blocks(a, n, m), _blocks(b, m, p)
  products = [_multiply(_combine(a_blocks, u[:, r]), _combine(b_blocks, v[:, r]),
                        dims, u, v, w, levels - 1) for r in range(u.shape[1])]
  c = [_combine(products, w[k]) for k in range(p * n)]
  concatenate = np.concatenate if isinstance(a, np.ndarray) else jnp.concatenate
  rows = [concatenate([c[j * n + i] for j in range(p)], axis=1) for i in range(n)]
  return concatenate(rows, axis=0)


def check_size(shape: str, levels: int, rows: int, inner: int, cols: int) -> None:
  """ValueError unless A (rows x inner) and B (inner x cols) split into the
  factorization's blocks at every level."""
  n, m, p = _dims(shape)
  for name, size, parts in (("rows of A", rows, n), ("columns of A", inner, m),
                            ("columns of B", cols, p)):
    if size % parts ** levels:
      raise ValueError(f"{name} ({size}) must be divisible by {parts}^{levels} = "
                       f"{parts ** levels} to split into {shape} blocks over "
                       f"{levels} level(s)")


def program(shape: str = "4,4,4", levels: int = 1, size: int = 256,
            dtype: str = "float32", field: str = "r", concrete: bool = False) -> Program:
  """A `Program` multiplying two size x size matrices with a factorization.

  Args:
    shape: the factorization's "n,m,p" shape.
    levels: recursion levels, 1 or 2.
    size: rows of the square operands, in MIN_SIZE..MAX_SIZE and divisible
      into the factorization's blocks at every level.
    dtype: "float32" or "bfloat16".
    field: "r" (real factorizations) or "f2" (modulo 2).
    concrete: operands as random arrays instead of `jax.ShapeDtypeStruct`s
      (see `operands`).

  Raises:
    ValueError: a shape not in the file, levels outside 1..MAX_LEVELS, or a
      size out of range or that the blocks cannot split; the message names it.
  """
  load_factorization(shape, field)
  if not 1 <= levels <= MAX_LEVELS:
    raise ValueError(f"levels {levels} is outside 1..{MAX_LEVELS}")
  _check_square_size(size)
  check_size(shape, levels, size, size, size)
  return Program(f"alphatensor_{shape.replace(' ', '').replace(',', 'x')}_l{levels}_{size}"
                 + ("" if dtype == "float32" else f"_{dtype}"),
                 lambda a, b: matmul(a, b, shape, levels, field),
                 operands(size, dtype, concrete))


def plain_program(size: int, dtype: str = "float32", concrete: bool = False) -> Program:
  """The same product with `jnp.dot`, for comparison."""
  _check_square_size(size)
  return Program(f"dot_{size}" + ("" if dtype == "float32" else f"_{dtype}"), jnp.dot,
                 operands(size, dtype, concrete))


def extract_problem(program_: Program):
  """The buffer-assignment problem of a program, compiled on this machine.

  As `hlo_tools.capture_jax` then `module_to_problem`, but with LLVM's
  optimisations off: the programs are compiled, never run, and the
  optimisation level of the machine code does not change the optimised HLO
  (the same text, byte for byte), while it is about half of the minutes XLA
  takes to compile a two-level 4,4,4 program's thousands of instructions.
  """
  compiled = jax.jit(program_.fn).lower(*program_.args).compile(
      compiler_options={"xla_backend_optimization_level": 0})
  return module_to_problem(parse_hlo(compiled.as_text(), f"<{program_.name}>"),
                           name=program_.name)
