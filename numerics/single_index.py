r"""The single-index reduced ODE of paper 000 (:mod:`theory.odes.single_index`) integrated
in float64, and the readings the claims take from its risk curve.

:func:`risk_curve` compiles the flow (cached per activation, target, coefficients and
:math:`\varepsilon`), integrates the moment-augmented system with a stiff method and
the sparse Jacobian (:mod:`numerics.integrate`), and judges the risk with the *true*
coefficients even when the flow was given deliberately wrong ones. Readings:
:func:`transition_times` (first crossings of levels between plateaus) and
:func:`plateau_readings` (the risk at the geometric mean of adjacent crossing times).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
import threadpoolctl
from scipy.stats import norm

from numerics import codecache, integrate
from numerics.validate import check_int
from theory.activations import resolve
from theory.gaussian import hermite_coefficients
from theory.odes import single_index as si

__all__ = ["RiskCurve", "risk_curve", "normal_quantiles", "crossing_levels",
           "transition_times", "plateau_readings", "aitken_limit", "network_risk",
           "gram_risk", "population_gd_single_index", "ode_risk_on_grid"]


def normal_quantiles(m: int) -> np.ndarray:
    r"""The ``m`` midpoint quantiles :math:`\Phi^{-1}((i - 1/2)/m)` of N(0, 1): a
    deterministic discretization of the law :math:`a_i(0)\sim\mathcal N(0,1)`."""
    return norm.ppf((np.arange(m) + 0.5) / m)


@functools.lru_cache(maxsize=32)
def _coefficients(activation, k_max):
    """The activation's c_0..c_K as floats, computed once per machine (mpmath quadrature
    takes seconds at K = 8): cached by :mod:`numerics.codecache` under the entry's
    identity and the source of the modules that compute them."""
    act = resolve(activation)
    key = "|".join([repr((act.name, act.params, act.family, act.family_params, act.kinks,
                          k_max)), sp.srepr(act.expr), mpmath.__version__,
                    codecache.source_fingerprint("theory.arithmetic", "theory.special",
                                                 "theory.gaussian", "theory.activations")])

    def make_source():
        values = tuple(float(c) for c in hermite_coefficients(act, k_max))
        return f"COEFFICIENTS = {values!r}\n"

    return codecache.cached_module("hermite", key, make_source).COEFFICIENTS


@functools.lru_cache(maxsize=32)
def _compiled(activation, target, coefficients, epsilon, m, finite_m):
    if m != 1:
        # one compilation for every particle count: the mean-field flow does not depend on
        # m, the finite-m one takes it as an argument (SymPy compilation is the cost here)
        return dataclasses.replace(_compiled(activation, target, coefficients, epsilon, 1,
                                             finite_m), m=m)
    if coefficients is None:
        coefficients = _coefficients(activation, len(target) - 1)
    ode = si.single_index_ode(activation, list(target), coefficients=list(coefficients),
                              finite_m=finite_m)
    return integrate.compile_particles(ode, m, epsilon=epsilon)


@dataclass
class RiskCurve:
    """``t``, ``risk`` (true coefficients), largest moment drift, the solution and the
    compiled system."""

    t: np.ndarray
    risk: np.ndarray
    drift: float
    solution: object
    compiled: object


def risk_curve(activation, target, epsilon, a0, r0, t_end, *, coefficients=None,
               finite_m=False, stop_below=None, points=600, t_start=None, rtol=1e-8,
               atol=1e-10, method="BDF") -> RiskCurve:
    r"""Integrate the single-index flow from :math:`(a_i(0), r_i(0))` to ``t_end``.
    ``coefficients`` replace the activation's :math:`c_k` in the flow only (the risk
    is judged with the true ones)."""
    target = tuple(float(v) for v in target)
    m = len(a0)
    true = _compiled(activation, target, None, float(epsilon), m, finite_m)
    cp = true if coefficients is None else _compiled(
        activation, target, tuple(float(c) for c in coefficients), float(epsilon), m,
        finite_m)
    y0 = cp.initial_state(a0, r0)
    t_start = epsilon * 1e-2 if t_start is None else t_start
    t, risk, drift, sol = integrate.particle_risk_curve(
        cp, y0, t_end, t_start=t_start, points=points, method=method, rtol=rtol, atol=atol,
        stop_below=stop_below, risk=true.risk)
    return RiskCurve(t, risk, drift, sol, cp)


def crossing_levels(target) -> list:
    r"""Levels that mark the drops: :math:`\sqrt{P_{l-1}P_l}` between plateaus
    :math:`P_l = \frac12\sum_{k>l}\varphi_k^2` (:func:`theory.odes.single_index.plateau_levels`)
    for the drops that end on a nonzero plateau, :math:`P_{K-1}/10` for the last.
    Only degrees with :math:`\varphi_l \ne 0` make a drop."""
    P = si.plateau_levels(target)
    levels, previous = [], None
    for l in range(len(P)):
        if target[l] == 0 or l == 0:
            previous = P[l] if previous is None else previous
            continue
        levels.append(np.sqrt(previous * P[l]) if P[l] > 0 else previous / 10)
        previous = P[l]
    return levels


def transition_times(curve: RiskCurve, levels) -> list:
    """First crossing time of each level (NaN if never)."""
    return [integrate.crossing_times(curve.t, curve.risk, lv) for lv in levels]


def plateau_readings(curve: RiskCurve, times) -> list:
    """Risk at the geometric mean of each pair of adjacent crossing times (log-time
    interpolation)."""
    out = []
    for lo, hi in zip(times[:-1], times[1:], strict=True):
        out.append(float(np.interp(0.5 * (np.log(lo) + np.log(hi)), np.log(curve.t),
                                   curve.risk)))
    return out


def aitken_limit(values) -> tuple[float, float]:
    r"""Aitken's :math:`\Delta^2` limit of the last three of a sequence converging
    geometrically, and the size of its step from the last value (an estimate of the last
    value's remaining error): :math:`x_\infty = x_3 - (\Delta x_3)^2/(\Delta x_3 -
    \Delta x_2)`."""
    x1, x2, x3 = (float(v) for v in values[-3:])
    d2, d3 = x2 - x1, x3 - x2
    if d3 == d2:
        return x3, 0.0
    step = d3 * d3 / (d3 - d2)
    return x3 - step, abs(step)


def eps_sweep(activation, target, eps_values, m, *, coefficients=None, flow_eps=None,
              t_end=3.0):
    r"""For each :math:`\varepsilon`: the risk curve from :math:`r_i(0) = 0`,
    :math:`a_i(0)` the N(0, 1) midpoint quantiles, and the crossing times of
    :func:`crossing_levels` (NaN for a drop that never happens). ``flow_eps`` replaces
    every :math:`\varepsilon` of the flow (e.g. 1: second layer as slow as the first).
    Stops once the flow's own risk is below 1e-3 of its last nonzero plateau."""
    levels = crossing_levels(target)
    P = [p for p in si.plateau_levels(target) if p > 0]
    a0 = normal_quantiles(m)
    out = []
    for e in eps_values:
        curve = risk_curve(activation, target, e if flow_eps is None else flow_eps, a0,
                           np.zeros(m), t_end, coefficients=coefficients,
                           stop_below=P[-1] / 1e3, t_start=1e-2 * e)
        out.append((curve, transition_times(curve, levels)))
    return out


def network_risk(a, U, u_star, activation, target):
    r"""Exact population risk of networks :math:`f = \frac1m\sum_i a_i\sigma(\langle u_i,
    x\rangle)` with unit rows on the target :math:`\sum_k\varphi_k\mathrm{He}_k/\sqrt{k!}`:
    :math:`\frac12[\sum_k\varphi_k^2 - \frac2m\sum_i a_i\sum_k\varphi_k c_k r_i^k +
    \frac1{m^2}a^T\kappa(UU^T)a]`, :math:`\kappa(\rho) = \mathbb E[\sigma(u)\sigma(v)]` at
    unit variances (the registry's closed form). ``a``: (..., m), ``U``: (..., m, d)."""
    a, U = np.asarray(a, dtype=float), np.asarray(U, dtype=float)
    r = np.einsum("...md,...d->...m", U, np.broadcast_to(u_star, U.shape[:-2] + U.shape[-1:]))
    return gram_risk(a, r, np.einsum("...id,...jd->...ij", U, U), activation, target)


def gram_risk(a, r, G, activation, target):
    r"""The risk of :func:`network_risk` from the second layer ``a`` (..., m), the overlaps
    ``r`` (..., m) and the Gram matrix ``G`` (..., m, m) of the unit rows."""
    from numerics.compile import dual_function

    act = resolve(activation)
    kappa = dual_function(act)
    c = np.array(_coefficients(act, len(target) - 1))
    phi = np.asarray(target, dtype=float)
    a, r = np.asarray(a, dtype=float), np.asarray(r, dtype=float)
    G = np.clip(np.asarray(G, dtype=float), -1.0, 1.0)
    m = a.shape[-1]
    cross = np.einsum("...m,...mk,k->...", a, r[..., None] ** np.arange(len(phi)), phi * c) / m
    quad = np.einsum("...i,...ij,...j->...", a, kappa(np.ones_like(G), G, np.ones_like(G)), a)
    return 0.5 * (np.sum(phi**2) - 2 * cross + quad / m**2)


#: degree of the Hermite series of kappa and kappa' in :func:`population_gd_single_index`
#: (kappa'(rho) off by 2e-4 at rho = 0.95, 7e-6 at 0.8 for ELU at degree 16)
POPULATION_GD_DEGREE = 16


def population_gd_single_index(a0, U0, u_star, activation, target, *, lr_a, lr_u, steps,
                               record_every=1, degree=POPULATION_GD_DEGREE):
    r"""The noise-free counterpart of :func:`numerics.networks.online_sgd_single_index`:
    the same finite networks, rates and steps with the population (expected) gradient in
    place of the batch one, run on :math:`(a, r, G)` (cost :math:`O(m^3)` per step,
    independent of d). A step takes :math:`a_i \mathrel{+}= \eta_a\,\mathbb E[\delta
    \sigma_i]` and moves :math:`u_i` by :math:`\eta_u` times the tangent part of
    :math:`a_i\mathbb E[\delta\sigma'_i x]`,
    :math:`a_i[\sum_k k\varphi_kc_kr_i^{k-1}(u^*-r_iu_i) - \frac1m\sum_{j\ne i}a_j
    \kappa'(G_{ij})(u_j - G_{ij}u_i)]`, then renormalizes (both gradients at the old
    state, as there). The radial part of the expected gradient is left out: it only
    rescales the step by :math:`1/(1+\eta_u\rho_i)`, an :math:`O(\eta_u) = O(1/d)`
    relative change. :math:`\kappa, \kappa'` are Hermite series to ``degree``; the
    target is padded with zeros to it. Returns ``(steps_recorded, a, r, G)`` with shapes
    (n_rec, S, m), (n_rec, S, m), (n_rec, S, m, m)."""
    from numerics.compile import dual_function

    act = resolve(activation)
    a = np.array(a0, dtype=float)
    U0 = np.asarray(U0, dtype=float)
    if U0.ndim != 3 or a.shape != U0.shape[:2]:
        raise ValueError(f"need a0 (S, m) and U0 (S, m, d), got {a.shape} and {U0.shape}")
    if len(target) > degree + 1:
        raise ValueError(f"degree must be at least the target's degree {len(target) - 1}")
    m = a.shape[1]
    c = np.array(_coefficients(act, degree))
    phi = np.zeros(degree + 1)
    phi[:len(target)] = np.asarray(target, dtype=float)
    target_a = np.polynomial.Polynomial(phi * c)            # sum phi_k c_k r^k
    target_u = target_a.deriv()                             # sum k phi_k c_k r^(k-1)
    kappa_one = float(dual_function(act)(1.0, 1.0, 1.0))     # E[sigma^2], exact
    G = np.einsum("sid,sjd->sij", U0, U0)
    r = np.einsum("smd,d->sm", U0, np.asarray(u_star, dtype=float))
    eye = np.eye(m)
    diag = eye.astype(bool)
    rec, As, Rs, Gs = [0], [a.copy()], [r.copy()], [G.copy()]
    with threadpoolctl.threadpool_limits(1):  # small matmuls: threads only cost under load
        for step in range(1, check_int("steps", steps, minimum=1) + 1):
            K, dK = _series_and_derivative(c**2, G)
            K[:, diag] = kappa_one
            grad_a = target_a(r) - np.einsum("sij,sj->si", K, a) / m
            W = dK * (a[:, :, None] * a[:, None, :]) / m
            W[:, diag] = 0.0
            alpha = a * target_u(r)
            P = -lr_u * W
            P[:, diag] += 1.0 + lr_u * (np.einsum("sij,sij->si", W, G) - alpha * r)
            q = lr_u * alpha
            Pr = np.einsum("sij,sj->si", P, r) + q               # U' u*, before renormalizing
            G = P @ G @ np.swapaxes(P, 1, 2)
            # U' = P U + q u*^T: G' = P G P^T + (P r) q^T + q (P r)^T + q q^T
            G += Pr[:, :, None] * q[:, None, :] + q[:, :, None] * Pr[:, None, :]
            G -= q[:, :, None] * q[:, None, :]
            n = np.sqrt(np.einsum("sii->si", G))
            G /= n[:, :, None] * n[:, None, :]
            r = Pr / n
            a = a + lr_a * grad_a
            if step % record_every == 0 or step == steps:
                rec.append(step)
                As.append(a.copy())
                Rs.append(r.copy())
                Gs.append(G.copy())
    return np.array(rec), np.array(As), np.array(Rs), np.array(Gs)


def _series_and_derivative(coef, x):
    """sum_k coef_k x^k and its derivative, by Horner's rule."""
    p = np.full_like(x, coef[-1])
    dp = np.zeros_like(x)
    for ck in coef[-2::-1]:
        dp *= x
        dp += p
        p *= x
        p += ck
    return p, dp


def ode_risk_on_grid(activation, target, epsilon, a0, r0, times, *, finite_m=False,
                     k_max=None):
    r"""Risk of the reduced flow from :math:`(a_i(0), r_i(0))` at the given ``times``
    (any grid), the target padded with zeros to degree ``k_max`` (so the activation's
    :math:`c_k` up to ``k_max`` enter the risk and the finite-m self-interaction)."""
    target = tuple(float(v) for v in target)
    if k_max is not None:
        target = target + (0.0,) * (k_max + 1 - len(target))
    cp = _compiled(activation, target, None, float(epsilon), len(a0), finite_m)
    sol = integrate.solve(cp.rhs, cp.initial_state(a0, r0), (0, float(times[-1])),
                          method="BDF", jac=cp.jacobian_sparse, t_eval=times, rtol=1e-9,
                          atol=1e-11)
    return np.array([cp.risk(sol.y[:, j]) for j in range(sol.t.size)])
