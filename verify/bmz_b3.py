r"""Claim B3 (paper 000): a finite network trained by online SGD at large d follows the
reduced ODE, with a gap that shrinks as d grows.

Network :math:`f = \frac1m\sum_i a_i\,\mathrm{elu}(\langle u_i, x\rangle)`, unit rows,
target :math:`\varphi = (0, 1, 0.5)` (normalized Hermite), :math:`a_i(0)\sim\mathcal
N(0,1)`, :math:`u_i(0)` uniform on the sphere (so :math:`r_i(0)\sim d^{-1/2}`).
Time map (our formulation): one step of mini-batch SGD with a fresh batch of
:math:`b = \lceil\sqrt d\,\rceil` samples is :math:`\Delta t = \kappa/d` of ODE time, with
:math:`\eta_u = \Delta t` and :math:`\eta_a = \Delta t/\varepsilon` (the flow
:math:`\varepsilon\dot a_i = -m\partial_{a_i}R`, :math:`\dot u_i = -m\,\mathrm{proj}\,
\nabla_{u_i}R`); the SGD noise then enters at order :math:`\Delta t\,d/b \sim d^{-1/2}`,
the same order as the finite-d interaction of the orthogonal parts of the :math:`u_i`.
The ODE (:func:`theory.odes.single_index.single_index_ode` with the finite-m
self-interaction, truncated at degree 8) starts from each network's own
:math:`(a_i(0), r_i(0))`; the gap is :math:`\max_t |R_{net}(t) - R_{ODE}(t)|` with
:math:`R_{net}` the network's exact population risk
(:func:`numerics.single_index.network_risk`).
"""

from __future__ import annotations

import math

import numpy as np

from numerics import networks
from numerics import single_index as S
from numerics.stats import loglog_slope
from theory.activations import get
from verify import figures
from verify.claim import Override, claim

TARGET = (0.0, 1.0, 0.5)
EPS, KAPPA, K_MAX, T_END = 0.1, 0.5, 8, 1.0
RATIO_MAX = 1.0  # a network that followed the mean-field ODE would give 1


@claim(
    sizes={"quick": {"dims": (100, 200, 400), "dims_per_particle": 4, "seeds": 3},
           "full": {"dims": (100, 400, 1600), "dims_per_particle": 4, "seeds": 8}},
    overrides={"drop_finite_m": Override(bool, "compare with the mean-field ODE without the "
                                         "finite-m self-interaction (must FAIL)",
                                         default=False)},
)
def compute(run):
    dims = sorted(run.dims)
    if len(dims) < 2:
        raise ValueError("need at least two dimensions")
    act, n_runs = get("elu"), run.seeds
    finite_m = not run.options["drop_finite_m"]
    run.params.update(activation="elu", target=list(TARGET), eps=EPS, kappa=KAPPA,
                      k_max=K_MAX, t_end=T_END)
    gaps, ratios, panels = [], [], []
    for k, d in enumerate(dims):
        rng = run.rng(k)
        m = max(2, d // run.dims_per_particle)
        a0 = rng.standard_normal((n_runs, m))
        U0 = rng.standard_normal((n_runs, m, d))
        U0 /= np.linalg.norm(U0, axis=2, keepdims=True)
        u_star = np.zeros(d)
        u_star[0] = 1.0
        dt = KAPPA / d
        steps = int(round(T_END / dt))
        rec, A, U = networks.online_sgd_single_index(
            a0, U0, u_star, act, TARGET, lr_a=dt / EPS, lr_u=dt, steps=steps, rng=rng,
            batch=math.ceil(math.sqrt(d)), record_every=max(1, steps // 30))
        times = rec * dt
        r_net = S.network_risk(A, U, u_star, act, TARGET)  # (n_rec, runs)
        r_fin, r_mf = (np.array([S.ode_risk_on_grid(act, TARGET, EPS, a0[s], U0[s, :, 0],
                                                    times, finite_m=fm, k_max=K_MAX)
                                 for s in range(n_runs)]).T for fm in (True, False))
        r_ode = r_fin if finite_m else r_mf
        gap = np.max(np.abs(r_net - r_ode), axis=0)
        gaps.append(gap)
        ratios.append(float(gap.mean() / np.max(np.abs(r_fin - r_mf), axis=0).mean()))
        panels.append((d, times, r_net.T, r_ode.mean(axis=1)))
        run.note(f"gap_d{d}", float(gap.mean()))
    gaps = np.array(gaps)
    fit = loglog_slope(np.array(dims, dtype=float), replicates=gaps, bootstrap=200,
                       rng=run.rng(len(dims)))
    run.note("gap_slope_vs_d", float(fit.slope))
    run.checks.in_range("gap_slope", fit.slope, -1.1, -0.4,
                        source="-1 from the O(1/m) orthogonal dynamics (m = d/4) and the "
                        "a-step discretization dt/eps ~ 1/d; -1/2 from SGD noise and the "
                        "O(d^-1/2) overlaps of the orthogonal parts; 0.1 margin each side")
    run.checks.at_most("gap_over_finite_m_term", ratios, RATIO_MAX,
                       source="closer to the network than the finite-m term's own size "
                       "(a network on the mean-field ODE gives 1; measured 0.5-0.7 with the "
                       "term, 1.6 without)")
    _figure(run, panels, dims, gaps, fit)
    return f"gap ~ d^{fit.slope:.2f}; {gaps[-1].mean():.2e} at d = {dims[-1]}"


def _figure(run, panels, dims, gaps, fit):
    run.figure, axes = figures.grid(1, 2, size=(4.6, 3.6))
    d, t, r_net, r_ode = panels[-1]
    m = max(2, d // run.dims_per_particle)
    figures.trajectory_vs_ode(axes[0][0], t, r_net, t, r_ode, label="online SGD",
                              title=f"d = {d}, m = {m}", ylabel="risk")
    figures.loglog_fit(axes[0][1], dims, gaps.mean(axis=1), fit, expected_slope=-0.5,
                       title="max_t |R_net - R_ODE|", xlabel="d")
