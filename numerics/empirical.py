r"""Random finite MLPs, their empirical NNGP/NTK, per-layer covariances, and Monte Carlo
dual kernels: the simulations that the infinite-width formulas of
:mod:`numerics.kernels` are checked against.

Network (NTK parameterization, :math:`L` hidden layers of width :math:`n`, inputs
:math:`x\in\mathbb R^d`, every weight and bias i.i.d. :math:`\mathcal N(0,1)`; Jacot et al.
2018, neural-tangents ``stax.Dense``):

.. math:: h^1 = \tfrac{\sigma_w}{\sqrt d} W^1 x + \sigma_b b^1, \quad
          h^{l+1} = \tfrac{\sigma_w}{\sqrt n} W^{l+1}\phi(h^l) + \sigma_b b^{l+1}, \quad
          f = h^{L+1} \in \mathbb R.

* :func:`empirical_kernels` / :func:`empirical_kernels_many`: empirical NNGP
  :math:`\hat K(x,x') = \frac{\sigma_w^2}{n}\phi(h^L(x))\cdot\phi(h^L(x')) + \sigma_b^2`
  and empirical NTK :math:`\hat\Theta(x,x') = \sum_\theta \partial_\theta f(x)\,
  \partial_\theta f(x')` (every weight and bias, readout included) by the factorized
  Jacobian Gram; :func:`explicit_jacobian` builds :math:`J` entry by entry for tests.
  Both converge to :func:`numerics.kernels.nngp` / :func:`~numerics.kernels.ntk` at rate
  :math:`n^{-1/2}` (Lee et al. 2018; Hanin & Nica 2019).
* :func:`finite_network_covariances`: per-layer covariances
  :math:`V_l = (|h^l(x)|^2, |h^l(x')|^2, \langle h^l(x), h^l(x')\rangle)/N` of two inputs
  (:func:`two_inputs_with_correlation`), several activations on shared weights;
  :func:`q_rho` turns them into :math:`(q_l, \rho_l)`; :func:`finite_network_statistics`
  does both for one activation. Their :math:`O(1/N)` theory is :mod:`numerics.finite_width`.
* :func:`monte_carlo_dual`: :math:`\mathbb E[f(u)f(v)]`, :math:`(u,v)\sim\mathcal N(0,V)`,
  with its standard error.

The parameters are plain lists ``[(W1, b1), ..., (W_out, b_out)]`` rather than
:class:`numerics.networks.Network`: those are drawn per parameter group from spawned seeds
in float32-representable float64 with ``(n, 1)`` biases for training on any backend, while
these are drawn layer by layer from one generator in the working dtype (float32 halves the
cost of the memory-bound products at width 4096), which is what keeps existing seeds'
results unchanged.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from numerics.compile import activation_function
from numerics.stats import RunningMoments
from numerics.validate import check_int, check_real, check_rng
from theory.activations import resolve

__all__ = [
    "empirical_kernels",
    "empirical_kernels_many",
    "explicit_jacobian",
    "finite_network_covariances",
    "finite_network_statistics",
    "forward",
    "monte_carlo_dual",
    "q_rho",
    "random_network",
    "two_inputs_with_correlation",
]

#: at most this many Monte Carlo draws are held in memory at once (two float64 arrays)
MONTE_CARLO_CHUNK = 1_000_000


# ---------------------------------------------------------------------------
# argument checks (one per kind of argument)
# ---------------------------------------------------------------------------


def _check_params(params):
    if not isinstance(params, (list, tuple)) or len(params) < 2:
        raise ValueError("params must be a list [(W1, b1), ..., (W_out, b_out)] with at least "
                         "one hidden layer (see random_network)")
    return params


def _check_inputs(X, input_dim):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != input_dim:
        raise ValueError(f"X must have shape (m, {input_dim}) to match the first layer, "
                         f"got shape {X.shape}")
    return X


# ---------------------------------------------------------------------------
# random networks and their empirical kernels
# ---------------------------------------------------------------------------

def random_network(rng: np.random.Generator, width: int, input_dim: int, hidden_layers: int,
                   dtype=np.float64) -> list:
    """Standard-normal weights and biases ``[(W1, b1), ..., (W_out, b_out)]`` of an MLP with
    ``hidden_layers`` hidden layers of ``width`` and one output, drawn in that order from
    ``rng`` in ``dtype`` (float32 or float64); ``W`` has shape ``(fan_out, fan_in)``."""
    check_rng(rng)
    width = check_int("width", width, 1)
    input_dim = check_int("input_dim", input_dim, 1)
    hidden_layers = check_int("hidden_layers", hidden_layers, 1)
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    params = []
    fan_in = input_dim
    for _ in range(hidden_layers):
        params.append((rng.standard_normal((width, fan_in), dtype=dtype),
                       rng.standard_normal(width, dtype=dtype)))
        fan_in = width
    params.append((rng.standard_normal((1, fan_in), dtype=dtype),
                   rng.standard_normal(1, dtype=dtype)))
    return params


def _forward(params, X, phi, sigma_w, sigma_b):
    posts, pres = [X], []
    for W, b in params[:-1]:
        h = (sigma_w / math.sqrt(W.shape[1])) * posts[-1] @ W.T + sigma_b * b
        pres.append(h)
        posts.append(phi(h))
    return pres, posts


def forward(params, X, activation, *, sigma_w, sigma_b):
    r"""Hidden pre-activations ``[h^1, ..., h^L]`` (each ``(m, n_l)``) and post-activations
    ``[x^0 = X, x^1, ..., x^L]`` of the network ``params`` (one row per input), in the
    module's parameterization, for one activation at a time (the reference path of
    :func:`explicit_jacobian`; :func:`empirical_kernels_many` stacks activations)."""
    params = _check_params(params)
    X = _check_inputs(X, params[0][0].shape[1])
    check_real("sigma_w", sigma_w, nonnegative=True)
    check_real("sigma_b", sigma_b, nonnegative=True)
    return _forward(params, X, activation_function(resolve(activation)), sigma_w, sigma_b)


def empirical_kernels_many(params, X, activations, *, sigma_w, sigma_b):
    r"""Empirical NNGP and NTK Gram matrices (float64, ``(m, m)``) of one network (same
    weights) for several activations, ``[(nngp, ntk), ...]`` in the order given.

    NNGP: :math:`\frac{\sigma_w^2}{n}\phi(h^L)\cdot\phi(h'^L) + \sigma_b^2`.
    The NTK is the Jacobian Gram matrix :math:`J J^\top` assembled layer by
    layer: the Jacobian block of :math:`W^l` at input :math:`x` is the outer
    product :math:`\delta^l(x)\otimes \frac{\sigma_w}{\sqrt{n_{l-1}}}x^{l-1}(x)`
    (:math:`\delta^l = \partial f/\partial h^l`, by backpropagation), so its
    contribution :math:`\langle \delta^l\otimes x^{l-1}, \delta'^l\otimes x'^{l-1}\rangle`
    factorizes exactly into :math:`(\delta^l\cdot\delta'^l)(x^{l-1}\cdot x'^{l-1})`
    and no :math:`n\times n` Jacobian is formed; the bias block adds
    :math:`\sigma_b^2\,\delta^l\cdot\delta'^l`.

    The activations are stacked so that each weight matrix is read once per
    pass (the products are memory-bound at large width). Arithmetic is in the
    weights' dtype; the Gram matrices are accumulated in float64.
    """
    params = _check_params(params)
    if isinstance(activations, (str, bytes)) or not activations:
        raise ValueError("activations must be a non-empty list of activation names or entries "
                         "(use empirical_kernels for one)")
    X = _check_inputs(X, params[0][0].shape[1])
    check_real("sigma_w", sigma_w, nonnegative=True)
    check_real("sigma_b", sigma_b, nonnegative=True)
    acts = [resolve(a) for a in activations]
    for act in acts:
        act.require_derivative()  # the NTK needs s' (step has none)
    dtype = params[0][0].dtype
    A, m = len(acts), X.shape[0]
    phis = [activation_function(a) for a in acts]
    dphis = [activation_function(a, derivative=True) for a in acts]

    def apply(fns, H):  # H (A, m, n) -> stacked f_a(H[a]) in the working dtype
        return np.stack([f(h) for f, h in zip(fns, H, strict=True)]).astype(dtype, copy=False)

    X = np.asarray(X, dtype=dtype)
    posts = [np.broadcast_to(X, (A,) + X.shape)]
    pres = []
    for W, b in params[:-1]:
        fan_in = W.shape[1]
        h = (posts[-1].reshape(A * m, fan_in) @ W.T).reshape(A, m, -1)
        h = h * dtype.type(sigma_w / math.sqrt(fan_in)) + dtype.type(sigma_b) * b
        pres.append(h)
        posts.append(apply(phis, h))

    def gram(Z):  # (A, m, n) -> (A, m, m) in float64
        return np.einsum("aij,akj->aik", Z, Z).astype(np.float64)

    width = posts[-1].shape[2]
    nngp = (sigma_w**2 / width) * gram(posts[-1]) + sigma_b**2
    ntk = nngp.copy()  # readout layer: delta = 1
    W_out = params[-1][0]
    delta = dtype.type(sigma_w / math.sqrt(width)) * W_out[0] * apply(dphis, pres[-1])
    for layer in range(len(pres) - 1, -1, -1):
        inputs = posts[layer]
        fan_in = inputs.shape[2]
        ntk += gram(delta) * ((sigma_w**2 / fan_in) * gram(inputs) + sigma_b**2)
        if layer > 0:
            W = params[layer][0]
            back = (delta.reshape(A * m, -1) @ W).reshape(A, m, fan_in)
            delta = back * dtype.type(sigma_w / math.sqrt(fan_in)) * apply(dphis, pres[layer - 1])
    return [(nngp[a], ntk[a]) for a in range(A)]


def empirical_kernels(params, X, activation, *, sigma_w, sigma_b):
    """Empirical NNGP and NTK ``(nngp, ntk)`` of one network for one activation (see
    :func:`empirical_kernels_many`)."""
    return empirical_kernels_many(params, X, [activation], sigma_w=sigma_w, sigma_b=sigma_b)[0]


def explicit_jacobian(params, X, activation, *, sigma_w, sigma_b) -> np.ndarray:
    """The full Jacobian ``J[i, p] = d f(x_i) / d theta_p`` (parameters in the
    order W1, b1, ..., W_out, b_out, weights row-major), built from explicit
    outer products; memory ``m x (#parameters)``: for small widths (tests of
    :func:`empirical_kernels`, whose NTK must equal ``J @ J.T``)."""
    act = resolve(activation)
    dphi = activation_function(act, derivative=True)
    pres, posts = forward(params, X, act, sigma_w=sigma_w, sigma_b=sigma_b)
    rows = []
    for i in range(X.shape[0]):
        blocks = []
        width = posts[-1].shape[1]
        delta = np.ones(1)
        # readout first, then backpropagate: grads are collected from the top down
        grads = [(np.outer(delta, (sigma_w / math.sqrt(width)) * posts[-1][i]),
                  sigma_b * delta)]
        W_next = params[-1][0]
        fan_next = width
        for layer in range(len(pres) - 1, -1, -1):
            delta = ((sigma_w / math.sqrt(fan_next)) * (W_next.T @ delta)) * dphi(pres[layer][i])
            fan_in = posts[layer].shape[1]
            grads.append((np.outer(delta, (sigma_w / math.sqrt(fan_in)) * posts[layer][i]),
                          sigma_b * delta))
            W_next, fan_next = params[layer][0], fan_in
        for gW, gb in reversed(grads):
            blocks += [gW.ravel(), gb.ravel()]
        rows.append(np.concatenate(blocks))
    return np.array(rows)


# ---------------------------------------------------------------------------
# per-layer covariances of two inputs
# ---------------------------------------------------------------------------

def two_inputs_with_correlation(rng: np.random.Generator, rho: float, input_dim: int, *,
                                sigma_w: float = 1.0) -> np.ndarray:
    r"""Two random inputs as the columns of a ``(input_dim, 2)`` array, with
    :math:`|x|^2/d = |x'|^2/d = 1/\sigma_w^2` and cosine exactly ``rho``, so that the
    layer-1 kernel :math:`\sigma_w^2\langle x, x'\rangle/d` has :math:`q = 1` and
    correlation ``rho``. Built by Gram–Schmidt from two standard-normal vectors (two
    draws of ``input_dim`` from ``rng``)."""
    check_rng(rng)
    input_dim = check_int("input_dim", input_dim, 2)
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not -1 <= rho <= 1:
        raise ValueError(f"rho must be a real number in [-1, 1], got {rho!r}")
    check_real("sigma_w", sigma_w, positive=True)
    z = rng.standard_normal((2, input_dim))
    e1 = z[0] / np.linalg.norm(z[0])
    e2 = z[1] - (z[1] @ e1) * e1
    e2 /= np.linalg.norm(e2)
    x1, x2 = e1, rho * e1 + math.sqrt(1 - rho**2) * e2
    return np.stack([x1, x2], axis=1) * math.sqrt(input_dim) / sigma_w


def finite_network_covariances(sigma_ws, *, width, depth, seeds, rho_in, input_dim, seed=0,
                               sigma_b=0.0) -> dict:
    r"""Empirical per-layer covariances of the pre-activations of explicit random networks.

    For each activation ``name`` with weight scale ``sigma_ws[name]``:
    :math:`h^1 = W^1 x/\sqrt d`, :math:`h^{l+1} = \sigma_w W^{l+1}\sigma(h^l)/\sqrt N
    + \sigma_b b^{l+1}` with i.i.d. standard normal weights (float64) of width :math:`N`,
    for the two inputs of :func:`two_inputs_with_correlation` (``rho_in``, ``input_dim``;
    layer 1 has :math:`q = 1` and correlation ``rho_in`` in expectation). Returns
    name -> array of shape ``(seeds, depth, 3)`` holding
    :math:`V_l = (|h^l(x)|^2, |h^l(x')|^2, \langle h^l(x), h^l(x')\rangle)/N`
    (``numerics.kernels.PAIR_ENTRIES`` order).

    All activations of one seed share the same weight matrices and inputs (common random
    numbers: drawing the :math:`N\times N` Gaussian matrices is the cost, the products with
    the few hidden-state columns are cheap); each activation's networks are exactly those it
    would get alone with the same ``seed``, only their results are correlated. Seeds are
    spawned from ``numpy.random.SeedSequence(seed)``."""
    sigma_ws = dict(sigma_ws)
    if not sigma_ws:
        raise ValueError("sigma_ws must map at least one activation name to sigma_w")
    for name, sw in sigma_ws.items():
        if isinstance(sw, bool) or not (isinstance(sw, numbers.Real) and math.isfinite(sw)
                                        and sw > 0):
            raise ValueError(f"sigma_ws[{name!r}] must be a finite number > 0, got {sw!r}")
    width = check_int("width", width, 1)
    depth = check_int("depth", depth, 1)
    seeds = check_int("seeds", seeds, 1)
    check_real("sigma_b", sigma_b, nonnegative=True)
    if isinstance(rho_in, bool) or not isinstance(rho_in, numbers.Real) or not -1 <= rho_in <= 1:
        raise ValueError(f"rho_in must be a real number in [-1, 1], got {rho_in!r}")
    input_dim = check_int("input_dim", input_dim, 2)
    names = list(sigma_ws)
    acts = [activation_function(name) for name in names]
    scales = np.array([sigma_ws[name] for name in names])
    children = np.random.SeedSequence(seed).spawn(seeds)
    out = {name: np.empty((seeds, depth, 3)) for name in names}
    for k, child in enumerate(children):
        rng = np.random.default_rng(child)
        # inputs scaled to |x|^2/d = 1 give h^1 = W^1 x0/sqrt(d) (q = 1) for every sigma_w
        X0 = two_inputs_with_correlation(rng, rho_in, input_dim)
        h1 = (rng.standard_normal((width, X0.shape[0])) @ X0) / math.sqrt(X0.shape[0])
        H = [h1.copy() for _ in names]
        for layer in range(depth):
            for name, h in zip(names, H, strict=True):
                out[name][k, layer] = (h[:, 0] @ h[:, 0] / width, h[:, 1] @ h[:, 1] / width,
                                       h[:, 0] @ h[:, 1] / width)
            if layer + 1 == depth:
                break
            W = rng.standard_normal((width, width))
            post = np.concatenate([s(h) for s, h in zip(acts, H, strict=True)], axis=1)
            pre = (W @ post) / math.sqrt(width)
            bias = sigma_b * rng.standard_normal((width, 1)) if sigma_b else 0.0
            H = [scales[i] * pre[:, 2 * i: 2 * i + 2] + bias for i in range(len(names))]
    return out


def q_rho(covariances) -> np.ndarray:
    r""":math:`(q, \rho) = ((V_{11} + V_{22})/2,\ V_{12}/\sqrt{V_{11}V_{22}})` of pair
    covariances :math:`(V_{11}, V_{22}, V_{12})` in the last axis; shape
    ``covariances.shape[:-1] + (2,)``."""
    V = np.asarray(covariances, dtype=float)
    if V.ndim < 1 or V.shape[-1] != 3:
        raise ValueError(f"covariances must have last axis of length 3 (q11, q22, q12), "
                         f"got shape {V.shape}")
    a, b, c = V[..., 0], V[..., 1], V[..., 2]
    return np.stack([(a + b) / 2, c / np.sqrt(a * b)], axis=-1)


def finite_network_statistics(activation, sigma_w, *, width, depth, seeds, rho_in, input_dim,
                              seed=0, sigma_b=0.0) -> np.ndarray:
    r"""Empirical per-layer :math:`(q_l, \rho_l)` of explicit random networks
    (:func:`finite_network_covariances` for one activation, then :func:`q_rho`):
    :math:`q_l = (|h^l(x)|^2 + |h^l(x')|^2)/(2N)`,
    :math:`\rho_l = \langle h^l(x), h^l(x')\rangle/(|h^l(x)||h^l(x')|)`.
    Returns an array of shape ``(seeds, depth, 2)``."""
    cov = finite_network_covariances({activation: sigma_w}, width=width, depth=depth,
                                     seeds=seeds, seed=seed, sigma_b=sigma_b, rho_in=rho_in,
                                     input_dim=input_dim)
    return q_rho(cov[activation])


# ---------------------------------------------------------------------------
# Monte Carlo dual kernel
# ---------------------------------------------------------------------------

def monte_carlo_dual(f: Callable, q11: float, q12: float, q22: float, samples: int,
                     rng: np.random.Generator, *, chunk: int = MONTE_CARLO_CHUNK
                     ) -> tuple[float, float]:
    r"""Monte Carlo mean and standard error of :math:`\mathbb E[f(u)f(v)]` over ``samples``
    draws of :math:`u = \sqrt{q_{11}} z_1`,
    :math:`v = \sqrt{q_{22}}(\rho z_1 + \sqrt{1-\rho^2} z_2)`,
    :math:`\rho = q_{12}/\sqrt{q_{11}q_{22}}`, i.e. :math:`(u,v)\sim\mathcal N(0, V)`.

    ``f`` is a vectorized callable (e.g. :func:`numerics.compile.activation_function`) or
    an activation name / registry entry. Draws are made ``chunk`` at a time; chunk means and
    variances are merged by :class:`numerics.stats.RunningMoments` (Chan, Golub &
    LeVeque), so the variance is not lost to cancellation. SE = sample std /
    :math:`\sqrt N`. ValueError if a draw is not finite.
    """
    if isinstance(f, str) or not callable(f):
        f = activation_function(resolve(f))
    samples = check_int("samples", samples, 2)
    chunk = check_int("chunk", chunk, 1)
    check_rng(rng)
    check_real("q11", q11, positive=True)
    check_real("q22", q22, positive=True)
    if isinstance(q12, bool) or not isinstance(q12, numbers.Real) or not math.isfinite(q12):
        raise ValueError(f"q12 must be a finite real number, got {q12!r}")
    s1, s2 = math.sqrt(q11), math.sqrt(q22)
    rho = q12 / (s1 * s2)
    if abs(rho) > 1 + 1e-12:
        raise ValueError(f"(q11, q12, q22) = {(q11, q12, q22)} is not a covariance: need "
                         f"|q12| <= sqrt(q11 q22), got |rho| = {abs(rho):.6g}")
    c = math.sqrt(max(0.0, (1 - rho) * (1 + rho)))  # rounding may put |rho| a hair above 1
    moments = RunningMoments()
    remaining = samples
    while remaining:
        n = min(remaining, chunk)
        z = rng.standard_normal((2, n))
        prod = f(s1 * z[0]) * f(s2 * (rho * z[0] + c * z[1]))
        if not np.all(np.isfinite(prod)):
            raise ValueError(f"Monte Carlo draws of f(u) f(v) are not finite at (q11, q12, q22) "
                             f"= {(q11, q12, q22)}")
        moments.add(prod)
        remaining -= n
    return moments.mean, moments.standard_error
