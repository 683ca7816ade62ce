"""Named agent configurations, so that every command means the same agent by a name.

* `muzero`: MuZero proper: search over the learned model, priors and values
  from the network alone (`TrainConfig()`).
* `guided`: the same network and search, departing from XLA's placement:
  each self-play game follows the reference (`agent.rollout.default_action`)
  but at a few moves (`SearchConfig.departures`: about 1, 2, 4 or 8 per game),
  where search, its prior guided towards the reference
  (`SearchConfig.reference_bonus`), chooses a departure; the best game found
  becomes the reference (`TrainConfig.follow_best`). Self-play is a local
  search from the compiler's answer whose moves the network proposes and
  learns, and since search runs only where a game departs, a game costs
  little more than a replay (docs/agent/departures.md). Placing one problem
  within a budget, it first gives `anneal` a fifth of it to improve XLA's
  answer in the game's own grid (`TrainConfig.start_anneal_share`), and
  departs from the faster of the two.
* `rollout`: search over the real game, the prior guided by XLA's placement,
  each leaf valued by finishing the game with the default policy that follows
  it (`agent.rollout`), and the visited action of highest value played, so
  that a game all but never ends worse than XLA's heuristic. The best game
  found so far becomes the reference (`TrainConfig.follow_best`), so that
  self-play is policy iteration: each iteration improves on the best placement
  until no single departure from it pays. Each simulation
  plays the rest of the game, so it uses fewer simulations and games per
  iteration, and its cost grows with the square of the buffer count: strong
  on problems of a few hundred buffers, too slow on thousands.
"""

from __future__ import annotations

from malloc_muzero.agent.search import SearchConfig
from malloc_muzero.agent.train import TrainConfig
from malloc_muzero.errors import ProblemError

# The presets' names (their configurations are in `agent_config`).
AGENTS = ("muzero", "guided", "rollout")
# The preset every command uses unless told otherwise: the strongest at every
# scale. It starts from the faster of XLA's answers (`agent.run.place_with_agent`)
# and its answer is never slower than XLA's; `rollout` is stronger on programs
# of a few hundred buffers but its cost grows with the square of their count.
DEFAULT_AGENT = "guided"
# The share of a one-problem budget that the guided presets give `anneal` to
# improve XLA's answer before search departs from it
# (`TrainConfig.start_anneal_share`; docs/agent/five_minutes.md).
START_ANNEAL_SHARE = 0.2


def agent_config(name: str):
  """The `TrainConfig` of a named agent."""
  if name not in AGENTS:
    raise ProblemError(f"an agent preset, one of {', '.join(AGENTS)}", "command line",
                       found=repr(name))
  if name == "muzero":
    return TrainConfig()
  if name == "guided":
    return TrainConfig(follow_best=True, start_anneal_share=START_ANNEAL_SHARE,
                       search=SearchConfig(reference_bonus=4.0, departures=1))
  return TrainConfig(games_per_iteration=8, follow_best=True,
                     start_anneal_share=START_ANNEAL_SHARE, search=SearchConfig(
      num_simulations=8, max_considered=8, dynamics="true", reference_bonus=4.0,
      leaf_value="rollout", value_scale=10.0))


def agent_label(train_config: dict) -> str:
  """How a run's configuration (`TrainConfig` fields, as run.json keeps them)
  reads in a table."""
  search = train_config["search"]
  if search["dynamics"] == "true":
    label = "mallocMuZero, true dynamics"
    if search.get("leaf_value") == "rollout":
      label += " + rollouts"
  else:
    label = "mallocMuZero, learned model"
  if search.get("reference_bonus"):
    label += ", guided"
  if search.get("departures"):
    label += ", departing from its best" if train_config.get("follow_best") else ", departing"
  elif train_config.get("follow_best"):
    label += " by its best"
  if search.get("perturb"):
    label += ", perturbed"
  return label
