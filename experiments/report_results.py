"""The report's results: the settings they are computed with, their keys, their cache.

A result is one solver's (or the agent's) placement of one benchmark problem
on one hardware preset, a record of `experiments.report` kept in
`benchmark/results.jsonl` under `KEY_FIELDS`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os

from experiments.manifest import Entry
from malloc_muzero.agent.presets import agent_config
from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.errors import ProblemError

RESULTS = "results.jsonl"
AGENT = "mallocMuZero"  # The agent's name in the results, beside the solvers'.
# Records from before the time model was a setting have no "time_model": they
# were timed on the additive model, and match no key of today's settings.
KEY_FIELDS = ("fingerprint", "solver", "hardware", "capacity_fraction", "budget_s", "seed",
              "agent", "time_model")


@dataclasses.dataclass(frozen=True)
class Settings:
  """What a report is computed with (plain values from the flags)."""
  hardware: tuple[str, ...]
  fraction: float
  solvers: tuple[str, ...]
  time_limit_s: float
  train_seconds: float
  seed: int
  exact_max_buffers: int = 2000
  agent: str = "guided"
  agent_max_buffers: int = 4000
  time_model: str = "xla"


class Cache:
  """Results by key in `benchmark/results.jsonl`, rewritten atomically."""

  def __init__(self, benchmark: str):
    self.path = os.path.join(benchmark, RESULTS)
    self.records: dict[tuple, dict] = {}
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      for number, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          record = json.loads(line)
          self.records[self.key(record)] = record
        except (json.JSONDecodeError, TypeError, KeyError):
          raise ProblemError("a JSON result record (delete the line to recompute it)",
                             self.path, f"line {number}", line.strip()) from None

  @staticmethod
  def key(record: dict) -> tuple:
    return tuple(record.get(k, "") for k in KEY_FIELDS)

  def get(self, key: tuple) -> dict | None:
    return self.records.get(key)

  def put(self, record: dict) -> None:
    self.records[self.key(record)] = record
    atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n"
                                         for r in self.records.values()))


def _budget(solver: str, settings: Settings) -> float:
  """The seconds a result's key records: training for the agent and the
  solver playing from its run, the time limit for the others."""
  return settings.train_seconds if solver in (AGENT, "muzero") else settings.time_limit_s


# What the agent plays, beside its preset: since the agent starts from the
# faster of XLA's answers (`agent.reference.starting_game`), on the grid
# `agent.reference.replay_grid` chooses, its records say so, and older ones
# (whole buffers always, the finest grid) are recomputed.
_AGENT_GAME = "starting_game,budget_with_set_up,replay_grid"


@functools.cache
def _agent_identity(preset: str) -> str:
  """The preset's name and a digest of its configuration, so that a record
  made by another version of the preset is recomputed."""
  fields = json.dumps(dataclasses.asdict(agent_config(preset)), sort_keys=True)
  return f"{preset}@{_AGENT_GAME}#{hashlib.sha256(fields.encode()).hexdigest()[:10]}"


def result_key(entry: Entry, solver: str, hardware: str, settings: Settings) -> tuple:
  """The cache key of one result, in `KEY_FIELDS` order."""
  # The agent preset matters to the agent and to `muzero`, which plays from its run.
  agent = _agent_identity(settings.agent) if solver in (AGENT, "muzero") else ""
  return (entry.fingerprint, solver, hardware, settings.fraction,
          _budget(solver, settings), settings.seed, agent, settings.time_model)
