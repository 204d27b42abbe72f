"""The verify runner: exit codes, records, hashing, listing, bad input."""

from __future__ import annotations

import json
import os
import sys
import types

import pytest

from verify import registry, runner
from verify.claim import ClaimResult


def _fake_module(name, behaviour):
    """A claim module whose compute passes, fails, raises, or returns garbage."""
    module = types.ModuleType(name)

    def compute(mode="quick", seed=0, **overrides):
        if behaviour == "raise":
            raise RuntimeError("boom inside the claim")
        if behaviour == "garbage":
            return {"passed": True}
        if behaviour == "none-verdict":
            return ClaimResult(params={}, measured={}, expected={}, tolerance={},
                               passed=None, summary="?")
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [0, seed])
        value = 1.0 if behaviour == "pass" else 3.0
        return ClaimResult(
            params={"n": 10, "mode": mode}, measured={"x": value, "nan": float("nan")},
            expected={"x": 1.0}, tolerance={"abs": 0.5}, passed=abs(value - 1.0) <= 0.5,
            summary=f"x = {value} vs 1.0", figure=fig,
        )

    module.compute = compute
    return module


@pytest.fixture
def fake_claims(monkeypatch):
    claims = []
    for behaviour in ("pass", "fail", "raise", "garbage", "none-verdict"):
        mod_name = f"tests_fake_claim_{behaviour.replace('-', '_')}"
        monkeypatch.setitem(sys.modules, mod_name, _fake_module(mod_name, behaviour))
        claims.append(registry.Claim(
            id=f"F{behaviour}", module=f"{mod_name}", paper="kernels",
            statement=f"a claim that does {behaviour}", tolerance="|x - 1| <= 0.5",
            detects="x off by more than 0.5",
            runtime_quick_s=0.1, runtime_full_s=0.1,
        ))
    # Claim.load() imports verify.<module> for a plain name: register there too
    for c in claims:
        monkeypatch.setitem(sys.modules, f"verify.{c.module}", sys.modules[c.module])
    monkeypatch.setattr(registry, "CLAIMS", claims)
    return {c.id: c for c in claims}


def _run(argv, capsys):
    code = runner.main(argv + ["--no-progress"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exit_code_all_pass(fake_claims, tmp_path, capsys):
    code, out, _ = _run(["--out", str(tmp_path), "Fpass"], capsys)
    assert code == 0
    assert "PASS" in out and "Fpass" in out


def test_exit_code_fail(fake_claims, tmp_path, capsys):
    code, out, _ = _run(["--out", str(tmp_path), "Fpass", "Ffail"], capsys)
    assert code == 1
    assert "FAIL" in out


def test_exception_is_error_and_runner_continues(fake_claims, tmp_path, capsys):
    code, out, _ = _run(["--out", str(tmp_path), "Fraise", "Fpass", "Ffail"], capsys)
    assert code == 2
    assert "boom inside the claim" in out
    records = {p.parent.parent.name: json.loads(p.read_text())
               for p in tmp_path.glob("*/*/record.json")}
    assert records["Fraise"]["verdict"] == "ERROR"
    assert "RuntimeError: boom inside the claim" in records["Fraise"]["error"]
    assert records["Fpass"]["verdict"] == "PASS"  # ran after the error
    assert records["Ffail"]["verdict"] == "FAIL"


@pytest.mark.parametrize("claim", ["Fgarbage", "Fnone-verdict"])
def test_malformed_result_is_error_never_pass(fake_claims, tmp_path, capsys, claim):
    code, _, _ = _run(["--out", str(tmp_path), claim], capsys)
    assert code == 2
    (path,) = tmp_path.glob("*/*/record.json")
    assert json.loads(path.read_text())["verdict"] == "ERROR"


def test_record_contract_and_figure(fake_claims, tmp_path, capsys):
    code, _, _ = _run(["--out", str(tmp_path), "--seed", "3", "Fpass"], capsys)
    assert code == 0
    (path,) = tmp_path.glob("Fpass/*/record.json")
    record = json.loads(path.read_text())  # strict JSON: NaN was turned into a string
    for key in runner.RECORD_KEYS:
        assert key in record, key
    assert record["seed"] == 3 and record["mode"] == "quick"
    assert record["measured"]["nan"] == "nan"
    assert set(record["versions"]) >= {"python", "nntheory", "numpy", "scipy", "sympy",
                                       "mpmath", "flint"}
    assert path.parent.name == runner.record_hash("Fpass", "quick", record["params"], 3)
    figure = path.parent / "figure.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # no temporary files left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["figure.png", "record.json"]


def test_jobs_two_uses_process_pool(fake_claims, tmp_path, capsys):
    code, out, _ = _run(["--out", str(tmp_path), "--jobs", "2", "Fpass", "Ffail"], capsys)
    assert code == 1
    assert len(list(tmp_path.glob("*/*/record.json"))) == 2


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "record.json"
    runner._atomic_write_bytes(target, lambda fh: fh.write(b"old"))

    def broken(fh):
        fh.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        runner._atomic_write_bytes(target, broken)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_hash_stable_and_sensitive():
    h = runner.record_hash("K1", "quick", {"n": 1, "a": [1, 2]}, 0, version="0.1.0")
    # same inputs, keys in another order -> same hash
    assert h == runner.record_hash("K1", "quick", {"a": [1, 2], "n": 1}, 0, version="0.1.0")
    assert len(h) == 16 and int(h, 16) >= 0
    others = [
        runner.record_hash("K2", "quick", {"n": 1, "a": [1, 2]}, 0, version="0.1.0"),
        runner.record_hash("K1", "full", {"n": 1, "a": [1, 2]}, 0, version="0.1.0"),
        runner.record_hash("K1", "quick", {"n": 2, "a": [1, 2]}, 0, version="0.1.0"),
        runner.record_hash("K1", "quick", {"n": 1, "a": [1, 2]}, 1, version="0.1.0"),
        runner.record_hash("K1", "quick", {"n": 1, "a": [1, 2]}, 0, version="0.2.0"),
    ]
    assert len({h, *others}) == 6


def test_rerun_reuses_directory(fake_claims, tmp_path, capsys):
    _run(["--out", str(tmp_path), "Fpass"], capsys)
    _run(["--out", str(tmp_path), "Fpass"], capsys)
    assert len(list(tmp_path.glob("Fpass/*/record.json"))) == 1


def test_list(fake_claims, capsys):
    code, out, _ = _run(["--list"], capsys)
    assert code == 0
    for claim in fake_claims.values():
        assert claim.id in out and claim.statement in out
    assert "s quick" in out


def test_list_real_registry(capsys):
    code = runner.main(["--list"])
    out = capsys.readouterr().out
    assert code == 0
    assert "K1" in out and "K2" in out


def test_unknown_claim(fake_claims, tmp_path, capsys):
    code, out, err = _run(["--out", str(tmp_path), "K99"], capsys)
    assert code == 2
    assert "unknown claim 'K99'" in err and "Fpass" in err  # lists the valid ids
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, fragment", [
    (["--jobs", "0"], "--jobs"),
    (["--jobs", "two"], "--jobs"),
    (["--seed", "-1"], "--seed"),
    (["--quick", "--full"], "not allowed with"),
])
def test_bad_options_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        runner.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_to_jsonable_numpy_and_mpmath():
    import mpmath
    import numpy as np

    value = runner.to_jsonable({"a": np.float64(1.5), "b": np.arange(3), "c": np.bool_(True),
                                "d": mpmath.mpf("0.25"), "e": float("inf")})
    assert value == {"a": 1.5, "b": [0, 1, 2], "c": True, "d": 0.25, "e": "inf"}
    json.dumps(value, allow_nan=False)


def test_exit_code_function():
    assert runner.exit_code([{"verdict": "PASS"}]) == 0
    assert runner.exit_code([{"verdict": "PASS"}, {"verdict": "FAIL"}]) == 1
    assert runner.exit_code([{"verdict": "FAIL"}, {"verdict": "ERROR"}]) == 2


@pytest.mark.slow
def test_quick_k1_k2_end_to_end(tmp_path, capsys):
    code = runner.main(["--quick", "--no-progress", "--out", str(tmp_path), "K1", "K2"])
    out = capsys.readouterr().out
    assert code == 0, out
    for claim in ("K1", "K2"):
        (path,) = tmp_path.glob(f"{claim}/*/record.json")
        assert json.loads(path.read_text())["verdict"] == "PASS"
        assert (path.parent / "figure.png").stat().st_size > 10_000


def _run_module(args, **kw):
    import subprocess

    return subprocess.Popen([sys.executable, "-m", "verify", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_records_are_readable(fake_claims, tmp_path, capsys):
    _run(["--out", str(tmp_path), "Fpass"], capsys)
    (record,) = list(tmp_path.glob("Fpass/*/record.json"))
    assert oct(record.stat().st_mode & 0o777) == oct(0o666 & ~runner._UMASK)
    assert record.stat().st_mode & 0o044  # group and others may read (umask 022 here)


def test_python_m_verify_into_a_closed_pipe_is_quiet():
    proc = _run_module(["--list"])
    proc.stdout.close()  # the reader is gone before anything was read
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err


def test_sigterm_stops_the_workers_and_leaves_no_partial_files(tmp_path):
    import signal
    import time

    proc = _run_module(["--quick", "--jobs", "2", "--no-progress", "--out", str(tmp_path),
                        "K3", "K4"], start_new_session=True)
    time.sleep(4)  # workers are computing (K3 and K4 take several seconds each)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    deadline = time.time() + 10
    while time.time() < deadline:  # every process of the session has gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("worker processes outlived the runner")
    assert not list(tmp_path.rglob("*.tmp"))
