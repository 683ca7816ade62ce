"""The machine a placement runs on: memory levels, bandwidths, peak compute.

A `Hardware` has a default (slow) memory, level 0, that holds every buffer,
and one or more fast levels, each with a capacity, an alignment and a
bandwidth. The simulator charges an instruction `max(compute_s, memory_s)`,
where `compute_s` comes from `peak_flops` and `peak_transcendentals` and
`memory_s` from the bandwidth of the level each accessed buffer lives in;
copies between levels (prefetch, eviction) move at `copy_bandwidth`.

Named presets (`PRESETS`, `get_hardware`) carry public numbers. Each number
has its source next to it; a number derived from public ones says how, and a
number no public source gives is marked ESTIMATE and says what it assumes.
Only the relative speeds of the levels and compute matter to the ranking of
placements, but absolute times are reported, so a preset is only as good as
its least-known number: override it (`dataclasses.replace`) when you know
better.

Presets:

- "tpu-v4": HBM (level 0) and CMEM (level 1), the 128 MiB on-chip memory
  that XLA's memory space assignment uses as its alternate memory on v4.
- "nnp-i": DRAM (0), LLC (1) and the ICEs' SRAM (2) of Intel's NNP-I 1000
  ("Spring Hill"), the chip EGRL placed tensors on.
- "h100": HBM3 (0) and the 50 MB L2 (1) of an H100 SXM5. L2 rather than the
  SMs' shared memory (132 x 228 KiB): a buffer of this problem lives across
  instructions, i.e. across kernel launches, and shared memory is private to
  one thread block and lost when its kernel ends, while L2 is shared by all
  SMs, survives kernel boundaries and can be pinned by address range
  (CUDA's L2 persistence: an access-policy window over an L2 set-aside). It
  is the closest thing on an H100 to a program-wide fast memory a compiler
  could place buffers in.

Units: bytes, bytes/s, operations/s. "GB" is 1e9 bytes and "GiB" 2**30.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from malloc_muzero.errors import ProblemError

# The simulator's time models (`Hardware.time_model`); the first is the default.
TIME_MODELS = ("xla", "additive")

KiB = 2**10
MiB = 2**20
GiB = 2**30


@dataclasses.dataclass(frozen=True)
class MemoryLevel:
  """One memory of the hierarchy.

  Construction validates the fields and raises `ProblemError` naming the
  offending one.

  Attributes:
    name: a short name, e.g. "HBM", "CMEM", "SRAM".
    capacity: bytes a placement may use at once, > 0; None only for the
      default memory (level 0 of a `Hardware`), which holds everything.
    alignment: bytes, >= 1; offsets in this level are multiples of it.
    bandwidth: bytes/s at which the compute units read and write this level,
      > 0 and finite.
  """
  name: str
  capacity: int | None
  alignment: int
  bandwidth: float

  def __post_init__(self):
    _check_level_fields(self, prefix="")


@dataclasses.dataclass(frozen=True)
class Hardware:
  """An accelerator: a default memory, fast memories and peak compute.

  Frozen and hashable, so it can be a static argument of `jax.jit`.
  Construction validates every field and raises `ProblemError` whose `where`
  names the field, e.g. `levels[1].capacity` or `peak_flops`.

  Attributes:
    name: the machine's name, e.g. "tpu-v4".
    levels: the memories; level 0 is the default (slow) memory with capacity
      None, levels 1.. are fast memories with a positive capacity. At least
      two levels.
    peak_flops: floating-point operations/s at peak (for an integer-only
      accelerator, its peak integer operations/s), > 0.
    peak_transcendentals: transcendental operations/s at peak (exp, log,
      tanh, ... as XLA's cost analysis counts them), > 0.
    copy_bandwidth: bytes/s of a copy between two levels (prefetch from or
      eviction to the default memory), > 0; read by the "additive" time
      model only (in XLA's, copies move on the default memory's idle
      bandwidth).
    sources: public sources of the numbers, and which of them are estimates.
    time_model: how `malloc_muzero.simulator` times a placement, one of
      `TIME_MODELS`: "xla" (the default: XLA's RuntimeSimulator, with
      asynchronous copies in two FIFO queues on the default memory's idle
      bandwidth) or "additive" (the model of results before it: compute
      and memory seconds summed, copies charged to the instructions they
      overlap).
  """
  name: str
  levels: tuple[MemoryLevel, ...]
  peak_flops: float
  peak_transcendentals: float
  copy_bandwidth: float
  sources: tuple[str, ...] = ()
  time_model: str = "xla"

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise ProblemError("a non-empty string", where="name", found=self.name)
    if isinstance(self.levels, (str, bytes)) or not _is_sequence(self.levels):
      raise ProblemError("a sequence of MemoryLevel", where="levels",
                         found=self.levels)
    levels = tuple(self.levels)
    if len(levels) < 2:
      raise ProblemError(
          "at least 2 levels: the default memory and a fast memory",
          where="levels", found=len(levels))
    names = set()
    for index, level in enumerate(levels):
      where = f"levels[{index}]"
      if not isinstance(level, MemoryLevel):
        raise ProblemError("a MemoryLevel", where=where, found=level)
      # Re-checked here so that the message names the level.
      _check_level_fields(level, prefix=f"{where}.")
      if level.name in names:
        raise ProblemError("a name no other level has", where=f"{where}.name",
                           found=level.name)
      names.add(level.name)
      if index == 0 and level.capacity is not None:
        raise ProblemError(
            "None: level 0 is the default memory that holds everything",
            where=f"{where}.capacity", found=level.capacity)
      if index > 0 and level.capacity is None:
        raise ProblemError(
            "a positive integer number of bytes for a fast level",
            where=f"{where}.capacity")
    object.__setattr__(self, "levels", levels)
    for field in ("peak_flops", "peak_transcendentals", "copy_bandwidth"):
      value = _positive_rate(field, getattr(self, field))
      object.__setattr__(self, field, value)
    if isinstance(self.sources, str) or not _is_sequence(self.sources):
      raise ProblemError("a sequence of strings", where="sources",
                         found=self.sources)
    sources = tuple(self.sources)
    for index, source in enumerate(sources):
      if not isinstance(source, str):
        raise ProblemError("a string", where=f"sources[{index}]", found=source)
    object.__setattr__(self, "sources", sources)
    if self.time_model not in TIME_MODELS:
      raise ProblemError(f"one of the time models {', '.join(TIME_MODELS)}",
                         where="time_model", found=self.time_model)

  @property
  def num_levels(self) -> int:
    """The number of memory levels, default memory included (>= 2)."""
    return len(self.levels)

  @property
  def fast_levels(self) -> tuple[MemoryLevel, ...]:
    """The fast memories, levels 1.. (at least one)."""
    return self.levels[1:]

  @property
  def fastest_level(self) -> int:
    """The index of the level with the highest bandwidth (the lowest on ties).

    In every preset this is a fast level; the "all in fast memory" lower bound
    of a program's time places every buffer there.
    """
    bandwidths = [level.bandwidth for level in self.levels]
    return bandwidths.index(max(bandwidths))

  def with_capacity(self, capacity: int, level: int = 1) -> Hardware:
    """A copy with the capacity of one fast level overridden.

    Args:
      capacity: the new capacity in bytes, a positive integer.
      level: the fast level to override, in [1, num_levels); by default the
        first fast level, level 1 (TPU CMEM, NNP-I LLC, H100 L2).

    Returns:
      A new `Hardware`; this one is unchanged.

    Raises:
      ProblemError: `where` is `levels[LEVEL].capacity` for a bad capacity,
        `level` for a level that is not a fast level.
    """
    if (isinstance(level, bool) or not isinstance(level, numbers.Integral)
        or not 1 <= level < self.num_levels):
      raise ProblemError(f"a fast level index in [1, {self.num_levels})",
                         where="level", found=level)
    level = int(level)
    where = f"levels[{level}].capacity"
    capacity = _positive_int(where, capacity)
    levels = list(self.levels)
    levels[level] = dataclasses.replace(levels[level], capacity=capacity)
    return dataclasses.replace(self, levels=tuple(levels))


def get_hardware(name: str, capacity: int | None = None,
                 time_model: str | None = None) -> Hardware:
  """A named preset, optionally with the capacity of level 1 overridden.

  Args:
    name: a key of `PRESETS`; case, surrounding spaces and "_" for "-" are
      forgiven ("TPU_v4" is "tpu-v4").
    capacity: bytes of the first fast level (level 1), a positive integer;
      None keeps the preset's.
    time_model: one of `TIME_MODELS`; None keeps the preset's ("xla").

  Returns:
    The `Hardware`.

  Raises:
    ProblemError: an unknown name (the message lists the presets; `where` is
      "hardware"), a capacity that is not a positive integer (`where` is
      "levels[1].capacity"), or an unknown time model ("time_model").
  """
  key = name.strip().lower().replace("_", "-") if isinstance(name, str) else ""
  if key not in PRESETS:
    raise ProblemError(
        f"one of the hardware presets {', '.join(sorted(PRESETS))}",
        where="hardware", found=name)
  hardware = PRESETS[key]
  if capacity is not None:
    hardware = hardware.with_capacity(capacity)
  if time_model is not None:
    hardware = dataclasses.replace(hardware, time_model=time_model)
  return hardware


def minimalloc_hardware(capacity: int | None = None) -> Hardware:
  """MiniMalloc's semantics for its CSV files: one memory of `capacity`
  bytes (None: the tpu-v4 preset's) with alignment 1, on tpu-v4's
  bandwidths (a CSV file's buffers are scored as written and read once).
  Named "minimalloc"."""
  hardware = PRESETS["tpu-v4"].with_capacity(capacity or PRESETS["tpu-v4"].levels[1].capacity)
  memory = dataclasses.replace(hardware.levels[1], name="memory", alignment=1)
  return dataclasses.replace(hardware, name="minimalloc", levels=(hardware.levels[0], memory))


def hardware_to_json(hardware: Hardware) -> dict:
  """The model a placement was simulated on, as plain JSON types: enough to
  simulate it again (`hardware_from_json`). Each level's one bandwidth is
  written as its read and its write bandwidth."""
  return {
      "name": hardware.name, "time_model": hardware.time_model,
      "peak_flops": hardware.peak_flops,
      "peak_transcendentals": hardware.peak_transcendentals,
      "copy_bandwidth": hardware.copy_bandwidth,
      "levels": [{"name": level.name, "read_bandwidth": level.bandwidth,
                  "write_bandwidth": level.bandwidth, "capacity": level.capacity,
                  "alignment": level.alignment} for level in hardware.levels]}


_MODEL_KEYS = ("name", "time_model", "peak_flops", "peak_transcendentals",
               "copy_bandwidth", "levels")
_LEVEL_KEYS = ("name", "read_bandwidth", "write_bandwidth", "capacity", "alignment")


def hardware_from_json(data, where: str = "hardware_model") -> Hardware:
  """The `Hardware` that `hardware_to_json` wrote.

  Raises:
    ProblemError: a missing or bad field, named by its JSON path under
      `where`, or a level whose read and write bandwidths differ (this
      version models one bandwidth per level).
  """
  if not isinstance(data, dict) or set(data) != set(_MODEL_KEYS):
    raise ProblemError(f"an object with the fields {', '.join(_MODEL_KEYS)}",
                       where=where, found=data)
  levels = data["levels"]
  if not isinstance(levels, list):
    raise ProblemError("a JSON array of levels", where=f"{where}.levels", found=levels)
  made = []
  for index, level in enumerate(levels):
    at = f"{where}.levels[{index}]"
    if not isinstance(level, dict) or set(level) != set(_LEVEL_KEYS):
      raise ProblemError(f"an object with the fields {', '.join(_LEVEL_KEYS)}",
                         where=at, found=level)
    if level["read_bandwidth"] != level["write_bandwidth"]:
      raise ProblemError("equal read and write bandwidths (one bandwidth per level)",
                         where=f"{at}.write_bandwidth", found=level["write_bandwidth"])
    try:
      made.append(MemoryLevel(level["name"], level["capacity"], level["alignment"],
                              level["read_bandwidth"]))
    except ProblemError as error:
      raise ProblemError(error.expected, where=f"{at}.{error.where}",
                         found=error.found) from None
  try:
    return Hardware(name=data["name"], levels=tuple(made), peak_flops=data["peak_flops"],
                    peak_transcendentals=data["peak_transcendentals"],
                    copy_bandwidth=data["copy_bandwidth"], time_model=data["time_model"])
  except ProblemError as error:
    raise ProblemError(error.expected, where=f"{where}.{error.where}",
                       found=error.found) from None


def _check_level_fields(level: MemoryLevel, prefix: str) -> None:
  """Validates a level's own fields; `prefix` locates it in a `Hardware`."""
  if not isinstance(level.name, str) or not level.name:
    raise ProblemError("a non-empty string", where=f"{prefix}name",
                       found=level.name)
  if level.capacity is not None:
    object.__setattr__(level, "capacity",
                       _positive_int(f"{prefix}capacity", level.capacity))
  object.__setattr__(level, "alignment",
                     _positive_int(f"{prefix}alignment", level.alignment,
                                   what="an integer number of bytes >= 1"))
  object.__setattr__(level, "bandwidth",
                     _positive_rate(f"{prefix}bandwidth", level.bandwidth))


def _positive_int(where: str, value,
                  what: str = "a positive integer number of bytes") -> int:
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ProblemError(what, where=where, found=value)
  if value <= 0:
    raise ProblemError(what, where=where, found=int(value))
  return int(value)


def _positive_rate(where: str, value) -> float:
  what = "a positive finite number per second"
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise ProblemError(what, where=where, found=value)
  value = float(value)
  if not math.isfinite(value) or value <= 0:
    raise ProblemError(what, where=where, found=value)
  return value


def _is_sequence(value) -> bool:
  return isinstance(value, (tuple, list))


# --- Presets -----------------------------------------------------------------
#
# Sources are cited in full in each preset's `sources`; comments name them
# briefly.

TPU_V4 = Hardware(
    name="tpu-v4",
    levels=(
        # 32 GiB of HBM2 (capacity None: the default memory holds
        # everything). 1200 GB/s: Google Cloud TPU v4 docs, "HBM2 capacity
        # and bandwidth: 32 GiB, 1200 GBps".
        MemoryLevel(name="HBM", capacity=None, alignment=512,
                    bandwidth=1200e9),
        # CMEM, the 128 MiB on-chip common memory (Jouppi et al., ISCA 2023),
        # the alternate memory XLA's memory space assignment targets on v4.
        # Bandwidth: ESTIMATE. No public source gives CMEM's bandwidth; the
        # ISCA 2023 paper only credits "CMEM bandwidth versus HBM" for a 3.3x
        # v3->v4 speed-up of a small-batch RNN. Assumed 4x HBM = 4.8e12 B/s.
        # Alignment (both levels): 512 B, the native word of the TPUv4i DMA
        # engines and on-chip interconnect, to which transfers are aligned
        # (Jouppi et al., ISCA 2021; v4 shares v4i's core and memory system).
        MemoryLevel(name="CMEM", capacity=128 * MiB, alignment=512,
                    bandwidth=4 * 1200e9),
    ),
    # 275e12 bf16 flops/s per chip: Cloud TPU v4 docs, "Peak compute per chip
    # 275 teraflops (bf16 or int8)". (= 2 TensorCores x 4 MXUs x 128x128 MACs
    # x 2 flops x 1.05 GHz.)
    peak_flops=275e12,
    # ESTIMATE: not published. Assumes the transcendental unit of each of the
    # 2 TensorCores finishes one 8x128 vector register per cycle at 1.05 GHz:
    # 2 x 1024 x 1.05e9 = 2.15e12/s.
    peak_transcendentals=2 * 8 * 128 * 1.05e9,
    # HBM <-> CMEM copies are bounded by the slower side, HBM (assumption:
    # the DMA engines are not the bottleneck).
    copy_bandwidth=1200e9,
    sources=(
        "N. P. Jouppi et al., 'TPU v4: An Optically Reconfigurable "
        "Supercomputer for Machine Learning with Hardware Support for "
        "Embeddings', ISCA 2023: 128 MiB CMEM.",
        "Google Cloud, 'TPU v4' (https://cloud.google.com/tpu/docs/v4): "
        "275 bf16 TFLOP/s per chip; HBM2 32 GiB at 1200 GB/s.",
        "N. P. Jouppi et al., 'Ten Lessons From Three Generations Shaped "
        "Google's TPUv4i', ISCA 2021: 512 B native DMA word and alignment "
        "(used as the alignment of both levels).",
        "ESTIMATE: CMEM bandwidth, 4x HBM (4.8e12 B/s); no public number.",
        "ESTIMATE: peak transcendentals, one 8x128 vector per TensorCore per "
        "cycle at 1.05 GHz (2.15e12/s); no public number.",
    ),
)

NNP_I = Hardware(
    name="nnp-i",
    levels=(
        # DRAM: 32 GB LPDDR4x on 4 x 32-bit channels at 4200 MT/s:
        # 16 B x 4.2e9 /s = 67.2e9 B/s (WikiChip, "Spring Hill"; Intel's
        # Hot Chips 31 talk quotes 68 GB/s). Capacity None: default memory.
        # Alignment 64 B (every level): the 64 B cache line of the Ice Lake
        # SoC Spring Hill is built on (Intel 64 and IA-32 Architectures
        # Optimization Reference Manual), which is also the 512-bit vector
        # width of the ICEs' Vision P6 DSPs.
        MemoryLevel(name="DRAM", capacity=None, alignment=64,
                    bandwidth=67.2e9),
        # LLC: 24 MiB (8 slices x 3 MiB) at ~680 GB/s (Hot Chips 31, via
        # WikiChip "Spring Hill", memory organization).
        MemoryLevel(name="LLC", capacity=24 * MiB, alignment=64,
                    bandwidth=680e9),
        # SRAM: the ICEs' "Deep SRAM", 4 MiB in each of 12 ICEs = 48 MiB in
        # all, at ~6.8 TB/s in all (Hot Chips 31, via WikiChip). Modelled as
        # one pool: the per-ICE split is ignored.
        MemoryLevel(name="SRAM", capacity=12 * 4 * MiB, alignment=64,
                    bandwidth=6.8e12),
    ),
    # 50e12 int8 operations/s (NNP-I 1100: "50 TOPS"; WikiChip, Intel product
    # brief). NNP-I computes in int8 (and fp16); this is integer ops/s, used
    # as flops/s.
    peak_flops=50e12,
    # ESTIMATE: not published. Assumes each of the 12 ICEs' Vision P6 DSPs
    # finishes one 512-bit vector of 32 fp16 results per cycle at an assumed
    # 1 GHz: 12 x 32 x 1e9 = 3.84e11/s.
    peak_transcendentals=12 * 32 * 1e9,
    # DRAM <-> on-chip copies are bounded by the slower side, DRAM.
    copy_bandwidth=67.2e9,
    sources=(
        "S. Khadka et al., 'Optimizing Memory Placement using Evolutionary "
        "Graph Reinforcement Learning', ICLR 2021: the three-level "
        "DRAM/LLC/SRAM NNP-I memory placement problem.",
        "O. Wechsler et al., 'Spring Hill (NNP-I 1000): Intel's Data Center "
        "Inference Chip', Hot Chips 31 (2019): 24 MB LLC, 12 ICEs with 4 MB "
        "Deep SRAM each, LPDDR4x at 68 GB/s; figures as tabulated by WikiChip "
        "(https://en.wikichip.org/wiki/intel/microarchitectures/spring_hill): "
        "DRAM 67.2 GB/s, LLC ~680 GB/s, Deep SRAM ~6.8 TB/s.",
        "WikiChip, 'NNP-I 1100': 50 TOPS (int8) peak.",
        "Intel 64 and IA-32 Architectures Optimization Reference Manual: 64 B "
        "cache lines (used as the alignment of every level).",
        "ESTIMATE: peak transcendentals, 12 DSPs x 32 fp16 lanes x an assumed "
        "1 GHz (3.84e11/s); no public number.",
    ),
)

H100 = Hardware(
    name="h100",
    levels=(
        # HBM3 of the H100 SXM5: 80 GB (capacity None: default memory) at
        # 3.35 TB/s (NVIDIA H100 datasheet). Alignment 128 B (both levels):
        # XLA:GPU's kXlaAllocatedBufferAlignBytes (xla/service/gpu/
        # gpu_constants.h), equal to the 128 B L2 cache line.
        MemoryLevel(name="HBM", capacity=None, alignment=128,
                    bandwidth=3.35e12),
        # L2: 50 MB (Hopper whitepaper), taken as 50 MiB, the binary size
        # CUDA reports for NVIDIA's decimal-labelled L2s (an A100 "40 MB" L2
        # reports l2CacheSize = 41943040 = 40 MiB). In practice only the L2
        # set-aside for persisting accesses can be pinned
        # (cudaDeviceProp::persistingL2CacheMaxSize; 30 of 40 MiB on A100);
        # pass a smaller capacity to model that.
        # Bandwidth: ESTIMATE. NVIDIA does not publish L2 bandwidth; 8.986e12
        # B/s is the H100 L2 figure tabulated by Ultrasonics Sonochemistry 99
        # (2023) 106546, Table 3 (for a full GH100 at 1755 MHz).
        MemoryLevel(name="L2", capacity=50 * MiB, alignment=128,
                    bandwidth=8.986e12),
    ),
    # 989.4e12 dense bf16 flops/s, H100 SXM5 (NVIDIA H100 datasheet: 1,979
    # TFLOP/s "with sparsity", half that dense; Hopper whitepaper: 989.4).
    # (= 132 SMs x 4096 dense bf16 flops/cycle x 1.83 GHz.)
    peak_flops=989.4e12,
    # Derived: 16 results/cycle/SM for exp2, log2, sin, cos, rcp, rsqrt on
    # compute capability 9.0 (CUDA C++ Programming Guide, "Arithmetic
    # Instructions" throughput table) x 132 SMs x 1.83 GHz (the clock implied
    # by 989.4 TFLOP/s) = 3.865e12/s.
    peak_transcendentals=16 * 132 * 1.83e9,
    # HBM <-> L2 traffic is bounded by the slower side, HBM.
    copy_bandwidth=3.35e12,
    sources=(
        "NVIDIA H100 Tensor Core GPU datasheet: H100 SXM 80 GB HBM3 at "
        "3.35 TB/s; bf16 1,979 TFLOP/s with sparsity (989.4 dense).",
        "NVIDIA H100 Tensor Core GPU Architecture (Hopper whitepaper), 2022: "
        "132 SMs, 50 MB L2, 228 KB shared memory per SM, 989.4 dense bf16 "
        "TFLOP/s.",
        "NVIDIA CUDA C++ Programming Guide: 16 special-function results per "
        "cycle per SM (compute capability 9.0); L2 persistence controls.",
        "OpenXLA, xla/service/gpu/gpu_constants.h: "
        "kXlaAllocatedBufferAlignBytes = 128 (used as the alignment of both "
        "levels).",
        "ESTIMATE: L2 bandwidth 8.986e12 B/s, from Table 3 of Ultrasonics "
        "Sonochemistry 99 (2023) 106546 "
        "(https://pmc.ncbi.nlm.nih.gov/articles/PMC10448217/); NVIDIA "
        "publishes no L2 bandwidth.",
    ),
)

PRESETS: dict[str, Hardware] = {hw.name: hw for hw in (TPU_V4, NNP_I, H100)}
