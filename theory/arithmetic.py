r"""The one arithmetic context of ``theory`` (a leaf: imports nothing from ``theory``).

Every function of ``theory`` that computes numbers takes ``dps``: ``None`` (default)
for Python floats, an integer for mpmath numbers correct to about ``dps`` decimal
digits. This module turns that argument into an explicit object, as mpmath's
``fp`` and ``mp`` contexts do (``ctx_base.py``, ``ctx_fp.py``, ``ctx_mp.py``):

* :class:`Arithmetic` ``(dps)`` — the numbers an algorithm runs in. Its functions
  (``mpf``, ``sqrt``, ``exp``, ``erfc``, ``npdf``, ``ncdf``, ``quad``, ``pi``, ``inf``, ...)
  are floats (``math``, or ``mpmath.fp`` for what ``math`` lacks) for ``dps=None``
  and ``mpmath.mp`` at its working precision otherwise, so an inner loop is written
  once against ``A``; :meth:`Arithmetic.finish` rounds a result (or a list, tuple,
  dict or dataclass of results) to what the caller asked for: a float, or an mpf
  rounded to ``dps`` digits.
* Guard digits, written once: :meth:`Arithmetic.guard` (a ``with`` block that raises
  ``mpmath.mp.dps`` to ``digits + extra`` and restores it, also after an exception) and
  the decorator :func:`guarded` (mpmath's ``extradps(n, normalize_output=True)``) for a
  public function with a ``dps=`` keyword: it validates ``dps``, runs the function
  under the guard and finishes its result.
* The argument checkers of ``theory``: :func:`check_dps`, :func:`check_real`.

Nothing here is ambient: which arithmetic a computation uses is the ``A`` it is
handed; the only state touched is ``mpmath.mp.dps``, always inside a ``with`` block
local to one call. ``numerics.precision.Backend`` remains the interface for
simulations (float32, float64, mpmath, Arb); this context is for ``theory``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from contextlib import contextmanager
from fractions import Fraction

import mpmath

__all__ = [
    "Arithmetic",
    "DOUBLE_DIGITS",
    "GUARD_DIGITS",
    "check_dps",
    "check_real",
    "guarded",
    "mp_erfc",
    "mp_erfcx",
    "mp_ncdf",
    "target_digits",
]

#: decimal digits of double precision, the target of ``dps=None``
DOUBLE_DIGITS = 15
#: guard digits a public function works with beyond its target (see :func:`guarded`)
GUARD_DIGITS = 10


# ---------------------------------------------------------------------------
# argument checkers
# ---------------------------------------------------------------------------

def check_dps(dps):
    """``dps`` as given (``None``) or as an ``int`` >= 1 (NumPy integers accepted);
    ValueError naming ``dps`` and the valid range otherwise (bool, str, float, ...)."""
    if dps is None:
        return None
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or dps < 1:
        raise ValueError("dps must be a positive integer (decimal digits, an int >= 1) or None "
                         f"(double precision), got {dps!r}")
    return int(dps)


def target_digits(dps):
    """The decimal digits a computation for ``dps`` targets: 15 (double precision) for
    ``None``, else ``dps`` (checked by :func:`check_dps`)."""
    dps = check_dps(dps)
    return DOUBLE_DIGITS if dps is None else dps


def _sympy_number(value):
    """``value`` as an mpf if it is a SymPy number (SymPy is imported lazily: a leaf
    module that checks numbers should not pay for it)."""
    import sympy as sp

    if not isinstance(value, sp.Basic):
        return None
    if not value.is_number or value.is_extended_real is not True or value.is_finite is not True:
        return False
    if isinstance(value, sp.Integer):
        return mpmath.mpf(int(value))
    return mpmath.mpf(sp.N(value, mpmath.mp.dps + 5))


def check_real(name, value, *, positive=False, nonnegative=False, decimal=False):
    """``value`` as an mpmath number at the working precision, if it is a finite real
    scalar: Python ``int``/``float``, NumPy integers and floats, ``mpmath.mpf``,
    ``fractions.Fraction`` (any ``numbers.Rational``), real SymPy numbers. bool, str,
    complex and non-finite values are refused with a ValueError naming ``name`` and the
    valid range (``> 0`` with ``positive``, ``>= 0`` with ``nonnegative``).
    ``decimal=True`` also accepts a decimal string (``"0.3"``, read at the working
    precision): the dual kernels and recursions take them, as exact inputs for
    high-precision checks."""
    bound = " > 0" if positive else (" >= 0" if nonnegative else "")
    valid = f"{name} must be a finite real number{bound}"
    v = None
    if decimal and isinstance(value, str):
        try:
            v = mpmath.mpf(value.strip())
        except ValueError:
            v = None
    elif isinstance(value, (bool, str, bytes)):
        v = None
    elif isinstance(value, mpmath.mpf):
        v = +value
    elif isinstance(value, numbers.Integral):
        v = mpmath.mpf(int(value))
    elif isinstance(value, (Fraction, numbers.Rational)):
        v = mpmath.mpf(value.numerator) / value.denominator
    elif isinstance(value, numbers.Real):
        v = mpmath.mpf(float(value))
    else:
        converted = _sympy_number(value)
        v = converted if converted is not False else None
    if v is None:
        raise ValueError(f"{valid}, got {value!r} ({type(value).__name__})")
    if not mpmath.isfinite(v):
        raise ValueError(f"{valid} (not NaN or inf), got {value!r}")
    if positive and not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonnegative and v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


# ---------------------------------------------------------------------------
# float versions of the functions the theory code needs
# ---------------------------------------------------------------------------

_SQRT2 = math.sqrt(2)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _float_npdf(z):
    return math.exp(-z * z / 2) / _SQRT_2PI


def _float_ncdf(z):
    return 0.5 * math.erfc(-z / _SQRT2)


def _float_erfcx(z):
    r""":math:`e^{z^2}\operatorname{erfc}(z)` in floats; the asymptotic series past 25
    (error below the first omitted term, :math:`< 10^{-30}` at ``z = 25``)."""
    z = float(z)
    if z < 25:
        return math.exp(z * z) * math.erfc(z)
    w = 1 / (2 * z * z)
    term, total = 1.0, 1.0
    for k in range(1, 9):
        term *= -(2 * k - 1) * w
        total += term
    return total / (z * math.sqrt(math.pi))


def _series_applies(z):
    r"""Whether erfc and erfcx of ``z`` use the asymptotic series: for
    :math:`z^2 \ge 4(p + 10)` (``p`` working bits) its terms shrink by
    :math:`(2k-1)/(2z^2) < 1/4` over the first :math:`p` terms, far past the working
    precision. (mpmath's own erfc raises OverflowError from about 1.3e154: it squares the
    argument as a float; and :math:`e^{z^2}` gets slow for huge ``z``.)"""
    return z > 0 and z * z >= 4 * (mpmath.mp.prec + 10)


def _mp_erfcx_series(z):
    r""":math:`e^{z^2}\operatorname{erfc}(z) = \frac{1}{z\sqrt\pi}\sum_k (-1)^k
    \frac{(2k-1)!!}{(2z^2)^k}` where :func:`_series_applies`, summed until a term is
    below the working precision (the error of this alternating series is below the
    first omitted term)."""
    w = 1 / (2 * z * z)
    term = total = mpmath.mpf(1)
    tiny = mpmath.eps / 4
    k = 1
    while abs(term) > tiny:
        term *= -(2 * k - 1) * w
        total += term
        k += 1
    return total / (z * mpmath.sqrt(mpmath.pi))


def _square_guard(z):
    r"""Guard bits for a factor :math:`e^{\pm z^2}`: rounding :math:`z^2` costs a relative
    error :math:`\epsilon z^2` in it."""
    return int(mpmath.log(1 + z * z, 2)) + 10


def mp_erfc(z):
    """``mpmath.erfc`` at the working precision, also for arguments past 1.3e154 where
    mpmath's own raises OverflowError (the asymptotic series times :math:`e^{-z^2}`)."""
    z = mpmath.mpf(z)
    if not _series_applies(z):
        return mpmath.erfc(z)
    with mpmath.workprec(mpmath.mp.prec + _square_guard(z)):
        value = mpmath.exp(-z * z) * _mp_erfcx_series(z)
    return +value


def mp_ncdf(z):
    r""":math:`\Phi(z) = \operatorname{erfc}(-z/\sqrt2)/2` at the working precision, for
    every real ``z`` (``mpmath.ncdf`` fails like ``mpmath.erfc`` below about -1.9e154);
    :math:`z/\sqrt2` is formed with the guard bits of :func:`_square_guard`."""
    z = mpmath.mpf(z)
    if z >= 0:
        return mpmath.ncdf(z)
    with mpmath.workprec(mpmath.mp.prec + _square_guard(z)):
        value = mp_erfc(-z / mpmath.sqrt(2)) / 2
    return +value


def mp_erfcx(z):
    r""":math:`\operatorname{erfcx}(z) = e^{z^2}\operatorname{erfc}(z)` at the working
    precision for every real ``z``. Rounding :math:`z^2` costs a relative error
    :math:`\epsilon z^2` in :math:`e^{z^2}`, so the product is formed with
    :math:`\log_2(1+z^2)` guard bits; for large ``z`` the asymptotic series (no huge
    factor at all)."""
    z = mpmath.mpf(z)
    if _series_applies(z):
        return _mp_erfcx_series(z)
    with mpmath.workprec(mpmath.mp.prec + _square_guard(z)):
        value = mpmath.exp(z * z) * mpmath.erfc(z)
    return +value


#: names bound to ``math`` (several times faster than ``mpmath.fp`` in inner loops);
#: everything else comes from ``mpmath.fp``
_FLOAT_FUNCTIONS = {
    "mpf": float, "convert": float, "exp": math.exp, "sqrt": math.sqrt, "log": math.log,
    "erf": math.erf, "erfc": math.erfc, "npdf": _float_npdf, "ncdf": _float_ncdf,
    "erfcx": _float_erfcx, "isfinite": math.isfinite, "pi": math.pi, "inf": math.inf,
}
_MP_FUNCTIONS = {"convert": mpmath.mpmathify, "erfc": mp_erfc, "ncdf": mp_ncdf,
                 "erfcx": mp_erfcx}


# ---------------------------------------------------------------------------
# the context
# ---------------------------------------------------------------------------

class Arithmetic:
    r"""Floats (``dps=None``) or mpmath at ``dps`` digits, as one object.

    ``A.dps`` is the requested precision (None or an int), ``A.digits`` the target in
    decimal digits (15 for floats), ``A.is_float`` which of the two. Attribute access
    delegates to ``mpmath.fp`` / ``mpmath.mp`` (``A.quad``, ``A.findroot``, ``A.nstr``,
    ...), with ``math`` versions of the hot scalar functions for floats; the mpmath
    functions run at the current ``mpmath.mp.dps``, which :meth:`guard` scopes.

    >>> A = Arithmetic(30)
    >>> with A.guard():
    ...     x = A.exp(A.mpf(1)) - A.mpf(1)
    >>> mpmath.nstr(A.finish(x), 30)   # an mpf rounded to 30 digits
    '1.71828182845904523536028747135'
    >>> Arithmetic(None).finish(x)
    1.7182818284590453
    """

    def __init__(self, dps=None):
        self.dps = check_dps(dps)
        self.is_float = self.dps is None
        self.digits = DOUBLE_DIGITS if self.is_float else self.dps
        self.ctx = mpmath.fp if self.is_float else mpmath.mp
        # bound once: inner loops look these up per call
        self.__dict__.update(_FLOAT_FUNCTIONS if self.is_float else _MP_FUNCTIONS)

    def __getattr__(self, name):
        if name == "ctx":  # not yet set (unpickling, copy): no recursion
            raise AttributeError(name)
        return getattr(self.ctx, name)

    def __repr__(self):
        return f"Arithmetic(dps={self.dps!r})"

    def __eq__(self, other):
        return isinstance(other, Arithmetic) and other.dps == self.dps

    def __hash__(self):
        return hash(("Arithmetic", self.dps))

    @contextmanager
    def guard(self, extra=GUARD_DIGITS):
        """``with A.guard(extra):`` — mpmath at ``digits + extra`` digits inside, the
        previous precision restored on exit (also after an exception); yields ``A``."""
        with mpmath.workdps(self.digits + extra):
            yield self

    def finish(self, value):
        """A result as the caller asked for it: ``float`` for ``dps=None``, else an mpf
        rounded to ``dps`` digits; lists, tuples, dict values and dataclass fields are
        finished element by element; ``None``, bools and strings pass through."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) in (list, tuple):
            return type(value)(self.finish(v) for v in value)
        if isinstance(value, dict):
            return {key: self.finish(v) for key, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(value, **{
                f.name: self.finish(getattr(value, f.name)) for f in dataclasses.fields(value)})
        if self.is_float:
            return float(value)
        with mpmath.workdps(self.dps):
            return +mpmath.mpf(value)


def guarded(extra=GUARD_DIGITS):
    """Decorator for a function with a ``dps=`` keyword (``@guarded()`` or ``@guarded``):
    ``dps`` is checked (:func:`check_dps`), the function runs with mpmath at
    ``digits + extra`` digits (``Arithmetic.guard``) and its result is finished
    (``Arithmetic.finish``): a float, or an mpf rounded to ``dps`` digits. The
    function's own default for ``dps`` applies when the caller omits it. mpmath's
    ``extradps(extra, normalize_output=True)``, with the float case added."""
    if callable(extra):  # used bare: @guarded
        return guarded()(extra)

    def decorate(fn):
        default = inspect.signature(fn).parameters["dps"].default

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            A = Arithmetic(kwargs.pop("dps", default))
            with A.guard(extra):
                value = fn(*args, dps=A.dps, **kwargs)
            return A.finish(value)

        return wrapper

    return decorate
