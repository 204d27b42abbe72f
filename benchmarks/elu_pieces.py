"""Benchmark: nanoseconds per call of the numba ELU pieces (``python benchmarks/elu_pieces.py``).

Times, per scalar call inside one compiled loop over 20 000 inputs (best of ``--repeat``,
one thread), the functions of ``numerics/jit_special.py``, the ELU kernel pair the Gram
engine uses for every entry (``elu_pair_near_one``, numerics.gram.STABLE_FORMS) and the
registry form compiled directly: ``sympy.lambdify`` of the registry expressions
``(dual, dual_derivative)`` with ``modules=[JIT_FUNCTIONS, "math"]``, ``cse=True``, then
``numba.njit`` (five tilted orthants; the engine's generated form had three). Regimes:
generic (q11, q22 in [1, 4], rho uniform in [-0.9, 0.9]), the benchmark's (sqrt variances
in [1.6, 2.5], rho in [0.05, 0.6]: Plackett's form of the tilted orthant, and for
comparison the scaled integral it replaced there), near rho = 1 (1 - rho log-uniform in
[1e-12, 1e-4]), exactly rho = 1 (q11 = q22 = q12), and large variance (q up to 1e3).
For comparison, the NumPy path (``numerics.compile.dual_pair_function``, the registry
closed form as NumPy/SciPy array code, without numerics.kernels' near-one replacement) on the
same inputs. The machine is shared: best-of-N is the honest number, the spread is printed.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import sympy as sp

import numerics.jit_special as js
from numerics.compile import dual_pair_function
from numerics.gram import JIT_FUNCTIONS
from theory.activations import get
from theory.symbols import q11, q12, q22


def engine_pair(alpha=1.0):
    """The ELU registry form compiled directly (lambdify with cse, math module, njit)."""
    act = get("elu", alpha=alpha)
    modules = [{name: getattr(js, fn) for name, fn in JIT_FUNCTIONS.items()}, "math"]
    raw = sp.lambdify((q11, q12, q22), (act.dual, act.dual_derivative), modules=modules,
                      cse=True)
    return numba.njit(raw)


@numba.njit
def _loop3(f, x, y, z):
    acc = 0.0
    for i in range(x.size):
        acc += f(x[i], y[i], z[i])
    return acc


@numba.njit
def _loop2(f, x, y):
    acc = 0.0
    for i in range(x.size):
        acc += f(x[i], y[i])
    return acc


@numba.njit
def _loop1(f, x):
    acc = 0.0
    for i in range(x.size):
        acc += f(x[i])
    return acc


@numba.njit
def _loop_pair(f, x, y, z):
    acc = 0.0
    for i in range(x.size):
        k, kd = f(x[i], y[i], z[i])
        acc += k + kd
    return acc


@numba.njit
def _owen_value(a, b, rho):
    return js._tilted_orthant_owen(a, b, rho)[0]


@numba.njit
def _loop_near(x, y, z, alpha):
    acc = 0.0
    for i in range(x.size):
        k, kd = js.elu_pair_near_one(x[i], y[i], z[i], alpha)
        acc += k + kd
    return acc


def timed(fn, *args, repeat):
    fn(*args)  # compile
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    n = next(a.size for a in args if isinstance(a, np.ndarray))
    return min(times) / n * 1e9, max(times) / n * 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n, rep = args.n, args.repeat
    qa, qb = rng.uniform(1, 4, n), rng.uniform(1, 4, n)
    rho = rng.uniform(-0.9, 0.9, n)
    near = 1 - 10 ** rng.uniform(-12, -4, n)
    big_a, big_b = rng.uniform(100, 1000, n), rng.uniform(100, 1000, n)
    sa, sb = np.sqrt(qa), np.sqrt(qb)
    bench = (rng.uniform(1.6, 2.5, n), rng.uniform(1.6, 2.5, n), rng.uniform(0.05, 0.6, n))
    pair = engine_pair()
    rows = [
        ("erfcx(x), x in [0, 5]", _loop1, (js.erfcx, rng.uniform(0, 5, n))),
        ("owens_t(h, a)", _loop2, (js.owens_t, rng.uniform(-3, 3, n), rng.uniform(-5, 5, n))),
        ("bivariate_normal_cdf generic", _loop3, (js.bivariate_normal_cdf, -sa, -sb, rho)),
        ("tilted_orthant(0, s, rho) generic", _loop3, (js.tilted_orthant, 0 * sa, sb, rho)),
        ("tilted_orthant(s1, s2, rho) generic", _loop3, (js.tilted_orthant, sa, sb, rho)),
        ("tilted_orthant(0, s, -rho) near -1", _loop3, (js.tilted_orthant, 0 * sa, sb, -near)),
        ("tilted_orthant(s1, s2, rho) near 1", _loop3, (js.tilted_orthant, sa, sb, near)),
        ("tilted_orthant(s1, s2, rho), q ~ 1e2..1e3", _loop3,
         (js.tilted_orthant, np.sqrt(big_a), np.sqrt(big_b), rho)),
        ("tilted_orthant, benchmark regime (Plackett)", _loop3, (js.tilted_orthant, *bench)),
        ("scaled integral, benchmark regime", _loop3, (js._tilted_orthant_scaled, *bench)),
        ("Owen's form, benchmark regime", _loop3, (_owen_value, *bench)),
        ("ELU registry form (lambdify+njit) generic", _loop_pair,
         (pair, qa, rho * np.sqrt(qa * qb), qb)),
        ("ELU registry form (lambdify+njit) q ~ 1e2..1e3", _loop_pair,
         (pair, big_a, rho * np.sqrt(big_a * big_b), big_b)),
        ("ELU registry form (lambdify+njit) near 1", _loop_pair,
         (pair, qa, near * np.sqrt(qa * qb), qb)),
        ("ELU registry form (lambdify+njit) rho = 1", _loop_pair, (pair, qa, qa, qa)),
    ]
    print(f"{'function':45s} {'best ns':>9s} {'worst ns':>9s}")
    for name, loop, a in rows:
        best, worst = timed(loop, *a, repeat=rep)
        print(f"{name:45s} {best:9.0f} {worst:9.0f}")
    numpy_pair = dual_pair_function("elu")
    for name, a in (("generic", (qa, rho * np.sqrt(qa * qb), qb)),
                    ("q ~ 1e2..1e3", (big_a, rho * np.sqrt(big_a * big_b), big_b)),
                    ("near rho = 1", (qa, near * np.sqrt(qa * qb), qb))):
        times = []
        for _ in range(rep):
            t = time.perf_counter()
            numpy_pair(*a)
            times.append(time.perf_counter() - t)
        print(f"{'ELU pair, NumPy compile path, ' + name:45s} {min(times) / n * 1e9:9.0f} "
              f"{max(times) / n * 1e9:9.0f}")
    for name, a in (("generic", (qa, rho * np.sqrt(qa * qb), qb)),
                    ("benchmark regime", (bench[0] ** 2, bench[2] * bench[0] * bench[1],
                                          bench[1] ** 2)),
                    ("q ~ 1e2..1e3", (big_a, rho * np.sqrt(big_a * big_b), big_b))):
        best, worst = timed(_loop_near, *a, 1.0, repeat=rep)
        print(f"{'elu_pair_near_one (the engine) ' + name:45s} {best:9.0f} {worst:9.0f}")
    best, worst = timed(_loop_near, qa, near * np.sqrt(qa * qb), qb, 1.0, repeat=rep)
    print(f"{'elu_pair_near_one near rho = 1':45s} {best:9.0f} {worst:9.0f}")
    best, worst = timed(_loop_near, qa, qa, qa, 1.0, repeat=rep)
    print(f"{'elu_pair_near_one rho = 1 exactly':45s} {best:9.0f} {worst:9.0f}")


if __name__ == "__main__":
    main()
