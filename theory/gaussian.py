r"""Gaussian expectation engine (SymPy + mpmath only).

Building blocks for dual kernels :math:`\mathbb{E}[f(u)g(v)]` with
:math:`(u, v) \sim \mathcal{N}(0, [[q_{11}, q_{12}], [q_{12}, q_{22}]])`, written with
the special functions of :mod:`theory.special` (``Phi``, ``BivariateNormalCDF``,
``Erfcx``, ``TiltedOrthant``; re-exported here):

* the lemma blocks of the ELU kernels — :func:`tilted_orthant`, :func:`exp_halfline`,
  :func:`stein_orthant`, :func:`relu_times_tilted` — and :func:`elu_kernels`, each
  with an independent numeric form for its identity check
  (:func:`lemma_block_residuals`);
* ``hermite_coefficients`` — normalized Hermite coefficients
  :math:`c_k = \mathbb{E}[\sigma(z) \mathrm{He}_k(z)] / \sqrt{k!}`.

Price's theorem, :math:`\partial_{q_{12}} \mathbb{E}[f(u)g(v)] = \mathbb{E}[f'(u)g'(v)]`,
is what ties a dual kernel to its derivative kernel; the checks live in
``price_theorem_residual`` and the tests.

This module sits below the registry (:mod:`theory.activations`): functions that take
an activation take the registry entry itself (an :class:`~theory.activations.Activation`,
e.g. ``get("relu")``), not a name.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from theory.arithmetic import guarded, target_digits
from theory.special import (  # noqa: F401  (re-exported: their historical home)
    MPMATH_FUNCTIONS,
    BivariateNormalCDF,
    Erfcx,
    Phi,
    TiltedOrthant,
    _check_dps,
    mp_bivariate_normal_cdf,
    mp_erfcx,
    mp_tilted_orthant,
    normal_pdf,
)
from theory.symbols import q, q11, q12, q22, x

__all__ = [
    "Phi",
    "BivariateNormalCDF",
    "Erfcx",
    "TiltedOrthant",
    "hermite_coefficients",
    "mp_bivariate_normal_cdf",
    "mp_erfcx",
    "mp_tilted_orthant",
    "exp_halfline",
    "stein_orthant",
    "tilted_orthant",
    "relu_times_tilted",
    "elu_kernels",
    "exp_polynomial_kernel",
    "exp_polynomial_kernels",
    "exp_polynomial_terms",
    "check_gaussian_expectation",
    "quadratic_growth",
    "lemma_block_residuals",
    "price_theorem_symbolic",
    "price_theorem_residual",
    "zero_correlation_residual",
    "diagonal_residual",
    "hermite_series_residual",
]


def _entry(activation):
    """The registry entry a function of this module was given. Names are resolved by
    the registry, which sits above this module: pass ``theory.activations.get(name)``
    (or call the method of the entry, e.g. ``get("relu").hermite_coefficients(4)``)."""
    if isinstance(activation, str) or not all(
            hasattr(activation, a) for a in ("expr", "kinks", "mpmath_function", "label")):
        raise ValueError(
            f"expected an activation entry (theory.activations.get(name)), got {activation!r}; "
            "theory.gaussian sits below the registry and does not resolve names")
    return activation


@guarded()
def gaussian_expectation(fn, *, dps=None, kinks=()):
    r""":math:`\mathbb{E}[f(z)]`, :math:`z \sim \mathcal N(0,1)`, by mpmath
    tanh-sinh quadrature split at the given kinks (so piecewise integrands are
    integrated to full precision); a float, or an mpf at ``dps`` digits."""
    return _gaussian_expectation(fn, kinks)


def _gaussian_expectation(fn, kinks):
    """:func:`gaussian_expectation` at the working precision, unrounded."""
    points = [-mpmath.inf, *sorted(mpmath.mpf(k) for k in set(kinks)), mpmath.inf]
    return mpmath.quad(lambda z: fn(z) * mpmath.npdf(z), points)


@guarded()
def hermite_coefficients(activation, k_max, *, dps=None):
    r"""Normalized Hermite coefficients of an activation.

    .. math:: c_k = \mathbb{E}[\sigma(z)\,\mathrm{He}_k(z)]/\sqrt{k!},
              \quad z\sim\mathcal N(0,1), \quad k = 0..k_{\max},

    so that :math:`\sigma = \sum_k c_k \mathrm{He}_k/\sqrt{k!}` and
    :math:`\mathbb{E}[\sigma(u)\sigma(v)] = \sum_k c_k^2 \rho^k` for unit variances.
    Computed with mpmath quadrature (split at the activation's kinks) at
    ``dps`` digits; returns a list of mpmath numbers when ``dps`` is given,
    else floats. ``activation`` is a registry entry (by name:
    ``get("relu").hermite_coefficients(k_max)``).
    """
    if not isinstance(k_max, int) or isinstance(k_max, bool) or k_max < 0:
        raise ValueError(f"k_max must be a non-negative integer, got {k_max!r}")
    act = _entry(activation)
    sigma = act.mpmath_function()
    coeffs = []
    for k in range(k_max + 1):
        norm = mpmath.sqrt(mpmath.factorial(k))
        value = _gaussian_expectation(
            lambda z, k=k: sigma(z) * mpmath.hermite(k, z / mpmath.sqrt(2))
            / mpmath.mpf(2) ** (mpmath.mpf(k) / 2),
            act.kinks,
        )
        coeffs.append(value / norm)
    return coeffs


# ---------------------------------------------------------------------------
# lemma blocks for the ELU kernels
# ---------------------------------------------------------------------------

def tilted_orthant(a, b, rho):
    r""":math:`A(a,b) = \mathbb{E}[e^{aZ_1+bZ_2}\,1\{Z_1<0, Z_2<0\}]` for standard
    normals with correlation :math:`\rho`. Exponential tilting shifts the mean to
    :math:`(a+b\rho, a\rho+b)`, so

    .. math:: A(a,b) = e^{(a^2+2ab\rho+b^2)/2}\,\Phi_2(-(a+b\rho), -(a\rho+b); \rho),

    returned as the single function :class:`TiltedOrthant` (``.rewrite(BivariateNormalCDF)``
    gives the product) so that numerics evaluate it stably.
    """
    return TiltedOrthant(a, b, rho)


def exp_halfline(b):
    r""":math:`\mathbb{E}[e^{bZ}\,1\{Z<0\}] = e^{b^2/2}\,\Phi(-b)
    = \tfrac12\operatorname{erfcx}(b/\sqrt2)` (complete the square; written with
    erfcx so that large ``b`` never forms ``inf * 0``)."""
    return Erfcx(b / sp.sqrt(2)) / 2


def stein_orthant(m1, m2, rho):
    r"""Stein block :math:`S(m_1, m_2) = \mathbb{E}[Z_1\,1\{Z_1>-m_1\}\,1\{Z_2<-m_2\}]` for
    standard normals with correlation :math:`\rho`, :math:`c = \sqrt{1-\rho^2}`.

    Stein's lemma for a correlated pair,
    :math:`\mathbb{E}[Z_1 g(Z)] = \mathbb{E}[\partial_1 g] + \rho\,\mathbb{E}[\partial_2 g]`,
    with :math:`\partial_1 g = \delta(Z_1+m_1)1\{Z_2<-m_2\}` and
    :math:`\partial_2 g = -1\{Z_1>-m_1\}\delta(Z_2+m_2)`, and the conditional laws
    :math:`Z_2 \mid Z_1 \sim \mathcal N(\rho Z_1, c^2)` give

    .. math:: S = \varphi(m_1)\,\Phi\!\left(\frac{\rho m_1 - m_2}{c}\right)
              - \rho\,\varphi(m_2)\,\Phi\!\left(\frac{m_1 - \rho m_2}{c}\right).
    """
    c = sp.sqrt(1 - rho**2)
    return normal_pdf(m1) * Phi((rho * m1 - m2) / c) - rho * normal_pdf(m2) * Phi(
        (m1 - rho * m2) / c
    )


def relu_times_tilted(b, rho):
    r""":math:`R(b) = \mathbb{E}[Z_1 1\{Z_1>0\}\,(e^{bZ_2}-1)\,1\{Z_2<0\}]`, with
    :math:`s = \sqrt{1-\rho^2}`:

    .. math:: R(b) = \frac{\operatorname{erfcx}(bs/\sqrt2) - 1}{2\sqrt{2\pi}}
              + \rho\, b\, A(0, b; -\rho).

    Stein's lemma for a correlated pair,
    :math:`\mathbb{E}[Z_1 g(Z)] = \mathbb{E}[\partial_1 g] + \rho\,\mathbb{E}[\partial_2 g]`,
    with :math:`g = 1\{Z_1>0\}h(Z_2)`, :math:`h(z) = e^{bz}1\{z<0\}`:
    :math:`\partial_1 g = \delta(Z_1)h(Z_2)` and, since :math:`Z_2\mid Z_1=0 \sim
    \mathcal N(0, s^2)`, :math:`\mathbb{E}[\partial_1 g] = \varphi(0)e^{b^2s^2/2}\Phi(-bs)
    = \varphi(0)\operatorname{erfcx}(bs/\sqrt2)/2`;
    :math:`h'(z) = b e^{bz}1\{z<0\} - \delta(z)`, so :math:`\mathbb{E}[\partial_2 g] =
    b\,\mathbb{E}[1\{Z_1>0\}e^{bZ_2}1\{Z_2<0\}] - \varphi(0)/2`, and the middle
    expectation is :math:`A(0, b; -\rho)` (flip the sign of :math:`Z_1`). The untilted
    term is :math:`S(0,0) = \mathbb{E}[Z_1 1\{Z_1>0\}1\{Z_2<0\}] = (1-\rho)\varphi(0)/2`
    (:func:`stein_orthant`). Every term stays of order one at large ``b``: no
    :math:`e^{b^2/2}` times a tiny probability.
    """
    s = sp.sqrt((1 - rho) * (1 + rho))  # (1-rho)(1+rho): no cancellation as |rho| -> 1
    return (Erfcx(b * s / sp.sqrt(2)) - 1) / (2 * sp.sqrt(2 * sp.pi)) + rho * b * TiltedOrthant(
        0, b, -rho)


def elu_kernels(alpha):
    r"""Closed-form ELU dual kernels for any :math:`\alpha \ge 0`.

    :math:`\sigma(x) = x` for :math:`x>0`, :math:`\alpha(e^x-1)` otherwise. With
    :math:`u = s_1 Z_1`, :math:`v = s_2 Z_2`, :math:`\rho = q_{12}/(s_1 s_2)`,
    the tilted orthant block :math:`A` (:class:`TiltedOrthant`), the ReLU-times-tilted
    block :math:`R` (:func:`relu_times_tilted`) and Sheppard's
    :math:`P(Z_1<0,Z_2<0) = \tfrac14 + \arcsin\rho/(2\pi)`:

    .. math::
        k &= \underbrace{\frac{\sqrt{q_{11}q_{22}-q_{12}^2} + (\pi-\arccos\rho)\,q_{12}}{2\pi}}
               _{\mathbb{E}[\mathrm{relu}(u)\mathrm{relu}(v)]}
             + \alpha\big(s_1 R(s_2) + s_2 R(s_1)\big)
             + \alpha^2\big(A(s_1,s_2;\rho) - A(0,s_1;\rho) - A(0,s_2;\rho)
             + P(Z_1<0,Z_2<0)\big), \\
        \dot k &= P(Z_1<0,Z_2<0) + \alpha\big(A(0,s_1;-\rho) + A(0,s_2;-\rho)\big)
                  + \alpha^2 A(s_1,s_2;\rho),

    from :math:`\sigma'(x) = 1\{x>0\} + \alpha e^x 1\{x<0\}`,
    :math:`\mathbb{E}[1\{Z_1>0\}e^{s_2Z_2}1\{Z_2<0\}] = A(0,s_2;-\rho)` and
    :math:`P(Z_1>0,Z_2>0) = P(Z_1<0,Z_2<0)`. Every term is bounded by a constant
    times :math:`\max(1, s_1, s_2)^2`, so float64 and mpmath evaluations lose no
    digits to cancellation at large variances (the earlier form
    :math:`e^{(q_{11}+2q_{12}+q_{22})/2}\Phi_2(\dots)` did). Returns the ``Activation``
    keyword arguments ``dual, dual_derivative, dual_diagonal, dual_derivative_diagonal``.
    """
    s1, s2 = sp.sqrt(q11), sp.sqrt(q22)
    rho = q12 / (s1 * s2)
    both_negative = TiltedOrthant(0, 0, rho)  # Sheppard: 1/4 + asin(rho)/(2 pi)

    relu_part = (sp.sqrt(q11 * q22 - q12**2) + (sp.pi - sp.acos(rho)) * q12) / (2 * sp.pi)
    negative_part = (
        TiltedOrthant(s1, s2, rho)
        - TiltedOrthant(0, s1, rho)
        - TiltedOrthant(0, s2, rho)
        + both_negative
    )
    dual = (
        relu_part
        + alpha * s1 * relu_times_tilted(s2, rho)
        + alpha * s2 * relu_times_tilted(s1, rho)
        + alpha**2 * negative_part
    )
    dual_derivative = (
        both_negative
        + alpha * (TiltedOrthant(0, s1, -rho) + TiltedOrthant(0, s2, -rho))
        + alpha**2 * TiltedOrthant(s1, s2, rho)
    )
    # diagonals with erfcx: e^{2q} Phi(-2 sqrt q) = erfcx(sqrt(2q))/2
    dual_diagonal = q / 2 + alpha**2 * (
        Erfcx(sp.sqrt(2 * q)) / 2 - Erfcx(sp.sqrt(q / 2)) + sp.Rational(1, 2)
    )
    dual_derivative_diagonal = sp.Rational(1, 2) + alpha**2 * Erfcx(sp.sqrt(2 * q)) / 2
    return {
        "dual": dual,
        "dual_derivative": dual_derivative,
        "dual_diagonal": dual_diagonal,
        "dual_derivative_diagonal": dual_derivative_diagonal,
    }


# ---------------------------------------------------------------------------
# exponential polynomials: closed-form kernels of sums of x^j e^{lambda x}
# ---------------------------------------------------------------------------

#: largest power of x and number of terms an exponential polynomial may have for its
#: kernels to be derived (the kernel has (terms)^2 pieces, each a derivative of order j)
EXP_POLY_MAX_POWER = 8
EXP_POLY_MAX_TERMS = 16


def exp_polynomial_terms(expr, var=x):
    r"""``expr`` as :math:`\sum_i c_i\,x^{j_i} e^{\lambda_i x}` (constants :math:`c_i`,
    complex :math:`\lambda_i`, integers :math:`0 \le j_i \le` ``EXP_POLY_MAX_POWER``): a list
    of ``(c, j, lambda)``, or None when ``expr`` is not of that form (sin, cos, sinh,
    cosh are rewritten as exponentials)."""
    expanded = sp.expand(sp.powsimp(sp.expand(sp.sympify(expr).rewrite(sp.exp)),
                                    combine="exp"))
    terms = []
    for term in sp.Add.make_args(expanded):
        coeff, rest = term.as_independent(var, as_Add=False)
        power, rate = 0, sp.Integer(0)
        for factor in sp.Mul.make_args(sp.powsimp(rest, combine="exp")):
            if factor == 1:
                continue
            if factor == var:
                power += 1
            elif factor.is_Pow and factor.base == var and factor.exp.is_Integer \
                    and factor.exp > 0:
                power += int(factor.exp)
            elif isinstance(factor, sp.exp):
                slope = sp.expand(factor.args[0] / var)
                if slope.has(var) or not slope.is_number:
                    return None
                rate += slope
            else:
                return None
        if power > EXP_POLY_MAX_POWER:
            return None
        terms.append((coeff, power, rate))
    return terms if len(terms) <= EXP_POLY_MAX_TERMS else None


def exp_polynomial_kernel(f_terms, g_terms):
    r""":math:`\mathbb{E}[f(u)g(v)]` for exponential polynomials (terms from
    :func:`exp_polynomial_terms`), exactly: with the moment generating function
    :math:`M(a,b) = \mathbb{E}[e^{au+bv}] = e^{(a^2q_{11}+2abq_{12}+b^2q_{22})/2}`,
    :math:`\mathbb{E}[u^j v^k e^{\lambda u+\mu v}] = \partial_a^j\partial_b^k M|_{(\lambda,\mu)}`.
    Each piece keeps its single exponential :math:`e^{(\lambda^2q_{11}+2\lambda\mu q_{12}+
    \mu^2q_{22})/2}` (never a product of a huge and a tiny one), so the form decays exactly
    at large variances (:math:`e^{-9(q_{11}+q_{22})/2 \pm 9q_{12}}` for sin 3x)."""
    a, b = sp.symbols("a b")
    mgf = sp.exp((a**2 * q11 + 2 * a * b * q12 + b**2 * q22) / 2)
    total = sp.Integer(0)
    for c1, j, lam in f_terms:
        for c2, k, mu in g_terms:
            piece = sp.diff(mgf, a, j, b, k) if j or k else mgf
            total += c1 * c2 * piece.subs({a: lam, b: mu}, simultaneous=True)
    # the kernel is real: its real part, with each exponential split into
    # e^{real exponent} times cos/sin of the imaginary one
    real = sp.re(sp.expand_complex(total))
    return sp.powsimp(sp.expand(real, power_exp=False), combine="exp")


def exp_polynomial_kernels(expr, derivative):
    """The ``Activation`` keyword arguments ``dual, dual_derivative, dual_diagonal,
    dual_derivative_diagonal`` of an exponential polynomial ``expr`` (with its
    ``derivative``), or None when either is not one."""
    f_terms = exp_polynomial_terms(expr)
    g_terms = exp_polynomial_terms(derivative) if derivative is not None else None
    if f_terms is None or g_terms is None:
        return None
    dual = exp_polynomial_kernel(f_terms, f_terms)
    dual_derivative = exp_polynomial_kernel(g_terms, g_terms)
    diagonal = {q11: q, q12: q, q22: q}
    return {
        "dual": dual,
        "dual_derivative": dual_derivative,
        "dual_diagonal": dual.subs(diagonal, simultaneous=True),
        "dual_derivative_diagonal": dual_derivative.subs(diagonal, simultaneous=True),
    }


# ---------------------------------------------------------------------------
# existence of the Gaussian expectations: quadratic-exponential growth
# ---------------------------------------------------------------------------

_GROWTH_CACHE: dict = {}
#: where the numerical growth estimate is read when SymPy cannot find the limit, and the
#: estimate's resolution: log-factor terms contribute ~2 log|x| / x^2 ~ 2e-7 there
_GROWTH_PROBES = (1e3, 1e4)
_GROWTH_RESOLUTION = 1e-6


def _numeric_growth(log_f, var, side):
    """c from g(x) = log(1 + f^2)/2 = c x^2 + O(log x) at the two probes (the difference
    quotient cancels the constant), 0 below _GROWTH_RESOLUTION."""
    g = sp.lambdify(var, log_f, modules="mpmath")
    sign = 1 if side is sp.oo else -1
    with mpmath.workdps(30):
        a, b = (mpmath.mpf(p) * sign for p in _GROWTH_PROBES)
        c = float(mpmath.re((g(b) - g(a)) / (b * b - a * a)))
    return c if c > _GROWTH_RESOLUTION else 0.0


def quadratic_growth(expr, var=x) -> float:
    r""":math:`c = \limsup_{|x|\to\infty} \log(1+f(x)^2)/(2x^2)`: :math:`|f(x)|` grows like
    :math:`e^{cx^2}` (0 for polynomial or exponential growth, ``inf`` beyond any Gaussian,
    e.g. :math:`e^{x^4}`). Decided analytically by SymPy's ``limit`` at :math:`\pm\infty`; if
    SymPy returns no number (oscillating or unsupported expressions), estimated in mpmath
    from :math:`\log(1+f^2)/2` at :math:`|x| = 10^3, 10^4` by a difference quotient in
    :math:`x^2` (for :math:`f = p(x)e^{cx^2}`: :math:`c + O(10^{-7})`; values below
    ``_GROWTH_RESOLUTION`` = 1e-6 count as 0) — an estimate, not a proof."""
    key = sp.srepr(expr)
    if key in _GROWTH_CACHE:
        return _GROWTH_CACHE[key]
    if not expr.has(sp.exp, sp.sinh, sp.cosh) and not any(
            p.exp.has(var) for p in expr.atoms(sp.Pow)):
        # no exponential anywhere: at most polynomial growth (tanh, erf, sin, |x|, ...)
        _GROWTH_CACHE[key] = 0.0
        return 0.0
    ratio = sp.log(1 + expr**2) / (2 * var**2)
    sides = []
    for side in (sp.oo, -sp.oo):
        try:
            limit = sp.limit(ratio, var, side)
        except (NotImplementedError, ValueError, TypeError):
            limit = None
        if limit is sp.oo:
            sides.append(math.inf)
        elif limit is not None and limit.is_number and limit.is_finite and limit.is_real:
            sides.append(max(0.0, float(limit)))
        else:
            sides.append(_numeric_growth(sp.log(1 + expr**2) / 2, var, side))
    _GROWTH_CACHE[key] = max(sides)
    return _GROWTH_CACHE[key]


def check_gaussian_expectation(act, derivative, largest_eigenvalue, what="kernel", *,
                               truncation=None, digits=15):
    r"""ValueError unless :math:`\mathbb{E}[f(u)f(v)]` (:math:`f = \sigma` or :math:`\sigma'`)
    exists for every covariance whose largest eigenvalue is ``largest_eigenvalue``:
    with :math:`|f(x)| \lesssim e^{cx^2}` (:func:`quadratic_growth`) the integrand is
    :math:`e^{c(u^2+v^2)}` against the density :math:`e^{-w^TQ^{-1}w/2}`, finite iff
    :math:`I - 2cQ \succ 0`, i.e. :math:`2c\lambda_{\max}(Q) < 1` (on the diagonal
    :math:`\lambda_{\max} = 2q`: :math:`q < 1/(4c)`). The boundary itself is refused (there
    the expectation exists only if the polynomial factor decays fast enough).

    ``truncation`` (a quadrature that integrates over :math:`|z| \le L` standard deviations):
    in the standardized variable the integrand decays like :math:`e^{-(1-2c\lambda)z^2/2}`,
    so the neglected mass is about :math:`e^{-(1-2c\lambda)L^2/2}`; above
    :math:`10^{-\text{digits}}` the expectation exists but the rule would return a wrong
    number (6.83 for :math:`\mathbb{E}[e^{u^2/2}] = 10` at q = 0.99): ValueError too."""
    expr = act.derivative if derivative else act.expr
    if expr is None:
        return
    c = quadratic_growth(expr)
    if c == 0:
        return
    largest_eigenvalue = float(largest_eigenvalue)
    margin = 1 - 2 * c * largest_eigenvalue
    if margin > 0 and truncation is not None and margin * truncation**2 / 2 < digits * math.log(10):
        name = "sigma'" if derivative else "sigma"
        raise ValueError(
            f"E[{name}(u) {name}(v)] of {act.label} exists but is too close to divergence for "
            f"quadrature on |z| <= {truncation:g}: |{name}(x)| grows like exp({c:.6g} x^2), the "
            f"neglected mass is ~exp(-{margin * truncation**2 / 2:.3g}); the {what} needs "
            f"2 c lambda_max(Q) <= {1 - 2 * digits * math.log(10) / truncation**2:.4g}, got "
            f"{2 * c * float(largest_eigenvalue):.4g}")
    if not margin <= 0:
        return
    name = "sigma'" if derivative else "sigma"
    limit = "no variance > 0" if math.isinf(c) else f"variances q < {1 / (4 * c):.6g}"
    raise ValueError(
        f"the Gaussian expectation E[{name}(u) {name}(v)] of {act.label} diverges: |{name}(x)| "
        f"grows like exp({c:.6g} x^2), so the {what} exists only for 2 c lambda_max(Q) < 1 "
        f"({limit} on the diagonal); got lambda_max(Q) = {float(largest_eigenvalue):.6g}")


# ---------------------------------------------------------------------------
# independent numeric forms of the lemma blocks (for their identity checks)
# ---------------------------------------------------------------------------

@guarded()
def bivariate_normal_cdf_by_conditioning(h, k, rho, *, dps=30):
    r""":math:`\Phi_2(h, k; \rho) = \int_{-\infty}^{h} \varphi(z)\,
    \Phi\big((k-\rho z)/\sqrt{1-\rho^2}\big)\,dz` (condition on :math:`Z_1`): an
    evaluation independent of the Plackett form used by :func:`mp_bivariate_normal_cdf`."""
    h, k, rho = mpmath.mpf(h), mpmath.mpf(k), mpmath.mpf(rho)
    c = mpmath.sqrt(1 - rho * rho)
    value = mpmath.quad(lambda z: mpmath.npdf(z) * mpmath.ncdf((k - rho * z) / c),
                        [-mpmath.inf, min(h, 0), h])
    return value


@guarded()
def tilted_orthant_by_conditioning(a, b, rho, *, dps=30):
    r""":math:`\mathbb{E}[e^{aZ_1+bZ_2}1\{Z_1<0,Z_2<0\}]` by conditioning on :math:`Z_1`:
    with :math:`Z_2 = \rho Z_1 + cW`,
    :math:`\mathbb{E}[e^{bZ_2}1\{Z_2<0\}\mid Z_1=z] = e^{b\rho z + b^2c^2/2}
    \Phi(-(\rho z + b c^2)/c)`, then a one-dimensional quadrature over :math:`z<0`."""
    a, b, rho = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(rho)
    c = mpmath.sqrt(1 - rho * rho)

    def integrand(z):
        inner = mpmath.exp(b * rho * z + b * b * c * c / 2) * mpmath.ncdf(
            -(rho * z + b * c * c) / c)
        return mpmath.exp(a * z) * mpmath.npdf(z) * inner

    value = mpmath.quad(integrand, [-mpmath.inf, -1, 0])
    return value


@guarded()
def relu_times_tilted_by_conditioning(b, rho, *, dps=30):
    r""":math:`R(b) = \mathbb{E}[Z_1 1\{Z_1>0\}(e^{bZ_2}-1)1\{Z_2<0\}]` by conditioning on
    :math:`Z_1 = z`: :math:`\int_0^\infty z\varphi(z)\big(e^{b\rho z + b^2s^2/2}
    \Phi(-(\rho z + bs^2)/s) - \Phi(-\rho z/s)\big)dz`, :math:`s = \sqrt{1-\rho^2}`."""
    b, rho = mpmath.mpf(b), mpmath.mpf(rho)
    c = mpmath.sqrt(1 - rho * rho)

    def integrand(z):
        tilted = mpmath.exp(b * rho * z + b * b * c * c / 2) * mpmath.ncdf(
            -(rho * z + b * c * c) / c)
        return z * mpmath.npdf(z) * (tilted - mpmath.ncdf(-rho * z / c))

    value = mpmath.quad(integrand, [0, 1, mpmath.inf])
    return value


@guarded()
def stein_orthant_by_conditioning(m1, m2, rho, *, dps=30):
    r""":math:`\mathbb{E}[Z_1 1\{Z_1>-m_1\}1\{Z_2<-m_2\}] = \int_{-m_1}^{\infty} z\,\varphi(z)\,
    \Phi\big((-m_2-\rho z)/\sqrt{1-\rho^2}\big)\,dz`."""
    m1, m2, rho = mpmath.mpf(m1), mpmath.mpf(m2), mpmath.mpf(rho)
    c = mpmath.sqrt(1 - rho * rho)
    value = mpmath.quad(lambda z: z * mpmath.npdf(z) * mpmath.ncdf((-m2 - rho * z) / c),
                        [-m1, max(-m1, 0) + 1, mpmath.inf])
    return value


@guarded()
def lemma_block_residuals(a, b, rho, *, dps=30):
    r"""Relative residuals of each lemma block against its independent numeric form at
    ``(a, b, rho)``: ``{"bivariate_normal_cdf", "tilted_orthant",
    "tilted_orthant_closed_form", "relu_times_tilted", "stein_orthant", "exp_halfline",
    "price_rho"}`` (``relu_times_tilted`` at ``b``, ``rho``). The last is the defining identity
    :math:`\partial_\rho\Phi_2 = \varphi_2` (Plackett), checked by a central difference
    of the conditioning form (evaluated at ``dps + 5`` digits) with step
    :math:`h = 10^{-\lfloor dps/2 \rfloor}`: truncation :math:`O(h^2) \approx 10^{-dps}`,
    rounding :math:`10^{-(dps+5)}/h \approx 10^{-(dps/2+5)}`, which dominates."""
    dps = target_digits(dps)
    # decimal strings, so that the SymPy and mpmath sides see the same numbers
    a, b, rho = (str(v) for v in (a, b, rho))
    sa, sb, sr = (sp.Float(v, dps + 10) for v in (a, b, rho))
    out = {}

    def rel(symbolic, numeric):
        sym = mpmath.mpf(sp.N(symbolic, dps + 10))
        return abs(sym - numeric) / max(abs(numeric), mpmath.mpf(10) ** -dps)

    out["bivariate_normal_cdf"] = rel(BivariateNormalCDF(sa, sb, sr),
                                      bivariate_normal_cdf_by_conditioning(a, b, rho, dps=dps))
    by_conditioning = tilted_orthant_by_conditioning(a, b, rho, dps=dps)
    out["tilted_orthant"] = rel(tilted_orthant(sa, sb, sr), by_conditioning)
    # the stable evaluation and the exp * Phi2 closed form (Plackett) agree
    out["tilted_orthant_closed_form"] = rel(
        tilted_orthant(sa, sb, sr).rewrite(BivariateNormalCDF), by_conditioning)
    out["relu_times_tilted"] = rel(relu_times_tilted(sb, sr),
                                   relu_times_tilted_by_conditioning(b, rho, dps=dps))
    out["stein_orthant"] = rel(stein_orthant(sa, sb, sr),
                               stein_orthant_by_conditioning(a, b, rho, dps=dps))
    exp_numeric = mpmath.quad(lambda z: mpmath.exp(mpmath.mpf(b) * z) * mpmath.npdf(z),
                              [-mpmath.inf, 0])
    out["exp_halfline"] = rel(exp_halfline(sb), exp_numeric)
    step = mpmath.mpf(10) ** (-(dps // 2))
    upper = bivariate_normal_cdf_by_conditioning(a, b, mpmath.mpf(rho) + step, dps=dps + 5)
    lower = bivariate_normal_cdf_by_conditioning(a, b, mpmath.mpf(rho) - step, dps=dps + 5)
    difference = (upper - lower) / (2 * step)
    density = BivariateNormalCDF(sp.Symbol("h"), sp.Symbol("k"), sp.Symbol("r")).diff(
        sp.Symbol("r")).subs({sp.Symbol("h"): sa, sp.Symbol("k"): sb, sp.Symbol("r"): sr})
    out["price_rho"] = rel(density, difference)
    return out


# ---------------------------------------------------------------------------
# symbolic / high-precision checks of a registry entry's closed forms
# ---------------------------------------------------------------------------

#: points (q11, q12, q22) at which identities that SymPy cannot simplify are checked
CHECK_POINTS = (
    ("0.7", "0.3", "1.3"),
    ("2.5", "-1.1", "0.8"),
    ("0.2", "0.15", "0.4"),
)


def _numeric(expr, subs, dps):
    """``expr`` at ``subs`` by ``sympy.N`` with ``dps + 10`` digits, as an mpf of those digits
    (not rounded to the working precision: :func:`diagonal_residual` asks for ``3 dps``)."""
    value = sp.N(expr.subs(subs), dps + 10)
    if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or not value.is_number:
        raise ValueError(f"expression is not finite at {subs}: {value}")
    re, im = value.as_real_imag()
    if abs(im) > sp.Float(10) ** (-dps) * max(1, abs(re)):
        raise ValueError(f"expression is complex at {subs}: {value}")
    with mpmath.workdps(dps + 10):  # a conversion at the digits SymPy used, not a guard
        return mpmath.mpf(sp.N(re, dps + 10))


def _rel(a, b):
    """Relative difference at the working precision (the callers are guarded)."""
    return abs(a - b) / max(abs(a), abs(b), mpmath.mpf(1))


def price_theorem_symbolic(activation) -> bool:
    r"""True when SymPy simplifies :math:`\partial_{q_{12}}k - \dot k` to 0."""
    act = _entry(activation)
    if act.dual is None or act.dual_derivative is None:
        raise ValueError(f"activation {act.label!r} lacks a closed-form dual or derivative kernel")
    return sp.simplify(sp.diff(act.dual, q12) - act.dual_derivative) == 0


@guarded()
def price_theorem_residual(activation, *, points=CHECK_POINTS, dps=30):
    r"""Largest relative residual of Price's theorem,
    :math:`|\partial_{q_{12}} k - \dot k| / \max(1, |\dot k|)`, over ``points``, evaluated
    with ``dps`` digits (``sympy.N``) — the check for closed forms SymPy cannot simplify.
    Price (1958): :math:`\partial_{q_{12}}\mathbb{E}[f(u)g(v)] = \mathbb{E}[f'(u)g'(v)]`."""
    dps = target_digits(dps)
    act = _entry(activation)
    if act.dual is None or act.dual_derivative is None:
        raise ValueError(f"activation {act.label!r} lacks a closed-form dual or derivative kernel")
    derivative = sp.diff(act.dual, q12)
    worst = mpmath.mpf(0)
    for a, b, c in points:
        subs = {q11: sp.Float(a, dps + 10), q12: sp.Float(b, dps + 10),
                q22: sp.Float(c, dps + 10)}
        worst = max(worst, _rel(_numeric(derivative, subs, dps),
                                _numeric(act.dual_derivative, subs, dps)))
    return worst


@guarded()
def zero_correlation_residual(activation, q11_value="0.7", q22_value="1.9", *,
                              derivative=False, dps=30):
    r"""Relative residual of :math:`k(q_{11}, 0, q_{22}) = \mathbb{E}[\sigma(u)]\,
    \mathbb{E}[\sigma(v)]` (independence at :math:`q_{12}=0`), the 1-D expectations by
    kink-split mpmath quadrature at ``dps`` digits."""
    dps = target_digits(dps)
    act = _entry(activation)
    expr = act.dual_derivative if derivative else act.dual
    if expr is None:
        raise ValueError(f"activation {act.label!r} has no closed form for this kernel")
    f = act.mpmath_function(derivative)
    value = _numeric(expr, {q11: sp.Float(q11_value, dps + 10), q12: 0,
                            q22: sp.Float(q22_value, dps + 10)}, dps)
    means = []
    for variance in (q11_value, q22_value):
        s = mpmath.sqrt(mpmath.mpf(variance))
        means.append(_gaussian_expectation(lambda z, s=s: f(s * z),
                                           [mpmath.mpf(k) / s for k in act.kinks]))
    return _rel(value, means[0] * means[1])


@guarded()
def diagonal_residual(activation, q_value="1.3", *, derivative=False, dps=30):
    r"""Relative residual of :math:`\lim_{q_{12}\to q} k(q, q_{12}, q)` against the stored
    diagonal :math:`\mathbb{E}[\sigma(u)^2]`, :math:`u\sim\mathcal N(0,q)`. The limit is
    the value at :math:`q_{12} = q(1-\epsilon)` with :math:`\epsilon = 10^{-2\,dps}`
    (kernels are Hölder-1/2 in :math:`q_{12}` at the diagonal, so the offset costs
    at most :math:`O(\sqrt\epsilon) = 10^{-dps}`)."""
    dps = target_digits(dps)
    act = _entry(activation)
    expr = act.dual_derivative if derivative else act.dual
    diag = act.dual_derivative_diagonal if derivative else act.dual_diagonal
    if expr is None or diag is None:
        raise ValueError(f"activation {act.label!r} has no closed form for this kernel")
    work = 3 * dps
    Q = sp.Float(q_value, work + 10)
    near = Q * (1 - sp.Float(10, work + 10) ** (-2 * dps))
    limit = _numeric(expr, {q11: Q, q22: Q, q12: near}, work)
    return _rel(limit, _numeric(diag, {q: Q}, dps))


@guarded()
def hermite_series_residual(activation, k_max=5, *, dps=30):
    r"""Largest absolute residual between the Taylor coefficients of the closed forms at
    unit variances and the Hermite coefficients (Mehler's formula):

    .. math:: k(1, \rho, 1) = \sum_k c_k^2 \rho^k, \qquad
              \dot k(1, \rho, 1) = \sum_k (k+1)\,c_{k+1}^2 \rho^k,

    the second by Price's theorem. Taylor coefficients by symbolic differentiation
    at :math:`\rho=0`, evaluated with ``dps`` digits; :math:`c_k` by
    :func:`hermite_coefficients` at ``dps`` digits."""
    dps = target_digits(dps)
    act = _entry(activation)
    if act.dual is None:
        raise ValueError(f"activation {act.label!r} has no closed-form dual kernel")
    c = hermite_coefficients(act, k_max + 1, dps=dps)
    rho = sp.Symbol("rho", real=True)
    worst = mpmath.mpf(0)
    kernels = [(act.dual, [ck**2 for ck in c[: k_max + 1]])]
    if act.dual_derivative is not None:
        kernels.append((act.dual_derivative,
                        [(k + 1) * c[k + 1] ** 2 for k in range(k_max)]))
    for expr, expected in kernels:
        series = expr.subs({q11: 1, q22: 1, q12: rho})
        for k, target in enumerate(expected):
            coefficient = _numeric(sp.diff(series, rho, k) / sp.factorial(k), {rho: 0}, dps)
            worst = max(worst, abs(coefficient - target))
    return worst
