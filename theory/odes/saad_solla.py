r"""Saad–Solla ODEs of online SGD for soft committee machines with
:math:`g(x) = \mathrm{erf}(x/\sqrt2)` (Saad & Solla, PRE 52, 4225 (1995); Goldt et al.,
NeurIPS 2019, arXiv 1906.08632).

Student :math:`\hat y = \sum_k v_k g(\lambda_k)`, teacher :math:`y = \sum_n A_n g(\nu_n)`,
fields :math:`\lambda_k = w_k\cdot x/\sqrt N`, :math:`\nu_n = B_n\cdot x/\sqrt N`, overlaps
:math:`Q = ww^T/N`, :math:`R = wB^T/N`, :math:`T = BB^T/N`, time :math:`t` = steps/N,
first-layer steps :math:`\eta/\sqrt N`, second-layer steps :math:`\eta_v/N`.

The Gaussian averages are derived here by one device: :math:`g'(u) =
\sqrt{2/\pi}\,e^{-u^2/2}`, so a factor :math:`g'(u_1)` tilts the Gaussian law into another
Gaussian. With :math:`C` the covariance of the fields,

.. math:: \mathbb E[g'(u_1)F(u_{\rm rest})] = \sqrt{2/\pi}\,(1+C_{11})^{-1/2}\,
          \mathbb E'[F], \quad C' = C_{\rm rest} - C_{{\rm rest},1}C_{1,{\rm rest}}/(1+C_{11}),

(and for two tilts :math:`(1+C_{aa})^{-1}`, a 2x2 inverse, determinant
:math:`L_4`), together with :math:`\mathbb E[g(u)g(v)] = \frac2\pi
\arcsin\frac{C_{12}}{\sqrt{(1+C_{11})(1+C_{22})}}` and
:math:`\mathbb E[u\,g(v)] = C_{12}\sqrt{2/\pi}/\sqrt{1+C_{22}}` (Stein). The closed forms
listed in SETUPS.md (:func:`closed_form_I3`, :func:`closed_form_I4`) are compared with these
derivations symbolically in the tests.
"""

from __future__ import annotations

import itertools

import sympy as sp

from theory.odes.base import ReducedODE

__all__ = ["I2", "J2", "I3", "I4", "closed_form_I3", "closed_form_I4", "generalization_error",
           "saad_solla_ode", "covariance_symbols", "lr", "lr_v", "noise"]

lr = sp.Symbol("eta", positive=True)
lr_v = sp.Symbol("eta_v", nonnegative=True)
noise = sp.Symbol("sigma", nonnegative=True)
_TWO_PI = 2 / sp.pi


def I2(c11, c12, c22):
    r""":math:`\mathbb E[g(u_1)g(u_2)] = \frac2\pi\arcsin\frac{C_{12}}
    {\sqrt{(1+C_{11})(1+C_{22})}}`."""
    return _TWO_PI * sp.asin(c12 / sp.sqrt((1 + c11) * (1 + c22)))


def J2(c11, c12, c22):
    r""":math:`\mathbb E[g'(u_1)g'(u_2)]`: both factors tilted, normalization
    :math:`\frac2\pi\det(I + C)^{-1/2}`."""
    return _TWO_PI / sp.sqrt((1 + c11) * (1 + c22) - c12**2)


def _tilt_one(c11, rest_with_1, rest):
    """Covariance of the remaining fields after tilting by g'(u_1)."""
    return {k: rest[k] - rest_with_1[k[0]] * rest_with_1[k[1]] / (1 + c11) for k in rest}


def I3(c11, c12, c13, c22, c23, c33):
    r""":math:`\mathbb E[g'(u_1)\,u_2\,g(u_3)]`: tilt by :math:`g'(u_1)`, then Stein for
    :math:`\mathbb E'[u_2 g(u_3)] = C'_{23}\sqrt{2/\pi}/\sqrt{1+C'_{33}}`."""
    cp = _tilt_one(c11, {2: c12, 3: c13}, {(2, 3): c23, (3, 3): c33})
    return (sp.sqrt(_TWO_PI) / sp.sqrt(1 + c11)) * cp[(2, 3)] * sp.sqrt(_TWO_PI) / sp.sqrt(
        1 + cp[(3, 3)])


def I4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    r""":math:`\mathbb E[g'(u_1)g'(u_2)g(u_3)g(u_4)]`: tilt by :math:`g'(u_1)g'(u_2)`
    (normalization :math:`\frac2\pi L_4^{-1/2}`, :math:`L_4 = \det(I + C_{aa})`), then
    :func:`I2` under the tilted covariance
    :math:`C' = C_{bb} - C_{ba}(I + C_{aa})^{-1}C_{ab}`."""
    Caa = sp.Matrix([[1 + c11, c12], [c12, 1 + c22]])
    Cab = sp.Matrix([[c13, c14], [c23, c24]])
    Cbb = sp.Matrix([[c33, c34], [c34, c44]])
    L4 = Caa.det()
    Cp = Cbb - Cab.T * (Caa.adjugate() / L4) * Cab
    return _TWO_PI / sp.sqrt(L4) * I2(Cp[0, 0], Cp[0, 1], Cp[1, 1])


def closed_form_I3(c11, c12, c13, c22, c23, c33):
    """The closed form of SETUPS.md (Saad & Solla 1995): (2/pi) L3^(-1/2) (C23 (1+C11) -
    C12 C13) / (1+C11), L3 = (1+C11)(1+C33) - C13^2."""
    L3 = (1 + c11) * (1 + c33) - c13**2
    return _TWO_PI / sp.sqrt(L3) * (c23 * (1 + c11) - c12 * c13) / (1 + c11)


def closed_form_I4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    """The closed form of SETUPS.md (Saad & Solla 1995): (4/pi^2) L4^(-1/2)
    arcsin(L0 / sqrt(L1 L2))."""
    L4 = (1 + c11) * (1 + c22) - c12**2
    L0 = L4 * c34 - c23 * c24 * (1 + c11) - c13 * c14 * (1 + c22) + c12 * c13 * c24 \
        + c12 * c14 * c23
    L1 = L4 * (1 + c33) - c23**2 * (1 + c11) - c13**2 * (1 + c22) + 2 * c12 * c13 * c23
    L2 = L4 * (1 + c44) - c24**2 * (1 + c11) - c14**2 * (1 + c22) + 2 * c12 * c14 * c24
    return 4 / sp.pi**2 / sp.sqrt(L4) * sp.asin(L0 / sp.sqrt(L1 * L2))


def covariance_symbols(K: int, M: int):
    """``(Q, R)`` matrices of state symbols: ``Q`` symmetric K x K (``Q_ik``, i <= k),
    ``R`` K x M."""
    Q = sp.Matrix(K, K, lambda i, k: sp.Symbol(f"Q_{min(i, k) + 1}{max(i, k) + 1}", real=True))
    R = sp.Matrix(K, M, lambda i, n: sp.Symbol(f"R_{i + 1}{n + 1}", real=True))
    return Q, R


def _cov(fields, Q, R, T):
    """Covariance of two fields, each ('s', i) (student) or ('t', n) (teacher)."""
    (ka, ia), (kb, ib) = fields
    if ka == "s" and kb == "s":
        return Q[ia, ib]
    if ka == "t" and kb == "t":
        return T[ia, ib]
    return R[ia, ib] if ka == "s" else R[ib, ia]


def _entries(fields, Q, R, T):
    n = len(fields)
    return [_cov((fields[i], fields[j]), Q, R, T) for i in range(n) for j in range(i, n)]


def generalization_error(Q, R, T, v, A):
    r""":math:`\epsilon_g = \frac12\mathbb E[(y - \hat y)^2]` (noise-free)."""
    K, M = R.shape
    s = [("s", i) for i in range(K)]
    t = [("t", n) for n in range(M)]
    total = 0
    for group_a, wa, group_b, wb, sign in ((s, v, s, v, 1), (t, A, t, A, 1), (s, v, t, A, -2)):
        for (fa, xa), (fb, xb) in itertools.product(zip(group_a, wa, strict=True),
                                                    zip(group_b, wb, strict=True)):
            e = _entries([fa, fb], Q, R, T)
            total += sign * xa * xb * I2(*e)
    return total / 2


def saad_solla_ode(K: int = 2, M: int = 2, *, T=None, A=None, v=None, train_second_layer=False,
                   i3=None) -> ReducedODE:
    r"""The ODEs for :math:`Q, R` (and :math:`v` when ``train_second_layer``):

    .. math:: \dot R_{in} = \eta v_i\Big[\sum_m A_m I_3(i,n,m) - \sum_j v_j I_3(i,n,j)\Big]

    .. math:: \dot Q_{ik} = \eta\, v_i\Big[\sum_m A_m I_3(i,k,m) - \sum_j v_j I_3(i,k,j)\Big]
        + (i\leftrightarrow k) + \eta^2 v_iv_k\Big[\sum_{nm}A_nA_m I_4(i,k,n,m)
        - 2\sum_{jn}v_jA_n I_4(i,k,j,n) + \sum_{jl}v_jv_l I_4(i,k,j,l) + \sigma^2 J_2(i,k)\Big]

    .. math:: \dot v_i = \eta_v\Big[\sum_n A_n I_2(i,n) - \sum_k v_k I_2(i,k)\Big]

    ``T`` (default identity), ``A`` (default ones) and, with a fixed second layer, ``v``
    (default ones) are numbers; ``i3`` replaces :func:`I3` (to test that a wrong integral
    is caught)."""
    i3 = I3 if i3 is None else i3
    T = sp.eye(M) if T is None else sp.Matrix(T)
    A = [sp.S.One] * M if A is None else [sp.nsimplify(x) for x in A]
    Q, R = covariance_symbols(K, M)
    if train_second_layer:
        v = [sp.Symbol(f"v_{i + 1}", real=True) for i in range(K)]
    else:
        v = [sp.S.One] * K if v is None else [sp.nsimplify(x) for x in v]
    s = [("s", i) for i in range(K)]
    t = [("t", n) for n in range(M)]
    # y - y_hat as a weighted sum of fields
    both = list(zip(t, A, strict=True)) + [(f, -w) for f, w in zip(s, v, strict=True)]

    def drift(i, other):  # E[g'(l_i) other (y - y_hat)]
        return sum(w * i3(*_entries([s[i], other, f], Q, R, T)) for f, w in both)

    rates = {}
    for i in range(K):
        for n in range(M):
            rates[R[i, n]] = lr * v[i] * drift(i, t[n])
    for i in range(K):
        for k in range(i, K):
            first = lr * (v[i] * drift(i, s[k]) + v[k] * drift(k, s[i]))
            second = sum(wa * wb * I4(*_entries([s[i], s[k], fa, fb], Q, R, T))
                         for (fa, wa), (fb, wb) in itertools.product(both, both))
            second += noise**2 * J2(*_entries([s[i], s[k]], Q, R, T))
            rates[Q[i, k]] = first + lr**2 * v[i] * v[k] * second
    state = [Q[i, k] for i in range(K) for k in range(i, K)] + list(R)
    if train_second_layer:
        for i in range(K):
            rates[v[i]] = lr_v * sum(w * I2(*_entries([s[i], f], Q, R, T)) for f, w in both)
        state += v
    params = (lr, noise) + ((lr_v,) if train_second_layer else ())
    return ReducedODE(name="saad-solla", state=tuple(state), rhs=tuple(rates[x] for x in state),
                      parameters=params, values={noise: 0},
                      description=f"erf soft committee machine, K = {K} students, M = {M} "
                      "teachers" + (", trained second layer" if train_second_layer else ""),
                      symbol_names={lr: r"\eta", lr_v: r"\eta_v"})
