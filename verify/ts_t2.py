r"""Claim T2 (paper 002, Takakura & Suzuki, arXiv 2403.14917): mean-field Langevin on
the two-timescale objective converges linearly, and its stationary error has a
particle part O(1/N) and a time part O(eta) (the paper's discretization bounds, as
its abstract states them; the constants and exact form could not be read).

Dynamics: :func:`numerics.mean_field.langevin` (G from :mod:`theory.odes.mean_field`,
features :math:`\tanh\langle w, (x, 1)\rangle`: a reconstruction, see SETUPS.md). A
small problem (n = 20, d = 2, :math:`y = x_1x_2 + x_1`) at a strong temperature
(:math:`\lambda = \lambda_w = 0.5`, :math:`\lambda_a = 0.02`) so that the chains mix in a
few time units; the bounds hold for any positive temperature.

* Particle error: the time-averaged :math:`G(\mu_N)` at stationarity (replicas x time)
  for N = 4, 8, ...; its bias is :math:`c/N + O(N^{-2})`, so the differences
  :math:`D(N) = \bar G_N - \bar G_{2N} = c/(2N)` have log-log slope -1 (no limit needed).
  :math:`\bar G_N` fluctuates at :math:`N^{-1/2}` per time point; averaging over the
  replicas and the time window leaves a standard error a few % of D (the data-fit part
  G is used: the :math:`\lambda_w\mathbb E|w|^2` part adds fluctuation without a
  different rate).
* Time error: the stationary bias of Euler-Maruyama is :math:`c\eta + O(\eta^2)`; step
  sizes :math:`\eta, \eta/2, \eta/4, \eta/8` driven by one Brownian path
  (:func:`numerics.mean_field.coupled_langevin`) give differences :math:`D(\eta)` with a
  small variance and slope +1. Measured local slopes on this problem (64 replicas):
  0.63, 0.90, 0.94, 0.97 from :math:`\eta = 0.2` down to 0.0125, so the fit starts at
  :math:`\eta = 0.1`, where the leading term dominates.
* Convergence: started far from stationarity (weights 3x the stationary scale), the
  replica mean of :math:`G + \lambda_w\mathbb E|w|^2` approaches its stationary value
  exponentially: a positive rate, the same on both halves of the approach within
  [3/4, 4/3] (measured 1.03 and 0.91 on seeds 0 and 1; a power law :math:`(1+t)^{-1}`
  seen through the same window gives 0.68).

Slopes: :func:`numerics.stats.loglog_slope` with a bootstrap over the replicas; PASS
when within 0.3 of -1 and +1 and the 95% intervals (3.92 standard errors) are
narrower than 0.3.
"""

from __future__ import annotations

import math

import numpy as np

from numerics import mean_field as mf
from numerics import stats
from verify import figures
from verify.claim import Override, claim

N_DATA, DIM, LAM_A, LAM_W, TEMP = 20, 2, 0.02, 0.5, 0.5
INIT_SCALE, BAND, BOOTSTRAP = 2.0, 0.3, 200


def _data(rng):
    X = mf.augment(rng.standard_normal((N_DATA, DIM)))
    return X, X[:, 0] * X[:, 1] + X[:, 0]


def _convergence(t, V):
    """``(rate, early/late rate ratio, gap, times used)``: lines through log(gap), gap =
    replica mean of V minus its stationary value (second half), over the first stretch of
    records where the gap exceeds 10 sample standard deviations of the stationary part;
    the rate of the whole stretch and the ratio of the rates of its two halves (1 for an
    exponential; a power law's local rate falls along it)."""
    mean = V.mean(axis=1)
    late = mean[len(mean) // 2:]
    gap = mean - late.mean()
    above = gap > 10 * late.std(ddof=1)
    stop = int(np.argmin(above)) if not above.all() else len(above)
    if stop < 6:
        return math.nan, math.nan, gap, t[:stop]
    rates = [-np.polyfit(t[a:b], np.log(gap[a:b]), 1)[0]
             for a, b in ((0, stop), (0, stop // 2), (stop // 2, stop))]
    return float(rates[0]), float(rates[2] / rates[1]), gap, t[:stop]


@claim(
    sizes={"quick": {"particles": (4, 8, 16, 32), "replicas": 64, "time": 100.0, "eta": 0.1,
                     "time_particles": 16, "levels": 4, "eta_max": 0.1, "coupled_time": 30.0},
           "full": {"particles": (4, 8, 16, 32, 64, 128), "replicas": 256, "time": 400.0,
                    "eta": 0.1, "time_particles": 32, "levels": 5, "eta_max": 0.1,
                    "coupled_time": 200.0}},
    overrides={
        "kernel_exponent": Override(float, "K = H H^T / N^gamma (gamma = 1 is the mean-field "
                                    "scaling; 1/2 the NTK one; another gamma must FAIL)",
                                    default=1.0, positive=True),
        "noise_exponent": Override(float, "noise of a step h as sqrt(2 lambda) h^q (q = 1/2 "
                                   "is Euler-Maruyama)", default=0.5, positive=True),
    },
)
def compute(run):
    Ns = np.asarray(run.particles, dtype=int)
    if len(Ns) < 3 or np.any(Ns[1:] != 2 * Ns[:-1]) or run.levels < 3:
        raise ValueError("particles must double (at least three sizes); levels >= 3")
    X, y = _data(run.rng(0))
    steps = int(round(run.time / run.eta))
    averages, conv = [], None
    for i, N in enumerate(Ns):
        rng = run.rng(1, i)
        W0 = INIT_SCALE * rng.standard_normal((run.replicas, int(N), DIM + 1))
        # K / N^(gamma - 1) with lambda_a is K with lambda_a N^(gamma - 1): G(sK; lam) =
        # G(K; lam / s), and the drift alike
        lam_a = LAM_A * float(N) ** (run.options["kernel_exponent"] - 1)
        res = mf.langevin(W0, X, y, lam_a=lam_a, lam_w=LAM_W, temperature=TEMP, eta=run.eta,
                          steps=steps, rng=rng, burn_in=steps // 5,
                          record_every=max(1, int(round(0.2 / run.eta))))
        averages.append(res.time_average_G)
        conv = (res.steps, res.regularized)
    D_N = np.array(averages[:-1]) - np.array(averages[1:])
    rng = run.rng(2)
    W0 = rng.standard_normal((run.replicas, run.time_particles, DIM + 1))
    levels = mf.coupled_langevin(W0, X, y, lam_a=LAM_A, lam_w=LAM_W, temperature=TEMP,
                                 eta=run.eta_max, levels=run.levels, time=run.coupled_time,
                                 rng=rng, burn_in_time=run.coupled_time / 5,
                                 noise_exponent=run.options["noise_exponent"])
    D_eta = levels[:-1] - levels[1:]
    etas = run.eta_max / 2.0 ** np.arange(run.levels - 1)
    fits = {}
    for name, x, D, expected in (("particle", Ns[:-1], D_N, -1.0), ("time", etas, D_eta, 1.0)):
        if np.any(D.mean(axis=1) <= 0):
            run.checks.holds(f"{name}_bias_positive", False, "differences D > 0",
                             measured=D.mean(axis=1).tolist(), source="bias c/N, c eta")
            continue
        fit = stats.loglog_slope(x, replicates=D, bootstrap=BOOTSTRAP,
                                 rng=run.seed_sequence(3, len(fits)))
        fits[name] = (x, D, fit)
        run.checks.slope(f"{name}_slope", fit, expected=expected, band=BAND,
                         source="paper's discretization bounds (abstract); band from the issue")
        run.checks.at_most(f"{name}_slope_ci", 3.92 * fit.slope_se, BAND,
                           source="95% bootstrap interval over replicas narrower than the band")
    t = conv[0] * run.eta
    rate, ratio, gap, t_fit = _convergence(t, conv[1])
    run.checks.at_least("convergence_rate", rate if math.isfinite(rate) else 0.0, 1e-3,
                        source="exponential approach: positive fitted rate")
    run.checks.in_range("convergence_rate_ratio", ratio, 0.75, 4 / 3, log=True,
                        source="linear convergence: the same rate on both halves of the "
                        "approach (seeds 0, 1: 1.03, 0.91); a (1+t)^-1 power law: 0.68")
    run.figure, axes = figures.grid(1, 3, size=(4.2, 3.6))
    for ax, (name, (x, D, fit)), lab in zip(axes[0], fits.items(), ("N", "eta"), strict=False):
        se = D.std(axis=1, ddof=1) / math.sqrt(D.shape[1])
        figures.loglog_fit(ax, x, D.mean(axis=1), fit, yerr=se,
                           expected_slope=-1.0 if name == "particle" else 1.0, label=name,
                           xlabel=lab, ylabel="difference of stationary G",
                           title=f"T2: {name} error")
    ax = axes[0, 2]
    show = t <= 3 * (t_fit[-1] if len(t_fit) else t[-1])
    ax.semilogy(t[show], np.where(gap > 0, gap, np.nan)[show], "o-", ms=3, color="tab:blue")
    ax.set(xlabel="t", ylabel="mean V(t) - stationary", title=f"T2: rate {rate:.2f}")
    run.details = {"D_particles": D_N.tolist(), "D_eta": D_eta.tolist()}
    slopes = ", ".join(f"{k} slope {v[2].slope:.2f}" for k, v in fits.items())
    return f"{slopes}; convergence rate {rate:.2f}"
