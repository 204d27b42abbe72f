"""The nntheory console script: subcommands and one-line errors for bad input."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest

from verify import cli


def run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_console_script_declared():
    # (tomllib is not in Python 3.10, which the project supports: read the line)
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert 'nntheory = "verify.cli:main"' in text.split("[project.scripts]")[1].split("[")[0]


def test_kernel_mpmath_relu_one_layer(capsys):
    # x1 = (1, 0), x2 = (1, 1), sigma_w = 1, sigma_b = 0: Sigma^1 has q11 = 1/2, q22 = 1,
    # q12 = 1/2, so rho = 1/sqrt(2), theta = pi/4 and (arc-cosine kernels, Cho & Saul 2009)
    # NNGP = (1/2pi)[sqrt(q11 q22 - q12^2) + (pi - theta) q12] = (1/2pi)(1/2 + 3pi/8),
    # NTK = NNGP + (pi - theta)/(2pi) * q12 = NNGP + 3/16.
    code, out, err = run(["kernel", "relu", "--x1", "1,0", "--x2", "1,1", "--dps", "30"],
                         capsys)
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in out.splitlines()[1:])
    nngp = (0.5 + 3 * math.pi / 8) / (2 * math.pi)
    assert float(lines["NNGP"]) == pytest.approx(nngp, rel=1e-14)
    assert float(lines["NTK"]) == pytest.approx(nngp + 3 / 16, rel=1e-14)
    assert len(lines["NNGP"].strip().replace("-", "").replace(".", "")) >= 25  # 30 digits


def test_kernel_float_matches_mpmath(capsys):
    pytest.importorskip("numerics.kernels")
    argv = ["kernel", "relu", "--hidden-layers", "3", "--sigma-w", "1.5", "--sigma-b", "0.1",
            "--x1", "1,0", "--x2", "0,1"]
    code, out_f, err = run(argv, capsys)
    assert code == 0, err
    code, out_m, err = run(argv + ["--dps", "30"], capsys)
    assert code == 0, err
    f = dict(line.split(None, 1) for line in out_f.splitlines()[1:])
    m = dict(line.split(None, 1) for line in out_m.splitlines()[1:])
    for key in ("NNGP", "NTK"):
        assert float(f[key]) == pytest.approx(float(m[key]), rel=1e-12)


def test_kernel_step_has_no_ntk(capsys):
    code, out, _ = run(["kernel", "step", "--x1", "1,0", "--x2", "0,1", "--dps", "20"], capsys)
    assert code == 0
    assert "NNGP  0.25" in out  # (pi - pi/2)/(2 pi) at orthogonal inputs
    assert "NTK   undefined" in out


@pytest.mark.parametrize("argv, fragment", [
    (["kernel", "relux", "--x1", "1,0"], "unknown activation 'relux'"),
    (["kernel", "relu", "--x1", "1,a"], "--x1"),
    (["kernel", "relu", "--x1", "1,0", "--x2", "1,0,0"], "same length"),
    (["kernel", "relu", "--x1", "1,0", "--hidden-layers", "0"], "--hidden-layers"),
    (["kernel", "relu", "--x1", "1,0", "--sigma-w", "-1"], "--sigma-w"),
    (["kernel", "relu", "--x1", "1,0", "--sigma-b", "nan"], "--sigma-b"),
    (["kernel", "elu", "--x1", "1,0", "--param", "alpha=-1", "--dps", "15"], "alpha"),
    (["kernel", "elu", "--x1", "1,0", "--param", "alpha"], "name=number"),
    (["kernel", "relu", "--x1", "1,0", "--param", "a=0.1", "--dps", "15"], "parameter"),
    (["latex", "bogus", "--activation", "relu"], "invalid choice"),
    (["latex", "dual"], "--activation"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["verify", "--jobs", "0"], "--jobs"),
    (["verify", "K99"], "unknown claim 'K99'"),
])
def test_bad_input_one_line_exit_2(argv, fragment, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_latex_dispatch(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("theory.latex")
    fake.LATEX_KINDS = dict.fromkeys(("activation", "dual", "dual_derivative", "nngp", "ntk"))
    fake.latex_for = lambda kind, act, hidden_layers=None: calls.append(
        (kind, act.label, hidden_layers)) or r"\mathrm{fake}"
    monkeypatch.setitem(sys.modules, "theory.latex", fake)
    code, out, _ = run(["latex", "ntk", "--activation", "relu", "--hidden-layers", "2"], capsys)
    assert code == 0 and out.strip() == r"\mathrm{fake}"
    code, _, _ = run(["latex", "dual", "--activation", "elu", "--param", "alpha=0.5"], capsys)
    assert code == 0
    assert calls == [("ntk", "relu", 2), ("dual", "elu(alpha=1/2)", None)]
    code, _, err = run(["latex", "nngp", "--activation", "relu"], capsys)
    assert code == 2 and "--hidden-layers" in err


def test_latex_real(capsys):
    pytest.importorskip("theory.latex")
    code, out, err = run(["latex", "dual", "--activation", "erf"], capsys)
    assert code == 0, err
    assert "arcsin" in out or "asin" in out


def test_fixedpoint_missing_module_is_clear(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "verify.fixedpoint_cli", None)  # import raises
    code, _, err = run(["fixedpoint", "gelu", "--sigma-w", "1.5"], capsys)
    assert code == 2
    assert "fixed-point explorer is not available" in err
    assert len(err.strip().splitlines()) == 1


def test_fixedpoint_delegates(monkeypatch, capsys):
    seen = {}
    fake = types.ModuleType("verify.fixedpoint_cli")

    def main(args):
        seen.update(vars(args))
        if args.sigma_w == 99:
            raise ValueError("sigma_w = 99 is out of range")
        print("q* = 1")
        return 0

    fake.main = main
    monkeypatch.setitem(sys.modules, "verify.fixedpoint_cli", fake)
    code, out, _ = run(["fixedpoint", "elu", "--param", "alpha=0.5", "--sigma-w", "1.5",
                        "--dps", "50", "--norm-preserving", "--q", "2"], capsys)
    assert code == 0 and "q* = 1" in out
    assert seen == {"activation": "elu", "params": {"alpha": 0.5}, "sigma_w": 1.5,
                    "sigma_b": 0.0, "dps": 50, "norm_preserving": True, "q": 2.0}
    code, _, err = run(["fixedpoint", "gelu", "--sigma-w", "99"], capsys)
    assert code == 2 and "nntheory fixedpoint: error: sigma_w = 99" in err


def test_verify_list(capsys):
    code, out, _ = run(["verify", "--list"], capsys)
    assert code == 0 and "K1" in out and "K2" in out


def test_latex_ode(capsys):
    code, out, _ = run(["latex", "ode", "--model", "saad-solla"], capsys)
    assert code == 0 and r"\dot R_{in}" in out
    code, out, _ = run(["latex", "ode", "--model", "single-index", "--activation", "gelu"],
                       capsys)
    assert code == 0 and "gelu" in out and r"\varphi_{1}" in out
    code, out, _ = run(["latex", "ode"], capsys)
    assert code == 0 and "elu" in out
