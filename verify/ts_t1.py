r"""Claim T1 (paper 002, Takakura & Suzuki, arXiv 2403.14917): the two-timescale
objective :math:`G(\mu) = \lambda_a y^\top (K_\mu + n\lambda_a I)^{-1} y` is convex in
the first-layer distribution :math:`\mu`.

Formulation (a reconstruction consistent with the paper's abstract, SETUPS.md; the
paper's own definitions could not be read): features :math:`h(x; w) = \tanh\langle w,
(x, 1)\rangle`, :math:`K_\mu = \mathbb E_\mu h h^\top` on the data, the second layer at its
ridge optimum (:func:`theory.odes.mean_field.ridge_reduction` derives G). Because
:math:`K_\mu` is linear in :math:`\mu` and :math:`K \mapsto y^\top(K + cI)^{-1}y` is
operator convex, G is convex along every mixture :math:`(1-t)\mu_0 + t\mu_1`. The
entropy term is convex by itself and undefined for particle measures: not part of it.

Checked over random pairs of particle measures (random sizes, scales and data):
second differences of :math:`t \mapsto G` on a grid are >= 0 up to rounding
(:math:`64\epsilon\max G`); the exact curvature :func:`numerics.mean_field.mixture_curvature`
matches the fine second difference; the first variation
:math:`\delta G/\delta\mu(w) = -\lambda_a (h(w)^\top\beta)^2` integrated against
:math:`\mu_1 - \mu_0` matches the central difference of :math:`G` at :math:`t = 0`.
"""

from __future__ import annotations

import numpy as np

from numerics import mean_field as mf
from verify import figures
from verify.claim import Override, claim

LAM_A = 0.25  # the paper's lambda_a (SETUPS.md)
FD_STEP, CURV_STEP = 1e-5, 1e-3
EPS = np.finfo(float).eps


def _mixture_kernels(W0, W1, X, t, alpha):
    """Kernels of the mixtures (1 - t) mu0 + t mu1 for every t (shape (len(t), n, n)):
    (1 - alpha) E h h^T (linear in mu: the mixture of the kernels) + alpha (E h)(E h)^T
    (the kernel of the mean feature, not linear in mu)."""
    t = np.asarray(t, dtype=float)[:, None]
    K0, K1 = mf.feature_kernel(W0, X), mf.feature_kernel(W1, X)
    linear = (1 - t[:, :, None]) * K0 + t[:, :, None] * K1
    if alpha == 0:
        return linear
    m = (1 - t) * mf.features(W0, X).mean(axis=-1) + t * mf.features(W1, X).mean(axis=-1)
    return (1 - alpha) * linear + alpha * m[:, :, None] * m[:, None, :]


def _at_most_one(alpha):
    if alpha > 1:
        raise ValueError(f"nonlinear_weight must be <= 1, got {alpha}")


def _pair(rng, n, d, max_particles):
    X = mf.augment(rng.standard_normal((n, d)))
    y = X[:, 0] * X[:, 1] + 0.3 * rng.standard_normal(n)
    return X, y, [rng.standard_normal((int(rng.integers(1, max_particles + 1)), d + 1))
                  * rng.uniform(0.2, 3.0) for _ in range(2)]


@claim(
    sizes={"quick": {"pairs": 200, "n": 30, "d": 3, "max_particles": 40, "grid": 21},
           "full": {"pairs": 2000, "n": 100, "d": 15, "max_particles": 400, "grid": 41}},
    overrides={
        "nonlinear_weight": Override(float, "weight alpha of the mean-feature kernel "
                                     "(E h)(E h)^T mixed into K_mu (not linear in mu; "
                                     "alpha > 0 must FAIL)", default=0.0, minimum=0.0,
                                     check=_at_most_one),
        "first_variation_scale": Override(float, "factor on dG/dmu (1.01 must FAIL)",
                                          default=1.0),
    },
)
def compute(run):
    if run.grid < 3 or run.pairs < 1:
        raise ValueError("need grid >= 3 and pairs >= 1")
    alpha, scale = run.options["nonlinear_weight"], run.options["first_variation_scale"]
    rng = run.rng(0)
    t = np.linspace(0, 1, run.grid)
    worst, rel_min, curv_err, fv_err, curves = [], [], [], [], []
    for k in range(run.pairs):
        X, y, (W0, W1) = _pair(rng, run.n, run.d, run.max_particles)
        G = mf.objective_from_kernel(_mixture_kernels(W0, W1, X, t, alpha), y, LAM_A)
        second = G[:-2] - 2 * G[1:-1] + G[2:]
        rounding = 64 * EPS * np.max(np.abs(G))
        worst.append(np.max(-second) / rounding)
        rel_min.append(np.min(second) / np.max(np.abs(G)))
        if k < 8:
            curves.append(G)
        # exact curvature vs a fine second difference at the segment's middle
        fine = mf.objective_from_kernel(_mixture_kernels(
            W0, W1, X, 0.5 + CURV_STEP * np.arange(-1, 2), alpha), y, LAM_A)
        fd2 = (fine[0] - 2 * fine[1] + fine[2]) / CURV_STEP**2
        K0, K1 = mf.feature_kernel(W0, X), mf.feature_kernel(W1, X)
        exact = mf.mixture_curvature(0.5 * (K0 + K1), 1.5 * K1 - 0.5 * K0, y, LAM_A)
        curv_err.append(abs(fd2 - exact) / max(abs(exact), 1e-300))
        # first variation integrated against mu1 - mu0 vs the derivative at t = 0, in units
        # of the size of its two terms
        ends = mf.objective_from_kernel(_mixture_kernels(W0, W1, X, (-FD_STEP, FD_STEP),
                                                         alpha), y, LAM_A)
        fd1 = (ends[1] - ends[0]) / (2 * FD_STEP)
        e1, e0 = (scale * mf.first_variation(W, W0, X, y, LAM_A).mean() for W in (W1, W0))
        fv_err.append(abs(e1 - e0 - fd1) / (abs(e1) + abs(e0)))
    run.note("min_second_difference", float(np.min(rel_min)))
    run.checks.at_most("convexity_violation", np.maximum(worst, 0.0) + 1e-12, 1.0,
                       source="second differences >= -64 eps max|G| (rounding of four terms)")
    run.checks.at_most("curvature_formula", curv_err, 1e-4,
                       source="second difference at h = 1e-3: O(h^2) truncation, rounding "
                       "4 eps G / h^2 ~ 1e-9")
    run.checks.at_most("first_variation", fv_err, 1e-6,
                       source="central difference at h = 1e-5: O(h^2) ~ 1e-10, rounding "
                       "eps G / h ~ 1e-11")
    run.figure, axes = figures.grid(1, 2, size=(5.0, 3.8))
    for G in curves:
        axes[0, 0].plot(t, G / G[0], lw=1)
    axes[0, 0].set(xlabel="t", ylabel="G((1-t) mu0 + t mu1) / G(mu0)",
                   title="T1: G along mixtures (8 pairs)")
    figures.strip(axes[0, 1], rel_min, lines=(0.0,), title="min second difference / max G",
                  ylabel="per pair")
    return (f"min second difference {np.min(rel_min):.2e} of max G over {run.pairs} pairs "
            f"(nonlinear weight {alpha:g})")
