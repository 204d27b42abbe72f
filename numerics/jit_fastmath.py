r"""Branch-free arcsine, arccosine and arctangent for numba, so that the compiled Gram
engine's inner loop (:mod:`numerics.gram`) vectorizes: libm's scalar ``acos``/``asin``/
``atan`` are opaque calls that keep LLVM from vectorizing a loop, and they cost more than
half of a ReLU entry. These are fdlibm's algorithms (Sun Microsystems 1993, as in
FreeBSD's msun and musl: ``e_asin.c``, ``e_acos.c``, ``s_atan.c``) with the same
coefficients, written without branches: every reduction is computed and the result
selected, so one call is a fixed sequence of arithmetic, ``sqrt`` and one or two
divisions that LLVM inlines and vectorizes.

* :func:`asin`, :func:`acos`: :math:`|x| < 1/2`: :math:`x + x R(x^2)`; otherwise, with
  :math:`z = (1-|x|)/2` and :math:`s = \sqrt z`, :math:`\arcsin|x| = \pi/2 - 2(s + sR(z))`
  (:math:`\arccos x = 2(s + sR(z))` for :math:`x > 0`, :math:`\pi - 2(s + sR(z))` with
  :math:`z = (1+x)/2` for :math:`x < 0`), :math:`R` one rational function of degree
  (6, 4); the rounding of :math:`s` is corrected with its head :math:`f` (26 bits, so
  :math:`f^2` is exact) and :math:`c = (z - f^2)/(s + f)`.
* :func:`atan`: :math:`|x|` reduced to :math:`[-7/16, 7/16]` by
  :math:`\arctan x = \arctan c + \arctan((x - c)/(1 + cx))` for
  :math:`c \in \{1/2, 1, 3/2\}` and :math:`\arctan x = \pi/2 + \arctan(-1/x)`, then an
  odd polynomial of degree 23.

NaN propagates; :math:`|x| > 1` gives NaN for asin/acos (as ``math.asin`` in numba).
Compiled with ``fastmath=False`` set explicitly: numba otherwise compiles a callee with its
caller's fastmath flags (and caches that version), and reassociation would undo the
head/tail split and the order of the final sums; inlined into the engine's fastmath loop,
these instructions keep their own flags and the loop still vectorizes.

Accuracy, measured against 30-digit mpmath (tests/test_jit_fastmath.py: ~10^4 points of
[-1, 1] for asin and acos, uniform, random, 10^-300 to 1/2 geometric, the ends and the
reduction boundaries +-1/2 with 20 neighbours each; for atan uniform on [-10, 10], random
on [-4, 4], 10^-300 to 10^300 geometric, the boundaries 7/16, 11/16, 19/16, 39/16 with
neighbours): within :data:`MAX_ULP` units in the last place of the true value.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["acos", "asin", "atan", "MAX_ULP", "ASIN_P", "ASIN_Q", "ATAN_COEFFS"]

#: measured bound on the error in ulp of the result (tests/test_jit_fastmath.py)
MAX_ULP = {"asin": 1.0, "acos": 1.0, "atan": 1.0}

_PIO2_HI = 1.57079632679489655800e00  # pi/2 rounded to double
_PIO2_LO = 6.12323399573676603587e-17  # pi/2 - _PIO2_HI
_PIO4_HI = 7.85398163397448278999e-01
_SPLIT = 134217729.0  # 2^27 + 1 (Dekker's split: the head of s has 26 bits)

#: fdlibm's R(z) = z P(z) / Q(z) of (asin(x) - x) / x^3 on [0, 1/4]: P's coefficients
#: pS0..pS5, Q's qS1..qS4 (its constant term is 1)
ASIN_P = (1.66666666666666657415e-01, -3.25565818622400915405e-01,
          2.01212532134862925881e-01, -4.00555345006794114027e-02,
          7.91534994289814532176e-04, 3.47933107596021167570e-05)
ASIN_Q = (-2.40339491173441421878e00, 2.02094576023350569471e00,
          -6.88283971605453293030e-01, 7.70381505559019352791e-02)

#: fdlibm's aT[0..10]: atan(x) = x - x (aT0 x^2 + aT1 x^4 + ... + aT10 x^22) on |x| <= 7/16
ATAN_COEFFS = (3.33333333333329318027e-01, -1.99999999998764832476e-01,
               1.42857142725034663711e-01, -1.11111104054623557880e-01,
               9.09088713343650656196e-02, -7.69187620504482999495e-02,
               6.66107313738753120669e-02, -5.83357013379057348645e-02,
               4.97687799461593236017e-02, -3.65315727442169155270e-02,
               1.62858201153657823623e-02)
#: atan(1/2), atan(1), atan(3/2), atan(inf) as head + tail
_ATAN_HI = (4.63647609000806093515e-01, 7.85398163397448278999e-01,
            9.82793723247329054082e-01, 1.57079632679489655800e00)
_ATAN_LO = (2.26987774529616870924e-17, 3.06161699786838301793e-17,
            1.39033110312309984516e-17, 6.12323399573676603587e-17)


@njit(cache=True, error_model="numpy", fastmath=False)
def _reduced(x, p, q):
    """(|x| < 1/2, R(z), s, the head f of s, its correction c) of both asin reductions, with
    fdlibm's R(z) = z P(z) / Q(z) and c = (z - f^2) / (s + f) from one division (a vector
    division costs as much as ten multiplications)."""
    a = abs(x)
    small = a < 0.5
    z = x * x if small else (1.0 - a) * 0.5
    num = z * (p[0] + z * (p[1] + z * (p[2] + z * (p[3] + z * (p[4] + z * p[5])))))
    den = 1.0 + z * (q[0] + z * (q[1] + z * (q[2] + z * q[3])))
    s = math.sqrt(z)
    f = s * _SPLIT
    f = f - (f - s)
    c_num = z - f * f
    c_den = s + f if z > 0.0 else 1.0  # z = 0: s = f = 0 and c = 0
    inv = 1.0 / (den * c_den)  # den in [0.4, 1], c_den in (0, 1.5]: no overflow
    return small, num * c_den * inv, s, f, c_num * den * inv


@njit(cache=True, error_model="numpy", fastmath=False)
def asin_with(x, p, q):
    """asin with the coefficients ``p``, ``q`` of R (tests truncate them)."""
    small, r, s, f, c = _reduced(x, p, q)
    a = abs(x)
    near = a + a * r
    # pi/2 - 2(s + s R) with s = f + c: pi/4 + (pi/4 - 2f) - (2 s R - (pio2_lo - 2c))
    far = _PIO4_HI + ((_PIO4_HI - 2.0 * f) - (2.0 * s * r - (_PIO2_LO - 2.0 * c)))
    return math.copysign(near if small else far, x)


@njit(cache=True, error_model="numpy", fastmath=False)
def acos_with(x, p, q):
    """acos with the coefficients ``p``, ``q`` of R (tests truncate them)."""
    small, r, s, f, c = _reduced(x, p, q)
    near = _PIO2_HI - (x - (_PIO2_LO - x * r))
    positive = 2.0 * (f + (r * s + c))
    negative = 2.0 * _PIO2_HI - 2.0 * (s + (r * s - _PIO2_LO))
    return near if small else (positive if x > 0.0 else negative)


@njit(cache=True, error_model="numpy", fastmath=False)
def atan_with(x, coeffs):
    """atan with the polynomial ``coeffs`` (tests truncate them)."""
    a = abs(x)
    # the reduction: t = (num / den), atan|x| = hi + atan(t) (hi + lo)
    num, den, hi, lo = a, 1.0, 0.0, 0.0
    b1, b2, b3, b4 = a >= 0.4375, a >= 0.6875, a >= 1.1875, a >= 2.4375
    num = 2.0 * a - 1.0 if b1 else num
    den = 2.0 + a if b1 else den
    hi = _ATAN_HI[0] if b1 else hi
    lo = _ATAN_LO[0] if b1 else lo
    num = a - 1.0 if b2 else num
    den = a + 1.0 if b2 else den
    hi = _ATAN_HI[1] if b2 else hi
    lo = _ATAN_LO[1] if b2 else lo
    num = a - 1.5 if b3 else num
    den = 1.0 + 1.5 * a if b3 else den
    hi = _ATAN_HI[2] if b3 else hi
    lo = _ATAN_LO[2] if b3 else lo
    num = -1.0 if b4 else num
    den = a if b4 else den
    hi = _ATAN_HI[3] if b4 else hi
    lo = _ATAN_LO[3] if b4 else lo
    t = num / den
    z = t * t
    w = z * z
    k = coeffs
    odd = z * (k[0] + w * (k[2] + w * (k[4] + w * (k[6] + w * (k[8] + w * k[10])))))
    even = w * (k[1] + w * (k[3] + w * (k[5] + w * (k[7] + w * k[9]))))
    return math.copysign(hi - ((t * (odd + even) - lo) - t), x)


@njit(cache=True, error_model="numpy", fastmath=False)
def asin(x):
    """arcsin x, branch-free (fdlibm's algorithm); NaN outside [-1, 1]."""
    return asin_with(x, ASIN_P, ASIN_Q)


@njit(cache=True, error_model="numpy", fastmath=False)
def acos(x):
    """arccos x, branch-free (fdlibm's algorithm); NaN outside [-1, 1]."""
    return acos_with(x, ASIN_P, ASIN_Q)


@njit(cache=True, error_model="numpy", fastmath=False)
def atan(x):
    """arctan x, branch-free (fdlibm's algorithm)."""
    return atan_with(x, ATAN_COEFFS)
