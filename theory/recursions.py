r"""NNGP / NTK layer maps and depth-L compositions (SymPy, with an mpmath evaluator).

Network (``hidden_layers = L``): input :math:`x \in \mathbb{R}^d`, then ``L`` times
Dense-activation, then a Dense readout (width 1). All Dense layers have weight std
:math:`\sigma_w` and bias std :math:`\sigma_b`. The kernels returned are those of the
**readout pre-activation**, i.e. of layer :math:`L+1`; ``hidden_layers=1`` is
Dense-act-Dense. This is exactly neural-tangents'
``stax.serial(Dense(n, sw, sb), act, ..., Dense(1, sw, sb))`` ``kernel_fn`` and the
API of ``numerics.kernels`` (``nngp``/``ntk`` with the same arguments).

NTK parameterization (default; Jacot et al. 2018, Lee et al. 2019, neural-tangents)
-----------------------------------------------------------------------------------

.. math::
    \Sigma^{(1)}(x,x') &= \sigma_w^2\,\langle x, x'\rangle/d + \sigma_b^2, \qquad
    \Theta^{(1)} = \Sigma^{(1)},\\
    \Sigma^{(l+1)} &= \sigma_w^2\,\mathbb{E}[\sigma(u)\sigma(v)] + \sigma_b^2,\qquad
    \dot\Sigma^{(l+1)} = \sigma_w^2\,\mathbb{E}[\sigma'(u)\sigma'(v)],\\
    \Theta^{(l+1)} &= \Sigma^{(l+1)} + \dot\Sigma^{(l+1)}\,\Theta^{(l)},

with :math:`(u,v)\sim\mathcal N(0, [[\Sigma^{(l)}_{11}, \Sigma^{(l)}_{12}],
[\Sigma^{(l)}_{12}, \Sigma^{(l)}_{22}]])`. A layer computes
:math:`z = \frac{\sigma_w}{\sqrt{n}} W h + \sigma_b b` with :math:`W, b` standard
normal and trained, so the gradient with respect to :math:`(W, b)` contributes
:math:`\sigma_w^2 \langle h, h'\rangle / n + \sigma_b^2 = \Sigma`.

Standard parameterization (``parameterization="standard"``)
------------------------------------------------------------
A layer computes :math:`z = W h + b` with :math:`W_{ij}\sim\mathcal N(0, \sigma_w^2/n)`
and :math:`b\sim\mathcal N(0, \sigma_b^2)` trained directly (Sohl-Dickstein et al.
2020). The NNGP is the same; the NTK is not, because the gradient with respect to
:math:`W` is :math:`h` itself, :math:`\langle h, h'\rangle = n\,\mathbb{E}[\sigma\sigma]`,
and the bias gradient is 1 whatever :math:`\sigma_b` is:

.. math::
    \Theta^{(1)} = \langle x, x'\rangle + 1, \qquad
    \Theta^{(l+1)} = n_l\,\mathbb{E}[\sigma(u)\sigma(v)] + 1
                     + \sigma_w^2\,\mathbb{E}[\sigma'(u)\sigma'(v)]\,\Theta^{(l)},

with :math:`n_l` the width of hidden layer ``l`` — it grows with the widths, which is
why the NTK parameterization is the default. This matches neural-tangents'
``Dense(..., parameterization="standard")`` (``ntk = n_in * nngp + 1 + W_std**2 * ntk``).
"""

from __future__ import annotations

import mpmath
import sympy as sp

from theory.activations import Activation, resolve
from theory.arithmetic import check_real, guarded
from theory.dual import dual_diagonal, dual_kernel
from theory.symbols import d, q11, q12, q22, sigma_b, sigma_w, x11, x12, x22

__all__ = [
    "DualKernel",
    "DualDerivativeKernel",
    "sigma_w",
    "sigma_b",
    "d",
    "x11",
    "x12",
    "x22",
    "width",
    "input_layer",
    "nngp_layer",
    "ntk_layer",
    "nngp_depth",
    "ntk_depth",
    "nngp_entries",
    "ntk_entries",
    "kernel_entries",
]

PARAMETERIZATIONS = ("ntk", "standard")


def width(layer: int) -> sp.Symbol:
    """Symbol :math:`n_l` for the width of hidden layer ``layer`` (standard parameterization)."""
    return sp.Symbol(f"n_{layer}", positive=True, integer=True)


class DualKernel(sp.Function):
    r"""Unevaluated dual kernel :math:`k_\sigma(q_{11}, q_{12}, q_{22})` — used in
    nested recursions when the closed form is absent or would be huge."""

    nargs = 3

    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args)
        return rf"k_{{\sigma}}\left({args}\right)"


class DualDerivativeKernel(sp.Function):
    r"""Unevaluated derivative kernel :math:`\dot k_\sigma(q_{11}, q_{12}, q_{22})`."""

    nargs = 3

    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args)
        return rf"\dot{{k}}_{{\sigma}}\left({args}\right)"


def _check_layers(hidden_layers):
    if isinstance(hidden_layers, bool) or not isinstance(hidden_layers, int) or hidden_layers < 1:
        raise ValueError(f"hidden_layers must be an integer >= 1, got {hidden_layers!r}")
    return hidden_layers


def _check_parameterization(parameterization):
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, "
            f"got {parameterization!r}"
        )
    return parameterization


def _kernel_of(act: Activation, derivative: bool, a, b, c, substitute: bool):
    """k(a, b, c) (or kdot) as a SymPy expression; the diagonal closed form when the
    arguments are identical (so that rho = 1 stays exact)."""
    if derivative:
        act.require_derivative()
    expr = act.dual_derivative if derivative else act.dual
    diag = act.dual_derivative_diagonal if derivative else act.dual_diagonal
    if substitute and a == b == c and diag is not None:
        return diag.subs(sp.Symbol("q", positive=True), a)
    if substitute and expr is not None:
        return expr.subs({q11: a, q12: b, q22: c}, simultaneous=True)
    return (DualDerivativeKernel if derivative else DualKernel)(a, b, c)


def input_layer(*, sw=sigma_w, sb=sigma_b, dim=d, gram=(x11, x12, x22)):
    r"""Layer 1: :math:`\Sigma^{(1)}_{ij} = \sigma_w^2 \langle x_i, x_j\rangle/d + \sigma_b^2`;
    returns :math:`(\Sigma_{11}, \Sigma_{12}, \Sigma_{22})`."""
    return tuple(sw**2 * g / dim + sb**2 for g in gram)


def nngp_layer(activation, S11, S12, S22, *, sw=sigma_w, sb=sigma_b, substitute=True):
    r"""One NNGP layer map :math:`\Sigma \mapsto \sigma_w^2\,\mathbb{E}[\sigma(u)\sigma(v)]
    + \sigma_b^2` applied to the three entries; returns the new triple."""
    act = resolve(activation)

    def k(a, b, c):
        return sw**2 * _kernel_of(act, False, a, b, c, substitute) + sb**2

    return k(S11, S11, S11), k(S11, S12, S22), k(S22, S22, S22)


def ntk_layer(activation, S11, S12, S22, T12, *, sw=sigma_w, sb=sigma_b, substitute=True,
              parameterization="ntk", layer_width=None):
    r"""One NTK layer map: returns :math:`\Theta^{(l+1)}_{12}` from
    :math:`\Sigma^{(l)}` and :math:`\Theta^{(l)}_{12}` (see the module docstring for
    both parameterizations; ``layer_width`` is :math:`n_l`, standard only)."""
    act = resolve(activation)
    _check_parameterization(parameterization)
    kdot = sw**2 * _kernel_of(act, True, S11, S12, S22, substitute)
    if parameterization == "ntk":
        sigma_next = sw**2 * _kernel_of(act, False, S11, S12, S22, substitute) + sb**2
        return sigma_next + kdot * T12
    if layer_width is None:
        raise ValueError("layer_width (n_l) is required for the standard parameterization")
    k = _kernel_of(act, False, S11, S12, S22, substitute)
    return layer_width * k + 1 + kdot * T12


def _default_substitute(act, hidden_layers, substitute):
    if substitute is None:
        return act.dual is not None and hidden_layers <= 2
    return bool(substitute)


def nngp_depth(activation, hidden_layers, *, substitute=None, sw=sigma_w, sb=sigma_b, dim=d,
               gram=(x11, x12, x22)):
    r"""NNGP of the readout pre-activation (layer :math:`L+1`) of a network with
    ``hidden_layers`` hidden layers, as SymPy expressions
    :math:`(\Sigma^{(L+1)}_{11}, \Sigma^{(L+1)}_{12}, \Sigma^{(L+1)}_{22})` in
    :data:`sigma_w`, :data:`sigma_b`, :data:`d` and the input Gram entries
    :data:`x11`, :data:`x12`, :data:`x22`.

    ``substitute``: insert the closed-form kernels (default when they exist and
    ``hidden_layers <= 2``), else nest unevaluated :class:`DualKernel` calls.
    """
    act = resolve(activation)
    L = _check_layers(hidden_layers)
    sub = _default_substitute(act, L, substitute)
    S = input_layer(sw=sw, sb=sb, dim=dim, gram=gram)
    for _ in range(L):
        S = nngp_layer(act, *S, sw=sw, sb=sb, substitute=sub)
    return S


def ntk_depth(activation, hidden_layers, *, substitute=None, sw=sigma_w, sb=sigma_b, dim=d,
              gram=(x11, x12, x22), parameterization="ntk", widths=None):
    r""":math:`\Theta^{(L+1)}_{12}`, the NTK including the readout layer, as a SymPy
    expression (see :func:`nngp_depth` for the symbols). For the standard
    parameterization ``widths`` gives :math:`n_1..n_L` (default: symbols ``n_l``)."""
    act = resolve(activation)
    act.require_derivative()
    L = _check_layers(hidden_layers)
    _check_parameterization(parameterization)
    sub = _default_substitute(act, L, substitute)
    S = input_layer(sw=sw, sb=sb, dim=dim, gram=gram)
    if parameterization == "ntk":
        T = S[1]
        widths = [None] * L
    else:
        T = gram[1] + 1
        widths = [width(l + 1) for l in range(L)] if widths is None else list(widths)
        if len(widths) != L:
            raise ValueError(f"widths must have hidden_layers = {L} entries, got {len(widths)}")
    for layer in range(L):
        T = ntk_layer(act, *S, T, sw=sw, sb=sb, substitute=sub,
                      parameterization=parameterization, layer_width=widths[layer])
        S = nngp_layer(act, *S, sw=sw, sb=sb, substitute=sub)
    return T


# ---------------------------------------------------------------------------
# numeric evaluation at any precision (the reference for numerics.kernels)
# ---------------------------------------------------------------------------

def _check_nonnegative(name, value):
    return check_real(name, value, nonnegative=True)


def _check_inputs(x1, x2):
    try:
        a = [check_real("x1", v) for v in x1]
        b = [check_real("x2", v) for v in x2]
    except (TypeError, ValueError):
        raise ValueError("x1 and x2 must be sequences of finite real numbers") from None
    if not a or len(a) != len(b):
        raise ValueError(
            f"x1 and x2 must be non-empty and of equal length (input dimension d), "
            f"got {len(a)} and {len(b)}"
        )
    if not all(mpmath.isfinite(v) for v in a + b):
        raise ValueError("x1 and x2 must be finite (no NaN or inf)")
    return a, b


@guarded()
def kernel_entries(activation, x1, x2, hidden_layers, sigma_w, sigma_b, *, dps=None,
                   ntk=True, parameterization="ntk", widths=None, **params):
    r"""Per-layer kernel entries for the pair of inputs ``(x1, x2)``.

    Returns a list of ``hidden_layers + 1`` dicts (layer 1 .. L+1) with keys
    ``"nngp"`` = :math:`(\Sigma_{11}, \Sigma_{12}, \Sigma_{22})` and, when ``ntk``,
    ``"ntk"`` = :math:`(\Theta_{11}, \Theta_{12}, \Theta_{22})`. Numbers are floats when
    ``dps`` is None, mpmath numbers at ``dps`` digits otherwise (each dual kernel is
    correct to ``dps`` digits, see :mod:`theory.dual`).
    """
    act = resolve(activation, **params)
    L = _check_layers(hidden_layers)
    _check_parameterization(parameterization)
    if ntk:
        act.require_derivative()
    sw = _check_nonnegative("sigma_w", sigma_w)
    sb = _check_nonnegative("sigma_b", sigma_b)
    a, b = _check_inputs(x1, x2)
    dim = len(a)
    if parameterization == "standard" and ntk:
        if widths is None or len(widths) != L:
            raise ValueError(
                f"the standard parameterization needs widths = [n_1, ..., n_{L}] "
                f"({L} entries), got {widths!r}"
            )
        widths = [_check_nonnegative("widths", w) for w in widths]
    gram = (mpmath.fdot(a, a), mpmath.fdot(a, b), mpmath.fdot(b, b))
    S = [sw**2 * g / dim + sb**2 for g in gram]
    if parameterization == "ntk":
        T = list(S)
    else:
        T = [g + 1 for g in gram]
    layers = [_entry(S, T if ntk else None)]

    def k(a_, b_, c_, derivative):
        value = dual_kernel(act, a_, b_, c_, derivative=derivative, dps=dps)
        return mpmath.mpf(value)

    def k_diag(a_, derivative):
        return mpmath.mpf(dual_diagonal(act, a_, derivative=derivative, dps=dps))

    for layer in range(L):
        E = [k_diag(S[0], False), k(S[0], S[1], S[2], False), k_diag(S[2], False)]
        if ntk:
            Ed = [k_diag(S[0], True), k(S[0], S[1], S[2], True), k_diag(S[2], True)]
            if parameterization == "ntk":
                T = [sw**2 * e + sb**2 + sw**2 * ed * t for e, ed, t in zip(E, Ed, T,
                                                                              strict=True)]
            else:
                T = [widths[layer] * e + 1 + sw**2 * ed * t
                     for e, ed, t in zip(E, Ed, T, strict=True)]
        S = [sw**2 * e + sb**2 for e in E]
        layers.append(_entry(S, T if ntk else None))
    return layers


def _entry(S, T):
    out = {"nngp": tuple(S)}
    if T is not None:
        out["ntk"] = tuple(T)
    return out


def nngp_entries(activation, x1, x2, hidden_layers, sigma_w, sigma_b, *, dps=None, **params):
    r"""NNGP of the readout pre-activation for the input pair: the triple
    :math:`(\Sigma^{(L+1)}_{11}, \Sigma^{(L+1)}_{12}, \Sigma^{(L+1)}_{22})`
    (floats, or mpmath numbers at ``dps`` digits).

    >>> s11, s12, s22 = nngp_entries("relu", [1.0, 0.0], [0.6, 0.8], 1, 1.5, 0.1)
    >>> round(s12, 10)   # 1.5^2 * k_relu(1.135, 0.685, 1.135) + 0.1^2
    0.8783184566
    """
    layers = kernel_entries(activation, x1, x2, hidden_layers, sigma_w, sigma_b, dps=dps,
                            ntk=False, **params)
    return layers[-1]["nngp"]


def ntk_entries(activation, x1, x2, hidden_layers, sigma_w, sigma_b, *, dps=None,
                parameterization="ntk", widths=None, **params):
    r""":math:`\Theta^{(L+1)}_{12}`, the NTK (readout layer included) for the input pair
    (float, or an mpmath number at ``dps`` digits)."""
    layers = kernel_entries(activation, x1, x2, hidden_layers, sigma_w, sigma_b, dps=dps,
                            ntk=True, parameterization=parameterization, widths=widths,
                            **params)
    return layers[-1]["ntk"][1]
