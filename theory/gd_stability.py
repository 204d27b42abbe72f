r"""Linearized stability of gradient descent on paper 004's single-layer conv model (SymPy).

Model (Sun, Lao, Sundaramoorthi, Yezzi, arXiv 2206.02001; SETUPS.md): one ``k x k``
kernel :math:`K` on one image, :math:`u_{ij} = \langle I^{(ij)}, K\rangle`, Swish
:math:`s(x) = x/(1 + e^{-bx})`, pooling :math:`P = c\sum_{ij} s(u_{ij})` (``c = 1`` for
the sum, ``1/N`` for the mean over the ``N`` positions), BCE with label 1,
:math:`\ell(P) = \log(1 + e^{-P})`, weight decay :math:`\alpha`.

At :math:`K = 0` the gradient is :math:`g_0 + H_0 K + O(K^2)` with

.. math:: H_0 = \alpha I + c\,\ell'(0)s''(0)\,M + c^2\ell''(0)s'(0)^2\,pp^\top,\qquad
    M = \sum I^{(ij)}I^{(ij)\top},\ p = \sum I^{(ij)},

the coefficients derived here by differentiation. GD :math:`K \leftarrow K - \eta(g_0 + H_0K)`
is stable iff every eigenvalue :math:`h` of :math:`H_0` lies in :math:`(0, 2/\eta)`
(:func:`gd_interval`, solved by SymPy). For the checkerboard every patch is
:math:`\pm c_0` with :math:`|c_0|^2 = k^2`, so :math:`M = N c_0c_0^\top`,
:math:`p = (n_+ - n_-)c_0`, and :math:`H_0` has the eigenvalue :math:`\alpha` (on
:math:`c_0^\perp`) and :math:`\alpha - \alpha_{\min}` on :math:`c_0`: the region is
:math:`\alpha_{\min} < \alpha < 2/\eta` (:func:`checkerboard_region`).

Only SymPy (exact rationals); no NumPy.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["b", "alpha", "lr", "h", "coefficients", "gd_interval", "checkerboard_alpha_min",
           "checkerboard_region", "swish", "bce_label_one"]

b, alpha, lr, h, x, P = sp.symbols("b alpha lr h x P", real=True)


def swish(beta=b):
    r""":math:`s(x) = x\,\mathrm{sigmoid}(\beta x)`."""
    return x / (1 + sp.exp(-beta * x))


def bce_label_one():
    r""":math:`\ell(P) = -\log\mathrm{sigmoid}(P) = \log(1 + e^{-P})`."""
    return sp.log(1 + sp.exp(-P))


def coefficients(beta=b) -> dict:
    r""":math:`s'(0), s''(0), \ell'(0), \ell''(0)` by differentiation (exact):
    ``{"s1": 1/2, "s2": b/2, "l1": -1/2, "l2": 1/4}``."""
    s, ell = swish(beta), bce_label_one()
    return {"s1": sp.simplify(sp.diff(s, x).subs(x, 0)),
            "s2": sp.simplify(sp.diff(s, x, 2).subs(x, 0)),
            "l1": sp.simplify(sp.diff(ell, P).subs(P, 0)),
            "l2": sp.simplify(sp.diff(ell, P, 2).subs(P, 0))}


def gd_interval():
    r"""The eigenvalues :math:`h` of the Hessian for which the GD factor
    :math:`1 - \eta h` has modulus < 1, solved by SymPy: the interval :math:`(0, 2/\eta)`."""
    eta = sp.Symbol("eta", positive=True)
    sol = sp.solve_univariate_inequality(sp.Abs(1 - eta * h) < 1, h, relational=False)
    return sol.subs(eta, lr)


def checkerboard_alpha_min(ksize=32, image_size=256, beta=b, pooling="sum"):
    r""":math:`\alpha_{\min} = -k^2\,(cN\ell'(0)s''(0) + c^2(n_+-n_-)^2\ell''(0)s'(0)^2)`
    for the ``image_size``-square checkerboard and a ``ksize``-square kernel (exact)."""
    n_out = image_size - ksize + 1
    N = sp.Integer(n_out) ** 2
    diff = sp.Integer(1 if n_out % 2 else 0)  # n_+ - n_-: one more +c patch when n_out is odd
    c = sp.Integer(1) if pooling == "sum" else 1 / N
    co = coefficients(beta)
    norm2 = sp.Integer(ksize) ** 2
    return sp.simplify(-norm2 * (c * N * co["l1"] * co["s2"] + c**2 * diff**2 * co["l2"]
                                 * co["s1"] ** 2))


def checkerboard_region(ksize=32, image_size=256, beta=b, pooling="sum"):
    r"""The set of weight decays :math:`\alpha` for which GD linearized at 0 is stable:
    both eigenvalues :math:`\alpha` and :math:`\alpha - \alpha_{\min}` in
    :func:`gd_interval`, reduced by SymPy to :math:`(\alpha_{\min}, 2/\eta)` (empty when
    :math:`2/\eta \le \alpha_{\min}`)."""
    a_min = checkerboard_alpha_min(ksize, image_size, beta, pooling)
    eta = sp.Symbol("eta", positive=True)
    interval = gd_interval().subs(lr, eta)
    a = sp.Symbol("a", real=True)
    conds = [*interval.contains(a).args, *interval.contains(a - a_min).args]
    region = sp.Intersection(*(sp.solve_univariate_inequality(cond, a, relational=False)
                               for cond in conds))
    return sp.simplify(region.subs(eta, lr))
