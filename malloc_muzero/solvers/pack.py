"""`pack`: a complete packing search for one fast level, after MiniMalloc.

The feasibility problem MiniMalloc solves (Moffitt, "MiniMalloc: A Lightweight
Memory Allocator for Hardware-Accelerated Machine Learning", ASPLOS 2023):
give EVERY buffer an offset in fast level 1 such that `offset + size` fits the
capacity, offsets are multiples of the level's alignment, and no two buffers
that share a step of their inclusive live ranges share a byte.

The search (our own implementation of the paper's ideas, see google/minimalloc
`src/solver.cc` for the reference C++):

* **Canonical offsets.** A buffer sits at 0 or at the (aligned-up) top of a
  buffer it overlaps in time: every packing can be pushed down into such a
  form. Each unplaced buffer keeps `min_off`, the lowest offset still possible
  for it (the top of the highest time-overlapping buffer placed so far).
* **Dynamic ordering and symmetry breaking.** Buffers are placed in
  non-decreasing order of offset (ties by preorder rank within the current
  segment, below), so each packing is generated once. At a node the
  candidates are the segment's unplaced buffers sorted by `(min_off, rank)`,
  restricted to those not before the last placement in that order.
* **Dominance.** With `h` the lowest `min_off + size` of any unplaced buffer, a
  candidate at an offset `>= h` would leave a gap under it that the buffer
  reaching `h` could fill: it is skipped (and so is everything after it).
* **Section inference.** A *section* is the set of buffers live at a step
  where some buffer dies (a maximal clique of the interval graph, as
  MiniMalloc's sweep builds them). Buffers of a section all overlap in time,
  so the unplaced ones stack: with `floor` the lowest offset any of them may
  take (the last placement's offset, the top of the section's highest placed
  buffer, the lowest `min_off` of its unplaced buffers), a node is pruned when
  `floor + unplaced bytes > capacity` in any section.
* **Preorder portfolio.** Ranks come from one of MiniMalloc's heuristics:
  "WAT" (longer life, then larger area = size x life, then larger section
  total, then lower buffer index), "TAW" and "TWA". The section total T of a
  buffer is the largest number of still unplaced bytes in any of its
  sections, read when the segment is entered (below). The searches of the
  three run round-robin in doubling node slices, separately for each
  connected component; each is resumed where it paused (a depth-first search
  with an explicit stack), so no work is repeated.
* **Hatless pruning** (MiniMalloc): if the placed buffer overlaps no unplaced
  buffer in time and the search fails below it, the node fails.
* **Decomposition.** Buffers whose live ranges form separate connected time
  spans are packed independently. During search (MiniMalloc's dynamic
  decomposition), once every buffer crossing a section boundary is placed,
  the two sides are independent: the search works on the leftmost such
  segment with unplaced buffers, and a segment that fails at its start
  backjumps to the placement that cut it off instead of retrying the
  (independent, already packed) segments to its left. As in MiniMalloc's
  `SubSolve`, entering a new segment ranks its unplaced buffers afresh, with
  T from what is left unplaced, and restarts the canonical order at offset 0
  (the rank orders of two segments are unrelated). This re-ranking is what
  the "challenging" files H and I need: with the component's ranks kept
  inside segments (and the canonical order continued into them), no
  heuristic packed H or I within 60 s; with it, TAW packs H and TWA packs I
  in under a second, and the search trees equal those of a direct port of
  MiniMalloc's recursion (same backtrack counts on A and E).

The search is compiled with numba (`nogil`, `cache=True`): per node it sorts
the unplaced buffers and scans every section, which pure Python does ~100x
slower than the 60 s budget of the hardest MiniMalloc benchmarks allows.
Without numba installed the same code runs as plain Python (fine for small
problems, slow for the benchmarks).

Public API:

* `PackConfig`: which pruning rules are on (all by default); each can be
  turned off for an ablation, and the search stays complete without it.
* `pack_search(problem, capacity, alignment, deadline=None, ...)` ->
  `PackResult`: the best placement found (complete or partial), whether it is
  complete, whether the instance is proven infeasible, and search statistics.
  Never raises for an infeasible instance.
* `pack(problem, capacity, alignment=1, deadline=None)` -> [N] int64 offsets
  of a complete packing, or None when none was found before the deadline;
  raises `ProblemError` when the instance is proven infeasible (a buffer
  larger than the capacity, peak live bytes above it, or an exhausted search).
* The registered solver `"pack"` packs into the hardware's level 1 and returns
  the best `Placement` it has: complete when found, otherwise the deepest
  partial packing of the search, completed greedily (first fit) where
  possible, with the remaining buffers in level 0. An incomplete result is
  logged as a warning; `pack_placement` also returns the `PackResult`.

Budget and reproducibility. The search itself is deterministic (it has no
seed). An iteration is one node of the search: with `options.iterations`
(and no time limit) it stops after that many nodes in all, and the same
problem gives the same placement. With a time limit alone (default 60 s), a
search that finds no complete packing in time returns whatever partial
packing it had reached, which depends on the machine.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import NamedTuple

import numpy as np

from malloc_muzero.errors import ProblemError
from malloc_muzero.hardware import Hardware
from malloc_muzero.placement import Placement
from malloc_muzero.problem import Problem
from malloc_muzero.solvers.registry import SolverOptions, register

try:
  import numba
  _njit = numba.njit(cache=True, nogil=True)
  HAVE_NUMBA = True
except ImportError:  # Plain Python: correct, but slow on large instances.
  def _njit(function):
    return function
  HAVE_NUMBA = False

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT_S = 60.0
HEURISTICS = ("WAT", "TAW", "TWA")

# Status codes of `_search`.
_PAUSED, _SOLVED, _EXHAUSTED, _GROW = 0, 1, 2, 3
# Layout of the `stats` array of a search.
(_DEPTH, _LOG_TOP, _NODES, _BACKTRACKS, _BEST_DEPTH, _STARTED, _STAMP,
 _CAND_TOP, _PENDING_BUILD, _POOL_TOP) = range(10)
_NUM_STATS = 10
_CHUNK = 200_000  # Nodes between deadline checks (~0.1-0.5 s).
_INF = np.iinfo(np.int64).max
# Codes of the letters of a preorder heuristic.
_LETTERS = {"W": 0, "A": 1, "T": 2, "Z": 3}


@dataclasses.dataclass(frozen=True)
class PackConfig:
  """Which of the search's pruning rules are on (all by default).

  Each rule only prunes: with any of them off the search still decides every
  instance (it finds a packing if and only if one exists), with more nodes.
  So an ablation of one rule is one field, as in MiniMalloc's `SolverParams`.
  The canonical order is not among them: the offsets the search tries and
  the floors it propagates assume it.

  Attributes:
    dominance: skip candidates at or above the lowest top (min_off + size)
      of an unplaced buffer (MiniMalloc's `check_dominance`).
    section_inference: prune a node when a section's unplaced bytes no
      longer fit above its floor (MiniMalloc's `section_inference`).
    section_floors: raise a section's floor to the lowest min_off of its
      unplaced buffers (MiniMalloc's `unallocated_floor`); without it, floors
      rise only by placements.
    hatless_pruning: a buffer that overlaps no unplaced buffer fails its
      depth when the search fails below it (MiniMalloc's `hatless_pruning`).
      Dynamic decomposition's backjumps skip the same alternatives: on small
      random instances it saved nodes only with decomposition off.
    dynamic_decomposition: work on the leftmost independent segment, ranked
      afresh, and backjump past independent segments (MiniMalloc's
      `dynamic_decomposition`); without it, a component is one segment.
  """
  dominance: bool = True
  section_inference: bool = True
  section_floors: bool = True
  hatless_pruning: bool = True
  dynamic_decomposition: bool = True


@dataclasses.dataclass(frozen=True)
class PackResult:
  """What `pack_search` found.

  Attributes:
    offsets: [N] int64 byte offsets in the fast level; -1 for a buffer left
      out (only when `complete` is False).
    complete: every buffer has an offset.
    infeasible: proven that no complete packing exists.
    reason: one line saying why the result is incomplete ("" when complete).
    nodes: placements the search tried and kept (search nodes).
    backtracks: nodes whose every child failed.
    seconds: wall-clock time spent.
    heuristic: the preorder heuristic that found the packing, per component
      joined by "," ("" when not complete).
    placed_bytes: total size of the buffers with an offset.
  """
  offsets: np.ndarray
  complete: bool
  infeasible: bool
  reason: str
  nodes: int
  backtracks: int
  seconds: float
  heuristic: str
  placed_bytes: int

  @property
  def num_placed(self) -> int:
    return int(np.count_nonzero(self.offsets >= 0))


# --- The search's data -------------------------------------------------------


class _Instance(NamedTuple):
  """The fixed arrays of one search; buffers are numbered by preorder rank.

  S sections, E = entries of the overlap lists, M = entries of the section
  lists. Read-only during search; it also says which pruning rules are on.
  """
  size: np.ndarray  # [n] int64, bytes
  width: np.ndarray  # [n] int64, steps live (end - start + 1)
  area: np.ndarray  # [n] int64, size x width
  orig: np.ndarray  # [n] int64, the buffer's index in its component
  letters: np.ndarray  # [L] int64, the heuristic's keys (`_LETTERS` codes)
  alignment: np.int64  # bytes, >= 1
  capacity: np.int64  # bytes
  ov_ptr: np.ndarray  # [n + 1] int64, buffer i overlaps ov_idx[ov_ptr[i]:
  ov_idx: np.ndarray  # [E] int64    ov_ptr[i + 1]] in time (not itself)
  bsec_lo: np.ndarray  # [n] int64, buffer i lies in sections
  bsec_hi: np.ndarray  # [n] int64    [bsec_lo[i], bsec_hi[i])
  sec_ptr: np.ndarray  # [S + 1] int64, section s holds sec_idx[sec_ptr[s]:
  sec_idx: np.ndarray  # [M] int64      sec_ptr[s + 1]], ascending
  # The pruning rules that are on (`PackConfig`).
  dominance: bool
  section_inference: bool
  section_floors: bool
  hatless_pruning: bool
  dynamic_decomposition: bool


class _State(NamedTuple):
  """Everything a search changes, so that a paused search resumes.

  Depth d is the d-th placement of the current branch; the per-depth arrays
  have n + 1 entries. The stacks (`pool`, the candidate and log arrays) grow
  by `_grown` when `_search` returns _GROW.
  """
  # Per buffer.
  offset: np.ndarray  # [n] int64, bytes; -1 = unplaced
  min_off: np.ndarray  # [n] int64, lowest offset still possible (unplaced)
  best_off: np.ndarray  # [n] int64, `offset` at the deepest depth reached
  # Per section.
  floor: np.ndarray  # [S] int64, lowest offset its unplaced buffers may take
  total: np.ndarray  # [S] int64, its unplaced bytes
  cut: np.ndarray  # [S] int64, unplaced buffers crossing boundary s | s + 1
  zero_depth: np.ndarray  # [S] int64, the depth whose placement zeroed cut[s]
  sec_stamp: np.ndarray  # [S] int64, scratch: last stamp that marked s
  affected: np.ndarray  # [S] int64, scratch: sections whose floor may rise
  # Per depth: the segment, its backjump target and its candidates.
  seg_lo: np.ndarray  # [n + 1] int64, the segment's sections
  seg_hi: np.ndarray  # [n + 1] int64    [seg_lo, seg_hi)
  jump: np.ndarray  # [n + 1] int64, depth to fail back to (-1: exhausted)
  seg_base: np.ndarray  # [n + 1] int64, the segment's preorder: pool[seg_base:
  seg_len: np.ndarray  # [n + 1] int64    seg_base + seg_len]
  cand_base: np.ndarray  # [n + 1] int64, candidates: cand[cand_base:
  cand_cnt: np.ndarray  # [n + 1] int64    cand_base + cand_cnt]
  cand_pos: np.ndarray  # [n + 1] int64, the candidate being tried
  placed: np.ndarray  # [n + 1] int64, the buffer placed
  placed_off: np.ndarray  # [n + 1] int64, at this offset (bytes)
  placed_rank: np.ndarray  # [n + 1] int64, its rank in the segment's preorder
  hatless: np.ndarray  # [n + 1] int64, 1: it overlaps no unplaced buffer
  log_mark: np.ndarray  # [n + 1] int64, the log's top before the placement
  # Stacks.
  pool: np.ndarray  # [P] int64, the segments' preorders
  cand: np.ndarray  # [C] int64, candidate buffers of every depth
  cand_off: np.ndarray  # [C] int64, their offsets
  cand_rank: np.ndarray  # [C] int64, their ranks in the segment's preorder
  log_kind: np.ndarray  # [G] int8, undo log: 0 = a min_off, 1 = a floor
  log_idx: np.ndarray  # [G] int64, of this buffer or section
  log_old: np.ndarray  # [G] int64, was this
  # Scratch.
  tmp_idx: np.ndarray  # [n] int64
  tmp_off: np.ndarray  # [n] int64
  tmp_rank: np.ndarray  # [n] int64
  stats: np.ndarray  # [_NUM_STATS] int64, indexed by _DEPTH, _NODES, ...


_STACKS = ("pool", "cand", "cand_off", "cand_rank", "log_kind", "log_idx",
           "log_old")


def _initial_state(n: int, total: np.ndarray, cut: np.ndarray) -> _State:
  """The state of a search at its root: nothing placed."""
  num_sections = len(total)
  depths = lambda: np.zeros(n + 1, np.int64)  # noqa: E731
  stack = lambda: np.zeros(4 * n + 16, np.int64)  # noqa: E731
  log_room = 4 * (n + num_sections) + 16
  return _State(
      offset=np.full(n, -1, np.int64), min_off=np.zeros(n, np.int64),
      best_off=np.full(n, -1, np.int64),
      floor=np.zeros(num_sections, np.int64), total=total, cut=cut,
      zero_depth=np.zeros(num_sections, np.int64),
      sec_stamp=np.zeros(num_sections, np.int64),
      affected=np.zeros(num_sections, np.int64),
      seg_lo=depths(), seg_hi=depths(), jump=depths(), seg_base=depths(),
      seg_len=depths(), cand_base=depths(), cand_cnt=depths(),
      cand_pos=depths(), placed=depths(), placed_off=depths(),
      placed_rank=depths(), hatless=depths(), log_mark=depths(),
      pool=stack(), cand=stack(), cand_off=stack(), cand_rank=stack(),
      log_kind=np.zeros(log_room, np.int8),
      log_idx=np.zeros(log_room, np.int64),
      log_old=np.zeros(log_room, np.int64),
      tmp_idx=np.zeros(n, np.int64), tmp_off=np.zeros(n, np.int64),
      tmp_rank=np.zeros(n, np.int64), stats=np.zeros(_NUM_STATS, np.int64))


def _grown(state: _State) -> _State:
  """`state` with each stack twice as long (its entries kept)."""
  grown = {}
  for key in _STACKS:
    old = getattr(state, key)
    new = np.zeros(2 * len(old), old.dtype)
    new[:len(old)] = old
    grown[key] = new
  return state._replace(**grown)


# --- The compiled search ---------------------------------------------------


@_njit
def _align_up(value, alignment):
  return (value + alignment - 1) // alignment * alignment


@_njit
def _segment_preorder(k, inst, total, tmp_idx, out):
  """Writes the `k` buffers `tmp_idx[:k]` to `out[:k]` in preorder.

  Each letter of the heuristic is a key, descending: W = lifespan, A = area,
  T = the largest remaining (unplaced) total of the buffer's sections, Z =
  size; the last tie-break is the original buffer index, ascending. T is read
  now, so a segment entered during search is ordered by what is left of it
  (as MiniMalloc's SubSolve does for each sub-partition).
  """
  cur = tmp_idx[:k].copy()
  key = np.empty(k, np.int64)
  for j in range(k):
    key[j] = inst.orig[cur[j]]
  cur = cur[np.argsort(key, kind="mergesort")]
  letters = inst.letters
  for position in range(letters.shape[0] - 1, -1, -1):
    letter = letters[position]
    for j in range(k):
      i = cur[j]
      if letter == 0:
        value = inst.width[i]
      elif letter == 1:
        value = inst.area[i]
      elif letter == 2:
        value = 0
        for s in range(inst.bsec_lo[i], inst.bsec_hi[i]):
          if total[s] > value:
            value = total[s]
      else:
        value = inst.size[i]
      key[j] = -value
    cur = cur[np.argsort(key, kind="mergesort")]  # Stable: earlier keys hold.
  for j in range(k):
    out[j] = cur[j]


@_njit
def _current_segment(d, inst, st):
  """The segment depth `d` works on, and where failing at it jumps back to.

  The current segment is the leftmost run of sections between boundaries
  that no unplaced buffer crosses (cut 0) holding an unplaced buffer; the
  other segments are independent of it. If it lies in the previous depth's
  segment, failing here fails the previous placement (d - 1); otherwise
  failing at its start fails the placement that cut it off (d - 1 when that
  placement split the previous segment).

  Without dynamic decomposition the segment is every section, and failing
  at a depth fails the previous one.

  Returns:
    (lo, hi, target): sections [lo, hi) and the backjump depth (-1 at the
    root); lo = hi = S when every buffer is placed.
  """
  n = inst.size.shape[0]
  cut = st.cut
  num_sections = cut.shape[0]  # One more than the boundaries.
  leftmost = num_sections
  for i in range(n):
    if st.offset[i] < 0 and inst.bsec_lo[i] < leftmost:
      leftmost = inst.bsec_lo[i]
  if leftmost == num_sections:
    return num_sections, num_sections, -1
  if not inst.dynamic_decomposition:  # The whole component, one segment.
    return 0, num_sections, d - 1
  lo = leftmost
  while lo > 0 and cut[lo - 1] > 0:
    lo -= 1
  hi = leftmost
  while hi < num_sections - 1 and cut[hi] > 0:
    hi += 1
  hi += 1
  if d == 0:
    target = -1
  elif lo >= st.seg_lo[d - 1] and hi <= st.seg_hi[d - 1]:
    target = d - 1
  else:
    target = st.zero_depth[lo - 1]
  return lo, hi, target


@_njit
def _build_candidates(d, inst, st):
  """Sets up depth `d`: its segment, backjump target and ordered candidates.

  If the segment (`_current_segment`) is the previous depth's, the canonical
  order continues from the previous placement. Otherwise it is a new segment
  (MiniMalloc's dynamic decomposition): its unplaced buffers get a fresh
  preorder (`_segment_preorder`, kept on the `pool` stack) and the canonical
  order restarts.

  Returns:
    the number of unplaced buffers in the segment (0: everything placed), or
    -2 when `cand` or `pool` has no room (nothing was changed).
  """
  n = inst.size.shape[0]
  offset, min_off, stats = st.offset, st.min_off, st.stats
  tmp_idx, tmp_off, tmp_rank = st.tmp_idx, st.tmp_off, st.tmp_rank
  lo, hi, target = _current_segment(d, inst, st)
  if lo == st.cut.shape[0]:
    return 0
  fresh = d == 0 or lo != st.seg_lo[d - 1] or hi != st.seg_hi[d - 1]
  if fresh:
    base = stats[_POOL_TOP]
    k = 0
    for i in range(n):
      if offset[i] < 0 and inst.bsec_lo[i] >= lo and inst.bsec_lo[i] < hi:
        tmp_idx[k] = i
        k += 1
    if base + k > st.pool.shape[0]:
      return -2
    _segment_preorder(k, inst, st.total, tmp_idx, st.pool[base:])
    length = k
    po = 0
    pr = -1
  else:
    base = st.seg_base[d - 1]
    length = st.seg_len[d - 1]
    po = st.placed_off[d - 1]
    pr = st.placed_rank[d - 1]
  # The segment's unplaced buffers in its preorder, then (stably) by min_off.
  k = 0
  min_height = _INF
  for j in range(length):
    i = st.pool[base + j]
    if offset[i] < 0:
      tmp_idx[k] = i
      tmp_off[k] = min_off[i]
      tmp_rank[k] = j
      height = min_off[i] + inst.size[i]
      if height < min_height:
        min_height = height
      k += 1
  order = np.argsort(tmp_off[:k], kind="mergesort")  # Stable: ties by rank.
  first = stats[_CAND_TOP]
  count = 0
  for j in range(k):
    off = tmp_off[order[j]]
    if inst.dominance and off >= min_height:  # Offsets only grow from here.
      break
    rank = tmp_rank[order[j]]
    if off < po or (off == po and rank < pr):  # Canonical order.
      continue
    if first + count >= st.cand.shape[0]:
      return -2
    st.cand[first + count] = tmp_idx[order[j]]
    st.cand_off[first + count] = off
    st.cand_rank[first + count] = rank
    count += 1
  st.seg_lo[d] = lo
  st.seg_hi[d] = hi
  st.jump[d] = target
  st.seg_base[d] = base
  st.seg_len[d] = length
  st.cand_base[d] = first
  st.cand_cnt[d] = count
  st.cand_pos[d] = 0
  stats[_CAND_TOP] = first + count
  stats[_POOL_TOP] = base + length
  return k


@_njit
def _undo(b, mark, inst, st):
  """Takes back the placement of buffer `b` whose log starts at `mark`."""
  stats = st.stats
  top = stats[_LOG_TOP]
  while top > mark:
    top -= 1
    if st.log_kind[top] == 0:
      st.min_off[st.log_idx[top]] = st.log_old[top]
    else:
      st.floor[st.log_idx[top]] = st.log_old[top]
  stats[_LOG_TOP] = top
  for s in range(inst.bsec_lo[b], inst.bsec_hi[b]):
    st.total[s] += inst.size[b]
  for s in range(inst.bsec_lo[b], inst.bsec_hi[b] - 1):
    st.cut[s] += 1
  st.offset[b] = -1


@_njit
def _next_candidate(d, inst, st):
  """Moves depth `d` on after its placement failed.

  Hatless pruning (MiniMalloc): a buffer that no unplaced buffer overlaps in
  time constrains nothing else at its lowest offset, so if the search fails
  with it there, it fails with any other choice too.
  """
  if inst.hatless_pruning and st.hatless[d]:
    st.cand_pos[d] = st.cand_cnt[d]
  else:
    st.cand_pos[d] += 1


@_njit
def _search(inst, st, budget):
  """Runs the depth-first search for at most `budget` nodes.

  Buffers are numbered by their component-wide preorder rank. All state lives
  in `st`'s arrays, so a paused search resumes where it stopped.

  Returns:
    _SOLVED (offsets hold a complete packing), _EXHAUSTED (none exists),
    _PAUSED (budget spent) or _GROW (a stack of `st` needs more room; no
    state was changed by the failed step).
  """
  # Local names for the arrays of the node loop below (kept in one function:
  # split into functions, the loop ran 15-35% slower under numba).
  size, alignment, capacity = inst.size, inst.alignment, inst.capacity
  section_floors, section_inference = inst.section_floors, inst.section_inference
  ov_ptr, ov_idx, sec_ptr, sec_idx = (inst.ov_ptr, inst.ov_idx, inst.sec_ptr,
                                      inst.sec_idx)
  bsec_lo, bsec_hi = inst.bsec_lo, inst.bsec_hi
  offset, min_off, best_off = st.offset, st.min_off, st.best_off
  floor, total, cut, zero_depth = st.floor, st.total, st.cut, st.zero_depth
  sec_stamp, affected, stats = st.sec_stamp, st.affected, st.stats
  seg_lo, seg_hi, jump = st.seg_lo, st.seg_hi, st.jump
  seg_base, seg_len = st.seg_base, st.seg_len
  cand, cand_off, cand_rank = st.cand, st.cand_off, st.cand_rank
  cand_base, cand_cnt, cand_pos = st.cand_base, st.cand_cnt, st.cand_pos
  placed, placed_off, placed_rank = st.placed, st.placed_off, st.placed_rank
  hatless, log_mark = st.hatless, st.log_mark
  log_kind, log_idx, log_old = st.log_kind, st.log_idx, st.log_old
  n = size.shape[0]
  if stats[_STARTED] == 0:
    stats[_STARTED] = 1
    stats[_PENDING_BUILD] = 1
  while budget > 0:
    d = stats[_DEPTH]
    if stats[_PENDING_BUILD] == 1:
      k = _build_candidates(d, inst, st)
      if k == -2:
        return _GROW
      stats[_PENDING_BUILD] = 0
      if k == 0:
        return _SOLVED
    if cand_pos[d] >= cand_cnt[d]:
      stats[_BACKTRACKS] += 1
      target = jump[d]
      if target < 0:
        return _EXHAUSTED
      while d > target:
        d -= 1
        _undo(placed[d], log_mark[d], inst, st)
      stats[_DEPTH] = d
      stats[_CAND_TOP] = cand_base[d] + cand_cnt[d]
      stats[_POOL_TOP] = seg_base[d] + seg_len[d]
      _next_candidate(d, inst, st)
      continue
    p = cand_base[d] + cand_pos[d]
    b = cand[p]
    off = cand_off[p]
    mark = stats[_LOG_TOP]
    need = (ov_ptr[b + 1] - ov_ptr[b]) + 2 * floor.shape[0] + 1
    if mark + need > log_kind.shape[0]:
      return _GROW
    log_mark[d] = mark
    placed[d] = b
    placed_off[d] = off
    placed_rank[d] = cand_rank[p]
    offset[b] = off
    height = off + size[b]
    top = mark
    stats[_STAMP] += 1
    stamp = stats[_STAMP]
    num_affected = 0
    # b's sections: the rest stacks above b, with b's bytes now placed.
    for s in range(bsec_lo[b], bsec_hi[b]):
      total[s] -= size[b]
      if floor[s] < height:
        log_kind[top] = 1
        log_idx[top] = s
        log_old[top] = floor[s]
        top += 1
        floor[s] = height
    hatless[d] = 1
    # Buffers overlapping b in time can now only sit on top of it. The floor
    # of a section of such a buffer may rise (below) unless it is already at
    # least the buffer's new min_off.
    for q in range(ov_ptr[b], ov_ptr[b + 1]):
      o = ov_idx[q]
      if offset[o] >= 0:
        continue
      hatless[d] = 0
      if min_off[o] < height:
        log_kind[top] = 0
        log_idx[top] = o
        log_old[top] = min_off[o]
        top += 1
        raised = _align_up(height, alignment)
        min_off[o] = raised
        if not section_floors:
          continue
        for s in range(bsec_lo[o], bsec_hi[o]):
          if sec_stamp[s] != stamp and floor[s] < raised:
            sec_stamp[s] = stamp
            affected[num_affected] = s
            num_affected += 1
    for s in range(bsec_lo[b], bsec_hi[b] - 1):
      cut[s] -= 1
      if cut[s] == 0:
        zero_depth[s] = d
    # A section's floor is at least the lowest min_off of its unplaced buffers.
    for a in range(num_affected):
      s = affected[a]
      lowest = _INF
      for q in range(sec_ptr[s], sec_ptr[s + 1]):
        o = sec_idx[q]
        if offset[o] < 0 and min_off[o] < lowest:
          lowest = min_off[o]
          if lowest <= floor[s]:
            break
      if lowest != _INF and floor[s] < lowest:
        log_kind[top] = 1
        log_idx[top] = s
        log_old[top] = floor[s]
        top += 1
        floor[s] = lowest
    stats[_LOG_TOP] = top
    # Section inference over this segment: what is left of each section
    # stacks above max(its floor, this offset) and must fit.
    feasible = height <= capacity
    if feasible and section_inference:
      for s in range(seg_lo[d], seg_hi[d]):
        f = floor[s]
        if f < off:
          f = off
        if f + total[s] > capacity:
          feasible = False
          break
    budget -= 1
    stats[_NODES] += 1
    if not feasible:
      _undo(b, mark, inst, st)
      _next_candidate(d, inst, st)
      continue
    d += 1
    stats[_DEPTH] = d
    if d > stats[_BEST_DEPTH]:
      stats[_BEST_DEPTH] = d
      for i in range(n):
        best_off[i] = offset[i]
    stats[_PENDING_BUILD] = 1
  return _PAUSED


# --- Instance preparation (NumPy) --------------------------------------------


def _components(starts: np.ndarray, ends: np.ndarray) -> list[np.ndarray]:
  """Groups of buffer indices whose live ranges form connected time spans."""
  order = np.argsort(starts, kind="stable")
  reach = np.maximum.accumulate(ends[order])
  cuts = np.flatnonzero(starts[order][1:] > reach[:-1]) + 1
  return np.split(order, cuts)


def _overlaps(starts: np.ndarray, ends: np.ndarray):
  """CSR lists of the buffers overlapping each buffer in time (not itself)."""
  n = len(starts)
  order = np.argsort(starts, kind="stable")
  sorted_starts = starts[order]
  lo = np.searchsorted(sorted_starts, starts, "left")
  hi = np.searchsorted(sorted_starts, ends, "right")
  counts = hi - lo
  first = np.repeat(np.arange(n), counts)
  within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts,
                                               counts)
  second = order[np.repeat(lo, counts) + within]
  keep = first != second
  first, second = first[keep], second[keep]
  pairs = np.unique(np.concatenate([first * n + second, second * n + first]))
  first, second = pairs // n, pairs % n
  ptr = np.zeros(n + 1, np.int64)
  np.add.at(ptr, first + 1, 1)
  return np.cumsum(ptr), second.astype(np.int64)


def _sections(starts: np.ndarray, ends: np.ndarray):
  """Sections (buffers live at each distinct end step) and buffer ranges.

  Returns:
    (bsec_lo, bsec_hi, sec_ptr, sec_idx): buffer i lies in sections
    [bsec_lo[i], bsec_hi[i]); section s holds sec_idx[sec_ptr[s]:
    sec_ptr[s + 1]], ascending.
  """
  times = np.unique(ends)
  bsec_lo = np.searchsorted(times, starts, "left").astype(np.int64)
  bsec_hi = np.searchsorted(times, ends, "right").astype(np.int64)
  counts = bsec_hi - bsec_lo
  members = np.repeat(np.arange(len(starts)), counts)
  within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts,
                                               counts)
  section = np.repeat(bsec_lo, counts) + within
  order = np.lexsort((members, section))
  ptr = np.zeros(len(times) + 1, np.int64)
  np.add.at(ptr, section + 1, 1)
  return bsec_lo, bsec_hi, np.cumsum(ptr), members[order].astype(np.int64)


def _preorder(heuristic: str, sizes, starts, ends, section_max) -> np.ndarray:
  """Buffer indices by a MiniMalloc preordering, each key descending."""
  width = ends - starts + 1
  keys = {"W": width, "A": sizes * width, "T": section_max, "Z": sizes}
  columns = [np.arange(len(sizes))]  # Last tie-break: index, ascending.
  for letter in reversed(heuristic):
    columns.append(-keys[letter])
  return np.lexsort(columns)


class _Search:
  """One resumable search of one component under one preorder heuristic.

  Buffers are numbered by the heuristic's ranks over the whole component (the
  ranks of the first segment); `rank` maps these numbers to component indices.
  """

  def __init__(self, heuristic, sizes, starts, ends, capacity, alignment,
               section_max, config: PackConfig = PackConfig()):
    self.heuristic = heuristic
    rank = _preorder(heuristic, sizes, starts, ends, section_max)
    self.rank = rank
    size = sizes[rank].astype(np.int64)
    s, e = starts[rank], ends[rank]
    ov_ptr, ov_idx = _overlaps(s, e)
    bsec_lo, bsec_hi, sec_ptr, sec_idx = _sections(s, e)
    num_sections = len(sec_ptr) - 1
    total = np.zeros(num_sections, np.int64)
    np.add.at(total, np.arange(num_sections).repeat(np.diff(sec_ptr)),
              size[sec_idx])
    width = (e - s + 1).astype(np.int64)
    letters = np.array([_LETTERS[letter] for letter in heuristic], np.int64)
    # `rank` maps search indices to component indices (original order).
    self.instance = _Instance(
        size=size, width=width, area=size * width, orig=rank.astype(np.int64),
        letters=letters, alignment=np.int64(alignment),
        capacity=np.int64(capacity), ov_ptr=ov_ptr, ov_idx=ov_idx,
        bsec_lo=bsec_lo, bsec_hi=bsec_hi, sec_ptr=sec_ptr, sec_idx=sec_idx,
        dominance=config.dominance, section_inference=config.section_inference,
        section_floors=config.section_floors,
        hatless_pruning=config.hatless_pruning,
        dynamic_decomposition=config.dynamic_decomposition)
    cut = np.zeros(num_sections, np.int64)  # cut[s]: between s and s + 1.
    spans = bsec_hi - 1 - bsec_lo
    np.add.at(cut, np.repeat(bsec_lo, spans) + (
        np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)),
              1)
    self.state = _initial_state(len(size), total, cut)
    self.status = _PAUSED

  @property
  def stats(self) -> np.ndarray:
    """[_NUM_STATS] int64: the search's counters (`_NODES`, ...)."""
    return self.state.stats

  def run(self, budget: int, deadline: float | None = None) -> int:
    """Searches up to `budget` more nodes, stopping early at `deadline`.

    Returns:
      The status: _SOLVED, _EXHAUSTED or _PAUSED.
    """
    while budget > 0:
      before = int(self.stats[_NODES])
      self.status = _search(self.instance, self.state,
                            np.int64(min(budget, _CHUNK)))
      budget -= int(self.stats[_NODES]) - before
      if self.status == _GROW:
        self.state = _grown(self.state)
      elif self.status != _PAUSED:
        return self.status
      elif deadline is not None and time.monotonic() >= deadline:
        return _PAUSED
    return self.status

  def offsets(self, best: bool = False) -> np.ndarray:
    """Offsets in the component's own buffer order (-1 = unplaced)."""
    local = self.state.best_off if best else self.state.offset
    result = np.full(len(local), -1, np.int64)
    result[self.rank] = local
    return result


def _section_max(sizes, starts, ends) -> np.ndarray:
  """[n] int64: each buffer's largest section total (bytes), the T key."""
  bsec_lo, bsec_hi, sec_ptr, sec_idx = _sections(starts, ends)
  section_total = np.zeros(len(sec_ptr) - 1, np.int64)
  np.add.at(section_total, np.arange(len(sec_ptr) - 1).repeat(
      np.diff(sec_ptr)), sizes[sec_idx])
  return np.array([section_total[lo:hi].max()
                   for lo, hi in zip(bsec_lo, bsec_hi)], np.int64)


def _race(searches: list[_Search], budget: int, deadline: float | None,
          node_limit: int | None, progress: str | None) -> _Search | None:
  """Runs the searches of one component round-robin in doubling slices.

  Args:
    searches: one per preorder, each resumed where its last slice ended.
    budget: nodes of each search's first slice.
    deadline: `time.monotonic()` value by which to stop; None: no limit.
    node_limit: nodes the searches may spend together; None: no limit.
    progress: what to call the component when logging each round at INFO
      level ("NAME: component of N buffers"); None: no log.

  Returns:
    The first search that solved or exhausted the component, or None when
    the deadline or the node limit came first.
  """
  def spent() -> int:
    return sum(int(x.stats[_NODES]) for x in searches)

  def out_of_budget() -> bool:
    if node_limit is not None and spent() >= node_limit:
      return True
    return deadline is not None and time.monotonic() >= deadline

  while True:
    winner = None
    for search in searches:
      slice_nodes = budget
      if node_limit is not None:
        slice_nodes = min(budget, node_limit - spent())
      status = search.run(slice_nodes, deadline)
      if status in (_SOLVED, _EXHAUSTED):
        winner = search
        break
      if out_of_budget():
        break
    if progress is not None:
      log.info("pack %s, slice %d, nodes %s", progress, budget,
               [int(x.stats[_NODES]) for x in searches])
    if winner is not None:
      return winner
    if out_of_budget():
      return None
    budget *= 2


def _first_fit(sizes, starts, ends, offsets, capacity, alignment) -> None:
  """Places what it can of the unplaced buffers (largest first), in place."""
  unplaced = np.flatnonzero(offsets < 0)
  for i in unplaced[np.argsort(-sizes[unplaced], kind="stable")]:
    live = np.flatnonzero((offsets >= 0) & (starts <= ends[i])
                          & (ends >= starts[i]) & (sizes > 0))
    order = live[np.argsort(offsets[live], kind="stable")]
    candidate = 0
    for j in order:
      if offsets[j] >= candidate + sizes[i]:
        break
      candidate = max(candidate, _align(offsets[j] + sizes[j], alignment))
    if candidate + sizes[i] <= capacity:
      offsets[i] = candidate


def _align(value: int, alignment: int) -> int:
  return -(-int(value) // alignment) * alignment


# --- Public API ----------------------------------------------------------------


def pack_search(problem: Problem, capacity: int, alignment: int = 1,
                deadline: float | None = None, *,
                heuristics: tuple[str, ...] = HEURISTICS,
                first_slice: int | None = None,
                config: PackConfig = PackConfig(),
                progress: bool = False,
                max_nodes: int | None = None) -> PackResult:
  """Searches for a packing of every buffer into one memory of `capacity`.

  Args:
    problem: the instance; its sizes and inclusive live ranges are used.
    capacity: bytes of the memory, > 0.
    alignment: offsets are multiples of it (bytes, >= 1).
    deadline: `time.monotonic()` value by which to stop; None: no limit.
    heuristics: preorders to run round-robin (letters W = lifespan, A =
      area, T = largest unplaced section total, Z = size; each descending).
    first_slice: nodes of each search's first turn; default 2 x buffers
      (MiniMalloc's start), doubling every round.
    config: the pruning rules that are on (default: all).
    progress: log each round at INFO level.
    max_nodes: nodes to search in all, over every component and preorder
      (None: no limit); a limit of nodes, unlike a deadline, is reproducible.

  Returns:
    The `PackResult`. On a deadline or at `max_nodes`, its offsets are the deepest partial
    packing of the search, completed greedily where possible.
  """
  started = time.monotonic()
  capacity, alignment = int(capacity), max(int(alignment), 1)
  sizes = problem.sizes.astype(np.int64)
  starts = problem.starts.astype(np.int64)
  ends = problem.ends.astype(np.int64)
  n = problem.num_buffers
  offsets = np.full(n, -1, np.int64)
  nodes = backtracks = 0

  def result(complete, infeasible, reason, found=""):
    if not complete:
      _first_fit(sizes, starts, ends, offsets, capacity, alignment)
    placed = int(sizes[offsets >= 0].sum())
    return PackResult(offsets=offsets, complete=complete,
                      infeasible=infeasible, reason=reason, nodes=nodes,
                      backtracks=backtracks,
                      seconds=time.monotonic() - started, heuristic=found,
                      placed_bytes=placed)

  reason = _trivially_infeasible(problem, sizes, capacity)
  if reason:
    return result(False, True, reason)
  zero = sizes == 0
  offsets[zero] = 0
  found = []
  for component in _components(starts, ends):
    component = np.sort(component[~zero[component]])
    if not len(component):
      continue
    s, e, z = starts[component], ends[component], sizes[component]
    section_max = _section_max(z, s, e)
    searches = [_Search(h, z, s, e, capacity, alignment, section_max, config)
                for h in heuristics]
    winner = _race(searches, first_slice or 2 * len(component), deadline,
                   None if max_nodes is None else max_nodes - nodes,
                   f"{problem.name}: component of {len(component)} buffers"
                   if progress else None)
    nodes += sum(int(x.stats[_NODES]) for x in searches)
    backtracks += sum(int(x.stats[_BACKTRACKS]) for x in searches)
    if winner is not None and winner.status == _SOLVED:
      offsets[component] = winner.offsets()
      found.append(winner.heuristic)
      continue
    if winner is not None:  # Exhausted: a proof of infeasibility.
      best = max(searches, key=lambda x: int(x.stats[_BEST_DEPTH]))
      offsets[component] = best.offsets(best=True)
      return result(False, True, (
          f"no packing exists: the complete search ({winner.heuristic}) of a "
          f"component of {len(component)} buffers was exhausted"))
    best = max(searches, key=lambda x: int(x.stats[_BEST_DEPTH]))
    offsets[component] = best.offsets(best=True)
    limit = "node budget" if max_nodes is not None and nodes >= max_nodes else "deadline"
    return result(False, False, (
        f"{limit} reached after {nodes} nodes with a component of "
        f"{len(component)} buffers unsolved (deepest partial packing: "
        f"{int(best.stats[_BEST_DEPTH])} buffers)"))
  return result(True, False, "", ",".join(found))


def _trivially_infeasible(problem: Problem, sizes: np.ndarray,
                          capacity: int) -> str:
  """Why no packing can exist by a simple bound, or ""."""
  if problem.num_buffers and int(sizes.max()) > capacity:
    index = int(np.argmax(sizes))
    return (f"buffer {problem.buffer_names[index]!r} of {int(sizes[index])} "
            f"bytes is larger than the capacity of {capacity} bytes")
  peak, step = problem.peak_live_bytes()
  if peak > capacity:
    return (f"{peak} bytes are live at step {step}, more than the capacity of "
            f"{capacity} bytes")
  return ""


def pack(problem: Problem, capacity: int, alignment: int = 1,
         deadline: float | None = None) -> np.ndarray | None:
  """A complete packing of every buffer, or None if none found in time.

  Args:
    problem: the instance.
    capacity: bytes of the memory.
    alignment: offsets are multiples of it (bytes).
    deadline: `time.monotonic()` value by which to stop; None: no limit.

  Returns:
    [N] int64 offsets with every buffer placed, or None at the deadline.

  Raises:
    ProblemError: the instance is proven infeasible (`where` is
      "capacity"; the message says why).
  """
  found = pack_search(problem, capacity, alignment, deadline)
  if found.infeasible:
    raise ProblemError(f"a capacity that fits every buffer ({found.reason})",
                       filename=problem.name, where="capacity",
                       found=int(capacity))
  return found.offsets if found.complete else None


def pack_placement(problem: Problem, hardware: Hardware,
                   options: SolverOptions = SolverOptions(),
                   ) -> tuple[Placement, PackResult]:
  """The `pack` solver's placement in level 1, and the search's result."""
  level = hardware.levels[1]
  if level.capacity is None:
    raise ProblemError("a fast level 1 with a capacity", where="hardware",
                       found=hardware.name)
  budget = options.budget(DEFAULT_TIME_LIMIT_S)
  found = pack_search(problem, level.capacity, level.alignment,
                      None if math.isinf(budget.deadline) else budget.deadline,
                      progress=options.progress, max_nodes=budget.iterations)
  if not found.complete:
    log.warning("pack: %s: placed %d of %d buffers (%d of %d bytes): %s",
                problem.name, found.num_placed, problem.num_buffers,
                found.placed_bytes, int(problem.sizes.sum()), found.reason)
  return Placement.from_offsets(found.offsets, solver="pack"), found


@register("pack", iterations=True)
def pack_solver(problem: Problem, hardware: Hardware,
                options: SolverOptions) -> Placement:
  """Packs every buffer into level 1 (MiniMalloc-style search).

  When no complete packing is found within the budget (default 60 s) or
  none exists, returns the best partial packing (unplaced buffers in level 0)
  and logs a warning.
  """
  return pack_placement(problem, hardware, options)[0]
