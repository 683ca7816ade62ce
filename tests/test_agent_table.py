"""experiments.agent_table: reading runs, labels, and bad input."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from malloc_muzero import ProblemError
from malloc_muzero.agent.presets import AGENTS, agent_config, agent_label
from malloc_muzero.agent.run_files import read_run


def test_labels_of_the_presets():
  labels = {name: agent_label(dataclasses.asdict(agent_config(name))) for name in AGENTS}
  assert labels == {"muzero": "mallocMuZero, learned model",
                    "guided": "mallocMuZero, learned model, guided, departing from its best",
                    "rollout": "mallocMuZero, true dynamics + rollouts, guided by its best"}
  with pytest.raises(ProblemError, match="agent preset"):
    agent_config("alphazero")


def test_an_unfinished_run_is_named(tmp_path):
  (tmp_path / "run.json").write_text("{}")
  with pytest.raises(ProblemError, match="no best_placement.json"):
    read_run(str(tmp_path))


def test_no_runs_is_a_clean_error(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.agent_table", f"--runs={tmp_path}/none*"],
      capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("agent_table: error:")
  assert "Traceback" not in result.stderr


def test_label_of_a_perturbed_run():
  config = dataclasses.asdict(agent_config("rollout"))
  config["search"]["perturb"] = True
  assert agent_label(config) == \
      "mallocMuZero, true dynamics + rollouts, guided by its best, perturbed"
