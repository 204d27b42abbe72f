"""Benchmark: one full-batch GD step of an erf network on every precision backend.

n = 100 samples, d = 50 inputs, m = 200 hidden units (NTK parameterization,
squared loss), at float32, float64, mpmath 30 digits (103 bits) and Arb 100
bits (midpoint-reset), BLAS pinned to one thread.  Prints absolute times and
the ratio to float64 measured in the same run.

    python benchmarks/precision.py [--profile arb] [--repeat 5]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads BLAS

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from numerics.networks import GDStepper, two_layer_net  # noqa: E402
from numerics.parallel import blas_threads, limit_blas_threads  # noqa: E402
from numerics.precision import float32_normal  # noqa: E402

N, D, M = 100, 50, 200
BACKENDS = [
    ("float32", {}),
    ("float64", {}),
    ("mpmath", {"dps": 30}),
    ("arb", {"bits": 100}),
]


def make_stepper(name, kw):
    net = two_layer_net(D, M, "erf")
    params = net.init(0)
    X = float32_normal(1, (N, D))
    y = np.tanh(X[:, 0] + 0.5 * X[:, 1])
    return GDStepper(net, params, X, y, lr=0.5, backend=name, **kw)


def time_step(stepper, repeat, budget=3.0):
    stepper.step()  # warm-up: compiles the activation for this backend
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < budget and len(times) < 200):
        t0 = time.perf_counter()
        stepper.step()
        times.append(time.perf_counter() - t0)
        if len(times) >= repeat and time.perf_counter() - start > budget:
            break
    return float(np.median(times)), len(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="minimum timed steps per backend")
    parser.add_argument("--skip-mpmath", action="store_true", help="skip the slow mpmath run")
    parser.add_argument("--profile", choices=[b for b, _ in BACKENDS],
                        help="print a cProfile of one step on this backend")
    args = parser.parse_args(argv)
    limit_blas_threads(1)
    print(f"BLAS threads: {blas_threads()} (OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}); erf net n={N}, d={D}, m={M}; "
          "one full-batch GD step")
    rows = []
    for name, kw in BACKENDS:
        if name == "mpmath" and args.skip_mpmath:
            continue
        stepper = make_stepper(name, kw)
        seconds, count = time_step(stepper, 1 if name == "mpmath" else args.repeat)
        rows.append((stepper.backend.label, seconds, count))
    base = dict((r[0], r[1]) for r in rows)["float64"]
    print(f"{'backend':32s} {'time/step':>12s} {'x float64':>10s} {'steps timed':>12s}")
    for label, seconds, count in rows:
        print(f"{label:32s} {seconds * 1e3:10.2f} ms {seconds / base:10.1f} {count:12d}")
    if args.profile:
        kw = dict(BACKENDS)[args.profile]
        stepper = make_stepper(args.profile, kw)
        stepper.step()
        prof = cProfile.Profile()
        prof.runcall(stepper.step)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return rows


if __name__ == "__main__":
    main()
