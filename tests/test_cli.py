"""`malloc-extract`: outputs, XLA-format live ranges, and one-line errors."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys

import pytest

from hlo_tools.cli import main
from malloc_muzero import Problem, read_minimalloc_csv
from tests.xla_dumps import compile_program


@pytest.fixture(scope="module")
def dump_dir():
  return compile_program("scan_rnn").captured.dump_dir


def test_live_ranges_print_xla_lines(dump_dir, capsys):
  assert main([dump_dir, "--live-ranges"]) == 0
  printed = capsys.readouterr().out.splitlines()
  assert printed == compile_program("scan_rnn").live_range.lines


def test_summary_and_outputs(dump_dir, tmp_path, capsys):
  json_path, csv_path = tmp_path / "p.json", tmp_path / "p.csv"
  assert main([dump_dir, "--module", "jit_fn", "-o", str(json_path)]) == 0
  out = capsys.readouterr().out
  for word in ("buffers", "schedule", "peak live", "flops", "bytes accessed"):
    assert word in out
  problem = Problem.load_json(json_path)
  assert problem.num_buffers > 0 and problem.num_instructions > 0
  assert main([dump_dir, "-o", str(csv_path)]) == 0
  from_csv, offsets = read_minimalloc_csv(csv_path)
  assert offsets is None
  assert list(from_csv.sizes) == list(problem.sizes)
  assert list(from_csv.starts) == list(problem.starts)
  assert list(from_csv.ends) == list(problem.ends)


def test_module_choice_in_a_directory_of_several(tmp_path, capsys):
  for number, name in enumerate(("scan_rnn", "dus_loop")):
    source, = glob.glob(compile_program(name).captured.dump_dir +
                        "/*after_optimizations.txt")
    shutil.copy(source, tmp_path / f"module_000{number}.jit_{name}."
                "cpu_after_optimizations.txt")
  assert main([str(tmp_path)]) == 1
  err = capsys.readouterr().err
  assert err.count("\n") == 1
  assert "--module naming one of: module_0000.jit_scan_rnn, " \
      "module_0001.jit_dus_loop" in err
  assert main([str(tmp_path), "--module", "jit_dus_loop", "--live-ranges"]) == 0
  assert capsys.readouterr().out.splitlines() == \
      compile_program("dus_loop").live_range.lines


def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys):
  bad = tmp_path / "bad.hlo"
  bad.write_text("HloModule m\nENTRY %e () -> f32[] {\n  ROOT %x = f32[] add(%y)\n}\n")
  good_output = tmp_path / "out.json"
  good_output.write_text("{\"keep\": true}")
  assert main([str(bad), "-o", str(good_output)]) == 1
  err = capsys.readouterr().err
  assert err.count("\n") == 1
  assert err.startswith(f"malloc-extract: error: {bad}:3:")
  assert good_output.read_text() == "{\"keep\": true}"  # untouched
  assert main([str(tmp_path / "missing.hlo")]) == 1
  assert "missing.hlo" in capsys.readouterr().err


def test_command_exit_status_without_traceback(tmp_path):
  bad = tmp_path / "bad.hlo"
  bad.write_bytes(b"HloModule m\nENTRY %e () -> f32[ {\n")
  result = subprocess.run([sys.executable, "-m", "hlo_tools.cli", str(bad)],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  assert result.stderr.strip().count("\n") == 0


def test_extract_refuses_its_input_as_output(tmp_path, capsys):
  from hlo_tools.cli import main as extract_main

  hlo = tmp_path / "m.txt"
  hlo.write_text("HloModule m\n\nENTRY e {\n  ROOT p = f32[4] parameter(0)\n}\n")
  assert extract_main([str(hlo), "-o", str(hlo)]) == 1
  assert "an output other than the input" in capsys.readouterr().err
  assert hlo.read_text().startswith("HloModule m")


def test_unknown_opcodes_are_named_and_strict_refuses_them(tmp_path, capsys):
  from hlo_tools.cli import main as extract_main

  hlo = tmp_path / "u.txt"
  hlo.write_text("HloModule m\n\nENTRY %e (p: f32[128]) -> f32[128] {\n"
                 "  %p = f32[128]{0} parameter(0)\n"
                 "  ROOT %s = f32[128]{0} frobnicate(f32[128]{0} %p)\n}\n")
  assert extract_main([str(hlo)]) == 0
  err = capsys.readouterr().err
  assert "warning" in err and "frobnicate" in err and "no flops" in err
  assert extract_main([str(hlo), "--strict"]) == 1
  assert "frobnicate" in capsys.readouterr().err
  # A known opcode that costs flops (sine) is priced: no warning.
  hlo.write_text(hlo.read_text().replace("frobnicate", "sine"))
  assert extract_main([str(hlo), "--strict"]) == 0
  assert capsys.readouterr().err == ""


def test_demo_help_lists_its_flags():
  import subprocess
  import sys

  done = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['malloc-demo', "
                         "'--help']; from experiments.demo import run; run()"],
                        capture_output=True, text=True, timeout=120)
  text = done.stdout + done.stderr
  assert "--program" in text and "--train_seconds" in text and "--agent" in text


def test_solve_is_part_of_the_package():
  import malloc_muzero

  problem = malloc_muzero.Problem.from_arrays([8, 8], [0, 1], [2, 3])
  hardware = malloc_muzero.get_hardware("tpu-v4", capacity=1024)
  assert malloc_muzero.solve("first-fit", problem, hardware).levels.tolist() == [1, 1]
  assert "xla-msa" in malloc_muzero.solver_names()


_TINY_HLO = "HloModule m\n\nENTRY e {\n  ROOT p = f32[4] parameter(0)\n}\n"


def test_extract_writes_only_regular_files_of_a_format_the_commands_read(tmp_path, capsys):
  """Issue 17, cases 1 and 12: a device, a FIFO or a symbolic link is never
  replaced, and `-o x.txt` (which malloc-eval would refuse) is refused."""
  import os

  hlo = tmp_path / "m.txt"
  hlo.write_text(_TINY_HLO)
  fifo = tmp_path / "fifo.json"
  os.mkfifo(fifo)
  link = tmp_path / "link.json"
  link.symlink_to(tmp_path / "elsewhere.json")
  for target, words in (("/dev/null", "a device or special file"),
                        (str(fifo), "a FIFO"), (str(link), "a symbolic link"),
                        (str(tmp_path / "x.txt"), "expected a .json or .csv file"),
                        ("", "a regular file or a new path"),
                        (str(tmp_path / "nowhere" / "x.json"), "an existing directory")):
    assert main([str(hlo), "-o", target]) == 1
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
  assert main([str(hlo), "-o", str(tmp_path / "x.json"), "--format", "csv"]) == 1
  assert "expected a .csv file" in capsys.readouterr().err
  assert link.is_symlink() and not (tmp_path / "elsewhere.json").exists()
  assert sorted(os.listdir(tmp_path)) == ["fifo.json", "link.json", "m.txt"]


def test_extract_refuses_an_input_that_is_not_a_regular_file(tmp_path, capsys):
  import os

  fifo = tmp_path / "fifo.txt"
  os.mkfifo(fifo)  # Reading it would wait for a writer for ever.
  for source, words in ((str(fifo), "a FIFO"), ("/dev/zero", "a device")):
    assert main([source]) == 1
    err = capsys.readouterr().err
    assert "a regular HLO text file" in err and words in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, words", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--default-trip-count", "nan"], "--default-trip-count: expected a positive number"),
    (["--format", "xml"], "--format: invalid choice"),
])
def test_extract_flag_errors_are_one_line_and_exit_2(tmp_path, capsys, flags, words):
  hlo = tmp_path / "m.txt"
  hlo.write_text(_TINY_HLO)
  assert main([str(hlo)] + flags) == 2
  err = capsys.readouterr().err
  assert err.startswith("malloc-extract: error: ") and words in err
  assert len(err.strip().splitlines()) == 1


def test_extract_interrupted_exits_130_in_one_line(tmp_path, capsys, monkeypatch):
  import hlo_tools.cli as cli

  def interrupted(*_):
    raise KeyboardInterrupt
  monkeypatch.setattr(cli, "load_module", interrupted)
  hlo = tmp_path / "m.txt"
  hlo.write_text(_TINY_HLO)
  assert main([str(hlo)]) == 130
  assert capsys.readouterr().err.strip() == "malloc-extract: interrupted"
