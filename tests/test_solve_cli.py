"""`malloc-solve`: inputs of every kind, outputs, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from malloc_muzero import (Problem, check_placement, get_hardware, load_placement,
                           read_minimalloc_csv, write_minimalloc_csv)
from malloc_muzero.solve_cli import main
from tests.xla_dumps import compile_program


def test_csv_in_csv_out(tmp_path, capsys):
  problem = Problem.from_arrays(sizes=[1024, 2048, 1024], starts=[0, 1, 2],
                                ends=[3, 4, 5], name="tiny")
  source = tmp_path / "tiny.4096.csv"
  write_minimalloc_csv(source, problem)
  loaded, _ = read_minimalloc_csv(source)
  out = tmp_path / "tiny.out.csv"
  assert main([str(source), "--solver", "first-fit", "-o", str(out)]) == 0
  assert "gap closed" in capsys.readouterr().out
  placement = load_placement(out, loaded)
  assert check_placement(loaded, get_hardware("tpu-v4", capacity=4096), placement) is None
  assert list(placement.levels) == [1, 1, 1]


def test_out_and_its_former_name_output(tmp_path, capsys):
  """Issue 18: -o/--out in every command; --output still works, saying so."""
  problem = Problem.from_arrays(sizes=[1024], starts=[0], ends=[1])
  source = tmp_path / "p.json"
  problem.save_json(source)
  assert main([str(source), "--solver", "first-fit", "--out", str(tmp_path / "a.json")]) == 0
  assert capsys.readouterr().err == ""
  assert main([str(source), "--solver", "first-fit", "--output", str(tmp_path / "b.json")]) == 0
  assert capsys.readouterr().err == "malloc-solve: --output is deprecated; use --out\n"
  assert (tmp_path / "a.json").exists() and (tmp_path / "b.json").exists()
  assert main([str(source), "--solver", "first-fit"]) == 2
  assert "-o/--out" in capsys.readouterr().err


def test_hlo_dump_in_json_out(tmp_path, capsys):
  dump_dir = compile_program("scan_rnn").captured.dump_dir
  out = tmp_path / "scan.json"
  assert main([dump_dir, "--solver", "xla-msa", "--capacity", "8192", "-o", str(out)]) == 0
  assert '"solver": "xla-msa"' in out.read_text()
  assert "valid:          yes" in capsys.readouterr().out


@pytest.mark.parametrize("args,fragment", [
    (["--solver", "nope"], "a solver among"),
    (["--solver", "first-fit", "--hardware", "tpu-v9"], "hardware presets"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, fragment):
  problem = Problem.from_arrays(sizes=[1024], starts=[0], ends=[1])
  source = tmp_path / "p.json"
  problem.save_json(source)
  assert main([str(source), *args, "-o", str(tmp_path / "o.json")]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and fragment in err
  assert not (tmp_path / "o.json").exists()


def test_bad_csv_and_empty_problem(tmp_path, capsys):
  bad = tmp_path / "bad.csv"
  bad.write_text("id,lower,upper,size\n0,5,5,1024\n")
  assert main([str(bad), "--solver", "first-fit", "-o", str(tmp_path / "o.csv")]) == 2
  assert "bad.csv" in capsys.readouterr().err
  negative = tmp_path / "neg.csv"
  negative.write_text("id,lower,upper,size\n0,0,5,-1024\n")
  assert main([str(negative), "--solver", "first-fit", "-o", str(tmp_path / "o.csv")]) == 2
  assert "neg.csv" in capsys.readouterr().err
  empty = tmp_path / "empty.json"
  Problem.from_arrays(sizes=[], starts=[], ends=[]).save_json(empty)
  assert main([str(empty), "--solver", "first-fit", "-o", str(tmp_path / "o.json")]) == 2
  err = capsys.readouterr().err
  assert "empty.json: expected a problem with at least one buffer" in err


def test_malformed_hlo(tmp_path, capsys):
  bad = tmp_path / "bad.hlo"
  bad.write_text("HloModule m\nENTRY %e () -> f32[] {\n")
  assert main([str(bad), "--solver", "first-fit", "-o", str(tmp_path / "o.json")]) == 2
  assert Path(str(bad)).name in capsys.readouterr().err


def test_windows_solve_and_eval_agree_and_prefetching_helps_a_transformer(tmp_path, capsys):
  from malloc_muzero.eval_cli import main as eval_main
  from malloc_muzero.simulator import simulate_placement, simulation_bounds
  from malloc_muzero.solvers import solve
  from malloc_muzero.windows import split_into_windows

  dump_dir = compile_program("transformer_train_step").captured.dump_dir
  out = tmp_path / "windows.json"
  assert main([dump_dir, "--solver", "xla-msa", "--capacity", "200000", "--windows",
               "--min-gap", "64", "-o", str(out)]) == 0
  solved = capsys.readouterr().out
  assert "valid:          yes" in solved
  # Version 3: the original buffers' segments, the copies and the model.
  data = json.loads(out.read_text())
  assert data["version"] == 3 and data["hardware_model"]["time_model"] == "xla"
  assert data["copies"] and all(copy["kind"] in ("prefetch", "eviction")
                                for copy in data["copies"])
  names = [row["name"] for row in data["buffers"]]
  assert len(names) > len(set(names))  # some buffers have several segments
  source = tmp_path / "problem.json"
  from malloc_muzero.solve_cli import load_any_problem
  problem = load_any_problem(dump_dir)
  problem.save_json(source)
  # The file alone (its segments, copies and hardware model) gives the same
  # time as the solve, with no --windows or --capacity.
  assert eval_main([str(source), str(out)]) == 0
  evaluated = capsys.readouterr().out
  line = [x for x in solved.splitlines() if x.startswith("simulated time")]
  assert line and line == [x for x in evaluated.splitlines() if x.startswith("simulated time")]
  derived, levels = _segment_problem(problem, out)
  assert data["simulated_time_s"] == pytest.approx(
      simulate_placement(derived, _recorded(out), levels), rel=1e-6)
  # Windows of the problem are not the file's buffers.
  assert eval_main([str(source), str(out), "--windows", "--min-gap", "64"]) == 2
  # The additive model writes windows as buffers (version 1), as before.
  legacy = tmp_path / "legacy.json"
  assert main([dump_dir, "--solver", "xla-msa", "--capacity", "200000", "--windows",
               "--min-gap", "64", "--time-model", "additive", "-o", str(legacy)]) == 0
  assert json.loads(legacy.read_text())["version"] == 1
  assert eval_main([str(source), str(legacy), "--capacity", "200000", "--windows",
                    "--min-gap", "64", "--time-model", "additive"]) == 0
  capsys.readouterr()
  # XLA's heuristic with prefetching beats it without on this program.
  hardware = get_hardware("tpu-v4", capacity=200000)
  windowed = split_into_windows(problem, min_gap=64).problem
  plain = simulate_placement(problem, hardware, solve("xla-msa", problem, hardware).levels)
  prefetching = simulate_placement(windowed, hardware,
                                   solve("xla-msa", windowed, hardware).levels)
  assert simulation_bounds(windowed, hardware)[0] > plain > prefetching


def _segment_problem(problem, path):
  from malloc_muzero.placement_io import load_segments
  from malloc_muzero.segments import segment_problem

  derived, placement = segment_problem(problem, load_segments(path, problem)[0])
  return derived, placement.levels


def _recorded(path):
  from malloc_muzero.hardware import hardware_from_json

  return hardware_from_json(json.loads(path.read_text())["hardware_model"])


def test_outputs_that_are_inputs_or_not_regular_files_are_refused(tmp_path, capsys):
  import os

  problem = Problem.from_arrays(sizes=[8, 8], starts=[0, 1], ends=[2, 3])
  path = tmp_path / "p.json"
  problem.save_json(path)
  before = path.read_text()
  # -o equal to the input: refused, the input untouched.
  assert main([str(path), "--solver", "first-fit", "-o", str(path)]) == 2
  assert "an output other than the input" in capsys.readouterr().err
  assert path.read_text() == before
  # A symbolic link, a FIFO and a directory are not replaced.
  link = tmp_path / "link.json"
  link.symlink_to(tmp_path / "elsewhere.json")
  fifo = tmp_path / "fifo.json"
  os.mkfifo(fifo)
  for target, kind in ((link, "a symbolic link"), (fifo, "a FIFO"),
                       (tmp_path, "a directory")):
    assert main([str(path), "--solver", "first-fit", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "a regular file or a new path" in err and kind in err and str(target) in err
    assert len(err.strip().splitlines()) == 1
  assert link.is_symlink() and not (tmp_path / "elsewhere.json").exists()


@pytest.mark.parametrize("flags, words", [
    (["--time-limit", "-3"], "positive number of seconds"),
    (["--time-limit", "nan"], "positive number of seconds"),
    (["--capacity", str(2**63)], "--capacity: expected a number of bytes: a whole number "
     "in [1, 2**63 - 1]"),
    (["--capacity", "0"], "--capacity: expected a number of bytes"),
    (["--seed", "-1"], "--seed: expected a seed: a whole number in [0, 2**31 - 1]"),
    (["--seed", str(2**64)], "--seed: expected a seed"),
    (["--hardware", "nope"], "--hardware: expected one of the hardware presets"),
    (["--windows", "--min-gap", "0"], "--min-gap: expected a number of steps"),
    (["--windows", "--prefetch-steps", str(2**40)], "--prefetch-steps: expected a number"),
    (["-o", "out.txt"], "a .json placement"),
    (["-o", "out.csv"], "command line: -o: expected a .json output"),
    (["-o", "no/such/dir/out.json"], "in an existing directory"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, capsys, flags, words):
  problem = Problem.from_arrays(sizes=[8, 8], starts=[0, 1], ends=[2, 3])
  path = tmp_path / "p.json"
  problem.save_json(path)
  argv = [str(path), "--solver", "first-fit"] + flags
  if "-o" not in flags:
    argv += ["-o", str(tmp_path / "out.json")]
  assert main(argv) == 2
  err = capsys.readouterr().err
  assert words in err and len(err.strip().splitlines()) == 1


def test_interrupt_exits_130_without_a_traceback(tmp_path, capsys, monkeypatch):
  import malloc_muzero.solve_cli as solve_cli

  def interrupted(args):
    raise KeyboardInterrupt
  monkeypatch.setattr(solve_cli, "_solve", interrupted)
  problem = Problem.from_arrays(sizes=[8], starts=[0], ends=[2])
  path = tmp_path / "p.json"
  problem.save_json(path)
  assert main([str(path), "--solver", "first-fit", "-o", str(tmp_path / "o.json")]) == 130
  assert capsys.readouterr().err.strip() == "malloc-solve: interrupted"


def test_xla_msa_prefetch_writes_segments_that_eval_times_alike(tmp_path, capsys):
  from malloc_muzero.eval_cli import main as eval_main

  dump_dir = compile_program("transformer_train_step").captured.dump_dir
  out = tmp_path / "msa.json"
  assert main([dump_dir, "--solver", "xla-msa-prefetch", "--capacity", "200000",
               "-o", str(out)]) == 0
  solved = capsys.readouterr().out
  data = json.loads(out.read_text())
  assert data["version"] == 3 and data["solver"] == "xla-msa-prefetch"
  assert {c["kind"] for c in data["copies"]} == {"prefetch", "eviction"}
  source = tmp_path / "problem.json"
  from malloc_muzero.solve_cli import load_any_problem
  load_any_problem(dump_dir).save_json(source)
  assert eval_main([str(source), str(out)]) == 0
  evaluated = capsys.readouterr().out
  line = next(x for x in solved.splitlines() if x.startswith("simulated time"))
  assert line in evaluated
  # It splits buffers itself: no --windows, and no CSV.
  assert main([dump_dir, "--solver", "xla-msa-prefetch", "--windows", "-o",
               str(tmp_path / "w.json")]) == 2
  assert "splits buffers into segments itself" in capsys.readouterr().err
