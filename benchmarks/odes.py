"""Benchmark: the single-index reduced ODE, stiff with the sparse moment-augmented
Jacobian vs the dense Jacobian vs explicit RK45 (``python benchmarks/odes.py``).

m = 400 particles (N(0, 1) midpoint quantiles, r_i(0) = 0), ELU, target
phi = (0, 1, 0.5, 0.25), eps = 1e-8, integrated to convergence (risk below 1e-3 of the
last plateau, t <= 3):

* sparse: BDF on the augmented state [a, r, M] with the arrowhead Jacobian (CSC);
* dense: BDF on the plain state [a, r] with the dense 800 x 800 Jacobian;
* RK45: the explicit method on the augmented state, capped at ``--rk45-seconds`` of
  wall time (its step is bounded by the fast time scale eps, so it needs about 1e7
  steps); it prints how far it got, and its ratio to the sparse solve is a lower bound.

Every time is printed with its ratio to the sparse solve, all in the same run.
BLAS threads are pinned (default 1, ``--threads N``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, default=400, help="particles (default 400)")
    p.add_argument("--eps", type=float, default=1e-8, help="eps (default 1e-8)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--rk45-seconds", type=float, default=5.0, help="wall-time cap of RK45")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from numerics import integrate  # noqa: E402
from numerics import single_index as S  # noqa: E402
from theory.odes.single_index import plateau_levels, single_index_ode  # noqa: E402

TARGET = (0.0, 1.0, 0.5, 0.25)


def main(args):
    m, eps = args.m, args.eps
    ode = single_index_ode("elu", TARGET)
    cp = integrate.compile_particles(ode, m, epsilon=eps)
    y0 = cp.initial_state(S.normal_quantiles(m), np.zeros(m))
    stop = plateau_levels(TARGET)[2] / 1e3
    print(f"single-index ODE: m = {m}, eps = {eps:g}, ELU, phi = {TARGET}; BLAS threads "
          f"{args.threads}")

    start = time.perf_counter()
    t, risk, drift, sol = integrate.particle_risk_curve(cp, y0, 3.0, t_start=eps,
                                                        stop_below=stop)
    sparse_s = time.perf_counter() - start
    t_end = float(t[-1])
    print(f"sparse BDF (arrowhead): {sparse_s:7.2f} s  to t = {t_end:.3g}, final risk "
          f"{risk[-1]:.2e}, {sol.nfev} rhs, {sol.njev} Jacobians, moment drift {drift:.1e}")

    def plain(tt, z):
        return cp.rhs(tt, z, augmented=False)

    start = time.perf_counter()
    dense = integrate.solve(plain, y0[:2 * m], (0.0, t_end), method="BDF",
                            jac=cp.jacobian_dense, rtol=1e-8, atol=1e-10)
    dense_s = time.perf_counter() - start
    gap = np.max(np.abs(dense.y[:, -1] - sol.y[:2 * m, -1]))
    print(f"dense BDF:              {dense_s:7.2f} s  ({dense_s / sparse_s:.1f} x sparse), "
          f"max state difference {gap:.1e}")

    t_rk, _, steps, rk_s = integrate.step_until(cp.rhs, y0, (0.0, t_end), method="RK45",
                                                max_seconds=args.rk45_seconds)
    if t_rk < t_end:
        print(f"RK45 (explicit):        stopped after {rk_s:.1f} s and {steps} steps at t = "
              f"{t_rk:.3g} of {t_end:.3g} (> {rk_s / sparse_s:.0f} x sparse; the step is "
              f"bounded by about eps = {eps:g})")
    else:
        print(f"RK45 (explicit):        {rk_s:7.2f} s ({rk_s / sparse_s:.1f} x sparse), "
              f"{steps} steps")


if __name__ == "__main__":
    main(ARGS)
