r"""Scalar float64 special functions for numba-compiled kernels (``numba.njit(cache=True)``).

The Gram engine prints registry expressions into Python source and imports the special
functions that numba's ``math`` lacks from here, by the names in
:data:`numerics.gram.JIT_FUNCTIONS`
(e.g. ``from numerics.jit_special import tilted_orthant as TiltedOrthant``).

* :func:`erfcx`, :func:`owens_t`, :func:`ndtr` — SciPy's Cython kernels
  (``scipy.special.cython_special``), their C addresses registered with LLVM under fixed
  names, so that numba caches the compiled code on disk;
* :func:`bivariate_normal_cdf` — :math:`\Phi_2(h, k; \rho)`, Owen's T form with the edge
  cases of :func:`numerics.compile.bivariate_normal_cdf` (same semantics);
* :func:`tilted_orthant` (a C function, called by its symbol name: compiled, or loaded from
  numba's cache, when this module is imported) —
  :math:`A(a,b;\rho) = \mathbb{E}[e^{aZ_1+bZ_2}1\{Z_1<0,Z_2<0\}]`:
  for :math:`a, b > 0`, :math:`0 < \rho \le` :data:`PLACKETT_RHO_MAX` and an exponent range
  at most :data:`PLACKETT_MAX_RANGE` Plackett's form :func:`_tilted_orthant_plackett` (two
  positive terms, a 10- to 20-node rule chosen a priori from the exponent range and
  :math:`\rho`); elsewhere Owen's form where its error estimate (:data:`OWEN_RTOL`, as in
  :func:`numerics.compile.tilted_orthant`) allows (for :math:`a, b \ge 0` it cannot where
  :math:`E >` ``_OWEN_MAX_EXPONENT`` and is not evaluated), else, for :math:`a, b \ge 0`, the
  positive scaled integral :func:`_tilted_orthant_scaled` (a fixed 40-node rule, no
  cancellation beyond a factor 2, accurate for every :math:`\rho \in (-1, 1)`);
* :func:`elu_pair_near_one` — the ELU pair :math:`(\mathbb{E}[s(u)s(v)],
  \mathbb{E}[s'(u)s'(v)])`, the registry closed form (``theory.gaussian.elu_kernels``)
  with its ReLU part written as :math:`s_1s_2(\sqrt{1-\rho^2} + (\pi - \arccos\rho)\rho)/2\pi`
  (the registry's :math:`\sqrt{q_{11}q_{22}-q_{12}^2}` is formed from the q's, not from
  the rounded :math:`\rho` that every other term sees, and that inconsistency costs
  :math:`\approx\epsilon/(4\pi\sqrt{1-\rho^2})` of the kernel scale near
  :math:`|\rho| = 1`), and where both sqrt variances are at most :data:`ELU_SMALL_S` its
  :math:`\alpha^2` block integrated from its mixed derivative (the registry's four terms of
  order one cancel to :math:`O(q)`); use it where :math:`1-|\rho| <` :data:`ELU_NEAR_ONE`
  or :math:`\max(s_1, s_2) \le` :data:`ELU_SMALL_S`;
* ``*_vec`` — NumPy ufuncs of the same (``numba.vectorize``, built at their first call)
  for the NumPy path.

Accuracy, measured against 30-digit mpmath (tests/reference/elu_all_regimes.json: 260 ELU
kernel pairs, q from 1e-6 to 1e3, q11 != q22, 1 - |rho| from 0 to 1 and rho = -1; 432 tilted
orthants at the kernels' arguments; 175 bivariate normal CDFs; and
tests/reference/tilted_orthant_plackett.json: 320 points of Plackett's domain), bounds
derived in tests/test_jit_special.py: :func:`tilted_orthant` within 36 eps relative (Owen's
form; Plackett's form 5.0 eps, the scaled integral alone 3.6 eps),
:func:`bivariate_normal_cdf` within 0.6 eps absolute. The ELU pair as the engine makes it
(:func:`elu_pair_near_one` for every entry): E[s s] within 1.9 ulp of the kernel scale
sqrt(k(x,x) k(x',x')) everywhere (the registry form alone: 2e7 ulp, from the cancellations
at small q and near |rho| = 1); E[s' s'] within 2.5 ulp for alpha = 1, and for alpha != 1
within 21 ulp where 1 - |rho| >= 1e-9 (closer to |rho| = 1 kd is ill-conditioned: its
sensitivity to the rounding of rho is (1 - alpha)^2 / (2 pi sqrt(1 - rho^2)); measured 2e5
ulp at 1 - rho = 1e-15, within that bound).
Speed (benchmarks/elu_pieces.py, best of 5, one thread, idle machine, 2026-12-02):
erfcx 21 ns, owens_t 110-140 ns, in the depth-3 benchmark's regime (sqrt variances
1.6-2.5, rho 0.05-0.6) the tilted orthant by Plackett's form 0.22 us, by Owen's 0.17 us
(kept only where accurate), by the scaled integral 1.4 us; the engine's pair 0.5 us there
and generic, 1.9 us at q ~ 1e2..1e3 (2.4 us before Owen's form was skipped where it cannot
be kept), 1.3 us near rho = 1, 0.09 us at rho = 1; the registry form compiled directly
(five tilted orthants) 0.7-1 us generic.
NaN in gives NaN out.
"""

from __future__ import annotations

import functools
import math

import llvmlite.binding as llvm
import mpmath
import numba
import numpy as np
from numba.extending import get_cython_function_address

__all__ = [
    "erfcx",
    "owens_t",
    "ndtr",
    "bivariate_normal_cdf",
    "tilted_orthant",
    "elu_pair_near_one",
    "tilted_orthant_vec",
    "bivariate_normal_cdf_vec",
    "tilted_orthant_scaled_vec",
    "elu_pair_near_one_vec",
    "ELU_NEAR_ONE",
    "ELU_SMALL_S",
    "OWEN_RTOL",
]

_SPECIAL = "scipy.special.cython_special"


def _external(symbol, address, signature):
    """The C function at ``address`` as a numba external function. The address is registered
    with LLVM under a fixed symbol name, so compiled code refers to the name (and numba can
    cache it on disk) instead of embedding this process's pointer."""
    llvm.add_symbol(symbol, address)
    return numba.types.ExternalFunction(symbol, signature)


def _scipy_kernel(symbol, cython_name, nargs):
    """SciPy's Cython kernel as a numba external function (:func:`_external`). The last C
    argument is Cython's ``__pyx_skip_dispatch``."""
    return _external(symbol, get_cython_function_address(_SPECIAL, cython_name),
                     numba.float64(*([numba.float64] * nargs), numba.intc))


# erfcx and ndtr are fused functions: __pyx_fuse_1 is the double version (0: complex)
_erfcx = _scipy_kernel("nntheory_scipy_erfcx", "__pyx_fuse_1erfcx", 1)
_ndtr = _scipy_kernel("nntheory_scipy_ndtr", "__pyx_fuse_1ndtr", 1)
_owens_t = _scipy_kernel("nntheory_scipy_owens_t", "owens_t", 2)

def gauss_legendre_01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-point Gauss-Legendre rule on [0, 1] (nodes, weights), correct to float64
    rounding: two Newton steps from NumPy's nodes on the three-term recurrence in 30-digit
    mpmath. NumPy's and SciPy's own weights are off by up to 36 eps (n = 20) and 170 eps
    (n = 40) relative, which a quadrature of a steep integrand passes on in full."""
    start, _ = np.polynomial.legendre.leggauss(n)
    nodes, weights = np.empty(n), np.empty(n)
    with mpmath.workdps(30):
        for i, x0 in enumerate(start):
            x = mpmath.mpf(float(x0))
            for step in range(3):
                p_prev, p = mpmath.mpf(1), x
                for j in range(2, n + 1):
                    p_prev, p = p, ((2 * j - 1) * x * p - (j - 1) * p_prev) / j
                dp = n * (p_prev - x * p) / (1 - x * x)  # P_n'(x)
                if step < 2:
                    x -= p / dp
            nodes[i] = float((1 + x) / 2)
            weights[i] = float(1 / ((1 - x * x) * dp * dp))
    return nodes, weights


#: the decorator of the inner functions, called only from compiled code: without numba's
#: Python and C entry wrappers (about 30 ms of cold compile each); tests call them through
#: a jitted wrapper
_inner = functools.partial(numba.njit, cache=True, no_cpython_wrapper=True,
                           no_cfunc_wrapper=True)

_INV_SQRT2 = 1 / math.sqrt(2.0)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_EPS = float(np.finfo(float).eps)

#: Owen's form of the tilted orthant is kept where its estimated relative error
#: eps e^E / (A (1 + min(rho, 0))) is below this (numerics.compile.TILTED_ORTHANT_RTOL)
OWEN_RTOL = 1e-12
#: for a, b >= 0 (where A <= 1/2) that estimate exceeds OWEN_RTOL once E is above this:
#: the scaled integral is taken without evaluating Owen's form, whose e^E would overflow
#: (a floating-point warning from the NumPy ufuncs) beyond E = 709
_OWEN_MAX_EXPONENT = math.log(OWEN_RTOL / (2 * _EPS))
#: use :func:`elu_pair_near_one` where 1 - |rho| is below this: there the registry form's
#: inconsistent square root may cost more than eps s1 s2 / sqrt(1-rho^2) = 7 eps of s1 s2
#: (its measured error: 155 ulp of the kernel scale at 1 - rho = 1e-6). Both forms cost the
#: same (the same five tilted orthants), so the threshold is set by accuracy alone.
ELU_NEAR_ONE = 1e-2


@numba.njit(cache=True)
def erfcx(x):
    """Scaled complementary error function e^{x^2} erfc(x) (SciPy's Faddeeva kernel)."""
    return _erfcx(x, 0)


@numba.njit(cache=True)
def ndtr(x):
    """Standard normal CDF (SciPy's ndtr)."""
    return _ndtr(x, 0)


@numba.njit(cache=True)
def owens_t(h, a):
    r"""Owen's T function :math:`T(h,a)=\frac1{2\pi}\int_0^a e^{-h^2(1+x^2)/2}/(1+x^2)\,dx`
    (SciPy's ``owens_t``, Patefield and Tandy 2000)."""
    return _owens_t(h, a, 0)


@_inner
def _owens_t_nonzero(h, a):
    # T(h, 0) = 0: the ELU's Phi_2(-b rho, -b; rho) has such an argument
    return 0.0 if a == 0.0 else _owens_t(h, a, 0)


@_inner
def _minus_rho_times(x, y, rho):
    """x - rho y as (x - y) + (1 - rho) y (or (x + y) - (1 + rho) y for rho < 0): 1 -+ rho
    is exact, so x - rho y keeps its relative accuracy as |rho| -> 1 with x = +-y (formed
    directly it costs eps / (1 - |rho|))."""
    if rho >= 0:
        return (x - y) + (1.0 - rho) * y
    return (x + y) - (1.0 + rho) * y


@numba.njit(cache=True)
def bivariate_normal_cdf(h, k, rho):
    r""":math:`\Phi_2(h,k;\rho) = P(Z_1<h, Z_2<k)`; Owen (1956) eq. (3.1), as
    :func:`numerics.compile.bivariate_normal_cdf` (same edge cases: :math:`\rho=\pm1`,
    :math:`h` or :math:`k = 0`, Sheppard at :math:`h=k=0`), with Owen's T arguments
    :math:`(k-\rho h)/(hr)` formed by :func:`_minus_rho_times`. ``rho`` in [-1, 1]
    (unchecked)."""
    if rho >= 1.0:
        return ndtr(min(h, k))
    if rho <= -1.0:
        return max(0.0, ndtr(h) - ndtr(-k))
    r = math.sqrt((1.0 - rho) * (1.0 + rho))
    if h == 0.0 and k == 0.0:
        return 0.25 + math.asin(rho) / (2 * math.pi)
    if h == 0.0:
        return 0.5 * ndtr(k) + _owens_t_nonzero(k, rho / r)
    if k == 0.0:
        return 0.5 * ndtr(h) + _owens_t_nonzero(h, rho / r)
    out = 0.5 * (ndtr(h) + ndtr(k))
    out -= _owens_t_nonzero(h, _minus_rho_times(k, h, rho) / (h * r))
    out -= _owens_t_nonzero(k, _minus_rho_times(h, k, rho) / (k * r))
    if (h > 0) != (k > 0):
        out -= 0.5
    return out


@_inner
def _tilted_orthant_owen(a, b, rho):
    r"""Owen's form :math:`e^E\Phi_2(h, k;\rho)`, :math:`h = -(a+b\rho)`, :math:`k =
    -(a\rho+b)`, and its factor :math:`e^E`. Owen's T arguments are written out:
    :math:`(k-\rho h)/(hr) = br/(a+b\rho)`, :math:`(h-\rho k)/(kr) = ar/(a\rho+b)`
    (:math:`r = \sqrt{1-\rho^2}`), because forming :math:`k - \rho h = -br^2` from
    :math:`h, k` cancels and costs :math:`\epsilon/r^2` relative as :math:`\rho \to 1`. For
    :math:`a = 0` the second T vanishes and :math:`e^{b^2/2}\Phi(-b) =
    \operatorname{erfcx}(b/\sqrt2)/2` (numerics.compile._tilted_orthant_owen_a0)."""
    h = -(a + b * rho)
    k = -(a * rho + b)
    if h == 0.0 or k == 0.0:
        grow = math.exp((a * a + 2 * a * b * rho + b * b) / 2)
        return grow * bivariate_normal_cdf(h, k, rho), grow
    r = math.sqrt((1.0 - rho) * (1.0 + rho))
    beta = 0.0 if (h > 0) == (k > 0) else 0.5
    if a == 0.0:
        grow = math.exp(b * b / 2)
        inner = 0.5 * ndtr(h) - _owens_t_nonzero(h, -b * r / h) - beta
        return grow * inner + 0.25 * erfcx(b * _INV_SQRT2), grow
    grow = math.exp((a * a + 2 * a * b * rho + b * b) / 2)
    inner = 0.5 * (ndtr(h) + ndtr(k)) - beta
    inner -= _owens_t_nonzero(h, -b * r / h)
    inner -= _owens_t_nonzero(k, -a * r / k)
    return grow * inner, grow


# Gauss-Legendre rule on [0, 1] for the scaled integral (20 nodes a panel, two panels)
_GL_T, _GL_W = gauss_legendre_01(20)
#: the panels of _weighted_erfcx_integral end where the exponent lam w + w^2/2 reaches
#: these: e^-41 = 1.6e-18 truncates; the split at 4 keeps each panel's variation small
_SPLIT_EXPONENT = 4.0
_CUT_EXPONENT = 41.0


@_inner
def _weighted_erfcx_integral(lam, width, offset, slope):
    r""":math:`\int_0^{W} e^{-\lambda w - w^2/2}\,\operatorname{erfcx}((o + c\,w)/\sqrt2)/2\,dw`
    for :math:`\lambda \ge 0` and :math:`o + c w \ge 0` on the range (erfcx of a non-negative
    argument: smooth, in (0, 1]). Two Gauss-Legendre panels of 20 nodes, split where the
    exponent :math:`\lambda w + w^2/2` is 4 and truncated where it is 41 (or at
    :math:`W`): the weight is entire and varies by at most :math:`e^{-4}` and then
    :math:`e^{-37}` across a panel; measured relative error of this rule on
    :math:`e^{-\lambda w - w^2/2}`, :math:`\lambda \in [0, 10^4]`: 4.2e-16 (3e-15 with
    NumPy's Gauss-Legendre weights)."""
    split = _SPLIT_EXPONENT / (lam / 2 + math.sqrt(lam * lam / 4 + _SPLIT_EXPONENT / 2))
    cut = _CUT_EXPONENT / (lam / 2 + math.sqrt(lam * lam / 4 + _CUT_EXPONENT / 2))
    hi = min(width, cut)
    total = 0.0
    lo = 0.0
    for end in (min(split, hi), hi):
        span = end - lo
        if span > 0.0:
            acc = 0.0
            for i in range(_GL_T.size):
                w = lo + span * _GL_T[i]
                acc += _GL_W[i] * math.exp(-w * (lam + w / 2)) * erfcx((offset + slope * w)
                                                                       * _INV_SQRT2)
            total += span * acc
        lo = end
    return 0.5 * total


@_inner
def _tilted_orthant_scaled(a, b, rho):
    r""":math:`A(a,b;\rho)` for :math:`a, b \ge 0`, :math:`|\rho| < 1`, without cancellation.

    Condition on :math:`Z_1 = -s w` (:math:`s=\sqrt{1-\rho^2}`; ``theory.special.
    mp_tilted_orthant``): :math:`A = s\int_0^\infty \varphi(w)e^{-asw}
    \operatorname{erfcx}(t/\sqrt2)/2\,dw`, :math:`t = bs - \rho w`. For :math:`\rho \le 0`,
    :math:`t \ge 0` throughout: one positive integral. For :math:`\rho > 0`, :math:`t < 0`
    beyond :math:`w_0 = bs/\rho`; there :math:`\operatorname{erfcx}(t/\sqrt2) = 2e^{t^2/2} -
    \operatorname{erfcx}(-t/\sqrt2)`, whose first part integrates in closed form:

    .. math:: A = s\!\int_0^{w_0}\!\!\varphi(w)e^{-asw}\tfrac12\operatorname{erfcx}
              \tfrac{bs-\rho w}{\sqrt2}dw + P - s\varphi(w_0)e^{-asw_0}\!\int_0^\infty\!\!
              e^{-(w_0+as)w - w^2/2}\tfrac12\operatorname{erfcx}\tfrac{\rho w}{\sqrt2}dw,

    :math:`P = e^{-b^2s^2/2 - abs^2/\rho - b^2s^4/(2\rho^2)}\operatorname{erfcx}((a + b\rho +
    bs^2/\rho)/\sqrt2)/2`. The subtracted term is the part of :math:`P` with :math:`Z_2 > 0`,
    whose conditional probability under the tilted law is below 1/2 there, so at most about
    one bit cancels. Every integrand is :math:`e^{-\lambda w - w^2/2}` times erfcx of a
    non-negative linear argument (:func:`_weighted_erfcx_integral`): no scale
    :math:`\sqrt{1-\rho^2}` left, so a fixed rule serves every :math:`\rho`.
    """
    s = math.sqrt((1.0 - rho) * (1.0 + rho))
    bs = b * s
    lam = a * s
    if rho <= 0.0:
        return s * _INV_SQRT_2PI * _weighted_erfcx_integral(lam, math.inf, bs, -rho)
    w0 = bs / rho
    direct = _weighted_erfcx_integral(lam, w0, bs, -rho)
    exponent = -bs * bs / 2 - a * b * s * s / rho - (bs * s / rho) ** 2 / 2
    bulk = math.exp(exponent) * erfcx((a + b * rho + bs * s / rho) * _INV_SQRT2) / 2
    mirror = math.exp(-w0 * (w0 / 2 + lam)) * _weighted_erfcx_integral(w0 + lam, math.inf,
                                                                       0.0, rho)
    return bulk + s * _INV_SQRT_2PI * (direct - mirror)


#: the Plackett form of :func:`_tilted_orthant_plackett` is used for a, b > 0 and
#: 0 < rho <= PLACKETT_RHO_MAX where the exponent range D of its integrand is at most
#: PLACKETT_MAX_RANGE
PLACKETT_RHO_MAX = 0.95
PLACKETT_MAX_RANGE = 10.0
#: its Gauss-Legendre orders: (largest D, largest rho, order), the first row that admits
#: (D, rho) is used. Chosen on 700 random (a, b, rho) against 30-digit mpmath as the fewest
#: nodes within 4 eps (the roundings' floor) in each (D, rho) cell; checked on independent
#: points at the switches (tests/test_jit_special.py)
PLACKETT_ORDERS = ((1.0, 0.7, 10), (3.0, 0.8, 12), (10.0, 0.8, 14), (10.0, 0.9, 16),
                   (10.0, 0.95, 20))
# the rules concatenated (one loop in the compiled code): row i's nodes and weights are
# _PL_T[_PL_START[i]:_PL_START[i + 1]], _PL_W[...]
_PL_RULES = [gauss_legendre_01(n) for _, _, n in PLACKETT_ORDERS]
_PL_T = np.concatenate([t for t, _ in _PL_RULES])
_PL_W = np.concatenate([w for _, w in _PL_RULES])
_PL_START = np.cumsum([0] + [n for _, _, n in PLACKETT_ORDERS])
_PL_LIMITS = np.array([[d, r] for d, r, _ in PLACKETT_ORDERS])


@_inner
def _plackett_exponent_range(a, b, rho):
    r"""The exponent range :math:`D = \rho(2ab + \rho(a^2+b^2))/2` of the Plackett integrand
    (its value at :math:`\theta = 0` is :math:`e^{-D}` of its peak)."""
    return rho * (2 * a * b + rho * (a * a + b * b)) / 2


@_inner
def _plackett_sum(a, b, rho, theta0, nodes, weights, start, stop):
    r""":math:`\sum_i w_i e^{F(\sin(\theta_0 t_i))}` over the nodes ``start:stop``."""
    aa = a * a + b * b
    ab2 = 2 * a * b
    acc = 0.0
    for i in range(start, stop):
        tau = math.sin(theta0 * nodes[i])
        d = rho - tau
        acc += weights[i] * math.exp(-d * (aa * d + ab2 * (1.0 - rho * tau))
                                     / (2.0 * (1.0 - tau) * (1.0 + tau)))
    return acc


@_inner
def _tilted_orthant_plackett(a, b, rho):
    r""":math:`A(a,b;\rho)` for :math:`a, b \ge 0`, :math:`0 < \rho <` 1, as a sum of two
    positive terms, by Plackett's identity :math:`\partial_\rho\Phi_2 = \varphi_2`
    (Drezner and Wesolowsky 1990; Genz 2004) at :math:`h = -(a+b\rho)`, :math:`k = -(a\rho+b)`:

    .. math:: A = e^E\Phi(h)\Phi(k) + \frac1{2\pi}\int_0^{\arcsin\rho} e^{F(\sin\theta)}
              d\theta = \tfrac14\operatorname{erfcx}\tfrac{-h}{\sqrt2}
              \operatorname{erfcx}\tfrac{-k}{\sqrt2}e^{-D} + \ldots,\quad
              F(\tau) = -\frac{d\,((a^2+b^2)d + 2ab(1-\rho\tau))}{2(1-\tau^2)},

    :math:`d = \rho - \tau`: the exponent :math:`E - (h^2+k^2-2hk\tau)/(2(1-\tau^2))` of
    :math:`e^E\varphi_2` simplified exactly, so no large exponent is formed and nothing
    cancels (:math:`F \le 0`, :math:`F(\rho) = 0`, :math:`F(0) = -D`,
    :func:`_plackett_exponent_range`). The integrand is analytic except at
    :math:`\theta = \pm\pi/2`, and varies by :math:`e^{-D}` on the range: the order of
    the Gauss-Legendre rule follows from :math:`D` and :math:`\rho`
    (:data:`PLACKETT_ORDERS`); beyond them the caller takes another form."""
    theta0 = math.asin(rho)
    exponent_range = _plackett_exponent_range(a, b, rho)
    row = 0  # the first row of PLACKETT_ORDERS that admits (D, rho); the last one else
    while row < _PL_LIMITS.shape[0] - 1 and (exponent_range > _PL_LIMITS[row, 0]
                                             or rho > _PL_LIMITS[row, 1]):
        row += 1
    acc = _plackett_sum(a, b, rho, theta0, _PL_T, _PL_W, _PL_START[row], _PL_START[row + 1])
    product = 0.25 * erfcx((a + b * rho) * _INV_SQRT2) * erfcx((a * rho + b) * _INV_SQRT2)
    return product * math.exp(-exponent_range) + theta0 * acc / (2 * math.pi)


def _tilted_orthant_body(a, b, rho):
    r""":math:`A(a,b;\rho) = \mathbb{E}[e^{aZ_1+bZ_2}1\{Z_1<0,Z_2<0\}] =
    e^{E}\Phi_2(-(a+b\rho), -(a\rho+b);\rho)`, :math:`E = (a^2+2ab\rho+b^2)/2`, with the
    semantics of :func:`numerics.compile.tilted_orthant`: Plackett's form
    (:func:`_tilted_orthant_plackett`) for :math:`a, b > 0`, :math:`0 < \rho \le`
    :data:`PLACKETT_RHO_MAX` and exponent range :math:`\le` :data:`PLACKETT_MAX_RANGE`;
    elsewhere Owen's form where
    :math:`\epsilon e^E/(A(1+\min(\rho,0))) \le` :data:`OWEN_RTOL`, else (for
    :math:`a, b \ge 0`) :func:`_tilted_orthant_scaled`; :math:`\rho \ge 1`:
    :math:`\operatorname{erfcx}((a+b)/\sqrt2)/2`, :math:`\rho \le -1`: 0,
    :math:`a = b = 0`: :math:`\arccos(-\rho)/2\pi` (Sheppard), :math:`\rho = 0`:
    :math:`\operatorname{erfcx}(a/\sqrt2)\operatorname{erfcx}(b/\sqrt2)/4`. ``rho`` in [-1, 1]
    (unchecked: an inner kernel)."""
    if math.isnan(a) or math.isnan(b) or math.isnan(rho):
        return math.nan
    if rho >= 1.0:
        return 0.5 * erfcx((a + b) * _INV_SQRT2)
    if rho <= -1.0:
        return 0.0
    if a == 0.0 and b == 0.0:
        return math.acos(-rho) / (2 * math.pi)
    if rho == 0.0:  # independence (orthogonal inputs): exact, where Owen's form loses digits
        return 0.25 * erfcx(a * _INV_SQRT2) * erfcx(b * _INV_SQRT2)
    if (a > 0 and b > 0 and 0 < rho <= PLACKETT_RHO_MAX
            and _plackett_exponent_range(a, b, rho) <= PLACKETT_MAX_RANGE):
        return _tilted_orthant_plackett(a, b, rho)
    scaled_applies = a >= 0 and b >= 0 and math.isfinite(a + b)  # the scaled integral's domain
    if scaled_applies and (a * a + 2 * a * b * rho + b * b) / 2 > _OWEN_MAX_EXPONENT:
        return _tilted_orthant_scaled(a, b, rho)
    out, grow = _tilted_orthant_owen(a, b, rho)
    # keep Owen where its error estimate is small; NaN (overflow) and out <= 0 are not kept
    if out > 0 and out * (1.0 + min(rho, 0.0)) * (OWEN_RTOL / _EPS) >= grow:
        return out
    return _tilted_orthant_scaled(a, b, rho) if scaled_applies else out


# The tilted orthant is compiled once, as a C function, and called by its symbol name (as
# SciPy's kernels are): numba links a callee's whole tree into every caller and optimizes
# and emits it again there, and the ELU pair's helpers, the pair itself, its array loop
# and the generated Gram module would each redo this tree (about half of ELU's cold first
# call). Compiled, or loaded from numba's cache, when this module is imported, so that no
# code referring to the symbol can run before it is defined.
_TILTED_ORTHANT_SIG = numba.float64(numba.float64, numba.float64, numba.float64)
_tilted_orthant_c = numba.cfunc(_TILTED_ORTHANT_SIG, cache=True)(_tilted_orthant_body)
_tilted_orthant_symbol = _external("nntheory_tilted_orthant", _tilted_orthant_c.address,
                                   _TILTED_ORTHANT_SIG)


@numba.njit(cache=True)
def tilted_orthant(a, b, rho):
    return _tilted_orthant_symbol(a, b, rho)


tilted_orthant.__doc__ = _tilted_orthant_body.__doc__


#: elu_pair_near_one integrates the alpha^2 block by Gauss-Legendre where both sqrt
#: variances are at most this (the closed form's four terms cancel to O(s1 s2) there)
ELU_SMALL_S = 0.5
_GL8_T, _GL8_W = gauss_legendre_01(8)


@_inner
def _erfcx_minus_one(x):
    """erfcx(x) - 1 for x >= 0 without cancellation at small x:
    e^{x^2} erfc(x) - 1 = expm1(x^2) erfc(x) - erf(x)."""
    if x < 0.5:
        return math.expm1(x * x) * math.erfc(x) - math.erf(x)
    return erfcx(x) - 1.0


@_inner
def _tilted_orthant_d2(a, b, rho, r):
    r""":math:`\partial_a\partial_b A(a,b;\rho) = \mathbb{E}[Z_1Z_2e^{aZ_1+bZ_2}1\{Z_1<0,
    Z_2<0\}]`, from the derivatives of ``theory.special.TiltedOrthant``:
    :math:`\rho A + (b+a\rho)\partial_a A - r\,\operatorname{erfcx}'(ar/\sqrt2)/(2\sqrt\pi)`,
    :math:`\partial_a A = (a+b\rho)A - (\operatorname{erfcx}(br/\sqrt2) + \rho
    \operatorname{erfcx}(ar/\sqrt2))/(2\sqrt{2\pi})`, :math:`\operatorname{erfcx}'(y) =
    2y\operatorname{erfcx}(y) - 2/\sqrt\pi`. Of order one for small a, b: no cancellation."""
    value = tilted_orthant(a, b, rho)
    ya = a * r * _INV_SQRT2
    ea = erfcx(ya)
    norm = 2 * math.sqrt(2 * math.pi)
    da = (a + b * rho) * value - (erfcx(b * r * _INV_SQRT2) + rho * ea) / norm
    dea = 2 * ya * ea - 2 / math.sqrt(math.pi)
    return rho * value + (b + a * rho) * da - r * _INV_SQRT2 * dea / norm


@_inner
def _negative_block_small(s1, s2, rho, r):
    r""":math:`\mathbb{E}[(e^{u}-1)(e^{v}-1)1\{u<0,v<0\}] = A(s_1,s_2) - A(0,s_1) - A(0,s_2)
    + A(0,0) = \int_0^{s_1}\!\int_0^{s_2}\partial_a\partial_b A(a,b;\rho)\,db\,da`, by an
    8 x 8 Gauss-Legendre rule: the integrand is entire in (a, b) and varies on the scale 1,
    so on [0, 1/2]^2 the rule's error is below the rounding (tests/test_jit_special.py)."""
    acc = 0.0
    for i in range(_GL8_T.size):
        inner = 0.0
        for j in range(_GL8_T.size):
            inner += _GL8_W[j] * _tilted_orthant_d2(s1 * _GL8_T[i], s2 * _GL8_T[j], rho, r)
        acc += _GL8_W[i] * inner
    return s1 * s2 * acc


# error_model numpy: a zero variance gives NaN (0/0), not an exception, so that the Gram
# engine flags the entry and the NumPy path recomputes it
@numba.njit(cache=True, error_model="numpy")
def elu_pair_near_one(q11, q12, q22, alpha):
    r"""ELU :math:`(\mathbb{E}[s(u)s(v)], \mathbb{E}[s'(u)s'(v)])` for the covariance
    :math:`(q_{11}, q_{12}, q_{22})`, :math:`q_{11}, q_{22} > 0`: the registry closed form
    (``theory.gaussian.elu_kernels``) with every :math:`\rho`-dependent term formed from the
    same rounded :math:`\rho = q_{12}/(s_1s_2)` (clipped to [-1, 1], snapped to
    :math:`\pm1` within 4 ulp),
    :math:`r = \sqrt{(1-\rho)(1+\rho)}`:

    .. math:: k = \frac{s_1s_2(r + (\pi-\arccos\rho)\rho)}{2\pi} + \alpha(s_1R(s_2)+s_2R(s_1))
              + \alpha^2(A(s_1,s_2;\rho) - A(0,s_1;\rho) - A(0,s_2;\rho) + P),\quad
              \dot k = P + \alpha(A(0,s_1;-\rho) + A(0,s_2;-\rho)) + \alpha^2A(s_1,s_2;\rho),

    :math:`R(b) = (\operatorname{erfcx}(br/\sqrt2)-1)/(2\sqrt{2\pi}) + \rho bA(0,b;-\rho)`,
    :math:`P = \arccos(-\rho)/(2\pi)`. The kernel is a smooth function of :math:`\rho`, so
    a consistent :math:`\rho` makes the :math:`1/r` sensitivities of the terms cancel
    exactly and leaves only each term's own rounding; the tilted orthants come from
    :func:`tilted_orthant` (accurate for :math:`|\rho| \to 1`). Exact at :math:`\rho=\pm1`.
    Where :math:`\max(s_1, s_2) \le` :data:`ELU_SMALL_S` the :math:`\alpha^2` block (four
    terms of order one cancelling to :math:`O(s_1s_2)`, a loss of :math:`1/q`) is integrated
    from its mixed derivative (:func:`_negative_block_small`) and
    :math:`\operatorname{erfcx}(x)-1` is formed without cancellation. Where
    :math:`1-|\rho| \ge` :data:`ELU_NEAR_ONE` the pairs :math:`A(0,b;\pm\rho)` come from one
    tilted orthant each (:func:`_one_sided_tilts`), as in the generated registry form. It is
    accurate everywhere (tests/test_jit_special.py): the Gram engine uses it for every entry
    (``numerics.gram.STABLE_FORMS``), the NumPy path where :math:`1-|\rho| <`
    :data:`ELU_NEAR_ONE` or :math:`\max(s_1,s_2) \le` :data:`ELU_SMALL_S`."""
    s1 = math.sqrt(q11)
    s2 = math.sqrt(q22)
    rho = q12 / (s1 * s2)
    # |rho| within 4 ulp of 1 is 1 up to the rounding of q12 and s1 s2 (numerics.kernels'
    # rule; the kernel moves by O(eps)), and takes the exact rho = +-1 forms, ~10x cheaper;
    # comparisons, not min/max, so that NaN stays NaN
    if rho > 1.0 - 4 * _EPS:
        rho = 1.0
    elif rho < -1.0 + 4 * _EPS:
        rho = -1.0
    r = math.sqrt((1.0 - rho) * (1.0 + rho))
    angle = math.acos(-rho)  # pi - arccos(rho), without cancellation as rho -> -1
    both_negative = angle / (2 * math.pi)
    a_12 = tilted_orthant(s1, s2, rho)
    if 1.0 - abs(rho) < ELU_NEAR_ONE:  # each directly: A(0,b;|rho|) to its relative accuracy
        a1_plus, a1_minus = tilted_orthant(0.0, s1, rho), tilted_orthant(0.0, s1, -rho)
        a2_plus, a2_minus = tilted_orthant(0.0, s2, rho), tilted_orthant(0.0, s2, -rho)
    else:  # 2 tilted orthants instead of 4; the registry form's rounding (+-0.3 ulp near one)
        a1_plus, a1_minus = _one_sided_tilts(s1, rho)
        a2_plus, a2_minus = _one_sided_tilts(s2, rho)
    norm = 2 * math.sqrt(2 * math.pi)
    relu_times_tilted_2 = _erfcx_minus_one(s2 * r * _INV_SQRT2) / norm + rho * s2 * a2_minus
    relu_times_tilted_1 = _erfcx_minus_one(s1 * r * _INV_SQRT2) / norm + rho * s1 * a1_minus
    k = s1 * s2 * (r + angle * rho) / (2 * math.pi)
    k += alpha * (s1 * relu_times_tilted_2 + s2 * relu_times_tilted_1)
    if max(s1, s2) <= ELU_SMALL_S:
        k += alpha * alpha * _negative_block_small(s1, s2, rho, r)
    else:
        k += alpha * alpha * (a_12 - a1_plus - a2_plus + both_negative)
    kd = both_negative + alpha * (a1_minus + a2_minus) + alpha * alpha * a_12
    return k, kd


@_inner
def _one_sided_tilts(b, rho):
    r""":math:`(A(0,b;\rho), A(0,b;-\rho))` from one tilted orthant: the two sum to
    :math:`\mathbb{E}[e^{bZ}1\{Z<0\}] = \operatorname{erfcx}(b/\sqrt2)/2`; the smaller,
    :math:`A(0,b;-|\rho|)`, is evaluated, and the other, at least half the sum, follows with
    an absolute error of the rounding of the sum (as ``numerics.stable_forms`` rewrites the
    registry form)."""
    small = tilted_orthant(0.0, b, -abs(rho))
    large = 0.5 * erfcx(b * _INV_SQRT2) - small
    if rho >= 0:
        return large, small
    return small, large


def _lazy_ufunc(scalar):
    """A float64 NumPy ufunc (broadcasting) of a scalar function of three arguments, built by
    ``numba.vectorize`` at its first call: built at import, every process that imports the
    module (every activation's) would compile, or load from numba's cache, all of them."""
    @functools.cache
    def ufunc():
        return numba.vectorize(["float64(float64, float64, float64)"], cache=True)(scalar)

    def call(x, y, z):
        return ufunc()(x, y, z)

    call.__doc__ = f"NumPy ufunc of :func:`{scalar.__name__.removesuffix('_scalar')}`."
    return call


def _tilted_orthant_scalar(a, b, rho):
    return tilted_orthant(a, b, rho)


def _bivariate_normal_cdf_scalar(h, k, rho):
    return bivariate_normal_cdf(h, k, rho)


def _tilted_orthant_scaled_scalar(a, b, rho):
    return _tilted_orthant_scaled(a, b, rho)


#: NumPy ufuncs of the scalar functions (broadcasting, float64)
tilted_orthant_vec = _lazy_ufunc(_tilted_orthant_scalar)
bivariate_normal_cdf_vec = _lazy_ufunc(_bivariate_normal_cdf_scalar)
#: the scaled integral alone (a, b >= 0, |rho| < 1), numerics.compile's fallback
tilted_orthant_scaled_vec = _lazy_ufunc(_tilted_orthant_scaled_scalar)


@numba.njit(cache=True)
def _elu_pair_loop(q11, q12, q22, alpha, k, kd):
    for i in range(q11.size):
        k[i], kd[i] = elu_pair_near_one(q11[i], q12[i], q22[i], alpha)


def elu_pair_near_one_vec(q11, q12, q22, alpha):
    """:func:`elu_pair_near_one` on arrays (broadcast): returns the arrays (k, kd)."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (q11, q12, q22)))
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(v).ravel() for v in arrays]
    k, kd = np.empty(flat[0].size), np.empty(flat[0].size)
    _elu_pair_loop(*flat, float(alpha), k, kd)
    return k.reshape(shape), kd.reshape(shape)
