r"""The activation registry: one entry per activation (SymPy + mpmath only).

An :class:`Activation` carries everything known about a nonlinearity
:math:`\sigma`: its SymPy expression in ``x``, its derivative, and — where
they exist — closed-form dual kernels

.. math:: k(q_{11}, q_{12}, q_{22}) = \mathbb{E}[\sigma(u)\sigma(v)], \qquad
          \dot k(q_{11}, q_{12}, q_{22}) = \mathbb{E}[\sigma'(u)\sigma'(v)],

for :math:`(u, v)` centred Gaussian with variances :math:`q_{11}, q_{22}` and
covariance :math:`q_{12}`, plus their diagonals :math:`\mathbb{E}[\sigma(u)^2]`
as functions of ``q`` (written separately so that :math:`\rho = 1` is exact).
Kernels that are ``None`` are evaluated by quadrature.

Use :func:`get` (``get("elu", alpha=0.5)``), :func:`names`, and
:func:`register` for your own activation (a SymPy expression or a string
parsed in a closed namespace).
"""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import mpmath
import sympy as sp

from theory.gaussian import elu_kernels, exp_polynomial_kernels, hermite_coefficients
from theory.special import MPMATH_FUNCTIONS, BivariateNormalCDF, Erfcx, Phi, TiltedOrthant
from theory.symbols import q, q11, q12, q22, x

__all__ = [
    "Activation",
    "get",
    "names",
    "register",
    "resolve",
    "x",
    "q",
    "q11",
    "q12",
    "q22",
]


@dataclass(frozen=True, eq=False)
class Activation:
    r"""One registry entry.

    Attributes
    ----------
    name, params : identity (``params`` is a tuple of ``(name, value)`` pairs).
    expr : :math:`\sigma(x)` as a SymPy expression in :data:`x`.
    derivative : :math:`\sigma'(x)`, or ``None`` where it is a distribution
        (step), in which case there is no NTK.
    dual, dual_derivative : closed forms in ``q11, q12, q22`` or ``None``.
    dual_diagonal, dual_derivative_diagonal : the same at ``q11=q12=q22=q``.
    kinks : points where :math:`\sigma` or :math:`\sigma'` is not smooth
        (quadrature splits the domain there).
    derivation : how the closed forms were obtained and checked.
    family, family_params : the closed-form family the entry belongs to and its
        parameters as ``(name, value)`` pairs, set by the factories:
        ``"ab_relu"`` with ``a, b`` for :math:`a\min(x,0) + b\max(x,0)` (relu, leaky_relu,
        abs, identity), ``"step"``, ``"erf"``, ``"gelu"``, ``"elu"`` with ``alpha``;
        ``None`` for all others (user entries included). Stable forms where a closed form
        cancels are chosen by family (``numerics.kernels.NEAR_ONE_FAMILIES``,
        ``numerics.gram.STABLE_FORMS``), never by ``name``.
    dual_display, dual_derivative_display : the kernels in their textbook form, for LaTeX
        only, where ``dual`` / ``dual_derivative`` are an equivalent form rewritten for
        stable evaluation (GELU); ``None`` elsewhere.

    Entries pickle by value (:meth:`__reduce__`): a factory entry as its name and
    parameters, a user entry as its expression, anything else as its fields, so they
    reach worker processes under any start method (spawn, forkserver).
    """

    name: str
    expr: sp.Expr
    derivative: sp.Expr | None
    dual: sp.Expr | None = None
    dual_derivative: sp.Expr | None = None
    dual_diagonal: sp.Expr | None = None
    dual_derivative_diagonal: sp.Expr | None = None
    params: tuple = ()
    kinks: tuple = ()
    derivation: str = "none: kernels by quadrature"
    family: str | None = None
    family_params: tuple = ()
    dual_display: sp.Expr | None = None
    dual_derivative_display: sp.Expr | None = None
    _hash: int = field(init=False, repr=False, default=0)

    def __post_init__(self):
        object.__setattr__(self, "_hash", hash((self.name, self.params, self.family,
                                                self.family_params, sp.srepr(self.expr))))

    # identity: entries are equal when their name, parameters, family and expression are
    # (so equal entries get the same fast evaluators)
    def __eq__(self, other):
        return (
            isinstance(other, Activation)
            and (self.name, self.params, self.family, self.family_params)
            == (other.name, other.params, other.family, other.family_params)
            and self.expr == other.expr
        )

    def __hash__(self):
        return self._hash

    @property
    def label(self) -> str:
        """``elu(alpha=1/2)``-style label, used in tables and file names."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}({inner})"

    @property
    def has_ntk(self) -> bool:
        return self.derivative is not None

    def param(self, key):
        return dict(self.params)[key]

    def require_derivative(self) -> sp.Expr:
        """The derivative, or a ValueError saying why there is no NTK."""
        if self.derivative is None:
            raise ValueError(
                f"activation {self.label!r} has no derivative kernel (its derivative is a "
                "Dirac delta), so its NTK is undefined; use the NNGP instead"
            )
        return self.derivative

    def mpmath_function(self, derivative: bool = False) -> Callable:
        """:math:`\\sigma` (or :math:`\\sigma'`) as an mpmath callable."""
        return _mpmath_callables(self)[1 if derivative else 0]

    def hermite_coefficients(self, k_max, *, dps=None):
        """:func:`theory.gaussian.hermite_coefficients` of this entry."""
        return hermite_coefficients(self, k_max, dps=dps)

    def _repr_latex_(self):
        # the same equation as theory.latex.activation_latex (an expression in x alone
        # needs none of its symbol names); latex.py sits above the registry
        return "$" + sp.latex(sp.Eq(sp.Function("sigma")(x), self.expr, evaluate=False)) + "$"

    def __repr__(self):
        return f"Activation({self.label}: {sp.sstr(self.expr)})"

    def __reduce__(self):
        return _rebuild_activation, _pickle_payload(self)


_MP_CACHE: dict = {}


def _mpmath_callables(act: Activation):
    key = act
    if key not in _MP_CACHE:
        modules = [MPMATH_FUNCTIONS, "mpmath"]
        f = sp.lambdify(x, act.expr, modules=modules)
        df = sp.lambdify(x, act.derivative, modules=modules) if act.derivative is not None else None
        _MP_CACHE[key] = (_mp_safe(f), _mp_safe(df) if df else None)
    return _MP_CACHE[key]


def _mp_safe(f):
    # lambdified Piecewise compares mpf with python numbers; make sure input is mpf
    return lambda z: f(mpmath.mpf(z))


# ---------------------------------------------------------------------------
# closed forms shared by families
# ---------------------------------------------------------------------------

def _theta():
    """Angle between u and v, arccos(q12/sqrt(q11 q22))."""
    return sp.acos(q12 / sp.sqrt(q11 * q22))


def _relu_dual():
    r"""Cho & Saul (2009) arc-cosine kernel of degree 1:
    :math:`\frac{1}{2\pi}[\sqrt{q_{11}q_{22}-q_{12}^2} + (\pi-\theta) q_{12}]`."""
    return (sp.sqrt(q11 * q22 - q12**2) + (sp.pi - _theta()) * q12) / (2 * sp.pi)


def _step_dual():
    r"""Arc-cosine kernel of degree 0: :math:`(\pi - \theta)/(2\pi)`."""
    return (sp.pi - _theta()) / (2 * sp.pi)


def _ab_relu(name, a, b, params):
    r"""The family :math:`\sigma(x) = a\min(x,0) + b\max(x,0)` (ReLU, leaky ReLU,
    abs, identity), as neural-tangents' ``ABRelu``. Writing
    :math:`\sigma(x) = b\,\mathrm{relu}(x) - a\,\mathrm{relu}(-x)` and using
    :math:`K(q_{12}) - K(-q_{12}) = \mathbb{E}[\mathrm{relu}(u)v] = q_{12}/2`:

    .. math:: \mathbb{E}[\sigma\sigma] = (a-b)^2 K + ab\,q_{12}, \quad
              \mathbb{E}[\sigma'\sigma'] = (a-b)^2 K_0 + ab.
    """
    a, b = sp.sympify(a), sp.sympify(b)
    expr = sp.Piecewise((b * x, x > 0), (a * x, True))
    deriv = sp.Piecewise((b, x > 0), (a, True))
    if a == b:
        expr, deriv = b * x, b
    c = (a - b) ** 2
    return Activation(
        name=name,
        expr=expr,
        derivative=deriv,
        dual=c * _relu_dual() + a * b * q12,
        dual_derivative=c * _step_dual() + a * b,
        dual_diagonal=(a**2 + b**2) * q / 2,
        dual_derivative_diagonal=(a**2 + b**2) / 2,
        params=params,
        kinks=(0,) if a != b else (),
        derivation=(
            "arc-cosine kernels (Cho & Saul 2009) combined over the a/b halves; "
            "checked by Price's theorem and quadrature"
        ),
        family="ab_relu",
        family_params=(("a", a), ("b", b)),
    )


# ---------------------------------------------------------------------------
# factories, one per activation
# ---------------------------------------------------------------------------

def _relu():
    return _ab_relu("relu", 0, 1, ())


def _leaky_relu(a=sp.S.One / 100):
    return _ab_relu("leaky_relu", a, 1, (("a", a),))


def _abs():
    return _ab_relu("abs", -1, 1, ())


def _identity():
    return _ab_relu("identity", 1, 1, ())


def _step():
    return Activation(
        name="step",
        expr=sp.Piecewise((1, x > 0), (0, True)),
        derivative=None,
        dual=_step_dual(),
        dual_diagonal=sp.Rational(1, 2) + 0 * q,
        kinks=(0,),
        derivation="arc-cosine kernel of degree 0 (Sheppard's formula)",
        family="step",
    )


def _erf():
    s = (1 + 2 * q11) * (1 + 2 * q22)
    return Activation(
        name="erf",
        expr=sp.erf(x),
        derivative=sp.diff(sp.erf(x), x),
        dual=2 / sp.pi * sp.asin(2 * q12 / sp.sqrt(s)),
        dual_derivative=4 / sp.pi / sp.sqrt(s - 4 * q12**2),
        dual_diagonal=2 / sp.pi * sp.asin(2 * q / (1 + 2 * q)),
        dual_derivative_diagonal=4 / sp.pi / sp.sqrt(1 + 4 * q),
        derivation="Williams (1997); derivative kernel by Price's theorem",
        family="erf",
    )


def _tanh():
    return Activation(name="tanh", expr=sp.tanh(x), derivative=1 - sp.tanh(x) ** 2)


def _gelu():
    r"""Tsuchida et al. (2021) closed form, written scale-free so that no intermediate grows
    faster than the kernel itself (the textbook form squares q twice: inf at q ~ 1e80 in
    float64 and 0/0 from cancellation in :math:`\sqrt{(1+q)^2 - q^2}` at q ~ 1e26). With
    :math:`a_i = q_{ii}/(1+q_{ii})`, :math:`b_i = 1/(1+q_{ii})`,
    :math:`\rho = q_{12}/\sqrt{q_{11}q_{22}}`, :math:`c = \rho\sqrt{a_1a_2}`,
    :math:`t = \sqrt{1-c^2} = \sqrt{b_1b_2 + a_1b_2 + b_1a_2 + a_1a_2(1-\rho)(1+\rho)}` and
    :math:`\arcsin c` written :math:`\arctan(c/t)` (well conditioned as :math:`c \to 1`):

    .. math:: \mathbb E[\sigma\sigma] = \sqrt{q_{11}q_{22}}\Big[\frac\rho4 + \frac1{2\pi}
              \Big(\rho\arcsin c + \sqrt{a_1a_2}\big(t + \frac{\rho^2 b_1b_2}t\big)\Big)\Big],

    .. math:: \mathbb E[\sigma'\sigma'] = \frac14 + \frac1{2\pi}\Big(\arcsin c + \frac ct
              (3b_1b_2 + a_1b_2 + b_1a_2) + \frac{c^3 b_1b_2}{t^3}\Big),

    equal to the textbook form (tests: symbolically at random points to 40 digits) and its
    :math:`\partial_{q_{12}}` (Price's theorem)."""
    a1, a2, b1, b2 = q11 / (1 + q11), q22 / (1 + q22), 1 / (1 + q11), 1 / (1 + q22)
    rho = q12 / sp.sqrt(q11 * q22)
    c = rho * sp.sqrt(a1 * a2)
    t = sp.sqrt(b1 * b2 + a1 * b2 + b1 * a2 + a1 * a2 * (1 - rho) * (1 + rho))
    dual = sp.sqrt(q11 * q22) * (rho / 4 + (rho * sp.atan(c / t) + sp.sqrt(a1 * a2) * (
        t + rho**2 * b1 * b2 / t)) / (2 * sp.pi))
    arc = sp.atan(c / t)  # arcsin c, well conditioned as c -> 1
    dual_derivative = sp.Rational(1, 4) + (arc + c / t * (3 * b1 * b2 + a1 * b2 + b1 * a2)
                                           + c**3 * b1 * b2 / t**3) / (2 * sp.pi)
    diag = dual.subs({q11: q, q22: q, q12: q})
    diag_derivative = dual_derivative.subs({q11: q, q22: q, q12: q})
    # the textbook form (Tsuchida et al. 2021), shown on the papers page: P = (1+q11)(1+q22),
    # Delta = sqrt(P - q12^2); its derivative by Price's theorem, factored by SymPy
    P = (1 + q11) * (1 + q22)
    delta = sp.sqrt(P - q12**2)
    arcsin = sp.asin(q12 / sp.sqrt(P))
    display = q12 / 4 + (q12 * arcsin + (q12**2 + q11 * q22 * delta**2) / (P * delta)) / (
        2 * sp.pi)
    display_derivative = sp.Rational(1, 4) + (arcsin + q12 * (
        P * (q11 + q22 + 3) - q12**2 * (q11 + q22 + 2)) / (P * delta**3)) / (2 * sp.pi)
    expr = x * Phi(x)
    return Activation(
        name="gelu",
        expr=expr,
        derivative=sp.diff(expr, x),
        dual=dual,
        dual_derivative=dual_derivative,
        dual_diagonal=diag,
        dual_derivative_diagonal=diag_derivative,
        dual_display=display,
        dual_derivative_display=display_derivative,
        derivation=(
            "Tsuchida et al. (2021) closed form in scale-free variables; checked against the "
            "textbook form and by Price's theorem (d/dq12 of the dual kernel) at 40 digits, "
            "the rho=0 value, numerically against quadrature"
        ),
        family="gelu",
    )


def _elu(alpha=sp.S.One):
    kernels = elu_kernels(alpha)
    expr = sp.Piecewise((x, x > 0), (alpha * (sp.exp(x) - 1), True))
    return Activation(
        name="elu",
        expr=expr,
        derivative=sp.Piecewise((1, x > 0), (alpha * sp.exp(x), True)),
        params=(("alpha", alpha),),
        kinks=(0,),
        derivation=(
            "derived from Gaussian lemma blocks (exponential tilting + Stein's lemma) into "
            "tilted orthant probabilities E[e^{aZ1+bZ2} 1{Z1<0,Z2<0}] (TiltedOrthant) and "
            "erfcx; checked by Price's theorem and quadrature"
        ),
        family="elu",
        family_params=(("alpha", alpha),),
        **kernels,
    )


def _trig_parts():
    r""":math:`e^{-(q_{11}+q_{22})/2}\sinh q_{12}` and the cosh twin written as sums of
    single exponentials :math:`(e^{q_{12}-m} \mp e^{-q_{12}-m})/2`, :math:`m = (q_{11}+q_{22})/2
    \ge |q_{12}|`: each term is at most 1, so large variances give the exact decay (0 below
    the float64 range) instead of 0 x inf."""
    m = (q11 + q22) / 2
    plus, minus = sp.exp(q12 - m), sp.exp(-q12 - m)
    return (plus - minus) / 2, (plus + minus) / 2


def _sin_diagonal():
    r""":math:`E[\sin^2 u] = (1 - e^{-2q})/2` written :math:`\tanh q / (1 + \tanh q)`: relative
    accuracy at small q (no cancellation in :math:`1 - e^{-2q}`) and no overflow at large q."""
    return sp.tanh(q) / (1 + sp.tanh(q))


def _cos_diagonal():
    r""":math:`E[\cos^2 u] = (1 + e^{-2q})/2` written :math:`1 / (1 + \tanh q)`, as its twin."""
    return 1 / (1 + sp.tanh(q))


def _sin():
    sinh_part, cosh_part = _trig_parts()
    return Activation(
        name="sin",
        expr=sp.sin(x),
        derivative=sp.cos(x),
        dual=sinh_part,
        dual_derivative=cosh_part,
        dual_diagonal=_sin_diagonal(),
        dual_derivative_diagonal=_cos_diagonal(),
        derivation="characteristic function of the bivariate normal",
    )


def _cos():
    sinh_part, cosh_part = _trig_parts()
    return Activation(
        name="cos",
        expr=sp.cos(x),
        derivative=-sp.sin(x),
        dual=cosh_part,
        dual_derivative=sinh_part,
        dual_diagonal=_cos_diagonal(),
        dual_derivative_diagonal=_sin_diagonal(),
        derivation="characteristic function of the bivariate normal",
    )


def _monomial_moment(k):
    r""":math:`\mathbb{E}[u^k v^k]` by Isserlis' theorem: sum over the number m of
    cross pairings, :math:`\binom{k}{m}^2 m!\,((k-m-1)!!)^2 q_{12}^m (q_{11}q_{22})^{(k-m)/2}`."""
    total = sp.Integer(0)
    for m in range(k % 2, k + 1, 2):
        total += (
            sp.binomial(k, m) ** 2
            * sp.factorial(m)
            * sp.factorial2(k - m - 1) ** 2
            * q12**m
            * (q11 * q22) ** sp.Rational(k - m, 2)
        )
    return sp.expand(total)


def _monomial(k=2):
    k = int(k)
    dual = _monomial_moment(k)
    dual_derivative = sp.expand(k**2 * _monomial_moment(k - 1)) if k >= 1 else sp.Integer(0)
    return Activation(
        name="monomial",
        expr=x**k,
        derivative=sp.diff(x**k, x),
        dual=dual,
        dual_derivative=dual_derivative,
        dual_diagonal=sp.factorial2(2 * k - 1) * q**k,
        dual_derivative_diagonal=k**2 * sp.factorial2(2 * k - 3) * q ** (k - 1) if k >= 1 else 0,
        params=(("k", sp.Integer(k)),),
        derivation="Isserlis' theorem",
    )


def _check_real(name):
    def check(value):
        value = _to_sympy_number(name, value)
        return value

    return check


def _check_monomial_k(value):
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise ValueError(f"monomial parameter k must be an integer >= 1, got {value!r}")
    return sp.Integer(int(value))


def _check_alpha(value):
    value = _to_sympy_number("alpha", value)
    if value < 0:
        raise ValueError(f"elu parameter alpha must be >= 0, got {value}")
    return value


def _to_sympy_number(name, value):
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, sp.Basic):
            number = value
        elif isinstance(value, int):
            number = sp.Integer(value)
        else:
            f = float(value)
            # exact decimal (0.1 -> 1/10) so LaTeX and symbolic checks stay exact
            number = sp.Rational(repr(f))
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name} must be a finite real number, got {value!r}") from None
    if not number.is_real or not number.is_finite:
        raise ValueError(f"parameter {name} must be a finite real number, got {value!r}")
    return number


class _Factory(NamedTuple):
    """One line of the factory table: ``build(**params)`` makes the entry,
    ``validators`` check and normalize each parameter, ``examples`` are the parameter
    sets :func:`builtin_examples` lists (``{}``: the defaults)."""

    build: Callable[..., Activation]
    validators: dict[str, Callable] = {}
    examples: tuple[dict, ...] = ({},)


#: name -> factory; one line adds an activation to the registry, to
#: :func:`builtin_examples` and so to every test and claim that loops over it
_FACTORIES: dict[str, _Factory] = {
    "relu": _Factory(_relu),
    "leaky_relu": _Factory(_leaky_relu, {"a": _check_real("a")}, examples=({"a": 0.1},)),
    "step": _Factory(_step),
    "abs": _Factory(_abs),
    "erf": _Factory(_erf),
    "tanh": _Factory(_tanh),
    "gelu": _Factory(_gelu),
    "elu": _Factory(_elu, {"alpha": _check_alpha}, examples=({}, {"alpha": 0.5})),
    "identity": _Factory(_identity),
    "sin": _Factory(_sin),
    "cos": _Factory(_cos),
    "monomial": _Factory(_monomial, {"k": _check_monomial_k}, examples=({}, {"k": 3})),
}

_USER: dict[str, Activation] = {}
_CACHE: dict = {}


def names() -> list[str]:
    """Names of all registered activations (built-in and user-registered)."""
    return sorted([*_FACTORIES, *_USER])


def builtin_examples() -> list[Activation]:
    """The list that tests and claims loop over: every built-in activation at the
    parameter sets of its ``examples`` in the factory table (the defaults, and for
    parametrized ones a non-default parameter too), in table order."""
    return [get(name, **params) for name, factory in _FACTORIES.items()
            for params in factory.examples]


def get(name: str, **params) -> Activation:
    """Registry entry by name, e.g. ``get("elu", alpha=0.5)``.

    Raises ValueError naming the valid activations or parameters.
    """
    if not isinstance(name, str):
        raise ValueError(f"activation must be a name (str) or an Activation, got {name!r}")
    if name in _USER:
        if params:
            raise ValueError(f"user activation {name!r} takes no parameters, got {sorted(params)}")
        return _USER[name]
    if name not in _FACTORIES:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(names())}")
    factory, validators, _ = _FACTORIES[name]
    unknown = sorted(set(params) - set(validators))
    if unknown:
        valid = ", ".join(sorted(validators)) or "none"
        raise ValueError(
            f"unknown parameter(s) {unknown} for activation {name!r}; valid parameters: {valid}"
        )
    clean = {k: validators[k](v) for k, v in params.items()}
    key = (name, tuple(sorted(clean.items())))
    if key not in _CACHE:
        _CACHE[key] = factory(**clean)
    return _CACHE[key]


def resolve(activation, **params) -> Activation:
    """Accept a name or an :class:`Activation` (the form public APIs take)."""
    if isinstance(activation, Activation):
        if params:
            raise ValueError("pass parameters to get(), not together with an Activation entry")
        return activation
    return get(activation, **params)


# ---------------------------------------------------------------------------
# user activations
# ---------------------------------------------------------------------------

#: the closed namespace user strings are parsed in
_SAFE_FUNCTIONS = {
    name: getattr(sp, name)
    for name in (
        "exp log sqrt sin cos tan sinh cosh tanh asinh acosh atanh asin acos atan atan2 "
        "erf erfc Abs sign Max Min Heaviside Piecewise pi E Rational Integer Float"
    ).split()
}
_SAFE_FUNCTIONS.update({"abs": sp.Abs, "max": sp.Max, "min": sp.Min})


def parse_activation_string(text: str, var: str = "x") -> sp.Expr:
    """Parse a user string such as ``"x*tanh(log(1+exp(x)))"`` into a SymPy
    expression in :data:`x`, in a closed namespace: only the variable and the
    functions in ``_SAFE_FUNCTIONS`` are allowed; anything else (attribute
    access, dunder names, imports) is refused before parsing."""
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    if not isinstance(text, str) or not text.strip():
        raise ValueError("activation expression must be a non-empty string")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"activation expression is {len(text)} characters long (at most "
                         f"{MAX_EXPRESSION_LENGTH}): {_quote(text)}")
    if not var.isidentifier() or var.startswith("_"):
        raise ValueError(f"var must be a plain identifier, got {var!r}")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError) as exc:
        raise ValueError(f"cannot parse activation expression {_quote(text)}: {exc}") from None
    allowed = set(_SAFE_FUNCTIONS) | {var}
    depth = 0
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise ValueError(f"activation expression nests parentheses deeper than "
                                 f"{MAX_NESTING}: {_quote(text)}")
        elif tok.type == tokenize.OP and tok.string == ")":
            depth -= 1
        if tok.type == tokenize.NAME and tok.string not in allowed:
            raise ValueError(
                f"name {tok.string!r} is not allowed in an activation expression; allowed: "
                f"the variable {var!r} and {', '.join(sorted(_SAFE_FUNCTIONS))}"
            )
        if tok.type == tokenize.OP and tok.string not in set("+-*/()^,.") | {"**"}:
            raise ValueError(f"operator {tok.string!r} is not allowed in an activation expression")
        if tok.type == tokenize.STRING:
            raise ValueError("string literals are not allowed in an activation expression")
        if tok.type == tokenize.OP and tok.string == ".":
            # only allowed inside a number such as 0.5, which tokenize keeps as NUMBER
            raise ValueError("attribute access ('.') is not allowed in an activation expression")
    local = {var: x, **_SAFE_FUNCTIONS}
    try:
        expr = parse_expr(
            text,
            local_dict=local,
            global_dict={"__builtins__": {}, "Symbol": sp.Symbol, "Integer": sp.Integer,
                         "Float": sp.Float, "Rational": sp.Rational, "Add": sp.Add,
                         "Mul": sp.Mul, "Pow": sp.Pow},
            transformations=standard_transformations
            + (convert_xor, implicit_multiplication_application),
            evaluate=False,
        )
        if isinstance(expr, sp.Basic):
            _check_numeric_powers(expr)
            expr = expr.doit() if isinstance(expr, sp.Expr) else expr
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes a clear ValueError
        raise ValueError(f"cannot parse activation expression {_quote(text)}: "
                         f"{_quote(exc, 80)}") from None
    return _check_expression(expr)


#: bounds on user input: longer strings, deeper nesting or larger powers of numbers are
#: refused at once (SymPy would evaluate 9**9**9 at parse time and never return)
MAX_EXPRESSION_LENGTH = 500
MAX_NESTING = 40
MAX_NUMERIC_EXPONENT = 64


def _quote(text, limit: int = 40) -> str:
    """A short, safe quotation of user input for error messages."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_numeric_powers(expr) -> None:
    """Refuse powers with a numeric exponent beyond MAX_NUMERIC_EXPONENT (bottom-up, on the
    unevaluated tree, so nothing huge is ever computed)."""
    for node in sp.postorder_traversal(expr):
        if isinstance(node, sp.Pow) and node.exp.is_number:
            exponent = node.exp if node.exp.is_Atom else node.exp.doit()
            if exponent.is_number and abs(complex(sp.N(exponent, 15))) > MAX_NUMERIC_EXPONENT:
                raise ValueError(f"numeric exponent {_quote(sp.sstr(node.exp))} is larger than "
                                 f"{MAX_NUMERIC_EXPONENT} in an activation expression")


def _finite_on_reals(expr) -> bool | None:
    """True if ``expr`` is finite and real for every real x (proved by SymPy's
    continuous_domain, piece by piece for Piecewise), False if a point of the real line
    is not in its domain, None if SymPy cannot decide."""
    from sympy.calculus.util import continuous_domain

    if isinstance(expr, sp.Piecewise):
        verdicts = [_finite_on_reals(piece) for piece, _ in expr.args]
        return False if False in verdicts else (None if None in verdicts else True)
    try:
        return continuous_domain(expr, x, sp.S.Reals) == sp.S.Reals
    except (NotImplementedError, ValueError, TypeError):
        return None


def _safe_str(expr) -> str:
    try:
        return sp.sstr(expr)
    except Exception:  # noqa: BLE001 - a malformed tree (e.g. x + (x, x)) cannot print
        return type(expr).__name__


_NOT_NUMBERS = (sp.Tuple, sp.logic.boolalg.BooleanFunction, sp.logic.boolalg.BooleanAtom,
                sp.core.relational.Relational, sp.MatrixBase)


def _has_non_numbers(expr) -> bool:
    """Tuples, truth values or matrices inside the expression (the conditions of a
    Piecewise excepted)."""
    if isinstance(expr, _NOT_NUMBERS):
        return True
    if isinstance(expr, sp.Piecewise):
        return any(_has_non_numbers(piece) for piece, _ in expr.args)
    return any(_has_non_numbers(a) for a in expr.args)


def _check_expression(expr) -> sp.Expr:
    """A real expression in x that is finite on the whole real line, or a ValueError."""
    if expr is None or isinstance(expr, (bool, sp.logic.boolalg.Boolean)):
        raise ValueError(f"activation expression must be a real expression in x, got {expr!r}")
    try:
        expr = sp.sympify(expr)
    except (sp.SympifyError, TypeError) as exc:
        raise ValueError(f"activation expression {_quote(expr)} is not a SymPy expression: "
                         f"{exc}") from None
    if not isinstance(expr, sp.Expr) or _has_non_numbers(expr):
        raise ValueError(f"activation expression must be one real expression in x, got "
                         f"{type(expr).__name__} {_quote(_safe_str(expr))}")
    extra = expr.free_symbols - {x}
    if extra:
        raise ValueError(
            f"activation expression may only depend on x, found {sorted(map(str, extra))}"
        )
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
        raise ValueError(f"activation expression {_quote(sp.sstr(expr))} is not finite and real "
                         "(it contains oo, zoo, nan or I)")
    finite = _finite_on_reals(expr)
    if finite is False:
        raise ValueError(f"activation expression {_quote(sp.sstr(expr))} is not finite and real "
                         "on the whole real line (e.g. 1/x, log(x), sqrt(x)); its Gaussian "
                         "expectations would not exist")
    if finite is None:  # SymPy cannot decide: sample the line, kinks included
        points = [sp.Rational(k, 4) for k in range(-40, 41)] + list(find_kinks(expr))
        for p in points:
            value = complex(sp.N(expr.subs(x, p), 15))
            if not (abs(value.imag) == 0 and abs(value.real) < float("inf")):
                raise ValueError(f"activation expression {_quote(sp.sstr(expr))} is not finite "
                                 f"and real at x = {p}")
    return expr


def find_kinks(expr) -> tuple:
    """Real points where ``expr`` (in :data:`x`) switches branch: zeros of the arguments
    of Abs, sign and Heaviside, crossings of Max/Min arguments, and the boundaries of
    Piecewise conditions. Quadrature splits its domain there. Raises ValueError when a
    switching set is not a finite set of real numbers."""
    equations = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
            equations.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            args = node.args
            equations += [a - b for i, a in enumerate(args) for b in args[i + 1:]]
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    equations.append(rel.lhs - rel.rhs)
    points = set()
    for eq in equations:
        if not eq.has(x):
            continue
        roots = sp.solveset(eq, x, domain=sp.S.Reals)
        if not isinstance(roots, sp.FiniteSet):
            raise ValueError(
                f"cannot locate the kinks of {sp.sstr(expr)}: {sp.sstr(eq)} = 0 has solution "
                f"set {roots}; write the activation with finitely many switching points"
            )
        points |= {r for r in roots if r.is_real}
    return tuple(sorted(points, key=lambda r: float(r)))


def register(name: str, expr, var: str = "x", *, overwrite: bool = False) -> Activation:
    """Register a user activation from a SymPy expression or a string.

    >>> mish = register("mish", "x*tanh(log(1+exp(x)))")
    >>> mish.dual is None   # kernels by quadrature
    True

    The derivative is taken symbolically; kernels are evaluated by quadrature.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier string, got {name!r}")
    if name in _FACTORIES or (name in _USER and not overwrite):
        raise ValueError(f"activation {name!r} is already registered (pass overwrite=True)")
    if isinstance(expr, str):
        sym = parse_activation_string(expr, var)
    else:
        if expr is None or not isinstance(expr, (sp.Basic, int, float)):
            raise ValueError(f"expr must be a SymPy expression in {var} or a string, got "
                             f"{type(expr).__name__}")
        sym = sp.sympify(expr)
        if var != "x":
            sym = sym.subs(sp.Symbol(var), x).subs(sp.Symbol(var, real=True), x)
        sym = sym.subs(sp.Symbol("x"), x)
        sym = _check_expression(sym)
    act = _user_entry(name, sym)
    _USER[name] = act
    return act


def _user_entry(name: str, sym: sp.Expr) -> Activation:
    """The entry :func:`register` stores for the checked expression ``sym`` in :data:`x`:
    symbolic derivative (``None`` where it is a Dirac delta), kinks, kernels by quadrature."""
    derivative = sp.diff(sym, x)
    if derivative.has(sp.DiracDelta):
        derivative = None
    kinks = find_kinks(sym)
    # exponential polynomials (sin 3x + x, x cos x, ...) get exact kernels: quadrature of
    # their oscillations aliases at large variances
    kernels = None if kinks or derivative is None else exp_polynomial_kernels(sym, derivative)
    if kernels is None:
        return Activation(name=name, expr=sym, derivative=derivative, kinks=kinks)
    return Activation(name=name, expr=sym, derivative=derivative, kinks=kinks,
                      derivation="exponential polynomial: E[u^j v^k e^{lu+mv}] are derivatives "
                                 "of the Gaussian moment generating function",
                      **kernels)


def unregister(name: str) -> None:
    """Remove a user activation (built-ins cannot be removed)."""
    if name not in _USER:
        raise ValueError(f"{name!r} is not a user-registered activation")
    del _USER[name]


# ---------------------------------------------------------------------------
# pickling by value (worker processes under spawn / forkserver)
# ---------------------------------------------------------------------------

def _sympy_namespace() -> dict:
    """Class name -> class for every SymPy ``Basic`` subclass (the names ``sp.srepr``
    writes), plus the singletons of the top-level namespace (``pi``, ``oo``, ``true``,
    ...) and this package's special functions. The only names :func:`_from_srepr`
    resolves."""
    namespace: dict = {}
    stack = [sp.Basic]
    while stack:
        cls = stack.pop()
        namespace.setdefault(cls.__name__, cls)
        stack.extend(cls.__subclasses__())
    for name in dir(sp):
        value = getattr(sp, name)
        if isinstance(value, sp.Basic) or (isinstance(value, type) and issubclass(value, sp.Basic)):
            namespace[name] = value
    namespace.update({f.__name__: f for f in (BivariateNormalCDF, Erfcx, TiltedOrthant)})
    return namespace


def _from_srepr(text: str):
    """Inverse of ``sp.srepr`` for our own output, without ``eval``: the text is parsed
    with :mod:`ast` and interpreted node by node; the only callables are SymPy classes
    (:func:`_sympy_namespace`), the only leaves are literals, tuples and lists."""
    namespace = _sympy_namespace()

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool,
                                                                        type(None))):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in namespace:
                raise ValueError(f"name {node.id!r} is not a SymPy class")
            return namespace[node.id]
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [value(e) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.Call):
            fn = value(node.func)
            if not (isinstance(fn, type) and issubclass(fn, sp.Basic)) and not isinstance(
                    fn, sp.FunctionClass):
                raise ValueError(f"{ast.unparse(node.func)} is not a SymPy class")
            if any(k.arg is None for k in node.keywords):
                raise ValueError("** arguments are not allowed")
            return fn(*(value(a) for a in node.args),
                      **{k.arg: value(k.value) for k in node.keywords})
        raise ValueError(f"unexpected syntax {type(node).__name__} in {text[:80]!r}")

    return value(ast.parse(text, mode="eval").body)


def _encode(v):
    if isinstance(v, sp.Basic):
        return ("srepr", sp.srepr(v))
    if isinstance(v, tuple):
        return ("tuple", tuple(_encode(e) for e in v))
    return ("plain", v)


def _decode(item):
    kind, v = item
    if kind == "srepr":
        return _from_srepr(v)
    if kind == "tuple":
        return tuple(_decode(e) for e in v)
    return v


def _pickle_payload(act: Activation) -> tuple:
    """What an entry is sent as: ``("factory", name, params)`` when it is the registry's
    entry for its name and parameters, ``("user", name, expr)`` when it is the
    registered user entry of its name, else ``("fields", {field: value})``; SymPy
    values as ``sp.srepr`` text."""
    if act.name in _FACTORIES:
        try:
            own = get(act.name, **dict(act.params))
        except ValueError:
            own = None
        if own == act:
            return ("factory", act.name, _encode(act.params))
    if act.name in _USER and _USER[act.name] == act:
        return ("user", act.name, _encode(act.expr))
    fields = {f.name: _encode(getattr(act, f.name))
              for f in dataclasses.fields(act) if f.init}
    return ("fields", fields)


def _rebuild_activation(kind, *payload) -> Activation:
    """Unpickle an entry (see :func:`_pickle_payload`). A user entry is registered in
    this process when its name is free (so ``get(name)`` works in a worker too); when
    the name holds another expression here, the entry is rebuilt without registering."""
    if kind == "factory":
        name, params = payload
        return get(name, **dict(_decode(params)))
    if kind == "user":
        name, expr = payload
        expr = _decode(expr)
        if name in _USER:
            if _USER[name].expr == expr:
                return _USER[name]
            return _user_entry(name, expr)
        act = _user_entry(name, _check_expression(expr))
        _USER[name] = act
        return act
    if kind == "fields":
        (fields,) = payload
        return Activation(**{k: _decode(v) for k, v in fields.items()})
    raise ValueError(f"unknown activation payload kind {kind!r}")


__all__ += ["builtin_examples", "find_kinks", "parse_activation_string", "unregister", "Erfcx",
            "BivariateNormalCDF"]
