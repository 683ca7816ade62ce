"""XLA's time model: the JAX simulator against an event-driven NumPy version.

On every catalogue program, split into windows so that buffers come with
prefetches and evictions, random placements take the same time in
`malloc_muzero.simulator` (cumulative bytes per queue in one `lax.scan`,
float32) and in `tests.xla_simulator_reference` (copy by copy, float64).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.programs import PROGRAMS
from hlo_tools import module_to_problem, parse_hlo
from malloc_muzero.hardware import Hardware, MemoryLevel, get_hardware
from malloc_muzero.simulator import simulate, simulation_inputs
from malloc_muzero.windows import split_into_windows
from tests.xla_dumps import compile_program
from tests.xla_simulator_reference import reference_time

# A machine whose copies are slow beside its compute, so that queues back
# up and copies stall, beside the TPU preset.
SLOW_COPIES = Hardware(
    name="slow-copies",
    levels=(MemoryLevel("default", None, 1, 1e9), MemoryLevel("fast", 2**40, 1, 8e9)),
    peak_flops=1e11, peak_transcendentals=1e10, copy_bandwidth=1e9)

_simulate_batch = jax.jit(jax.vmap(simulate, in_axes=(None, 0)))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_jax_and_numpy_simulators_agree(name):
  problem = module_to_problem(parse_hlo(compile_program(name).captured.hlo_text))
  windowed = split_into_windows(problem, min_gap=4, prefetch_steps=3).problem
  assert len(windowed.copy_buffer) or problem.schedule_length < 100  # small ones may have none
  rng = np.random.default_rng(0)
  for hardware in (get_hardware("tpu-v4"), SLOW_COPIES):
    for p in (problem, windowed):
      levels = (rng.random((6, p.num_buffers)) < rng.random((6, 1))).astype(np.int32)
      levels[0] = 1  # every copy runs
      got = np.asarray(_simulate_batch(simulation_inputs(p, hardware), jnp.asarray(levels)))
      want = [reference_time(p, hardware, row) for row in levels]
      np.testing.assert_allclose(got, want, rtol=1e-5)
