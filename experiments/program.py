"""`Program`: a JAX function with example arguments, what the catalogues
(`experiments.programs`, `experiments.alphatensor_programs`,
`experiments.workloads`) build and `hlo_tools` compiles."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Program:
  """A JAX function with example arguments.

  Attributes:
    name: catalogue name.
    fn: the function to jit.
    args: example arguments (arrays or pytrees of arrays).
    donate_argnums: arguments whose buffers the program may reuse.
  """
  name: str
  fn: Callable[..., Any]
  args: tuple[Any, ...]
  donate_argnums: tuple[int, ...] = ()
