"""numerics.codecache: generated modules are written once, reused, and regenerated
when damaged; the fingerprint changes with the generator's source."""

import subprocess
import sys

import pytest

from numerics import codecache


def test_written_once_and_reused(cache):
    calls = []

    def make():
        calls.append(1)
        return "VALUE = 41 + 1\n"

    m = codecache.cached_module("demo", "key-a", make)
    assert m.VALUE == 42
    codecache._LOADED.clear()  # as a new process would
    m2 = codecache.cached_module("demo", "key-a", make)
    assert m2.VALUE == 42 and len(calls) == 1
    assert len(list(cache.glob("_nntheory_demo_*.py"))) == 1
    assert not list(cache.glob("*.tmp"))
    m3 = codecache.cached_module("demo", "key-b", lambda: "VALUE = 7\n")
    assert m3.VALUE == 7


def test_damaged_entry_is_regenerated(cache):
    codecache.cached_module("demo", "k", lambda: "VALUE = 1\n")
    (path,) = cache.glob("_nntheory_demo_*.py")
    path.write_text("VALUE = (\n")
    codecache._LOADED.clear()
    assert codecache.cached_module("demo", "k", lambda: "VALUE = 2\n").VALUE == 2


def test_bad_kind_refused(cache):
    with pytest.raises(ValueError, match="kind"):
        codecache.cached_module("no/slash", "k", lambda: "")


def test_fingerprint_depends_on_source(tmp_path, monkeypatch):
    (tmp_path / "gen_a.py").write_text("X = 1\n")
    (tmp_path / "gen_b.py").write_text("X = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fa = codecache.source_fingerprint("gen_a")
    assert fa == codecache.source_fingerprint("gen_a")
    assert fa != codecache.source_fingerprint("gen_b")


def test_second_process_imports_from_cache(cache):
    code = (
        "from numerics import codecache\n"
        "m = codecache.cached_module('demo', 'proc', lambda: 'import os\\nPID = os.getpid()\\n')\n"
        "print(m.__file__)\n"
    )
    env = {**__import__("os").environ, "NNTHEORY_CACHE_DIR": str(cache)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert first == second and len(list(cache.glob("_nntheory_demo_*.py"))) == 1
