r"""LaTeX export of registry kernels and NNGP/NTK recursions.

Everything goes through ``sympy.latex`` with a table of symbol names
(:data:`SYMBOL_NAMES`: ``q11`` -> ``q_{11}``, ``sigma_w`` -> ``\sigma_w``, ...); equations
are SymPy ``Eq`` objects and multi-line results are ``gathered`` environments whose
rows are printed equations. New kinds (e.g. reduced ODEs) are added by one entry in
:data:`LATEX_KINDS`. The length and correlation maps (:func:`length_map_latex`,
:func:`correlation_map_latex`) print the expressions of :mod:`theory.fixedpoints` with
plain ``sympy.latex`` (``\sigma_{w}``), the form cited in ``papers/``.

>>> to_latex(sigma_w**2 * q12 + sigma_b**2)
'q_{12} \\sigma_w^{2} + \\sigma_b^{2}'
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from theory.activations import resolve
from theory.fixedpoints import correlation_map_expression, length_map_expression
from theory.odes import saad_solla, single_index
from theory.recursions import _check_layers, nngp_depth, ntk_depth
from theory.symbols import d, q, q11, q12, q22, sigma_b, sigma_w, x, x11, x12, x22

__all__ = [
    "SYMBOL_NAMES",
    "LATEX_KINDS",
    "activation_latex",
    "correlation_map_latex",
    "dual_latex",
    "length_map_latex",
    "latex_for",
    "ODE_MODELS",
    "ode_latex",
    "recursion_latex",
    "to_latex",
]

#: LaTeX names of the symbols used across theory/
SYMBOL_NAMES = {
    q11: "q_{11}",
    q12: "q_{12}",
    q22: "q_{22}",
    q: "q",
    x: "x",
    sigma_w: r"\sigma_w",
    sigma_b: r"\sigma_b",
    d: "d",
    x11: r"\langle x, x \rangle",
    x12: r"\langle x, x' \rangle",
    x22: r"\langle x', x' \rangle",
}

_SIGMA = sp.Function("sigma")
_K = sp.Function("k")
_KDOT = sp.Function(r"\dot{k}")


def to_latex(expr, **settings) -> str:
    """``sympy.latex`` with the named symbols of :data:`SYMBOL_NAMES` (and any extra
    ``symbol_names`` passed in ``settings``)."""
    names = dict(SYMBOL_NAMES)
    names.update(settings.pop("symbol_names", {}))
    for sym in getattr(expr, "free_symbols", set()):
        # layer widths n_l of the standard parameterization
        if sym.name.startswith("n_") and sym not in names:
            names[sym] = f"n_{{{sym.name[2:]}}}"
    return sp.latex(expr, symbol_names=names, **settings)


def activation_latex(activation, **params) -> str:
    r""":math:`\sigma(x) = \ldots` for a registry entry."""
    act = resolve(activation, **params)
    return to_latex(sp.Eq(_SIGMA(x), act.expr, evaluate=False))


def dual_latex(activation, derivative: bool = False, *, diagonal: bool = False,
               **params) -> str:
    r""":math:`k(q_{11}, q_{12}, q_{22}) = \ldots` (or :math:`\dot k`, the derivative
    kernel; ``diagonal`` for the :math:`q_{11}=q_{12}=q_{22}=q` form). Activations
    without a closed form get the defining expectation; where the registry keeps a textbook
    form for display (``Activation.dual_display``, GELU) that one is shown, marked as
    evaluated in the equivalent stable form."""
    act = resolve(activation, **params)
    if derivative:
        act.require_derivative()
    if diagonal:
        expr = act.dual_derivative_diagonal if derivative else act.dual_diagonal
        lhs = (_KDOT if derivative else _K)(q, q, q)
    else:
        expr = act.dual_derivative if derivative else act.dual
        lhs = (_KDOT if derivative else _K)(q11, q12, q22)
        display = act.dual_derivative_display if derivative else act.dual_display
        if display is not None:
            # the textbook form; the code evaluates the equivalent stable form
            return (to_latex(sp.Eq(lhs, display, evaluate=False))
                    + r" \quad \text{(evaluated in an equivalent scale-free form)}")
    if expr is None:
        u, v = sp.symbols("u v")
        f = sp.Function(r"\sigma'") if derivative else _SIGMA
        definition = to_latex(f(u) * f(v))
        return (
            to_latex(lhs)
            + rf" = \mathbb{{E}}\left[{definition}\right] \quad \text{{(quadrature)}}"
        )
    return to_latex(sp.Eq(lhs, expr, evaluate=False))


def recursion_latex(activation, hidden_layers: int, kind: str = "nngp", **params) -> str:
    r"""The depth-L NNGP or NTK recursion in LaTeX (NTK parameterization): the
    layer-1 kernel, the layer map, and — when it fits (closed form, ``L <= 2``) —
    the fully substituted readout kernel of layer :math:`L+1`."""
    act = resolve(activation, **params)
    if kind not in ("nngp", "ntk"):
        raise ValueError(f"kind must be 'nngp' or 'ntk', got {kind!r}")
    L = _check_layers(hidden_layers)
    if kind == "ntk":
        act.require_derivative()
    l = sp.Symbol("l", integer=True)

    def sigma(layer, sub="12"):
        return sp.Symbol(rf"\Sigma^{{({sp.latex(layer)})}}_{{{sub}}}")

    def theta(layer):
        return sp.Symbol(rf"\Theta^{{({sp.latex(layer)})}}_{{12}}")

    args_l = (sigma(l, "11"), sigma(l), sigma(l, "22"))
    rows = [
        sp.Eq(sigma(1), sigma_w**2 * x12 / d + sigma_b**2, evaluate=False),
        sp.Eq(sigma(l + 1), sigma_w**2 * _K(*args_l) + sigma_b**2, evaluate=False),
    ]
    if kind == "ntk":
        rows += [
            sp.Eq(theta(1), sigma(1), evaluate=False),
            sp.Eq(theta(l + 1),
                  sigma(l + 1) + sigma_w**2 * _KDOT(*args_l) * theta(l), evaluate=False),
        ]
    lines = [to_latex(row) for row in rows]
    lines.append(dual_latex(act))
    if kind == "ntk":
        lines.append(dual_latex(act, derivative=True))
    if act.dual is not None and L <= 2:
        final = nngp_depth(act, L, substitute=True)[1] if kind == "nngp" else ntk_depth(
            act, L, substitute=True)
        target = sigma(L + 1) if kind == "nngp" else theta(L + 1)
        lines.append(to_latex(sp.Eq(target, final, evaluate=False)))
    else:
        target = sigma(L + 1) if kind == "nngp" else theta(L + 1)
        lines.append(r"\text{readout kernel: }" + to_latex(target)
                     + rf"\ \text{{with {L} hidden layers}}")
    return r"\begin{gathered}" + r" \\ ".join(lines) + r"\end{gathered}"


def _latex_activation(activation, hidden_layers=None):
    return activation_latex(activation)


def _latex_dual(activation, hidden_layers=None):
    return dual_latex(activation)


def _latex_dual_derivative(activation, hidden_layers=None):
    return dual_latex(activation, derivative=True)


def _latex_nngp(activation, hidden_layers=None):
    return recursion_latex(activation, 1 if hidden_layers is None else hidden_layers, "nngp")


def _latex_ntk(activation, hidden_layers=None):
    return recursion_latex(activation, 1 if hidden_layers is None else hidden_layers, "ntk")


def length_map_latex(activation) -> str:
    r"""LaTeX of the length map :math:`q \mapsto \sigma_w^2\mathbb E[\sigma(\sqrt q z)^2]
    + \sigma_b^2` (:func:`theory.fixedpoints.length_map_expression`), with the registry's
    closed-form diagonal substituted where there is one."""
    expr = length_map_expression(activation)
    if expr is None:
        inner = r"\mathbb{E}_{z}\left[\sigma\left(\sqrt{q}\,z\right)^{2}\right]"
        return rf"\mathcal{{L}}(q) = \sigma_w^{{2}}\, {inner} + \sigma_b^{{2}}"
    return r"\mathcal{L}(q) = " + sp.latex(expr)


def correlation_map_latex(activation) -> str:
    r"""LaTeX of the correlation map :math:`\rho \mapsto (\sigma_w^2 k(q^*, \rho q^*, q^*)
    + \sigma_b^2)/q^*` (:func:`theory.fixedpoints.correlation_map_expression`), with the
    registry's closed-form dual kernel substituted where there is one."""
    expr = correlation_map_expression(activation)
    if expr is None:
        inner = r"\mathbb{E}\left[\sigma(u)\sigma(v)\right]"
        numerator = rf"\sigma_w^{{2}}\, {inner} + \sigma_b^{{2}}"
        return rf"\mathcal{{C}}(\rho) = \frac{{{numerator}}}{{q^{{*}}}}"
    return r"\mathcal{C}(\rho) = " + sp.latex(expr)


def _latex_length_map(activation, hidden_layers=None):
    return length_map_latex(activation)


def _latex_correlation_map(activation, hidden_layers=None):
    return correlation_map_latex(activation)


#: kind -> function(activation, hidden_layers) -> LaTeX; add ODE kinds here
LATEX_KINDS: dict[str, Callable[..., str]] = {
    "activation": _latex_activation,
    "dual": _latex_dual,
    "dual_derivative": _latex_dual_derivative,
    "nngp": _latex_nngp,
    "ntk": _latex_ntk,
    "length_map": _latex_length_map,
    "correlation_map": _latex_correlation_map,
}


#: reduced-ODE models printable by :func:`ode_latex`
ODE_MODELS = ("single-index", "saad-solla")

_SAAD_SOLLA_EQUATIONS = (
    r"\dot R_{in} = \eta v_i\Big[\sum_m A_m I_3(i,n,m) - \sum_j v_j I_3(i,n,j)\Big]",
    r"\dot Q_{ik} = \eta v_i\Big[\sum_m A_m I_3(i,k,m) - \sum_j v_j I_3(i,k,j)\Big] "
    r"+ (i\leftrightarrow k) + \eta^2 v_i v_k\Big[\sum_{nm}A_nA_m I_4(i,k,n,m) "
    r"- 2\sum_{jn}v_jA_n I_4(i,k,j,n) + \sum_{jl}v_jv_l I_4(i,k,j,l) + \sigma^2 J_2(i,k)\Big]",
    r"\dot v_i = \eta_v\Big[\sum_n A_n I_2(i,n) - \sum_k v_k I_2(i,k)\Big]",
)


def _saad_solla_latex() -> str:
    c = sp.symbols("C_11 C_12 C_13 C_14 C_22 C_23 C_24 C_33 C_34 C_44", real=True)
    c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = c
    I2f, I3f, I4f, J2f = (sp.Function(name) for name in ("I_2", "I_3", "I_4", "J_2"))
    rows = list(_SAAD_SOLLA_EQUATIONS) + [
        sp.latex(sp.Eq(I2f(1, 2), saad_solla.I2(c11, c12, c22), evaluate=False)),
        sp.latex(sp.Eq(J2f(1, 2), saad_solla.J2(c11, c12, c22), evaluate=False)),
        sp.latex(sp.Eq(I3f(1, 2, 3), saad_solla.closed_form_I3(c11, c12, c13, c22, c23, c33),
                       evaluate=False)),
        sp.latex(sp.Eq(I4f(1, 2, 3, 4), saad_solla.closed_form_I4(*c), evaluate=False)),
        r"\text{with } g(x) = \mathrm{erf}(x/\sqrt{2}) \text{ and } C \text{ the covariance of "
        r"the fields (from } Q, R, T\text{)}",
    ]
    return r"\begin{gathered}" + r" \\ ".join(rows) + r"\end{gathered}"


def ode_latex(model: str, activation=None, *, target=(0, 1, 0.5, 0.25)) -> str:
    r"""LaTeX of a reduced ODE: ``"single-index"`` (risk, moments and per-particle flow of
    :func:`theory.odes.single_index.single_index_ode`, with the activation's
    :math:`c_k` listed; default ELU) or ``"saad-solla"`` (the overlap equations and the
    closed forms of :math:`I_2, J_2, I_3, I_4`)."""
    if model not in ODE_MODELS:
        raise ValueError(f"unknown ODE model {model!r}; valid models: {', '.join(ODE_MODELS)}")
    if model == "saad-solla":
        return _saad_solla_latex()
    act = resolve("elu" if activation is None else activation)
    ode = single_index.single_index_ode(act, target)
    values = ", ".join(rf"{sp.latex(s)} = {float(v):.6g}" for s, v in ode.values.items()
                       if str(s).startswith("c_"))
    return ode.latex().replace(r"\end{gathered}",
                               r" \\ \text{" + act.label + ": } " + values + r"\end{gathered}")


def _latex_ode(activation, hidden_layers=None, model="single-index"):
    return ode_latex(model, activation)


LATEX_KINDS["ode"] = _latex_ode


def latex_for(kind: str, activation=None, hidden_layers: int | None = None, *,
              model: str | None = None) -> str:
    """The LaTeX the CLI prints: ``nntheory latex <kind> --activation A
    [--hidden-layers L]`` or ``nntheory latex ode --model single-index|saad-solla``.
    ``kind`` is one of :data:`LATEX_KINDS`."""
    if kind not in LATEX_KINDS:
        raise ValueError(f"unknown LaTeX kind {kind!r}; valid kinds: {', '.join(LATEX_KINDS)}")
    if kind == "ode":
        return _latex_ode(activation, hidden_layers, model or "single-index")
    return LATEX_KINDS[kind](activation, hidden_layers)
