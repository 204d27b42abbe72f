r"""Hessian-vector products, top eigenpairs by Lanczos, finite-time Lyapunov exponents.

:class:`FlatModel` evaluates a network of :mod:`numerics.networks` on flat float64
parameter vectors: loss, gradient (the same backpropagation as
:func:`numerics.networks.loss_and_gradient`), exact Hessian-vector products by the
R-operator (Pearlmutter 1994: forward-mode differentiation of the backward pass,
written out analytically, with :math:`\sigma''` derived in SymPy from the registry
entry), and the Jacobian-vector product of one gradient-descent step,
:math:`J_t v = v - \eta\,(H(\theta_t) + \lambda) v`.

* :func:`top_eigenpairs` / :func:`sharpness`: ``scipy.sparse.linalg.eigsh(...,
  which="LA")`` on a :class:`~scipy.sparse.linalg.LinearOperator` of any symmetric
  matvec (warm start ``v0``);
* :func:`finite_difference_hvp`: central differences of any gradient callable (for
  models outside :mod:`numerics.networks`, e.g. the conv model of paper 004);
* :func:`lyapunov_exponents`: Benettin's method, products of step Jacobians with QR
  re-orthonormalization along a float64 GD trajectory; returns the per-step log
  stretches so windows and their variation can be judged.

REPL::

    >>> from numerics import spectra, networks
    >>> net = networks.two_layer_net(1, 100, "tanh", parameterization="standard", bias=True)
    >>> m = spectra.FlatModel(net, X, y, params=net.init(0), frozen=("c",))
    >>> spectra.sharpness(m, m.flatten(net.init(0)))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.sparse.linalg import LinearOperator, eigsh

from numerics.compile import activation_function
from theory.activations import resolve
from theory.symbols import x as _X

__all__ = ["FlatModel", "LyapunovResult", "finite_difference_hvp", "lyapunov_exponents",
           "second_derivative_function", "sharpness", "top_eigenpairs"]


@functools.lru_cache(maxsize=64)
def _second_derivative(act):
    expr = sp.diff(act.require_derivative(), _X)
    fn = sp.lambdify((_X,), expr, modules=["numpy", "scipy"])

    def f(z):
        out = fn(z)
        return np.broadcast_to(np.asarray(out, dtype=np.float64), np.shape(z)).copy()

    return f


def second_derivative_function(act):
    """Vectorized float64 :math:`\\sigma''` of a registry entry or name (SymPy ``diff``
    of the registry's derivative, lambdified)."""
    return _second_derivative(resolve(act))


class FlatModel:
    """Loss, gradient, exact Hessian-vector products of ``net`` on ``(X, y)`` in
    float64, on flat vectors of the trained parameter groups (``net.param_names``
    order, frozen groups left out and taken from ``params``).

    ``weight_decay`` :math:`\\lambda` adds :math:`\\frac\\lambda2\\|\\theta\\|^2` to the
    objective (as :func:`numerics.networks.train` adds :math:`\\lambda\\theta` to the
    gradient). Networks with ``unit_norm_rows`` are refused (their dynamics live on
    a sphere; the ambient Hessian is not their step Jacobian)."""

    def __init__(self, net, X, y, *, params=None, frozen=(), weight_decay=0.0):
        if net.unit_norm_rows:
            raise ValueError("unit_norm_rows networks are not supported (projected dynamics)")
        self.net = net
        self.X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if self.X.ndim != 2 or self.X.shape[1] != net.input_dim or self.Y.shape != (
                self.X.shape[0], net.output_dim):
            raise ValueError(f"X must be (n, {net.input_dim}) and y (n,) or (n, "
                             f"{net.output_dim}), got {self.X.shape} and {y.shape}")
        frozen = tuple(frozen)
        bad = set(frozen) - set(net.param_names)
        if bad:
            raise ValueError(f"frozen names {sorted(bad)} are not parameters of the network")
        if frozen and params is None:
            raise ValueError("frozen groups need params (their fixed values)")
        self.frozen = {g: np.asarray(params[g], dtype=np.float64) for g in frozen}
        self.shapes = net.param_shapes()
        self.names = tuple(g for g in net.param_names if g not in frozen)
        sizes = [self.shapes[g][0] * self.shapes[g][1] for g in self.names]
        self.offsets = np.cumsum([0, *sizes])
        self.size = int(self.offsets[-1])
        self.weight_decay = float(weight_decay)
        mult = net.multipliers()
        self.s = [float(mult[f"s{l}"]) for l in range(1, net.hidden_layers + 1)]
        self.s_out, self.beta = float(mult["s_out"]), float(mult["beta"])
        self.sigma = activation_function(net.activation)
        self.dsigma = activation_function(net.activation, derivative=True)
        self.d2sigma = second_derivative_function(net.activation)

    # -- flat <-> dict -------------------------------------------------------

    def flatten(self, params) -> np.ndarray:
        """The trained groups of ``params`` as one float64 vector."""
        return np.concatenate([np.asarray(params[g], dtype=np.float64).ravel()
                               for g in self.names])

    def unflatten(self, theta) -> dict:
        """A full parameter dict (frozen groups from construction)."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.size,):
            raise ValueError(f"theta must have shape ({self.size},), got {theta.shape}")
        out = {g: theta[self.offsets[i]:self.offsets[i + 1]].reshape(self.shapes[g])
               for i, g in enumerate(self.names)}
        out.update(self.frozen)
        return {g: out[g] for g in self.net.param_names}

    def _zeros_like_frozen(self, V):
        V = dict(V)
        for g in self.frozen:
            V[g] = np.zeros(self.shapes[g])
        return V

    # -- evaluation ----------------------------------------------------------

    def _forward(self, P):
        net, A = self.net, self.X
        acts, Zs = [A], []
        for l in range(1, net.hidden_layers + 1):
            Z = self.s[l - 1] * (A @ P[f"W{l}"].T)
            if net.bias:
                Z = Z + self.beta * P[f"b{l}"].T
            A = self.sigma(Z)
            Zs.append(Z)
            acts.append(A)
        F = self.s_out * (A @ P["a"].T)
        if net.bias:
            F = F + self.beta * P["c"].T
        return acts, Zs, F

    def loss(self, theta) -> float:
        P = self.unflatten(theta)
        F = self._forward(P)[2]
        value = 0.5 * np.sum((F - self.Y) ** 2) / self.X.shape[0]
        return float(value + 0.5 * self.weight_decay * np.dot(theta, theta))

    def outputs(self, theta) -> np.ndarray:
        return self._forward(self.unflatten(theta))[2]

    def gradient(self, theta):
        """``(loss, gradient)`` at ``theta``."""
        P = self.unflatten(theta)
        acts, Zs, F = self._forward(P)
        n, net = self.X.shape[0], self.net
        Rn = (F - self.Y) / n
        g = {"a": self.s_out * Rn.T @ acts[-1]}
        if net.bias:
            g["c"] = self.beta * Rn.sum(axis=0)[:, None]
        G = self.s_out * Rn @ P["a"]
        for l in range(net.hidden_layers, 0, -1):
            D = G * self.dsigma(Zs[l - 1])
            g[f"W{l}"] = self.s[l - 1] * D.T @ acts[l - 1]
            if net.bias:
                g[f"b{l}"] = self.beta * D.sum(axis=0)[:, None]
            G = self.s[l - 1] * D @ P[f"W{l}"]
        loss = 0.5 * np.sum((F - self.Y) ** 2) / n
        flat = self.flatten(g)
        if self.weight_decay:
            flat = flat + self.weight_decay * theta
            loss = loss + 0.5 * self.weight_decay * np.dot(theta, theta)
        return float(loss), flat

    def hvp(self, theta, v) -> np.ndarray:
        r"""Exact :math:`H(\theta)v` (R-operator: the directional derivative of
        :meth:`gradient` along ``v``, propagated analytically)."""
        P = self.unflatten(theta)
        V = self._zeros_like_frozen(self.unflatten(np.asarray(v, dtype=np.float64)))
        net, n = self.net, self.X.shape[0]
        A, dA = self.X, np.zeros_like(self.X)
        acts, dacts, Zs, dZs = [A], [dA], [], []
        for l in range(1, net.hidden_layers + 1):
            W, dW = P[f"W{l}"], V[f"W{l}"]
            Z = self.s[l - 1] * (A @ W.T)
            dZ = self.s[l - 1] * (dA @ W.T + A @ dW.T)
            if net.bias:
                Z = Z + self.beta * P[f"b{l}"].T
                dZ = dZ + self.beta * V[f"b{l}"].T
            A, dA = self.sigma(Z), self.dsigma(Z) * dZ
            Zs.append(Z)
            dZs.append(dZ)
            acts.append(A)
            dacts.append(dA)
        F = self.s_out * (A @ P["a"].T)
        dF = self.s_out * (dA @ P["a"].T + A @ V["a"].T)
        if net.bias:
            F = F + self.beta * P["c"].T
            dF = dF + self.beta * V["c"].T
        Rn, dRn = (F - self.Y) / n, dF / n
        h = {"a": self.s_out * (dRn.T @ acts[-1] + Rn.T @ dacts[-1])}
        if net.bias:
            h["c"] = self.beta * dRn.sum(axis=0)[:, None]
        G = self.s_out * Rn @ P["a"]
        dG = self.s_out * (dRn @ P["a"] + Rn @ V["a"])
        for l in range(net.hidden_layers, 0, -1):
            Z, dZ = Zs[l - 1], dZs[l - 1]
            s1 = self.dsigma(Z)
            D = G * s1
            dD = dG * s1 + G * self.d2sigma(Z) * dZ
            h[f"W{l}"] = self.s[l - 1] * (dD.T @ acts[l - 1] + D.T @ dacts[l - 1])
            if net.bias:
                h[f"b{l}"] = self.beta * dD.sum(axis=0)[:, None]
            if l > 1:
                W, dW = P[f"W{l}"], V[f"W{l}"]
                G, dG = self.s[l - 1] * D @ W, self.s[l - 1] * (dD @ W + D @ dW)
        out = self.flatten(h)
        if self.weight_decay:
            out = out + self.weight_decay * np.asarray(v, dtype=np.float64)
        return out

    def hessian(self, theta) -> np.ndarray:
        """Dense Hessian from ``size`` Hessian-vector products (small models only)."""
        eye = np.eye(self.size)
        return np.stack([self.hvp(theta, e) for e in eye], axis=1)

    def gd_step(self, theta, lr) -> np.ndarray:
        r""":math:`\theta - \eta\nabla\mathcal L(\theta)`."""
        return theta - lr * self.gradient(theta)[1]

    def step_jvp(self, theta, v, lr) -> np.ndarray:
        r"""Jacobian of one GD step applied to ``v``: :math:`v - \eta H(\theta) v`
        (``v`` may be a matrix of column vectors)."""
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 1:
            return v - lr * self.hvp(theta, v)
        return v - lr * np.stack([self.hvp(theta, c) for c in v.T], axis=1)


def top_eigenpairs(matvec, n, k=1, *, v0=None, tol=1e-10, which="LA", maxiter=None):
    """The ``k`` largest (``which="LA"``; ``"SA"`` smallest) eigenpairs of the
    symmetric operator ``matvec`` on R^n by Lanczos (``scipy.sparse.linalg.eigsh`` on
    a ``LinearOperator``). Returns ``(values, vectors)``, values in decreasing order
    (increasing for ``"SA"``), vectors as columns. Below n = 3 the dense matrix is
    diagonalized instead (eigsh needs k < n)."""
    if n <= k + 1 or n < 3:
        M = np.stack([matvec(e) for e in np.eye(n)], axis=1)
        w, V = np.linalg.eigh(0.5 * (M + M.T))
        order = np.argsort(-w if which == "LA" else w)[:k]
        return w[order], V[:, order]
    op = LinearOperator((n, n), matvec=lambda v: matvec(np.ravel(v)), dtype=np.float64)
    w, V = eigsh(op, k=k, which=which, v0=v0, tol=tol, maxiter=maxiter)
    order = np.argsort(-w if which == "LA" else w)
    return w[order], V[:, order]


def sharpness(model: FlatModel, theta, *, v0=None, tol=1e-8, return_vector=False):
    """Top Hessian eigenvalue of ``model`` at ``theta`` (Lanczos); with
    ``return_vector`` also its eigenvector (a warm start for the next call)."""
    w, V = top_eigenpairs(lambda v: model.hvp(theta, v), model.size, 1, v0=v0, tol=tol)
    return (float(w[0]), V[:, 0]) if return_vector else float(w[0])


def finite_difference_hvp(gradient, theta, v, *, h=None):
    r"""Central difference :math:`(g(\theta+hv) - g(\theta-hv))/2h` of a gradient
    callable ``gradient(theta) -> array``; default ``h`` balances the :math:`O(h^2)`
    truncation against float64 rounding: :math:`h = \epsilon^{1/3}(1+|\theta|)/|v|`."""
    theta, v = np.asarray(theta, dtype=np.float64), np.asarray(v, dtype=np.float64)
    nv = np.linalg.norm(v)
    if nv == 0:
        return np.zeros_like(theta)
    if h is None:
        h = np.finfo(np.float64).eps ** (1 / 3) * (1 + np.linalg.norm(theta)) / nv
    return (np.asarray(gradient(theta + h * v)) - np.asarray(gradient(theta - h * v))) / (2 * h)


@dataclass
class LyapunovResult:
    """``exponents`` (k, per step, decreasing), ``log_stretch`` (steps, k) the
    per-step logs of the QR diagonal (their running mean is the finite-time exponent),
    ``theta`` the final parameters, ``loss`` (steps,) the loss before each step."""

    exponents: np.ndarray
    log_stretch: np.ndarray
    theta: np.ndarray
    loss: np.ndarray

    def window(self, start, stop=None) -> np.ndarray:
        """Finite-time exponents over steps ``[start, stop)``."""
        return self.log_stretch[start:stop].mean(axis=0)


def lyapunov_exponents(model: FlatModel, theta0, *, lr, steps, k=1, rng=None,
                       q0=None) -> LyapunovResult:
    r"""The ``k`` leading finite-time Lyapunov exponents of full-batch GD with step
    ``lr`` from ``theta0`` over ``steps`` steps (float64): tangent vectors are pushed by
    the step Jacobians :math:`J_t = I - \eta H(\theta_t)` (exact Hessian-vector
    products) and re-orthonormalized by QR each step (Benettin et al. 1980);
    :math:`\lambda_i = \frac1T\sum_t \log|R_t|_{ii}`."""
    theta = np.array(theta0, dtype=np.float64)
    if q0 is None:
        rng = rng if rng is not None else np.random.default_rng(0)
        q0 = rng.standard_normal((model.size, k))
    Q = np.linalg.qr(np.asarray(q0, dtype=np.float64).reshape(model.size, -1))[0]
    logs = np.empty((steps, Q.shape[1]))
    losses = np.empty(steps)
    for t in range(steps):
        JQ = model.step_jvp(theta, Q, lr)
        Q, R = np.linalg.qr(JQ)
        d = np.diag(R)
        Q = Q * np.sign(d)
        logs[t] = np.log(np.abs(d))
        losses[t], g = model.gradient(theta)
        theta = theta - lr * g
    return LyapunovResult(logs.mean(axis=0), logs, theta, losses)


@dataclass
class SharpnessTrajectory:
    """Full-batch GD with the sharpness measured along the way: ``steps`` (where it
    was measured), ``sharpness``, ``loss`` (every step, before the step), ``theta``
    (final)."""

    steps: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray
    theta: np.ndarray

    def first_crossing(self, level):
        """First measured step with sharpness > ``level`` (None if never)."""
        hit = np.nonzero(self.sharpness > level)[0]
        return int(self.steps[hit[0]]) if hit.size else None


def sharpness_trajectory(model: FlatModel, theta0, *, lr, steps, every=50,
                         tol=1e-6) -> SharpnessTrajectory:
    """Train ``model`` by float64 full-batch GD with step ``lr`` for ``steps`` steps,
    measuring the sharpness (Lanczos, warm-started from the previous eigenvector)
    every ``every`` steps (and at the end)."""
    theta = np.array(theta0, dtype=np.float64)
    at, sharp, losses, v = [], [], np.empty(steps), None
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            s, v = sharpness(model, theta, v0=v, tol=tol, return_vector=True)
            at.append(t)
            sharp.append(s)
        if t == steps:
            break
        losses[t], g = model.gradient(theta)
        theta = theta - lr * g
    return SharpnessTrajectory(np.array(at), np.array(sharp), losses, theta)


__all__ += ["SharpnessTrajectory", "sharpness_trajectory"]


def window_ftle(model: FlatModel, thetas, *, lr, start, stop, iterations=8, rng=None):
    r"""Finite-time Lyapunov exponent of GD over steps ``[start, stop)`` along the given
    trajectory (``thetas[t]`` the parameters before step ``t``):
    :math:`\frac1{T}\log\sigma_{\max}(J_{stop-1}\cdots J_{start})`, ``T = stop - start``,
    by power iteration on :math:`M^\top M` (each :math:`J_t = I - \eta H(\theta_t)` is
    symmetric, so :math:`M^\top` is the product in reverse order). Returns
    ``(exponent, top right singular vector)``."""
    if not 0 <= start < stop <= len(thetas):
        raise ValueError(f"need 0 <= start < stop <= {len(thetas)}, got [{start}, {stop})")
    rng = rng if rng is not None else np.random.default_rng(0)
    v = rng.standard_normal(model.size)
    v /= np.linalg.norm(v)
    log_sigma = 0.0
    for _ in range(iterations):
        w = v
        for t in range(start, stop):
            w = model.step_jvp(thetas[t], w, lr)
        log_sigma = float(np.log(np.linalg.norm(w)))
        for t in range(stop - 1, start - 1, -1):
            w = model.step_jvp(thetas[t], w, lr)
        v = w / np.linalg.norm(w)
    return log_sigma / (stop - start), v


__all__ += ["window_ftle"]
