"""Train mallocMuZero on one problem, or on a set of problems, until a time budget ends.

    python -m experiments.train --problem_files=PATH --hardware=tpu-v4 \\
        --capacity=BYTES --workdir=DIR --train_seconds=600 --seed=0
    python -m experiments.train --programs=conv_net,mlp_train_step,attention \\
        --eval_programs=transformer_train_step --workdir=DIR --train_seconds=900

`--problem_files` is a problem JSON, MiniMalloc CSV, HLO file or dump directory
(or several, comma-separated); `--programs` names programs of
`experiments.programs` instead. The flags' former spellings (`--problem`,
`--program`, `--eval_problem`, `--eval_program`, `--time_budget_s`) still
work, with a line saying the new name; a run started under them resumes
under the new ones (the budget is not part of what a resume checks). The capacity
is `--capacity` bytes, or `--capacity_fraction` of peak live bytes. Self-play and training split their
batches over every visible device; a multi-host run passes
`--coordinator_address`, `--num_processes` and `--process_id` (as
`jax.distributed.initialize` takes them). In
`--workdir` it keeps the latest checkpoint (orbax; a rerun with the same
flags resumes it exactly), `best_placement.json` (the best placement any
self-play game found), `metrics.jsonl` (one line per iteration: returns,
losses, games/s) and `training_curve.png`. It prints the best placement's
simulated time next to XLA's (`xla-msa`, `xla-msa-prefetch`) and the bounds.

`--game` says what the agent places. By default (`auto`) each problem is
played where XLA's answer is faster (`agent.reference.starting_game`): its
whole buffers, starting from `xla-msa`'s placement, or the pieces XLA's own
algorithm (`xla-msa-prefetch`) cuts each buffer into, with their copies,
starting from XLA's placement of them. A guided agent's best is then never
slower than XLA's. `--game=whole` and `--game=xla_cut` force one;
`--game=windows` places windows around the uses, with prefetches and
evictions (`malloc_muzero.windows`). The capacity is always a share of the
whole buffers' peak.

With `--generate=MIN,MAX` it trains on problems drawn afresh at every
iteration (`malloc_muzero.generator`, `agent.generated`), then plays the
held-out ones.

Given several problems (comma-separated), it trains one network on the set,
each problem on its own fast memory, and then plays each problem of the set
and each held-out one (`--eval_problem_files`, `--eval_programs`) with its search,
over the trained network and, as a control, over the untrained one
(`malloc_muzero.agent.generalisation`). It prints the table, and writes it to
`evaluation.json` and the trained network's placements to `placements/`.
"""

from __future__ import annotations

import sys

from absl import app
from absl import flags
from absl import logging

from experiments.comparison import versus_xla
from experiments.flag_parsing import one_line_flags
from experiments.problem_sources import program_problem
from hlo_tools import HloParseError
from malloc_muzero import ProblemError, get_hardware, windows
from malloc_muzero.agent import generalisation, pretrained
from malloc_muzero.agent.presets import AGENTS, DEFAULT_AGENT, agent_config
from malloc_muzero.agent.reference import GAMES, starting_game
from malloc_muzero.agent.run import train
from malloc_muzero.atomic_file import atomic_write_text
from malloc_muzero.generator import ProblemGenerator
from malloc_muzero.solve_cli import load_any_problem

# Deprecated spellings of the flags (old -> new); they still work, with a line
# on stderr saying the new name.
RENAMES = {"--time_budget_s": "--train_seconds", "--problem": "--problem_files",
           "--program": "--programs", "--eval_problem": "--eval_problem_files",
           "--eval_program": "--eval_programs"}

_PROBLEM = flags.DEFINE_string("problem_files", None, "problem files (JSON, MiniMalloc CSV, "
                               "HLO text or dump directory), comma-separated; several "
                               "train on a set; formerly --problem")
_PROGRAM = flags.DEFINE_string("programs", None, "programs of experiments.programs, "
                               "comma-separated; several train on a set; formerly --program")
_EVAL_PROBLEM = flags.DEFINE_string("eval_problem_files", None, "held-out problem files, "
                                    "comma-separated, played after training on a set; "
                                    "formerly --eval_problem")
_EVAL_PROGRAM = flags.DEFINE_string("eval_programs", None, "held-out programs, "
                                    "comma-separated, played after training on a set; "
                                    "formerly --eval_program")
_HARDWARE = flags.DEFINE_string("hardware", "tpu-v4", "hardware preset")
_TIME_MODEL = flags.DEFINE_enum("time_model", "xla", ["xla", "additive"],
                                "how placements are timed (malloc_muzero.simulator)")
_CAPACITY = flags.DEFINE_integer("capacity", None, "bytes of the first fast level")
_FRACTION = flags.DEFINE_float("capacity_fraction", 0.25,
                               "capacity as a share of peak live bytes")
_WORKDIR = flags.DEFINE_string("workdir", "train_run", "run directory")
_BUDGET = flags.DEFINE_float("train_seconds", 300.0, "training seconds (a run resumed "
                             "with more continues it); formerly --time_budget_s")
_SEED = flags.DEFINE_integer("seed", 0, "seed of everything")
_AGENT = flags.DEFINE_enum("agent", DEFAULT_AGENT, list(AGENTS),
                           "agent preset (malloc_muzero.agent.presets); the search "
                           "flags below override it where given")
_SIMULATIONS = flags.DEFINE_integer("num_simulations", 16, "MCTS simulations per move")
_CONSIDERED = flags.DEFINE_integer("max_considered", 8,
                                   "actions Gumbel MuZero considers at the root")
_POLICY = flags.DEFINE_enum("search_policy", "gumbel", ["gumbel", "muzero"],
                            "mctx policy")
_DYNAMICS = flags.DEFINE_enum("dynamics", "learned", ["learned", "true"],
                              "search over the learned model or the real game")
_HEURISTIC_PRIOR = flags.DEFINE_bool("heuristic_prior", False,
                                     "add first-fit's preferences to the root prior")
_REFERENCE_BONUS = flags.DEFINE_float(
    "reference_bonus", 0.0, "prior logits for the action of the default policy that "
    "follows XLA's memory space assignment (0: none)")
_LEAF_VALUE = flags.DEFINE_enum("leaf_value", "network", ["network", "rollout"],
                                "leaf values: the value network, or (with "
                                "--dynamics=true) finishing the game with the "
                                "default policy")
_VALUE_SCALE = flags.DEFINE_float("value_scale", 0.1,
                                  "weight of search values against the prior")
_GAME = flags.DEFINE_enum(
    "game", "auto", ["auto", "whole", "xla_cut", "windows"],
    "what the agent places: auto, where XLA's answer is faster, whole buffers or "
    "XLA's cut (agent.reference.starting_game); whole; xla_cut, the pieces into "
    "which xla-msa-prefetch cuts each buffer, with their copies; windows around the "
    "uses (malloc_muzero.windows)")
_GENERATE = flags.DEFINE_list(
    "generate", None, "MIN,MAX: train on problems drawn afresh each iteration, of MIN "
    "to MAX instructions (malloc_muzero.generator), instead of --problem_files/--programs; "
    "--eval_problem_files/--eval_programs are then played after training")
_NUM_SLOTS = flags.DEFINE_integer("num_slots", 128, "with --generate: offset slots of "
                                  "the network's action grid")
_MIN_GAP = flags.DEFINE_integer("min_gap", windows.DEFAULT_MIN_GAP, "with --game=windows: steps "
                                "between two uses above which they go to different windows")
_PREFETCH_STEPS = flags.DEFINE_integer("prefetch_steps", windows.DEFAULT_PREFETCH_STEPS,
                                       "with --game=windows: steps a prefetch or an eviction "
                                       "is spread over")
_DEPARTURES = flags.DEFINE_integer(
    "departures", 0, "0: search at every move; d: each game follows the reference but "
    "at about d x 1, 2, 4 or 8 moves, where search proposes a departure (the guided "
    "preset: 1)")
_CANDIDATES = flags.DEFINE_integer(
    "num_candidates", 32, "actions per node of the search tree (0: every action)")
_PERTURB = flags.DEFINE_bool(
    "perturb", False, "half the self-play games each leave one buffer, at a random "
    "turn, in the default memory whatever search says")
_FOLLOW_BEST = flags.DEFINE_bool(
    "follow_best", None, "guide the search by the best game found so far instead of "
    "XLA's placement (default: the preset's; the rollout preset does)")
_GAMES = flags.DEFINE_integer("games_per_iteration", 16, "self-play games per iteration")
_IMITATION = flags.DEFINE_integer(
    "imitation_iterations", 0, "warm start: the first iterations each train on the best "
    "placement xla-msa and anneal find for one problem instead of self-play")
_ITERATIONS = flags.DEFINE_integer("iterations", None, "stop after this many iterations "
                                   "in all, whatever is left of --train_seconds")
_CHECKPOINT_S = flags.DEFINE_float("checkpoint_every_s", 60.0, "seconds between checkpoints")
_EXPORT = flags.DEFINE_string(
    "export", None, "after training, write the network's parameters and their "
    "description to this directory (agent.pretrained; malloc_muzero/agent/pretrained "
    "is the one the muzero solver uses without --checkpoint)")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "host:port of process 0, for a multi-host run")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "processes of a multi-host run")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "this process's index")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  if _COORDINATOR.value:
    # Multi-host: every process runs this command; the devices of all of them
    # form the mesh that self-play and training shard their batches over.
    import jax
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value,
                               process_id=_PROCESS_ID.value)
  try:
    check_numeric_flags()
    if _GENERATE.value is not None:
      print(train_generated())
      return
    problems = load_problem_flag(_PROBLEM.value, _PROGRAM.value)
    held_out = load_problem_flag(_EVAL_PROBLEM.value, _EVAL_PROGRAM.value, required=False)
    hardwares = [hardware_from_flags(p) for p in problems + held_out]
    originals, placements = problems, None
    if _GAME.value == "windows":  # (The capacity stays a share of the whole buffers' peak.)
      problems, held_out = ([windows.split_into_windows(p, _MIN_GAP.value,
                                                        _PREFETCH_STEPS.value).problem
                             for p in group] for group in (problems, held_out))
    else:
      games = GAMES if _GAME.value == "auto" else (_GAME.value,)
      starts = [starting_game(p, h, games=games) for p, h in zip(problems, hardwares)]
      problems = [start.problem for start in starts]
      placements = [start.placement for start in starts]
      held_out = [starting_game(p, h, games=games).problem
                  for p, h in zip(held_out, hardwares[len(problems):])]
      print("games: " + ", ".join(f"{p.name} from {start.label}"
                                  for p, start in zip(originals, starts)), flush=True)
    config = train_config(_AGENT.value)
    summary = train(problems, hardwares[:len(problems)], _WORKDIR.value, _BUDGET.value,
                    _SEED.value, config, progress=True,
                    checkpoint_every_s=_CHECKPOINT_S.value, max_iterations=_ITERATIONS.value,
                    reference_placements=placements)
    print(f"{summary['iterations']} iterations, {summary['games']} games"
          + (" (resumed)" if summary["resumed"] else ""))
    export(summary)
    if len(problems) == 1 and not held_out:
      print(versus_xla(problems[0], hardwares[0], summary, originals[0]))
      print(f"wrote {_WORKDIR.value}/best_placement.json, metrics.jsonl, "
            "training_curve.png")
    else:
      print(evaluate_set(summary, problems, held_out, hardwares))
  except (ProblemError, HloParseError, ValueError, OSError) as error:
    print(f"train: error: {error}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print("train: interrupted (rerun the same command to resume from the last "
          "checkpoint)", file=sys.stderr)
    sys.exit(130)


def train_generated() -> str:
  """`--generate`: train on drawn problems, then play the held-out ones."""
  if _PROBLEM.value or _PROGRAM.value or _GAME.value not in ("auto", "whole"):
    raise ProblemError("no --problem_files, --programs or --game other than whole with --generate",
                       "command line", "--generate")
  try:
    low, high = (int(v) for v in _GENERATE.value)
  except ValueError:
    raise ProblemError("MIN,MAX instructions", "command line", "--generate",
                       ",".join(_GENERATE.value)) from None
  generated = {"generator": ProblemGenerator(min_instructions=low, max_instructions=high),
               "hardware_name": _HARDWARE.value, "fraction": _FRACTION.value,
               "num_slots": _NUM_SLOTS.value, "time_model": _TIME_MODEL.value}
  held_out = load_problem_flag(_EVAL_PROBLEM.value, _EVAL_PROGRAM.value, required=False)
  summary = train([], [], _WORKDIR.value, _BUDGET.value, _SEED.value,
                  train_config(_AGENT.value), progress=True,
                  checkpoint_every_s=_CHECKPOINT_S.value, max_iterations=_ITERATIONS.value,
                  generated=generated)
  lines = f"{summary['iterations']} iterations, {summary['games']} games" + (
      " (resumed)" if summary["resumed"] else "")
  export(summary)
  if not held_out:
    return lines + f"\nwrote {_WORKDIR.value}/metrics.jsonl, training_curve.png"
  return lines + "\n" + evaluate_set(summary, [], held_out,
                                      [hardware_from_flags(p) for p in held_out])


def export(summary: dict) -> None:
  """`--export`: the trained network's parameters and their description."""
  if _EXPORT.value:
    import shlex

    pretrained.export(summary["trainer"], summary["identity"], _EXPORT.value,
                      "python -m experiments.train " + shlex.join(sys.argv[1:]))
    print(f"exported the network to {_EXPORT.value}/", flush=True)


def check_numeric_flags() -> None:
  """One line naming the flag for a number out of range (a budget, a capacity,
  a fraction, a seed, a count), an unknown hardware preset or a workdir that
  is not a directory.

  Raises:
    ProblemError: where="--FLAG".
  """
  import math
  import os

  counts = (("--seed", _SEED.value, 0), ("--games_per_iteration", _GAMES.value, 1),
            ("--num_simulations", _SIMULATIONS.value, 1),
            ("--max_considered", _CONSIDERED.value, 1), ("--num_slots", _NUM_SLOTS.value, 1),
            ("--min_gap", _MIN_GAP.value, 1), ("--prefetch_steps", _PREFETCH_STEPS.value, 0),
            ("--departures", _DEPARTURES.value, 0), ("--num_candidates", _CANDIDATES.value, 0),
            ("--imitation_iterations", _IMITATION.value, 0))
  checks = tuple((flag, value, f"a whole number in [{low}, 2**31 - 1]",
                  lambda v, low=low: low <= v <= 2**31 - 1) for flag, value, low in counts) + (
      ("--value_scale", _VALUE_SCALE.value, "a finite number > 0",
       lambda v: math.isfinite(v) and v > 0),
      ("--reference_bonus", _REFERENCE_BONUS.value, "a finite number",
       lambda v: v is None or math.isfinite(v)),
      ("--train_seconds", _BUDGET.value, "a finite number of seconds >= 0",
       lambda v: math.isfinite(v) and v >= 0),
      ("--checkpoint_every_s", _CHECKPOINT_S.value, "a finite number of seconds >= 0",
       lambda v: math.isfinite(v) and v >= 0),
      ("--capacity_fraction", _FRACTION.value, "a fraction in (0, 1]",
       lambda v: math.isfinite(v) and 0 < v <= 1),
      ("--capacity", _CAPACITY.value, "a number of bytes in [1, 2**63 - 1]",
       lambda v: v is None or 1 <= v <= 2**63 - 1),
      ("--iterations", _ITERATIONS.value, "a number of iterations >= 1",
       lambda v: v is None or v >= 1),
  )
  for flag, value, expected, ok in checks:
    if not ok(value):
      raise ProblemError(expected, "command line", flag, value)
  try:
    get_hardware(_HARDWARE.value)
  except ProblemError as error:
    raise ProblemError(error.expected, "command line", "--hardware", _HARDWARE.value) \
        from None
  if os.path.exists(_WORKDIR.value) and not os.path.isdir(_WORKDIR.value):
    raise ProblemError("a directory (a new one, or a run's to resume)", "command line",
                       "--workdir", _WORKDIR.value)


def hardware_from_flags(problem):
  """The hardware `--hardware` and `--time_model` name, with `--capacity` (or
  a MiniMalloc file's own), else `--capacity_fraction` of the problem's peak
  live bytes (reads the flags: for `main` and its helpers only)."""
  capacity = _CAPACITY.value
  if capacity is None and problem.source.get("kind") == "minimalloc":
    capacity = problem.source.get("capacity")  # A MiniMalloc file's own.
  return get_hardware(_HARDWARE.value,
                      capacity=capacity or problem.capacity_for(_FRACTION.value),
                      time_model=_TIME_MODEL.value)


def evaluate_set(summary, problems, held_out, hardwares) -> str:
  """Play every problem with the trained and untrained network (those of the
  set on the games they trained on); write `evaluation.json` and
  `placements/`; the table."""
  import dataclasses
  import json
  import os

  everything = problems + held_out
  directory = os.path.join(_WORKDIR.value, "placements")
  os.makedirs(directory, exist_ok=True)
  paths = [os.path.join(directory, p.name.replace(os.sep, "_") + ".json")
           for p in everything]
  rows = generalisation.evaluate(
      summary["trainer"], everything, hardwares,
      ["train"] * len(problems) + ["held out"] * len(held_out), _SEED.value, paths,
      list(zip(summary["decoders"], summary["trainer"].references)) + [None] * len(held_out))
  atomic_write_text(os.path.join(_WORKDIR.value, "evaluation.json"),
                    json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
  return (generalisation.table(rows) +
          f"\nwrote {_WORKDIR.value}/evaluation.json, placements/, metrics.jsonl, "
          "training_curve.png")


def train_config(agent: str):
  """The preset `agent`, with the search and self-play flags the command line
  gives explicitly."""
  import dataclasses

  base = agent_config(agent)
  search_flags = {"num_simulations": _SIMULATIONS, "max_considered": _CONSIDERED,
                  "policy": _POLICY, "dynamics": _DYNAMICS,
                  "heuristic_prior": _HEURISTIC_PRIOR, "reference_bonus": _REFERENCE_BONUS,
                  "leaf_value": _LEAF_VALUE, "value_scale": _VALUE_SCALE,
                  "departures": _DEPARTURES, "num_candidates": _CANDIDATES,
                  "perturb": _PERTURB}
  given = {field: flag.value for field, flag in search_flags.items() if flag.present}
  config = dataclasses.replace(base, search=dataclasses.replace(base.search, **given))
  if _GAMES.present:
    config = dataclasses.replace(config, games_per_iteration=_GAMES.value)
  if _IMITATION.present:
    config = dataclasses.replace(config, imitation_iterations=_IMITATION.value)
  if _FOLLOW_BEST.present:
    config = dataclasses.replace(config, follow_best=_FOLLOW_BEST.value)
  return config


def load_problem_flag(paths: str | None, programs: str | None, required: bool = True):
  """The problems of `--problem_files` or `--programs` (exactly one of them, unless
  not `required`), each a comma-separated list."""
  if paths and programs or required and not (paths or programs):
    raise ProblemError("exactly one of --problem_files and --programs (and of "
                       "--eval_problem_files and --eval_programs)", "command line")
  names = _names(paths or programs or "")
  if (paths or programs) and not names:
    raise ProblemError("a comma-separated list of names", "command line",
                       found=paths or programs)
  if paths:
    return [load_any_problem(path) for path in names]
  return [program_problem(name) for name in names]


def _names(values: str) -> list[str]:
  return [value.strip() for value in values.split(",") if value.strip()]


parse_flags = one_line_flags("train", RENAMES)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
