"""The commands' persistent compilation cache (`malloc_muzero.compilation_cache`)."""

import os
import subprocess
import sys

from malloc_muzero import cli_args, compilation_cache


def test_cache_dir_follows_the_environment():
  home = os.path.expanduser("~")
  assert compilation_cache.cache_dir({}) == os.path.join(home, ".cache", "malloc_muzero", "jax")
  assert compilation_cache.cache_dir({"XDG_CACHE_HOME": "/x"}) == "/x/malloc_muzero/jax"
  assert compilation_cache.cache_dir({"JAX_COMPILATION_CACHE_DIR": "/j"}) == "/j"
  assert compilation_cache.cache_dir({compilation_cache.ENV: "/m",
                                      "JAX_COMPILATION_CACHE_DIR": "/j"}) == "/m"
  assert compilation_cache.cache_dir({compilation_cache.ENV: "OFF"}) is None


def test_enable_leaves_the_cache_off_where_no_directory_can_be_made(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")
  assert compilation_cache.enable({compilation_cache.ENV: str(blocker / "jax")}) is None
  assert compilation_cache.enable({compilation_cache.ENV: "off"}) is None


def test_a_second_process_reads_the_compiled_computation(tmp_path):
  """A computation compiled once is written to the cache, and a second
  process finds it there (JAX counts the hit)."""
  program = (
      "import jax, jax.numpy as jnp\n"
      "from jax._src import monitoring\n"
      "from malloc_muzero import compilation_cache\n"
      "compilation_cache.MIN_COMPILE_S = 0\n"
      "hits = []\n"
      "monitoring.register_event_listener("
      "lambda event, **kw: hits.append(event) if 'cache_hits' in event else None)\n"
      "print(compilation_cache.enable())\n"
      "jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((64, 64))).block_until_ready()\n"
      "print(len(hits))\n")
  env = dict(os.environ, **{compilation_cache.ENV: str(tmp_path / "cache")})
  runs = [subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                         text=True, check=True).stdout.split() for _ in range(2)]
  assert runs[0][0] == str(tmp_path / "cache")
  assert os.listdir(tmp_path / "cache")
  assert (int(runs[0][1]), int(runs[1][1]) > 0) == (0, True)


def test_commands_enable_the_cache_once_their_flags_are_parsed(monkeypatch):
  calls = []
  monkeypatch.setattr(compilation_cache, "enable", lambda: calls.append(1))
  parser = cli_args.Parser(prog="x")
  parser.add_argument("--n", type=int)
  assert cli_args.run_command("x", parser, lambda args: 0, ["--n", "1"], lambda a: "") == 0
  assert calls == [1]
  assert cli_args.run_command("x", parser, lambda args: 0, ["--n", "z"], lambda a: "") == 2
  assert calls == [1]


def test_a_captured_program_dumps_with_the_cache_on(tmp_path):
  """`capture_jax` compiles outside the cache: in a second process, where the
  program is in the cache, XLA still dumps its reports, and the cache still
  serves the computations compiled after."""
  program = (
      "import os, sys, jax, jax.numpy as jnp\n"
      "from jax._src import monitoring\n"
      "from hlo_tools import capture_jax\n"
      "from malloc_muzero import compilation_cache\n"
      "compilation_cache.MIN_COMPILE_S = 0\n"
      "hits = []\n"
      "monitoring.register_event_listener("
      "lambda event, **kw: hits.append(event) if 'cache_hits' in event else None)\n"
      "compilation_cache.enable()\n"
      "f = lambda x: jnp.sin(x) @ x.T\n"
      "jax.jit(f)(jnp.ones((16, 16))).block_until_ready()\n"
      "dump = sys.argv[1]\n"
      "capture_jax(f, jnp.ones((16, 16)), dump_dir=dump)\n"
      "jax.jit(lambda x: jnp.cos(x) + 1)(jnp.ones(3)).block_until_ready()\n"
      "print(len(hits), len(os.listdir(dump)))\n")
  env = dict(os.environ, **{compilation_cache.ENV: str(tmp_path / "cache")})
  runs = []
  for run in range(2):
    dump = tmp_path / f"dump{run}"
    dump.mkdir()
    runs.append(subprocess.run([sys.executable, "-c", program, str(dump)], env=env,
                               capture_output=True, text=True, check=True).stdout.split())
  (hits_first, dumped_first), (hits_second, dumped_second) = [map(int, r) for r in runs]
  assert hits_first == 0 and hits_second >= 2  # f and the cos, from the cache
  assert dumped_second == dumped_first > 0


def test_enabled_before_jax_is_imported_it_does_not_import_jax(tmp_path):
  """A command that never compiles does not load JAX for the cache; JAX, once
  imported, has the cache on."""
  program = (
      "import sys\n"
      "from malloc_muzero import compilation_cache\n"
      "compilation_cache.enable()\n"
      "print('jax' in sys.modules)\n"
      "import jax\n"
      "print(jax.config.jax_compilation_cache_dir,"
      " jax.config.jax_persistent_cache_min_compile_time_secs)\n")
  env = dict(os.environ, **{compilation_cache.ENV: str(tmp_path / "cache")})
  out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                       text=True, check=True).stdout.split()
  assert out == ["False", str(tmp_path / "cache"), str(compilation_cache.MIN_COMPILE_S)]
