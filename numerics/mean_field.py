r"""Two-timescale mean-field Langevin dynamics of a two-layer network (paper 002,
Takakura & Suzuki, arXiv 2403.14917), in float64, batched over replicas.

The formulas are those derived in :mod:`theory.odes.mean_field` (tests compare the two):
particles :math:`w_1..w_N \in \mathbb R^p` (``W``, shape ``(..., N, p)``; leading axes
are independent replicas), features :math:`h(x; w) = \tanh\langle w, x\rangle` on data
``X`` (``(n, p)``; :func:`augment` appends a constant input so that a coordinate of
:math:`w` acts as a bias), the feature kernel on the data
:math:`K = \frac1N H H^\top`, :math:`H_{ji} = h(x_j; w_i)`, and

.. math:: G(\mu_N) = \lambda_a\, y^\top (K + n\lambda_a I)^{-1} y,\qquad
          \frac{\delta G}{\delta\mu}(w) = -\lambda_a (h(w)^\top\beta)^2,\quad
          \beta = (K + n\lambda_a I)^{-1} y.

Mean-field Langevin (:func:`langevin`), step :math:`\eta`, temperature :math:`\lambda`:

.. math:: w_i \leftarrow w_i - \eta\,\nabla_w\Big[\frac{\delta G}{\delta\mu}(w_i)
          + \lambda_w |w_i|^2\Big] + \sqrt{2\eta\lambda}\,\xi_i ,

the gradient of the entropy-regularized objective
:math:`G + \lambda_w\mathbb E|w|^2 + \lambda\,\mathrm{Ent}` in the Wasserstein sense. Note
:math:`\nabla_{w_i} G(\mu_N) = \frac1N\nabla_w\frac{\delta G}{\delta\mu}(w_i)`.

Label noise (``label_noise = s``, fresh :math:`\varepsilon\sim U[-s, s]^n` each step,
variance :math:`s^2/3`): ``procedure="refit"`` follows the first variation of
:math:`J_\varepsilon = \lambda_a (y-\varepsilon)^\top A (y+\varepsilon)`, an unbiased
estimate of the first variation of :math:`G + \frac{s^2}{3n}\mathrm{df}` (the second
layer fitted on the noisy labels, the loss on the clean ones);
``procedure="naive"`` uses :math:`G` at :math:`y+\varepsilon`, whose mean is
:math:`G - \frac{s^2}{3n}\mathrm{df}` + const. Both are this project's reconstruction;
the paper's procedure could not be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import threadpoolctl

__all__ = [
    "MFLDResult",
    "alignment",
    "augment",
    "coupled_langevin",
    "degrees_of_freedom",
    "feature_kernel",
    "features",
    "first_variation",
    "label_noise_objective",
    "langevin",
    "mixture_curvature",
    "objective",
    "objective_from_kernel",
    "particle_drift",
    "predict",
    "regularized_objective",
    "ridge_predict",
    "ridge_solve",
    "ridge_threshold",
    "x1x2_correlation",
]

PROCEDURES = ("refit", "naive")


#: the paper's experiment (its paragraph quoted in papers/002_takakura_suzuki_sources.md:
#: d = 15, N = 2000, eta = 0.2, lambda_a = lambda_w = 0.25, temperature 0.004, "until
#: T = 10000", read here as t = 1e4; n is not stated there, 500 is this project's choice)
#: as "full", and the quick version used by claims T3 and T4 (weaker regularization so
#: that learning shows within t = 300; see papers/002_takakura_suzuki.md)
EXPERIMENT_SIZES = {
    "quick": {"n": 200, "d": 8, "particles": 128, "steps": 600, "eta": 0.5, "lam_a": 0.01,
              "lam_w": 0.005, "temperature": 0.005, "seeds": 3},
    "full": {"n": 500, "d": 15, "particles": 2000, "steps": 50000, "eta": 0.2, "lam_a": 0.25,
             "lam_w": 0.25, "temperature": 0.004, "seeds": 5},
}

def _positive(value, name):
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _nonneg(value, name):
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _data(W, X, y=None):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    if W.ndim < 2 or X.ndim != 2 or W.shape[-1] != X.shape[1]:
        raise ValueError(f"need W of shape (..., N, p) and X of shape (n, p), got {W.shape} "
                         f"and {X.shape}")
    if y is None:
        return W, X
    y = np.asarray(y, dtype=float)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    return W, X, y


def augment(X):
    """``X`` with a column of ones appended (a bias coordinate of every particle)."""
    X = np.asarray(X, dtype=float)
    return np.concatenate([X, np.ones((X.shape[0], 1))], axis=1)


def features(W, X):
    r""":math:`H_{ji} = \tanh\langle w_i, x_j\rangle`, shape ``(..., n, N)``."""
    W, X = _data(W, X)
    return np.swapaxes(np.tanh(W @ X.T), -1, -2)


def feature_kernel(W, X, Z=None):
    r""":math:`K(x, z) = \frac1N\sum_i h(x; w_i) h(z; w_i)` on ``X`` x ``Z`` (``Z = X``)."""
    H = features(W, X)
    Hz = H if Z is None else features(W, Z)
    return H @ np.swapaxes(Hz, -1, -2) / H.shape[-1]


def _solve(K, rhs, lam_a):
    n = K.shape[-1]
    return np.linalg.solve(K + n * lam_a * np.eye(n), rhs)


def objective(W, X, y, lam_a):
    r""":math:`G = \lambda_a y^\top (K + n\lambda_a I)^{-1} y` of the particle measure."""
    W, X, y = _data(W, X, y)
    lam_a = _positive(lam_a, "lam_a")
    K = feature_kernel(W, X)
    return lam_a * np.einsum("j,...j->...", y, _solve(K, np.broadcast_to(
        y, K.shape[:-1])[..., None], lam_a)[..., 0])


def objective_from_kernel(K, y, lam_a):
    r""":math:`\lambda_a y^\top (K + n\lambda_a I)^{-1} y` for a kernel matrix (batched)."""
    K, y = np.asarray(K, dtype=float), np.asarray(y, dtype=float)
    lam_a = _positive(lam_a, "lam_a")
    rhs = y + np.zeros(K.shape[:-1])
    return lam_a * np.sum(rhs * _solve(K, rhs[..., None], lam_a)[..., 0], axis=-1)


def mixture_curvature(K0, K1, y, lam_a):
    r"""Exact :math:`\frac{d^2}{dt^2} G((1-t)\mu_0 + t\mu_1)` at :math:`t = 0`:
    :math:`2\lambda_a\,\beta^\top \Delta A \Delta\beta \ge 0`, :math:`\Delta = K_1 - K_0`
    (the kernel is linear in the measure, so this is the curvature along the segment)."""
    K0, K1, y = (np.asarray(a, dtype=float) for a in (K0, K1, y))
    lam_a = _positive(lam_a, "lam_a")
    beta = _solve(K0, y, lam_a)
    v = (K1 - K0) @ beta
    return 2 * lam_a * v @ _solve(K0, v, lam_a)


def regularized_objective(W, X, y, lam_a, lam_w):
    r""":math:`G + \lambda_w\,\frac1N\sum_i |w_i|^2` (no entropy: undefined for particles)."""
    W = np.asarray(W, dtype=float)
    return objective(W, X, y, lam_a) + _nonneg(lam_w, "lam_w") * np.mean(
        np.sum(W**2, axis=-1), axis=-1)


def label_noise_objective(W, X, y, eps, lam_a, procedure="refit"):
    r"""One draw of the label-noise objective: ``"refit"``
    :math:`\lambda_a(y-\varepsilon)^\top A(y+\varepsilon)`, ``"naive"``
    :math:`\lambda_a(y+\varepsilon)^\top A(y+\varepsilon)`."""
    W, X, y = _data(W, X, y)
    if procedure not in PROCEDURES:
        raise ValueError(f"procedure must be one of {PROCEDURES}, got {procedure!r}")
    lam_a, eps = _positive(lam_a, "lam_a"), np.asarray(eps, dtype=float)
    K = feature_kernel(W, X)
    left = y - eps if procedure == "refit" else y + eps
    if K.ndim == 2:  # one measure, many noise draws: one solve with a matrix right side
        right = (y + eps).reshape(-1, len(y)).T
        return lam_a * np.sum(left * _solve(K, right, lam_a).T.reshape(left.shape), axis=-1)
    right = y + eps + np.zeros(K.shape[:-1])  # broadcast noise and replicas
    return lam_a * np.sum(left * _solve(K, right[..., None], lam_a)[..., 0], axis=-1)


def first_variation(w, W, X, y, lam_a):
    r""":math:`\frac{\delta G}{\delta\mu}(w) = -\lambda_a (h(w)^\top\beta)^2` at points ``w``
    (shape ``(m, p)``) for one particle measure ``W`` (``(N, p)``)."""
    W, X, y = _data(W, X, y)
    if W.ndim != 2:
        raise ValueError("first_variation takes one particle measure W of shape (N, p)")
    beta = _solve(feature_kernel(W, X), y, _positive(lam_a, "lam_a"))
    return -lam_a * (features(np.atleast_2d(w), X).T @ beta) ** 2


#: stopping rule of :func:`ridge_solve`: relative residual |r| / |b| <= CG_RTOL bounds the
#: relative error of the solution by kappa * CG_RTOL, kappa = 1 + lambda_max(K) / (n lam_a)
#: <= 1 + 1 / lam_a (|h| <= 1, so lambda_max <= Tr K <= n): below 1e-6 for lam_a >= 0.01, far
#: under the N^(-1/2) fluctuation of G (2% at N = 2000) and the O(eta) discretization bias
CG_RTOL = 1e-8


def ridge_solve(H, rhs, lam_a, *, guess=None, rtol=CG_RTOL, max_iter=None):
    r"""``(x, iterations)``: conjugate gradients for :math:`(\frac1N HH^\top + n\lambda_a I)x = b`
    without forming the kernel: each iteration costs :math:`O(nN)` (two products with the
    features ``H``, shape ``(..., n, N)``) instead of :math:`O(n^2N)` for the Gram matrix.
    ``rhs``: shape ``(..., n, k)`` (k right sides, each with its own step lengths);
    ``guess``: a starting point of the same shape (a warm start from the previous step's
    solution). Stops when every column has :math:`|r| \le` ``rtol`` :math:`|b|`; raises
    ``ArithmeticError`` if that takes more than ``max_iter`` (default n) iterations."""
    H, b = np.asarray(H, dtype=float), np.asarray(rhs, dtype=float)
    n, N = H.shape[-2:]
    lam_a, rtol = _positive(lam_a, "lam_a"), _positive(rtol, "rtol")
    if b.shape[:-1] != H.shape[:-1]:
        raise ValueError(f"rhs must have shape {H.shape[:-1]} + (k,), got {b.shape}")
    Ht, shift = np.swapaxes(H, -1, -2), n * lam_a

    def apply(v):
        return H @ (Ht @ v) / N + shift * v

    x = np.zeros_like(b) if guess is None else np.array(guess, dtype=float)
    r = b - apply(x)
    p, rr = r.copy(), np.sum(r * r, axis=-2, keepdims=True)
    stop = (rtol**2) * np.sum(b * b, axis=-2, keepdims=True)
    limit = n if max_iter is None else int(max_iter)
    for it in range(limit + 1):
        if np.all(rr <= stop):
            return x, it
        Ap = apply(p)
        pAp = np.sum(p * Ap, axis=-2, keepdims=True)
        alpha = np.divide(rr, pAp, out=np.zeros_like(rr), where=rr > stop)
        x += alpha * p
        r -= alpha * Ap
        rr_new = np.sum(r * r, axis=-2, keepdims=True)
        p = r + np.divide(rr_new, rr, out=np.zeros_like(rr), where=rr > stop) * p
        rr = rr_new
    raise ArithmeticError(f"conjugate gradients did not reach rtol {rtol} in {limit} iterations")


def _drift_from_solutions(Ht, X, W, left, right, lam_a, lam_w):
    r""":math:`-\lambda_a M X + 2\lambda_w W` with
    :math:`M_{ij} = (1 - h_{ij}^2)(v_i l_j + u_i r_j)`, :math:`u = H^\top l`, :math:`v = H^\top r`,
    computed as :math:`v_i\,l^\top X + u_i\,r^\top X - [H^{\circ 2\top}(l\circ X, r\circ X)]`:
    one (N x n) @ (n x 2p) product instead of an (N x n) temporary per term."""
    p = X.shape[1]
    u = (Ht @ left[..., None])[..., 0]
    if right is left:  # no label noise: M X = 2 u (beta^T X - H^2T (beta o X))
        S = (Ht * Ht) @ (left[..., :, None] * X)
        return -2 * lam_a * u[..., :, None] * ((left @ X)[..., None, :] - S) + 2 * lam_w * W
    v = (Ht @ right[..., None])[..., 0]
    B = np.concatenate([left[..., :, None] * X, right[..., :, None] * X], axis=-1)
    S = (Ht * Ht) @ B  # (..., N, 2p)
    lX, rX = left @ X, right @ X  # (..., p)
    MX = (v[..., :, None] * (lX[..., None, :] - S[..., :p])
          + u[..., :, None] * (rX[..., None, :] - S[..., p:]))
    return -lam_a * MX + 2 * lam_w * W


SOLVERS = ("direct", "cg")
#: :func:`langevin`'s ``solver="auto"`` uses conjugate gradients from this many data points
#: on and when there are at least as many particles as points (forming K then costs
#: n^2 N >= n^3). Measured (CPU per step): n = 500, N = 2000, lam_a = 0.25: 12.7 ms
#: warm-started (3-4 iterations, median) vs 22.8 ms direct (30.4 vs 28.7 with label
#: noise); n = 200, N = 128, lam_a = 0.01 (T3's quick size): CG slower (T3 quick 15 s vs
#: 10 s)
CG_MIN_SIZE = 100


def _drift_state(W, X, y, lam_a, lam_w, eps, procedure, solver, guess):
    """``(drift, G, solutions)``; ``solutions`` (``(..., n, k)``: beta, and with label
    noise A eps) is the warm start of the next step's conjugate gradients."""
    Ht = np.tanh(W @ X.T)  # (..., N, n), rows per particle
    Y = np.broadcast_to(y, Ht.shape[:-2] + y.shape)
    if eps is not None and procedure not in PROCEDURES:
        raise ValueError(f"procedure must be one of {PROCEDURES}, got {procedure!r}")
    rhs = Y[..., None] if eps is None else np.stack([Y, np.broadcast_to(eps, Y.shape)], -1)
    if solver == "direct":
        H = np.swapaxes(Ht, -1, -2)
        sol = _solve(H @ Ht / Ht.shape[-2], rhs, lam_a)
    elif solver == "cg":
        start = None
        if guess is not None and guess.shape[-1] == rhs.shape[-1]:
            start = guess
        elif guess is not None:  # the clean solution only: start the noise column at 0
            start = np.concatenate([guess[..., :1], np.zeros_like(rhs[..., 1:])], axis=-1)
        sol = ridge_solve(np.swapaxes(Ht, -1, -2), rhs, lam_a, guess=start)[0]
    else:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    beta = sol[..., 0]
    if eps is None:
        left = right = beta
    else:  # A(y - eps) = beta - A eps ("refit"), A(y + eps) = beta + A eps
        noise = sol[..., 1]
        left, right = (beta - noise, beta + noise) if procedure == "refit" else (
            beta + noise, beta + noise)
    G = lam_a * np.sum(Y * beta, axis=-1)
    return _drift_from_solutions(Ht, X, W, left, right, lam_a, lam_w), G, sol


def particle_drift(W, X, y, lam_a, lam_w, eps=None, procedure="refit", solver="direct"):
    r"""``(drift, G)``: :math:`\nabla_w[\frac{\delta G}{\delta\mu} + \lambda_w|w|^2]` at every
    particle (shape of ``W``) and the clean objective G. With label noise ``eps``
    (shape ``(..., n)``) the first variation is that of the procedure's objective.
    ``solver``: ``"direct"`` (Gram matrix and LU) or ``"cg"`` (:func:`ridge_solve`)."""
    W, X, y = _data(W, X, y)
    lam_a, lam_w = _positive(lam_a, "lam_a"), _nonneg(lam_w, "lam_w")
    if eps is not None:
        eps = np.asarray(eps, dtype=float)
    drift, G, _ = _drift_state(W, X, y, lam_a, lam_w, eps, procedure, solver, None)
    return drift, G


def degrees_of_freedom(K, lam_a):
    r""":math:`\mathrm{df} = \mathrm{Tr}\,K(K + n\lambda_a I)^{-1}` (batched over leading axes)."""
    K = np.asarray(K, dtype=float)
    lam_a = _positive(lam_a, "lam_a")
    ev = np.linalg.eigvalsh(K)
    return np.sum(ev / (ev + K.shape[-1] * lam_a), axis=-1)


def alignment(K, y):
    r"""Kernel-target alignment :math:`y^\top K y / (\|K\|_F \|y\|^2)`."""
    K, y = np.asarray(K, dtype=float), np.asarray(y, dtype=float)
    return (np.einsum("j,...jk,k->...", y, K, y)
            / (np.linalg.norm(K, axis=(-2, -1)) * np.dot(y, y)))


def predict(W, X, y, X_test, lam_a):
    r"""The network with its second layer at the ridge optimum:
    :math:`f(z) = K(z, X)(K + n\lambda_a I)^{-1} y`, shape ``(..., n_test)``."""
    W, X, y = _data(W, X, y)
    K = feature_kernel(W, X)
    c = _solve(K, np.broadcast_to(y, K.shape[:-1])[..., None], _positive(lam_a, "lam_a"))
    return (feature_kernel(W, X_test, X) @ c)[..., 0]


def ridge_predict(K, K_test, y, lam_a):
    r"""Kernel ridge regression from Gram matrices: :math:`K_{\rm test}(K + n\lambda_a I)^{-1}y`
    (``K_test``: shape ``(n_test, n)``)."""
    K, K_test = np.asarray(K, dtype=float), np.asarray(K_test, dtype=float)
    return K_test @ _solve(K, np.asarray(y, dtype=float), _positive(lam_a, "lam_a"))


#: :func:`x1x2_correlation`: Gauss-Hermite in Z below this s (the poles of
#: tanh''(b + sZ) are pi / 2s >= 6 from the real axis: error 7e-18 at order 80, measured
#: against adaptive quadrature), the trapezoid rule in u = b + sZ above it: tanh'' is
#: analytic in |Im u| < pi/2 and the Gaussian weight entire, growing like
#: exp(Im u^2 / 2s^2) off the axis, so the error is ~exp(-pi^2/h + pi^2/8s^2) (< 1e-60 at
#: h = 0.05, s >= 0.25; measured 7e-16 at s <= 0.42, 3e-15 up to s = 2);
#: |tanh''| < 4 exp(-2|u|) makes the tail beyond |u| = 20 below 1e-17. (Gauss-Hermite
#: alone loses accuracy as s grows: 7e-6 at s = 1.9, order 120.)
GH_MAX_SCALE, TRAPEZOID_STEP, TRAPEZOID_HALF_WIDTH = 0.25, 0.05, 20.0


def x1x2_correlation(w1, w2, b, order=80):
    r""":math:`m(w) = \mathbb E[\tanh(w_1x_1 + w_2x_2 + b)\,x_1x_2]`, :math:`x \sim N(0, I)`: the
    population correlation of the feature :math:`\tanh\langle w, (x, 1)\rangle` with the
    target :math:`x_1x_2` (the weights on other inputs average out). Gaussian integration
    by parts in :math:`x_1` and :math:`x_2` gives
    :math:`m = w_1w_2\,\mathbb E[\tanh''(b + sZ)]`, :math:`s^2 = w_1^2 + w_2^2`,
    :math:`Z \sim N(0, 1)`, :math:`\tanh'' = -2\tanh\,(1 - \tanh^2)`, a one-dimensional
    integral: Gauss-Hermite of ``order`` points for :math:`s <` :data:`GH_MAX_SCALE`, the
    trapezoid rule in :math:`u = b + sZ` above (tests compare with a two-dimensional rule
    and Monte Carlo). Arguments broadcast."""
    order = int(order)
    if order < 2:
        raise ValueError(f"order must be an integer >= 2, got {order!r}")
    w1, w2, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (w1, w2, b)))
    s = np.sqrt(w1 * w1 + w2 * w2)
    out = np.empty(s.shape)
    small = s < GH_MAX_SCALE
    z, q = np.polynomial.hermite_e.hermegauss(order)
    t = np.tanh(b[small][:, None] + s[small][:, None] * z)
    out[small] = np.sum(q * t * (1 - t * t), axis=-1) / math.sqrt(2 * math.pi)
    u = np.arange(-TRAPEZOID_HALF_WIDTH, TRAPEZOID_HALF_WIDTH + TRAPEZOID_STEP / 2,
                  TRAPEZOID_STEP)
    tu = np.tanh(u)
    g = tu * (1 - tu * tu)
    sl, bl = s[~small][:, None], b[~small][:, None]
    dens = np.exp(-0.5 * ((u - bl) / sl) ** 2) / (sl * math.sqrt(2 * math.pi))
    out[~small] = TRAPEZOID_STEP * np.sum(g * dens, axis=-1)
    return -2 * w1 * w2 * out


#: :func:`ridge_threshold` searches s, b in [0, SEARCH_RADIUS]: integrating by parts twice,
#: |E tanh''(b + sZ)| <= E|Z^2 - 1| / s^2 = 0.968 / s^2, so m^2 / |w|^2 <= 0.234 / |w|^2,
#: below the maximum found (0.0090 at |w| = 1.3) outside |w| = 5.1
SEARCH_RADIUS, _E_ABS_Z2_MINUS_1 = 6.0, 4 / math.sqrt(2 * math.pi * math.e)


def ridge_threshold(lam_w, *, order=80):
    r"""``(lam_a_star, w_star)``: the ridge below which the reconstruction can learn
    :math:`x_1x_2` from a weak kernel. Where :math:`K \ll n\lambda_a` the first variation
    is :math:`-m(w)^2/\lambda_a` (:func:`theory.odes.mean_field.first_variation_weak_kernel`),
    so the particles' Gibbs potential :math:`-m(w)^2/\lambda_a + \lambda_w|w|^2` has its
    minimum at :math:`w = 0` (nothing of :math:`x_1x_2` fitted) unless
    :math:`\lambda_a < \lambda_a^* = \max_w m(w)^2/(\lambda_w |w|^2)`, with
    :math:`m` the population correlation (:func:`x1x2_correlation`; its finite-sample
    fluctuation is :math:`O(n^{-1/2})`; weights on other inputs only add to
    :math:`|w|^2`). At fixed :math:`s^2 = w_1^2 + w_2^2` the ratio is largest at
    :math:`|w_1| = |w_2|` and it is even in b, so the maximum is over
    :math:`(s, b) \in (0, R]^2`, R = :data:`SEARCH_RADIUS` (a bound excludes the rest; raises
    if the maximum found does not): a 120 x 120 grid refined by Nelder-Mead.
    An output scale of the feature multiplies :math:`\lambda_a^*` by its square."""
    from scipy.optimize import minimize  # a local refinement of the grid maximum

    lam_w = _positive(lam_w, "lam_w")

    def ratio(s, b):
        w = s / math.sqrt(2)
        return x1x2_correlation(w, w, b, order) ** 2 / (s * s + b * b)

    grid = np.linspace(SEARCH_RADIUS / 120, SEARCH_RADIUS, 120)
    S, B = np.meshgrid(grid, grid, indexing="ij")
    k = np.unravel_index(np.argmax(ratio(S, B)), S.shape)
    res = minimize(lambda p: -float(ratio(abs(p[0]), min(abs(p[1]), SEARCH_RADIUS))),
                   [S[k], B[k]], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-16})
    best = -float(res.fun)
    outside = (_E_ABS_Z2_MINUS_1 / 2) ** 2 / SEARCH_RADIUS**2
    if best <= outside:
        raise ArithmeticError(f"maximum {best:.3g} not above the bound {outside:.3g} outside "
                              f"the search region")
    s_star, b_star = abs(res.x[0]), abs(res.x[1])
    return best / lam_w, np.array([s_star / math.sqrt(2), -s_star / math.sqrt(2), b_star])


@dataclass
class MFLDResult:
    """Records of a run: ``steps`` recorded, ``G`` and ``regularized`` (G + lam_w E|w|^2)
    per record (shape ``(records, *replicas)``), ``df`` and ``alignment`` of the kernel at
    the records, the time average of ``regularized`` after ``burn_in`` steps
    (``time_average``, per replica), and the final particles ``W``."""

    steps: np.ndarray
    G: np.ndarray
    regularized: np.ndarray
    df: np.ndarray
    alignment: np.ndarray
    time_average: np.ndarray
    time_average_G: np.ndarray
    W: np.ndarray


def _label_noise(rng, s, shape):
    return rng.uniform(-s, s, size=shape) if s > 0 else None


def langevin(W0, X, y, *, lam_a, lam_w, temperature, eta, steps, rng, label_noise=0.0,
             procedure="refit", record_every=None, burn_in=None,
             alignment_target=None, solver="auto") -> MFLDResult:
    r"""Discretized mean-field Langevin over the particles ``W0`` (``(..., N, p)``,
    replicas on the leading axes). ``rng``: a NumPy Generator (noise and labels).
    ``record_every`` (default ``steps // 100``) sets where G, df and alignment are
    recorded; ``burn_in`` (default ``steps // 2``) where the time average starts;
    ``alignment_target``: the labels the alignment is measured against (default ``y``);
    ``solver``: ``"direct"``, ``"cg"`` (warm-started from the previous step) or ``"auto"``
    (``"cg"`` from :data:`CG_MIN_SIZE` data points on with N >= n, where it is faster)."""
    W, X, y = _data(W0, X, y)
    W = W.copy()
    target = y if alignment_target is None else np.asarray(alignment_target, dtype=float)
    lam_a, eta = _positive(lam_a, "lam_a"), _positive(eta, "eta")
    temperature, s = _nonneg(temperature, "temperature"), _nonneg(label_noise, "label_noise")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    every = max(1, steps // 100) if record_every is None else int(record_every)
    burn = steps // 2 if burn_in is None else int(burn_in)
    if not 0 <= burn < steps:
        raise ValueError(f"burn_in must be in [0, steps), got {burn}")
    if solver == "auto":
        solver = "cg" if CG_MIN_SIZE <= X.shape[0] <= W.shape[-2] else "direct"
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS} or 'auto', got {solver!r}")
    noise_scale = math.sqrt(2 * eta * temperature)
    rec_steps, rec_G, rec_V, rec_df, rec_al = [], [], [], [], []
    total = np.zeros((2,) + W.shape[:-2])
    state = {"solver": solver, "guess": None}
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):  # small matrices
        for k in range(steps + 1):
            _langevin_step(k, steps, W, X, y, lam_a, lam_w, eta, noise_scale, s, procedure, rng,
                           burn, every, total, (rec_steps, rec_G, rec_V, rec_df, rec_al),
                           target, state)
    return MFLDResult(np.array(rec_steps), np.array(rec_G), np.array(rec_V), np.array(rec_df),
                      np.array(rec_al), total[0] / (steps - burn), total[1] / (steps - burn), W)


def _langevin_step(k, steps, W, X, y, lam_a, lam_w, eta, noise_scale, s, procedure, rng, burn,
                   every, total, records, target, state):
    eps = _label_noise(rng, s, W.shape[:-2] + (X.shape[0],)) if k < steps else None
    drift, G, state["guess"] = _drift_state(W, X, y, lam_a, lam_w, eps, procedure,
                                            state["solver"], state["guess"])
    if not np.all(np.isfinite(G)):
        raise ArithmeticError(f"mean-field Langevin diverged at step {k}")
    V = G + lam_w * np.mean(np.sum(W**2, axis=-1), axis=-1)
    if k > burn:
        total[0] += V
        total[1] += G
    if k % every == 0 or k == steps:
        K = feature_kernel(W, X)
        for store, value in zip(records, (k, G, V, degrees_of_freedom(K, lam_a),
                                          alignment(K, target)), strict=True):
            store.append(value)
    if k < steps:
        W -= eta * drift
        if noise_scale:
            W += noise_scale * rng.standard_normal(W.shape)


def coupled_langevin(W0, X, y, *, lam_a, lam_w, temperature, eta, levels, time, rng,
                     burn_in_time, observable="G", noise_exponent=0.5) -> np.ndarray:
    r"""Time averages of ``observable`` (``"G"`` or ``"regularized"``,
    :math:`G + \lambda_w\mathbb E|w|^2`) under step sizes
    :math:`\eta, \eta/2, ..., \eta/2^{L-1}` (``levels`` = L) driven by the same Brownian
    path (synchronous coupling, as in multilevel Monte Carlo: a step of size
    :math:`2^k\eta_{\rm fine}` uses the sum of its :math:`2^k` fine increments), so the
    differences between levels, the time-discretization bias, have a small variance.
    Returns shape ``(levels, *replicas)`` (level 0 = the largest step).
    ``noise_exponent`` q scales a step's noise as :math:`\sqrt{2\lambda}\,h^q` (q = 1/2 is
    Euler-Maruyama; another q is a deliberately wrong scheme whose temperature drifts
    with the step size)."""
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):  # small matrices
        return _coupled(W0, X, y, lam_a, lam_w, temperature, eta, levels, time, rng,
                        burn_in_time, observable, noise_exponent)


def _coupled(W0, X, y, lam_a, lam_w, temperature, eta, levels, time, rng, burn_in_time,
             observable, noise_exponent):
    if observable not in ("G", "regularized"):
        raise ValueError(f"observable must be 'G' or 'regularized', got {observable!r}")
    W, X, y = _data(W0, X, y)
    eta = _positive(eta, "eta")
    levels = int(levels)
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    fine = eta / 2 ** (levels - 1)
    n_fine = int(round(time / fine))
    start = int(round(burn_in_time / fine))
    if not 0 <= start < n_fine or n_fine % 2 ** (levels - 1):
        raise ValueError("time must be a multiple of eta and burn_in_time < time")
    Ws = [W.copy() for _ in range(levels)]
    acc = [np.zeros(W.shape) for _ in range(levels)]
    totals, counts = np.zeros((levels,) + W.shape[:-2]), np.zeros(levels)
    for k in range(n_fine):
        xi = rng.standard_normal(W.shape) * math.sqrt(fine)
        for lev in range(levels):
            stride = 2 ** (levels - 1 - lev)
            if k % stride == 0:
                drift, G = particle_drift(Ws[lev], X, y, lam_a, lam_w)
                if k >= start:
                    totals[lev] += G if observable == "G" else G + lam_w * np.mean(
                        np.sum(Ws[lev] ** 2, axis=-1), axis=-1)
                    counts[lev] += 1
                Ws[lev] -= stride * fine * drift
            acc[lev] += xi
            if (k + 1) % stride == 0:
                h = stride * fine  # sum of stride fine increments ~ sqrt(h) N(0, I)
                Ws[lev] += math.sqrt(2 * temperature) * h ** (noise_exponent - 0.5) * acc[lev]
                acc[lev][...] = 0.0
    return totals / counts.reshape((levels,) + (1,) * (W.ndim - 2))
