"""benchmarks/kernels.py runs end to end at tiny n (so it cannot rot unnoticed).

The neural-tangents side needs its own virtual environment
(benchmarks/make_neural_tangents_env.sh); here a stand-in interpreter answers the
JSON protocol of benchmarks/neural_tangents_timings.py, so the plumbing of
``--neural-tangents`` is exercised too: the numbers it reports are fixed, the rows and
verdicts printed for them are what is checked.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_kernels",
                                                  ROOT / "benchmarks" / "kernels.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class FakeCost:
    """A call whose duration is a m + b m^2 seconds on a fake clock."""

    def __init__(self, a, b):
        self.a, self.b, self.now, self.sizes = a, b, 0.0, []

    def clock(self):
        return self.now

    def __call__(self, m):
        self.sizes.append(m)
        self.now += self.a * m + self.b * m * m
        return m


def test_cost_model_recovers_linear_plus_quadratic():
    kb = _load_benchmark()
    assert kb.cost_model([(10, 2 * 10 + 3 * 100), (40, 2 * 40 + 3 * 1600)]) == \
        pytest.approx((2.0, 3.0), rel=1e-12)
    assert kb.cost_model([(10, 1.0)]) == (0.0, 0.01)  # one point: quadratic
    assert kb.cost_model([(10, 5.0), (20, 4.0)]) == (0.2, 0.0)  # b < 0: linear
    assert kb.cost_model([(10, 1.0), (20, 10.0)]) == (0.0, 10.0 / 400)  # a < 0
    assert kb._largest_within(2.0, 3.0, 2 * 40 + 3 * 1600) == 40


def test_measure_reduces_a_slow_row_and_extrapolates_it():
    kb = _load_benchmark()
    call = FakeCost(a=1e-3, b=1e-4)  # 402 s at n = 2000
    tm = kb.measure(call, 2000, budget=10.0, repeat=3, clock=call.clock)
    assert tm.reduced
    assert call.a * tm.m + call.b * tm.m ** 2 <= 10.0
    assert tm.at_n == pytest.approx(402.0, rel=1e-9)
    assert max(call.sizes) == tm.m < 2000


def test_measure_times_a_fast_row_best_of_repeat_at_full_size():
    kb = _load_benchmark()
    call = FakeCost(a=0.0, b=1e-7)  # 0.4 s at n = 2000
    tm = kb.measure(call, 2000, budget=10.0, repeat=3, clock=call.clock)
    assert not tm.reduced and tm.how is None
    assert tm.seconds == pytest.approx(0.4)
    assert call.sizes[-4:] == [2000] * 4  # warm-up and 3 runs at full size


def test_interleaved_best_alternates_and_keeps_each_calls_best():
    kb = _load_benchmark()
    now = [0.0]
    order = []

    def timed(name, seconds):  # each call's duration falls by 10 % a round: best = last
        def call(m):
            order.append(name)
            now[0] += seconds * 0.9 ** order.count(name)
        return call

    base, fast, slow = timed("base", 1.0), timed("fast", 1.5), timed("slow", 2.5)
    b, others, rounds = kb.interleaved_best(base, [fast, slow], 8, 1.0, budget=1e3,
                                            clock=lambda: now[0])
    assert rounds == kb.RATIO_ROUNDS
    assert order[:6] == ["base", "fast", "slow"] * 2  # one of each per round
    assert b == pytest.approx(0.9 ** rounds)
    assert others == pytest.approx([1.5 * 0.9 ** rounds, 2.5 * 0.9 ** rounds])
    # a small budget: fewer rounds (at least 3)
    assert kb.interleaved_best(base, [fast], 8, 1.0, budget=6.0, clock=lambda: now[0])[2] == 3

FAKE_NT = """#!{python}
import json, os, sys
import numpy as np
spec = json.load(open(sys.argv[2]))
results = {{}}
for job in spec["jobs"]:
    x = np.load(job["inputs"])
    g = x @ x.T / x.shape[1] + 1.0  # a stand-in Gram of the right shape
    np.savez(os.path.join(spec["out_dir"], job["name"] + ".npz"), nngp=g, ntk=g)
    results[job["name"]] = {{"seconds": 1.0, "runs": [1.0], "warmup": 1.0}}
results["gelu"] = {{"error": "MemoryError: stand-in"}}
print(json.dumps({{"versions": {{"neural_tangents": "stand-in"}}, "x64": True,
                  "devices": ["cpu"], "cpu_count": 2, "XLA_FLAGS": "", "results": results}}))
"""


def test_kernels_benchmark_quick(tmp_path):
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_NT.format(python=sys.executable))
    fake.chmod(0o755)
    env = dict(os.environ, NNTHEORY_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "kernels.py"), "--quick",
         "--activations", "relu", "--memory", "--neural-tangents", str(fake)],
        capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rows = {}
    for line in out.splitlines():
        if line and not line.startswith(" "):
            cols = re.split(r"\s{2,}", line.strip())
            rows[cols[0]] = cols
    for label in ("relu n=48", "erf n=48", "gelu n=48",
                  "elu n=24 vs ElementwiseNumerical(deg=25)", "elu n=48",
                  "elu ntk(x, x) / ntk(x), n=24", "elu ntk(x, x + 1e-3 e) / ntk(x), n=24",
                  "tanh n=48", "first call relu (empty cache)", "first call relu (warm cache)",
                  "memory relu n=64"):
        assert label in rows, f"row {label!r} missing from:\n{out}"
        assert rows[label][5] in ("met", "NOT MET", "n/a"), rows[label]
    # columns: row, nntheory, neural-tangents, ratio, target, met; the stand-in took 1 s
    relu = rows["relu n=48"]
    assert relu[2] == "1 s"
    seconds = float(relu[1].split()[0])
    assert float(relu[3]) == pytest.approx(seconds, rel=0.02)
    assert relu[5] == ("met" if seconds <= 0.5 else "NOT MET")
    assert re.fullmatch(r"nngp \S+ / \S+, ntk \S+ / \S+", relu[6]), relu
    assert rows["gelu n=48"][2:6] == ["-", "-", "ratio <= 0.5 x neural-tangents", "n/a"]
    assert "neural-tangents gelu: MemoryError: stand-in" in out
    assert "tanh accuracy: not run" in out
