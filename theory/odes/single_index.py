r"""The reduced ODE of a wide two-layer network learning a single-index target
(Berthier, Montanari, Zhou, arXiv 2303.00055, eq. 38 and section 6).

Model :math:`f(x) = \frac1m\sum_i a_i\,\sigma(\langle u_i, x\rangle)`, :math:`|u_i| = 1`,
target :math:`y = \varphi(\langle u^*, x\rangle)`, :math:`x\sim\mathcal N(0, I_d)`. With the
normalized Hermite coefficients :math:`c_k` of :math:`\sigma`
(:func:`theory.gaussian.hermite_coefficients`) and :math:`\varphi_k` of the target, the
overlaps :math:`r_i = \langle u_i, u^*\rangle` and the moments
:math:`M_k = \frac1m\sum_i a_i r_i^k`, the population risk for :math:`d\to\infty` is

.. math:: \mathcal R = \tfrac12\sum_{k=0}^{K} (\varphi_k - c_k M_k)^2 ,

and the flow :math:`\varepsilon\,\dot a_i = -m\,\partial_{a_i}\mathcal R`,
:math:`\dot r_i = -(1 - r_i^2)\,m\,\partial_{r_i}\mathcal R` (the spherical gradient
flow projected on :math:`u^*`; small :math:`\varepsilon` = fast second layer) is derived
here from the risk in SymPy:

.. math:: \varepsilon\,\dot a_i = \sum_k c_k r_i^k e_k, \qquad
          \dot r_i = (1 - r_i^2)\,a_i \sum_k k\,c_k r_i^{k-1} e_k, \qquad
          e_k = \varphi_k - c_k M_k .

With ``finite_m=True`` the risk keeps the :math:`i = j` terms a network of :math:`m`
neurons has (:math:`\langle u_i, u_i\rangle = 1`, not :math:`r_i^2`):
:math:`+\frac{1}{2m^2}\sum_i a_i^2\sum_k c_k^2 (1 - r_i^{2k})` (SETUPS.md for paper 000;
this form, truncated at degree K, is our derivation, not the paper's text).
"""

from __future__ import annotations

import math

import sympy as sp

from theory.activations import resolve
from theory.gaussian import hermite_coefficients
from theory.odes.base import ParticleODE

__all__ = ["a", "r", "eps", "m", "coefficient_symbols", "target_symbols", "moment_symbols",
           "single_index_ode", "plateau_levels", "first_escape_time", "risk_expression"]

a = sp.Symbol("a", real=True)
r = sp.Symbol("r", real=True)
eps = sp.Symbol("epsilon", positive=True)
m = sp.Symbol("m", positive=True)


def coefficient_symbols(k_max: int) -> tuple:
    """:math:`c_0..c_K`, the activation's normalized Hermite coefficients."""
    return tuple(sp.Symbol(f"c_{k}", real=True) for k in range(k_max + 1))


def target_symbols(k_max: int) -> tuple:
    r""":math:`\varphi_0..\varphi_K`, the target's normalized Hermite coefficients."""
    return tuple(sp.Symbol(f"phi_{k}", real=True) for k in range(k_max + 1))


def moment_symbols(k_max: int) -> tuple:
    """:math:`M_0..M_K`."""
    return tuple(sp.Symbol(f"M_{k}", real=True) for k in range(k_max + 1))


def risk_expression(k_max: int) -> sp.Expr:
    r""":math:`\frac12\sum_{k\le K}(\varphi_k - c_k M_k)^2` (eq. 38 of the paper)."""
    c, phi, M = coefficient_symbols(k_max), target_symbols(k_max), moment_symbols(k_max)
    return sp.Rational(1, 2) * sum((phi[k] - c[k] * M[k]) ** 2 for k in range(k_max + 1))


def _check_k_max(k_max):
    if isinstance(k_max, bool) or not isinstance(k_max, int) or k_max < 1:
        raise ValueError(f"k_max must be an integer >= 1, got {k_max!r}")
    return k_max


def single_index_ode(activation="elu", target=(0, 1, 0.5, 0.25), k_max: int | None = None, *,
                     finite_m: bool = False, coefficients=None, dps=None) -> ParticleODE:
    r"""The particle flow of the single-index model (module docstring) as a
    :class:`~theory.odes.base.ParticleODE` with state :math:`(a, r)`.

    ``target``: :math:`\varphi_0, \varphi_1, \ldots` (padded with zeros to ``k_max``,
    default its degree); ``activation``: a registry entry or name whose
    :math:`c_k` fill ``values`` (or ``coefficients`` given directly, e.g. a deliberately
    wrong set); ``finite_m`` adds the self-interaction term (then ``m`` is a parameter).
    :math:`\varepsilon` stays a free parameter."""
    target = [float(v) if dps is None else v for v in target]
    if not target:
        raise ValueError("target must list at least phi_0")
    K = _check_k_max(len(target) - 1 if k_max is None else k_max)
    if len(target) > K + 1 and any(target[K + 1:]):
        raise ValueError(f"target has nonzero coefficients above k_max = {K}")
    target = (target + [0.0] * (K + 1))[:K + 1]
    if coefficients is None:
        coefficients = hermite_coefficients(resolve(activation), K, dps=dps)
    elif len(coefficients) < K + 1:
        raise ValueError(f"need {K + 1} coefficients c_0..c_{K}, got {len(coefficients)}")
    c, phi, M = coefficient_symbols(K), target_symbols(K), moment_symbols(K)
    mu = tuple(a * r**k for k in range(K + 1))
    F = risk_expression(K)
    self_term = (sp.Rational(1, 2) * a**2 * sum(c[k] ** 2 * (1 - r ** (2 * k))
                                                for k in range(1, K + 1))
                 if finite_m else sp.S.Zero)
    # m dR/d theta_i = sum_k dF/dM_k dmu_k/dtheta + (1/m) ds/dtheta   (chain rule)
    grads = []
    for var in (a, r):
        g = sum(sp.diff(F, M[k]) * sp.diff(mu[k], var) for k in range(K + 1))
        grads.append(sp.expand(g + sp.diff(self_term, var) / m))
    rhs = (-grads[0] / eps, -(1 - r**2) * grads[1])
    values = {**dict(zip(c, coefficients[:K + 1], strict=True)),
              **dict(zip(phi, target, strict=True))}
    names = {eps: r"\varepsilon", **{p: rf"\varphi_{{{k}}}" for k, p in enumerate(phi)}}
    label = getattr(resolve(activation), "label", str(activation))
    return ParticleODE(
        name="single-index", state=(a, r), rhs=rhs,
        parameters=(eps, *c, *phi, *((m,) if finite_m else ())), values=values,
        description=(f"single-index two-layer model, activation {label}, K = {K}"
                     + (", finite-m self-interaction" if finite_m else "")),
        symbol_names=names, moments=M, moment_functions=mu, risk=F, self_term=self_term)


def plateau_levels(target) -> list:
    r"""Risk plateaus :math:`P_l = \frac12\sum_{k>l}\varphi_k^2`, :math:`l = 0..K`
    (section 6 of the paper: degrees :math:`\le l` learnt, the rest not)."""
    t = list(target)
    return [0.5 * sum(v * v for v in t[l + 1:]) for l in range(len(t))]


def first_escape_time(epsilon: float, c1: float, phi1: float) -> float:
    r""":math:`t_1 \approx \sqrt\varepsilon\,\ln(1/\varepsilon)/(4 c_1\varphi_1)`: the
    linearized first phase from :math:`r_i(0) = 0` (:math:`a_i` and :math:`r_i` grow at
    rate :math:`c_1\varphi_1/\sqrt\varepsilon`, :math:`M_1 \sim \sqrt\varepsilon\,
    e^{2c_1\varphi_1 t/\sqrt\varepsilon}` reaches O(1)); SETUPS.md, paper 000."""
    if not (0 < epsilon < 1) or c1 * phi1 <= 0:
        raise ValueError(f"need 0 < eps < 1 and c1 phi1 > 0, got {epsilon}, {c1}, {phi1}")
    return math.sqrt(epsilon) * math.log(1 / epsilon) / (4 * c1 * phi1)
