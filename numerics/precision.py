r"""Precision backends: one array interface, four number systems.

=========== ==================================== ===========================================
name        arrays                               precision
=========== ==================================== ===========================================
``float32`` NumPy ``float32`` 2-D arrays         24-bit significand (IEEE single)
``float64`` NumPy ``float64`` 2-D arrays         53-bit significand (IEEE double)
``mpmath``  NumPy object arrays of ``mpf``       ``dps`` digits (the reference)
``arb``     python-flint ``arb_mat`` (balls)     ``bits`` of midpoint precision (fast path)
=========== ==================================== ===========================================

Every array is two-dimensional (a vector is an ``n x 1`` column).  The
simulators of :mod:`numerics.networks` are written once against
:class:`Backend`; the same training loop runs in every number system, so a
float64 and a 100-digit trajectory of one network can be compared step by step.

Precision
---------
``mpmath`` and ``arb`` accept either ``dps`` (decimal digits) or ``bits``;
they are converted as mpmath does, :math:`\mathrm{bits} = \mathrm{round}((\mathrm{dps}+1)
\log_2 10)` (``mpmath.libmp.dps_to_prec``: 30 digits -> 103 bits), so
``precision("arb", dps=30)`` and ``precision("mpmath", dps=30)`` use the
same 103-bit significands.  Precision is *scoped*: every backend operation
runs inside its own precision scope, and ``with precision(...) as B:``
additionally sets ``mpmath.mp`` / ``flint.ctx`` for the block and restores
them afterwards (also on exceptions), so nothing leaks into global state.

Arb radii
---------
``arb`` balls carry a radius.  In the default ``mode="midpoint-reset"`` the
simulators reset the parameters to their midpoints after each step
(:meth:`Backend.reset_midpoints`): radii stay tiny, but a radius is then only
*that step's* rounding error (``radius_meaning == "per-step rounding"``),
not a bound on the distance to the exact trajectory.  ``mode="no-reset"``
never resets: every operation is a ball operation on exact inputs, so the
balls are a rigorous enclosure of the exact-arithmetic trajectory
(``radius_meaning == "rigorous enclosure"``); radii grow with the horizon
(roughly like the product of the step maps' Lipschitz constants), so this is
useful over short horizons.

Activations
-----------
Activations and derivatives are compiled from the registry's SymPy
expressions (:mod:`theory.activations`) by a small code generator with common
subexpressions shared between :math:`\sigma` and :math:`\sigma'` (for
GELU, the ``erf`` term): ``float64`` uses
:func:`numerics.compile.activation_function`; ``float32`` the same expression
in float32 NumPy arithmetic; ``mpmath`` and ``arb`` one straight-line loop per
array.  ``Piecewise`` on an Arb ball that straddles a branch point returns
the union of the branches that may apply, so enclosures stay sound.

Initial weights
---------------
:func:`float32_normal` draws ``N(0, std^2)`` in float64 with
``numpy.random.default_rng(seed)`` and rounds to float32; every backend
converts those numbers *exactly*, so one network starts bit-identical on
every backend, float32 included.
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from functools import cache

import flint
import mpmath
import numpy as np
import scipy.special as sc
import sympy as sp
from mpmath import libmp

from theory.activations import Activation, resolve
from theory.symbols import x as _X

__all__ = [
    "BACKENDS",
    "Backend",
    "ArbBackend",
    "MpmathBackend",
    "NumpyBackend",
    "bits_to_dps",
    "dps_to_bits",
    "float32_normal",
    "get_backend",
    "precision",
]

#: backend names accepted by :func:`get_backend` / :func:`precision`
BACKENDS = ("float32", "float64", "mpmath", "arb")

RESET_MODES = ("midpoint-reset", "no-reset")


def dps_to_bits(dps: int) -> int:
    r"""Binary precision for ``dps`` decimal digits, as mpmath converts it:
    :math:`\mathrm{round}((\mathrm{dps}+1)\log_2 10)` (one guard digit)."""
    return int(libmp.dps_to_prec(int(dps)))


def bits_to_dps(bits: int) -> int:
    """Decimal digits represented by ``bits`` (mpmath's ``prec_to_dps``)."""
    return int(libmp.prec_to_dps(int(bits)))


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def float32_normal(seed, shape, std=1.0) -> np.ndarray:
    r"""``N(0, std^2)`` samples rounded to float32, returned as a float64 array
    whose entries are exactly float32-representable.

    Drawn as ``default_rng(seed).standard_normal(shape) * std`` in float64 and
    rounded once to float32.  ``seed`` may be an int, a
    :class:`numpy.random.SeedSequence` or a :class:`numpy.random.Generator`
    (then it is advanced).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not np.isfinite(std) or std < 0:
        raise ValueError(f"std must be a finite number >= 0, got {std!r}")
    z = rng.standard_normal(shape) * float(std)
    return z.astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------
# code generation: registry expression -> straight-line code in one namespace
# ---------------------------------------------------------------------------

_FUNCTIONS = {
    # sympy class name -> (numpy callable, mpmath callable name, arb method name)
    "exp": (np.exp, "exp", "exp"),
    "log": (np.log, "log", "log"),
    "erf": (sc.erf, "erf", "erf"),
    "erfc": (sc.erfc, "erfc", "erfc"),
    "tanh": (np.tanh, "tanh", "tanh"),
    "sinh": (np.sinh, "sinh", "sinh"),
    "cosh": (np.cosh, "cosh", "cosh"),
    "sin": (np.sin, "sin", "sin"),
    "cos": (np.cos, "cos", "cos"),
    "tan": (np.tan, "tan", "tan"),
    "atan": (np.arctan, "atan", "atan"),
    "asin": (np.arcsin, "asin", "asin"),
    "acos": (np.arccos, "acos", "acos"),
    "asinh": (np.arcsinh, "asinh", "asinh"),
    "acosh": (np.arccosh, "acosh", "acosh"),
    "atanh": (np.arctanh, "atanh", "atanh"),
}

_RELATIONS = {
    sp.StrictGreaterThan: ">",
    sp.GreaterThan: ">=",
    sp.StrictLessThan: "<",
    sp.LessThan: "<=",
}


def _tri_state(op, a, b):
    """Arb comparison: True if certainly, False if certainly not, None if undecided."""
    if op == ">":
        yes, no = a > b, a <= b
    elif op == ">=":
        yes, no = a >= b, a < b
    elif op == "<":
        yes, no = a < b, a >= b
    else:
        yes, no = a <= b, a > b
    return True if yes else (False if no else None)


def _arb_piecewise(pairs):
    """Sound Piecewise on a ball: the union of every branch that may be taken."""
    result = None
    for value, cond in pairs:
        if cond is False:
            continue
        value = value if isinstance(value, flint.arb) else flint.arb(value)
        result = value if result is None else result.union(value)
        if cond is True:
            return result
    if result is None:
        return flint.arb("nan")
    return result


def _mp_piecewise(pairs):
    for value, cond in pairs:
        if cond:
            return value
    return mpmath.nan


def _np_piecewise(pairs):
    conds = [np.asarray(c) for _, c in pairs]
    values = [v for v, _ in pairs]
    return np.select(conds, values, default=np.nan)


class _Printer:
    """Straight-line Python code for a SymPy expression in one number system.

    ``kind`` is ``"numpy"``, ``"mpmath"`` or ``"arb"``.  Constant subtrees are
    evaluated once at compile time (at the working precision; rigorously for
    Arb) and referenced by name.
    """

    def __init__(self, kind, dtype=None):
        self.kind = kind
        self.dtype = dtype
        self.constants: dict = {}
        self._const_names: dict = {}

    # constants -----------------------------------------------------------
    def constant(self, expr) -> str:
        key = sp.srepr(expr)
        if key not in self._const_names:
            name = f"_k{len(self._const_names)}"
            self._const_names[key] = name
            self.constants[name] = self._const_value(expr)
        return self._const_names[key]

    def _const_value(self, expr):
        if self.kind == "arb":
            return _arb_constant(expr)
        if self.kind == "mpmath":
            return _mp_constant(expr)
        value = float(sp.N(expr, 40))
        return self.dtype(value)

    # expressions ---------------------------------------------------------
    def code(self, e) -> str:
        if isinstance(e, sp.Symbol):
            return e.name
        if e is sp.true:
            return "True"
        if e is sp.false:
            return "False"
        if not e.free_symbols:
            return self.constant(e)
        if isinstance(e, sp.Add):
            return "(" + " + ".join(self.code(a) for a in e.args) + ")"
        if isinstance(e, sp.Mul):
            if e.args[0] == -1:  # negation is exact and cheaper than a multiplication
                return "(-" + self.code(sp.Mul(*e.args[1:], evaluate=False)) + ")"
            return "(" + " * ".join(self.code(a) for a in e.args) + ")"
        if isinstance(e, sp.Pow):
            base, ex = e.args
            b = self.code(base)
            if ex == sp.Rational(1, 2):
                return self._call("sqrt", b)
            if ex == 2:
                return f"({b} * {b})"
            if ex.is_Integer:
                return f"({b} ** {int(ex)})"
            return f"({b} ** {self.code(ex)})"
        if isinstance(e, sp.Abs):
            return f"abs({self.code(e.args[0])})"
        if isinstance(e, sp.Piecewise):
            items = ", ".join(f"({self.code(v)}, {self.code(c)})" for v, c in e.args)
            return f"_pw(({items},))"
        if type(e) in _RELATIONS:
            op = _RELATIONS[type(e)]
            a, b = self.code(e.lhs), self.code(e.rhs)
            if self.kind == "arb":
                return f"_cmp({op!r}, {a}, {b})"
            return f"({a} {op} {b})"
        if isinstance(e, sp.Function) and type(e).__name__ in _FUNCTIONS:
            return self._call(type(e).__name__, self.code(e.args[0]))
        raise ValueError(
            f"cannot compile {type(e).__name__} ({e}) for the {self.kind} backend; supported: "
            f"+, *, powers, Abs, Piecewise, comparisons, {', '.join(sorted(_FUNCTIONS))}"
        )

    def _call(self, fname, arg):
        if self.kind == "arb":
            return f"{arg}.{fname}()"  # arb methods: x.erf(), x.exp(), x.sqrt(), ...
        return f"{fname}({arg})"

    def namespace(self):
        ns = dict(self.constants)
        if self.kind == "numpy":
            ns.update({k: v[0] for k, v in _FUNCTIONS.items()})
            ns.update(sqrt=np.sqrt, _pw=_np_piecewise)
        elif self.kind == "mpmath":
            ns.update({k: getattr(mpmath, v[1]) for k, v in _FUNCTIONS.items()})
            ns.update(sqrt=mpmath.sqrt, _pw=_mp_piecewise)
        else:
            ns.update(_pw=_arb_piecewise, _cmp=_tri_state)
        return ns


def _arb_constant(expr):
    """Rigorous Arb ball for a constant SymPy expression at the current ctx.prec."""
    if isinstance(expr, sp.Integer):
        return flint.arb(int(expr))
    if isinstance(expr, sp.Rational):
        return flint.arb(int(expr.p)) / int(expr.q)
    if isinstance(expr, sp.Float):
        return _arb_from_mpf_tuple(expr._mpf_)
    if expr is sp.pi:
        return flint.arb.pi()
    if expr is sp.E:
        return flint.arb(1).exp()
    if isinstance(expr, sp.Add):
        out = flint.arb(0)
        for a in expr.args:
            out += _arb_constant(a)
        return out
    if isinstance(expr, sp.Mul):
        out = flint.arb(1)
        for a in expr.args:
            out *= _arb_constant(a)
        return out
    if isinstance(expr, sp.Pow):
        base, ex = _arb_constant(expr.args[0]), expr.args[1]
        if ex == sp.Rational(1, 2):
            return base.sqrt()
        if ex == sp.Rational(-1, 2):
            return base.rsqrt()
        if ex.is_Integer:
            return base ** int(ex)
        return base ** _arb_constant(ex)
    if isinstance(expr, sp.Function) and type(expr).__name__ in _FUNCTIONS:
        return getattr(_arb_constant(expr.args[0]), _FUNCTIONS[type(expr).__name__][2])()
    if isinstance(expr, sp.Abs):
        return abs(_arb_constant(expr.args[0]))
    raise ValueError(f"cannot evaluate constant {expr} in Arb")


def _mp_constant(expr):
    """mpmath value of a constant SymPy expression at the current mp.prec."""
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if not expr.is_real:
        raise ValueError(f"constant {expr} is not real")
    digits = mpmath.mp.dps + 10
    return +mpmath.mpf(sp.Float(sp.N(expr, digits), digits)._mpf_)


def _arb_from_mpf_tuple(t):
    sign, man, exp, _ = t
    if man == 0:
        return flint.arb(0)
    return flint.arb(flint.arf((-man if sign else man, exp)))


def _generate(act: Activation, which: str, kind: str, dtype=None):
    """Compile ``which`` in {"value", "derivative", "both"} for one number system.

    Returns a callable: for ``numpy`` it maps an array to an array (or a pair);
    for ``mpmath``/``arb`` it maps a list of scalars to a list (or two lists).
    """
    if which in ("derivative", "both"):
        act.require_derivative()
    exprs = {"value": [act.expr], "derivative": [act.derivative],
             "both": [act.expr, act.derivative]}[which]
    subs, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_c"))
    printer = _Printer(kind, dtype)
    lines = [f"    {s.name} = {printer.code(e)}" for s, e in subs]
    outs = [printer.code(r) for r in reduced]
    name = _X.name
    if kind == "numpy":
        body = "\n".join(lines)
        ret = ", ".join(outs)
        src = f"def _f({name}):\n{body}\n    return {ret}\n"
    else:
        inner = "\n".join("    " + ln for ln in lines)
        appends = "\n".join(f"        _o{i}({o})" for i, o in enumerate(outs))
        heads = "\n".join(f"    _l{i} = []; _o{i} = _l{i}.append" for i in range(len(outs)))
        ret = ", ".join(f"_l{i}" for i in range(len(outs)))
        src = (f"def _f(_xs):\n{heads}\n    for {name} in _xs:\n{inner}\n{appends}\n"
               f"    return {ret}\n")
    ns = printer.namespace()
    exec(compile(src, f"<activation {act.label} {which} {kind}>", "exec"), ns)  # noqa: S102
    return ns["_f"]


# ---------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------


class Backend:
    r"""Array operations of one number system.

    All arrays are 2-D native objects (NumPy arrays, object arrays of
    ``mpf``, or ``arb_mat``); scalars are native too.  Subclasses implement
    the operations; simulators use only these.

    Attributes: ``name``, ``bits`` (significand bits), ``dps``,
    ``radius_meaning`` (``None`` unless ``arb``).
    """

    name: str = ""
    bits: int = 0
    radius_meaning: str | None = None

    @property
    def dps(self) -> int:
        return bits_to_dps(self.bits)

    @property
    def label(self) -> str:
        return self.name if self.name.startswith("float") else f"{self.name}({self.bits} bits)"

    def scope(self):
        """Context manager setting this backend's precision (no-op for floats)."""
        return contextlib.nullcontext(self)

    def __enter__(self):
        self._scope = self.scope()
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        return self._scope.__exit__(*exc)

    def __repr__(self):
        return f"<{type(self).__name__} {self.label}>"

    # generic helpers built on the primitives ------------------------------
    def scalar(self, value):
        """A native scalar; floats and ints exactly, SymPy constants at the
        working precision (rigorously for Arb)."""
        raise NotImplementedError

    def reset_midpoints(self, a):
        """Drop radii (Arb midpoint-reset mode); identity elsewhere."""
        return a

    def max_radius(self, a) -> float:
        """Largest ball radius (0 for point backends)."""
        return 0.0

    def add(self, a, b):
        with self.scope():
            return a + b

    def sub(self, a, b):
        with self.scope():
            return a - b

    def axpy(self, alpha, x, y):
        r""":math:`y + \alpha x` (``alpha`` a native scalar)."""
        return self.add(y, self.scale(x, alpha))

    # activation dispatch ----------------------------------------------------
    def activation(self, act, z, derivative: bool = False):
        r""":math:`\sigma(z)` (or :math:`\sigma'(z)`) elementwise."""
        act = resolve(act)
        return self._activation(act, z, "derivative" if derivative else "value")[0]

    def activation_pair(self, act, z):
        r""":math:`(\sigma(z), \sigma'(z))`, sharing common subexpressions."""
        act = resolve(act)
        return self._activation(act, z, "both")


class NumpyBackend(Backend):
    """``float32`` or ``float64`` NumPy arrays (IEEE arithmetic, BLAS matmul)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.name = self.dtype.name
        self.bits = 24 if self.dtype == np.float32 else 53

    def asarray(self, values):
        a = np.array(values, dtype=self.dtype)
        return a.reshape(-1, 1) if a.ndim == 1 else a

    def to_numpy(self, a):
        return np.asarray(a, dtype=np.float64)

    def to_mpmath(self, a):
        return _numpy_to_mpmath(np.asarray(a, dtype=np.float64))

    def zeros(self, rows, cols):
        return np.zeros((rows, cols), dtype=self.dtype)

    def copy(self, a):
        return np.array(a, copy=True)

    def shape(self, a):
        return a.shape

    def scalar(self, value):
        return self.dtype.type(_float_of(value))

    def to_float(self, s):
        return float(s)

    def matmul(self, a, b):
        return a @ b

    def transpose(self, a):
        return a.T

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def hadamard(self, a, b):
        return a * b

    def scale(self, a, c):
        return a * c

    def scale_rows(self, a, v):
        return a * v.reshape(-1, 1)

    def scale_cols(self, a, v):
        return a * v.reshape(1, -1)

    def sum_rows(self, a):
        return a.sum(axis=0, keepdims=True)

    def sum_squares(self, a):
        return self.dtype.type(np.sum(a * a))

    def sqrt(self, s):
        return np.sqrt(s)

    def row_norms(self, a):
        return np.sqrt(np.sum(a * a, axis=1, keepdims=True))

    def row_dots(self, a, b):
        return np.sum(a * b, axis=1, keepdims=True)

    def reciprocal(self, a):
        return self.dtype.type(1) / a

    def ones(self, rows, cols):
        return np.ones((rows, cols), dtype=self.dtype)

    def is_finite(self, s):
        return bool(np.all(np.isfinite(s)))

    def _activation(self, act, z, which):
        with np.errstate(all="ignore"):
            if self.dtype == np.float64:
                from numerics.compile import activation_function

                if which == "both":
                    return (activation_function(act)(z), activation_function(act, True)(z))
                return (activation_function(act, which == "derivative")(z),)
            f = _numpy_function(act, which, self.dtype.type)
            out = f(z)
            outs = out if which == "both" else (out,)
            return tuple(np.broadcast_to(np.asarray(o, dtype=self.dtype), z.shape).copy()
                         for o in outs)


@cache
def _numpy_function(act, which, dtype):
    return _generate(act, which, "numpy", dtype)


def _float_of(value):
    if isinstance(value, sp.Basic):
        return float(sp.N(value, 40))
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, mpmath.mpf):
        return float(value)
    return float(value)


def _numpy_to_mpmath(a):
    out = np.empty(a.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(a.reshape(-1).tolist()):
        flat[i] = mpmath.mpf(v)
    return out


class MpmathBackend(Backend):
    """NumPy object arrays of ``mpmath.mpf`` at ``bits`` (the reference).

    Every operation runs under ``mpmath.workprec(bits)``.  Matrix products
    accumulate in mpf arithmetic (each product and partial sum rounded to
    ``bits``).
    """

    name = "mpmath"

    def __init__(self, bits):
        self.bits = bits
        self._cache = {}

    def scope(self):
        return mpmath.workprec(self.bits)

    def asarray(self, values):
        if isinstance(values, np.ndarray) and values.dtype == object:
            a = values
        else:
            a = np.asarray(values, dtype=np.float64)
            a = _numpy_to_mpmath(a)  # exact: every double is an mpf
        a = a.reshape(-1, 1) if a.ndim == 1 else a
        with self.scope():
            return _round_object_array(a)

    def to_numpy(self, a):
        return np.array([[float(v) for v in row] for row in a], dtype=np.float64).reshape(a.shape)

    def to_mpmath(self, a):
        return a

    def zeros(self, rows, cols):
        out = np.empty((rows, cols), dtype=object)
        out.fill(mpmath.mpf(0))
        return out

    def copy(self, a):
        return a.copy()

    def shape(self, a):
        return a.shape

    def scalar(self, value):
        with self.scope():
            if isinstance(value, sp.Basic):
                return _mp_constant(value) if not value.is_Rational else (
                    mpmath.mpf(int(value.p)) / int(value.q))
            if isinstance(value, Fraction):
                return mpmath.mpf(value.numerator) / value.denominator
            return +mpmath.mpf(value)

    def to_float(self, s):
        return float(s)

    def matmul(self, a, b):
        # mpmath.fdot: each entry is the dot product rounded once
        with self.scope():
            cols = b.T.tolist()
            out = np.empty((a.shape[0], b.shape[1]), dtype=object)
            for i, row in enumerate(a.tolist()):
                out[i, :] = [mpmath.fdot(row, c) for c in cols]
            return out

    def transpose(self, a):
        return a.T

    def hadamard(self, a, b):
        with self.scope():
            return a * b

    def scale(self, a, c):
        with self.scope():
            return a * c

    def scale_rows(self, a, v):
        with self.scope():
            return a * v.reshape(-1, 1)

    def scale_cols(self, a, v):
        with self.scope():
            return a * v.reshape(1, -1)

    def sum_rows(self, a):
        with self.scope():
            return a.sum(axis=0, keepdims=True)

    def sum_squares(self, a):
        with self.scope():
            return mpmath.fsum(v * v for v in a.reshape(-1))

    def sqrt(self, s):
        with self.scope():
            return mpmath.sqrt(s)

    def row_norms(self, a):
        with self.scope():
            out = np.empty((a.shape[0], 1), dtype=object)
            for i in range(a.shape[0]):
                out[i, 0] = mpmath.sqrt(mpmath.fsum(v * v for v in a[i]))
            return out

    def row_dots(self, a, b):
        with self.scope():
            return (a * b).sum(axis=1, keepdims=True)

    def reciprocal(self, a):
        with self.scope():
            return 1 / a

    def ones(self, rows, cols):
        out = np.empty((rows, cols), dtype=object)
        out.fill(mpmath.mpf(1))
        return out

    def is_finite(self, s):
        vals = s.reshape(-1) if isinstance(s, np.ndarray) else [s]
        return all(mpmath.isfinite(v) for v in vals)

    def _activation(self, act, z, which):
        with self.scope():
            key = (act, which)
            if key not in self._cache:
                self._cache[key] = _generate(act, which, "mpmath")
            outs = self._cache[key](z.reshape(-1).tolist())
            if which != "both":
                outs = (outs,)
            result = []
            for o in outs:
                arr = np.empty(z.size, dtype=object)
                arr[:] = [v if isinstance(v, mpmath.mpf) else mpmath.mpf(v) for v in o]
                result.append(arr.reshape(z.shape))
            return tuple(result)


def _round_object_array(a):
    out = np.empty(a.shape, dtype=object)
    out.reshape(-1)[:] = [+mpmath.mpf(v) for v in a.reshape(-1)]
    return out


class ArbBackend(Backend):
    r"""python-flint ``arb_mat`` balls at ``bits`` of midpoint precision.

    ``mode="midpoint-reset"`` (default): :meth:`reset_midpoints` drops the
    radii, so a recorded radius is that step's rounding error
    (``radius_meaning = "per-step rounding"``).  ``mode="no-reset"``: radii
    are kept and enclose the exact-arithmetic trajectory
    (``radius_meaning = "rigorous enclosure"``).  Matrix products are
    ``arb_mat`` products (FLINT's block algorithm); elementwise maps run one
    straight-line loop per array.
    """

    name = "arb"

    def __init__(self, bits, mode="midpoint-reset"):
        if mode not in RESET_MODES:
            raise ValueError(f"mode must be one of {RESET_MODES}, got {mode!r}")
        self.bits = bits
        self.mode = mode
        self.radius_meaning = "per-step rounding" if mode == "midpoint-reset" else (
            "rigorous enclosure")
        self._cache = {}

    @property
    def label(self):
        return f"arb({self.bits} bits, {self.mode})"

    @contextlib.contextmanager
    def scope(self):
        old = flint.ctx.prec
        flint.ctx.prec = self.bits
        try:
            yield self
        finally:
            flint.ctx.prec = old

    def asarray(self, values):
        if isinstance(values, flint.arb_mat):
            return values
        if isinstance(values, np.ndarray) and values.dtype == object:
            rows = [[_to_arb(v) for v in row] for row in np.atleast_2d(values.T).T]
            with self.scope():
                return flint.arb_mat(rows) if rows and rows[0] else flint.arb_mat(
                    len(rows), 0)
        a = np.asarray(values, dtype=np.float64)
        a = a.reshape(-1, 1) if a.ndim == 1 else a
        with self.scope():
            # doubles are dyadic: arb_mat stores them exactly (arb_set_d)
            return flint.arb_mat(a.shape[0], a.shape[1], a.reshape(-1).tolist())

    def to_numpy(self, a):
        return np.array([float(v) for v in a.entries()], dtype=np.float64).reshape(
            a.nrows(), a.ncols())

    def to_mpmath(self, a):
        """Exact midpoints as an object array of ``mpf``."""
        out = np.empty(a.nrows() * a.ncols(), dtype=object)
        with mpmath.workprec(self.bits + 64):  # a midpoint has <= bits + few bits: exact
            out[:] = [mpmath.mpf(v.mid()._mpf_) for v in a.entries()]
        return out.reshape(a.nrows(), a.ncols())

    def radii(self, a):
        """Ball radii as a float64 array (upper bounds, rounded up)."""
        return np.array([float(v.rad()) for v in a.entries()], dtype=np.float64).reshape(
            a.nrows(), a.ncols())

    def zeros(self, rows, cols):
        return flint.arb_mat(rows, cols)

    def copy(self, a):
        return flint.arb_mat(a)

    def shape(self, a):
        return (a.nrows(), a.ncols())

    def scalar(self, value):
        with self.scope():
            if isinstance(value, flint.arb):
                return value
            if isinstance(value, sp.Basic):
                return _arb_constant(value)
            if isinstance(value, Fraction):
                return flint.arb(value.numerator) / value.denominator
            if isinstance(value, mpmath.mpf):
                return _arb_from_mpf_tuple(value._mpf_)
            if isinstance(value, (int, np.integer)):
                return flint.arb(int(value))
            return flint.arb(float(value))

    def to_float(self, s):
        return float(s.mid())

    def matmul(self, a, b):
        with self.scope():
            return a * b

    def transpose(self, a):
        return a.transpose()

    def hadamard(self, a, b):
        with self.scope():
            return flint.arb_mat(a.nrows(), a.ncols(),
                                 [u * v for u, v in zip(a.entries(), b.entries(), strict=True)])

    def scale(self, a, c):
        with self.scope():
            return a * c

    def scale_rows(self, a, v):
        with self.scope():
            vs = v.entries()
            c = a.ncols()
            e = a.entries()
            return flint.arb_mat(a.nrows(), c, [e[k] * vs[k // c] for k in range(len(e))])

    def scale_cols(self, a, v):
        with self.scope():
            vs = v.entries()
            c = a.ncols()
            e = a.entries()
            return flint.arb_mat(a.nrows(), c, [e[k] * vs[k % c] for k in range(len(e))])

    def sum_rows(self, a):
        with self.scope():
            ones = flint.arb_mat(1, a.nrows(), [1] * a.nrows())
            return ones * a

    def sum_squares(self, a):
        with self.scope():
            col = a.transpose() if a.ncols() != 1 else a
            if col.ncols() == 1:
                return (col.transpose() * col)[0, 0]
            return sum((v * v for v in a.entries()), flint.arb(0))

    def sqrt(self, s):
        with self.scope():
            return s.sqrt()

    def row_norms(self, a):
        with self.scope():
            c = a.ncols()
            e = a.entries()
            return flint.arb_mat(a.nrows(), 1, [
                sum((v * v for v in e[i * c:(i + 1) * c]), flint.arb(0)).sqrt()
                for i in range(a.nrows())])

    def row_dots(self, a, b):
        with self.scope():
            c = a.ncols()
            e, f = a.entries(), b.entries()
            rows = [zip(e[i * c:(i + 1) * c], f[i * c:(i + 1) * c], strict=True)
                    for i in range(a.nrows())]
            return flint.arb_mat(a.nrows(), 1, [
                sum((u * v for u, v in row), flint.arb(0)) for row in rows])

    def reciprocal(self, a):
        with self.scope():
            return flint.arb_mat(a.nrows(), a.ncols(), [1 / v for v in a.entries()])

    def ones(self, rows, cols):
        return flint.arb_mat(rows, cols, [1] * (rows * cols))

    def is_finite(self, s):
        vals = s.entries() if isinstance(s, flint.arb_mat) else [s]
        return all(v.is_finite() for v in vals)

    def reset_midpoints(self, a):
        if self.mode == "no-reset":
            return a
        return a.mid()

    def max_radius(self, a) -> float:
        if isinstance(a, flint.arb):
            return float(a.rad())
        return max((float(v.rad()) for v in a.entries()), default=0.0)

    def _activation(self, act, z, which):
        with self.scope():
            key = (act, which)
            if key not in self._cache:
                self._cache[key] = _generate(act, which, "arb")
            outs = self._cache[key](z.entries())
            if which != "both":
                outs = (outs,)
            r, c = z.nrows(), z.ncols()
            return tuple(flint.arb_mat(r, c, o) for o in outs)


def _to_arb(v):
    if isinstance(v, flint.arb):
        return v
    if isinstance(v, mpmath.mpf):
        return _arb_from_mpf_tuple(v._mpf_)
    return flint.arb(float(v))


def get_backend(name, *, dps=None, bits=None, mode="midpoint-reset") -> Backend:
    """A backend by name: ``float32``, ``float64``, ``mpmath`` or ``arb``.

    ``mpmath`` and ``arb`` take ``dps`` or ``bits`` (not both; default 30
    digits); float backends have fixed precision and refuse a different one.
    ``mode`` (Arb only): ``"midpoint-reset"`` or ``"no-reset"``.
    """
    if isinstance(name, Backend):
        if dps is not None or bits is not None:
            raise ValueError("pass dps/bits with a backend name, not with a Backend instance")
        return name
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    if dps is not None and bits is not None:
        raise ValueError(f"pass either dps or bits, not both (got dps={dps}, bits={bits})")
    if dps is not None:
        bits = dps_to_bits(_check_positive_int("dps", dps))
    elif bits is not None:
        bits = _check_positive_int("bits", bits)
    if name in ("float32", "float64"):
        native = 24 if name == "float32" else 53
        if bits is not None and bits != native:
            raise ValueError(
                f"backend {name!r} has a fixed {native}-bit significand; got "
                f"{'dps=' + str(dps) if dps is not None else 'bits=' + str(bits)}; use "
                "'mpmath' or 'arb' for other precisions")
        if mode != "midpoint-reset":
            raise ValueError("mode applies to the 'arb' backend only")
        return NumpyBackend(np.float32 if name == "float32" else np.float64)
    if bits is None:
        bits = dps_to_bits(30)
    if name == "mpmath":
        if mode != "midpoint-reset":
            raise ValueError("mode applies to the 'arb' backend only")
        return MpmathBackend(bits)
    return ArbBackend(bits, mode=mode)


@contextlib.contextmanager
def precision(name, *, dps=None, bits=None, mode="midpoint-reset"):
    """Scoped precision: ``with precision("arb", bits=212) as B: ...``.

    Yields the :class:`Backend`; inside the block ``mpmath.mp.prec`` (for
    ``mpmath``) or ``flint.ctx.prec`` (for ``arb``) is set to the backend's
    precision, and restored on exit, also when the block raises.
    """
    backend = get_backend(name, dps=dps, bits=bits, mode=mode)
    with backend.scope():
        yield backend


def working_precision(backend) -> float:
    r"""Unit roundoff :math:`u = 2^{-\mathrm{bits}}` of a backend."""
    return math.ldexp(1.0, -backend.bits)


__all__ += ["working_precision", "RESET_MODES"]
