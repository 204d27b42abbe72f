r"""Finite fully connected networks trained on any precision backend.

One network description (:class:`Network`), one training loop
(:func:`train`: full-batch GD, mini-batch SGD, noisy GD / Langevin, weight
decay, label noise; :class:`GDStepper` for hand-written loops and benchmarks)
written against :class:`numerics.precision.Backend`, so
the same network and data can be trained in float32, float64, mpmath at
``dps`` digits and Arb at ``bits`` and compared step by step; plus
:func:`gradient_flow` (``scipy.integrate.solve_ivp`` on the flattened float64
parameters).

Model (depth ``L = hidden_layers``, widths :math:`n_0 = d, n_1..n_L`, ``k`` outputs)
-------------------------------------------------------------------------------------

.. math::
    Z^l = s_l\, A^{l-1} W_l^\top + \beta\, \mathbf 1 b_l^\top,\quad A^l = \sigma(Z^l),
    \quad A^0 = X \in \mathbb R^{n\times d},\qquad
    F = s_{\rm out}\, A^L a^\top + \beta\,\mathbf 1 c^\top,

with multipliers by parameterization (``sigma_w`` :math:`=\sigma_w`,
``sigma_b`` :math:`=\beta`):

* ``"ntk"`` (Jacot et al. 2018; neural-tangents' convention): entries of
  :math:`W_l, b_l, a, c` are :math:`N(0,1)`, :math:`s_l = \sigma_w/\sqrt{n_{l-1}}`,
  :math:`s_{\rm out} = \sigma_w/\sqrt{n_L}`.
* ``"mean_field"``: as ``"ntk"`` but :math:`s_{\rm out} = \sigma_w/n_L`
  (two layers: :math:`f(x) = \frac1m\sum_i a_i\sigma(\langle w_i, x\rangle\sigma_w/\sqrt d)`).
* ``"standard"``: all multipliers 1 (:math:`\beta = 1`), initialization
  :math:`W_l \sim N(0, \sigma_w^2/n_{l-1})`, :math:`b_l \sim N(0, \sigma_b^2)`,
  :math:`a \sim N(0, \mathrm{readout\_std}^2)` (default :math:`\sigma_w^2/n_L`).
  He initialization (paper 003) is ``sigma_w=sqrt(2), sigma_b=0, bias=True``.

``unit_norm_rows=True`` (the single-index model of paper 000) keeps the rows
of :math:`W_1` on the unit sphere with :math:`s_1 = 1`, so
:math:`f(x) = s_{\rm out}\sum_i a_i\sigma(\langle u_i, x\rangle)`: gradients
(and Langevin noise) of :math:`W_1` are projected on the tangent space
:math:`g_i - \langle g_i,u_i\rangle u_i` and the rows renormalized after each step.

Loss and gradients (analytic backpropagation, no autodiff)
----------------------------------------------------------

.. math:: \mathcal L = \frac1{2n}\|F - Y\|_F^2,\quad R = (F - Y)/n,\quad
    \nabla_a = s_{\rm out} R^\top A^L,\quad \nabla_c = \beta\,\mathbf 1^\top R,

.. math:: G^L = s_{\rm out} R a,\quad \Delta^l = G^l\odot\sigma'(Z^l),\quad
    \nabla_{W_l} = s_l \Delta^{l\top} A^{l-1},\quad \nabla_{b_l} = \beta\,\Delta^{l\top}\mathbf 1,
    \quad G^{l-1} = s_l \Delta^l W_l.

With one output the last layer's :math:`\Delta^L = s_{\rm out}\,\mathrm{diag}(R)\,\sigma'(Z^L)
\,\mathrm{diag}(a)` is used in factored form (no :math:`n\times n_L` elementwise product).

Updates (``lr`` :math:`=\eta`, per-group multipliers :math:`\mu_g`, ``weight_decay``
:math:`=\lambda`, ``temperature`` :math:`=T`, :math:`\xi\sim N(0, I)`):

.. math:: \theta_g \leftarrow \theta_g - \eta\mu_g(\nabla_g\mathcal L_B + \lambda\theta_g)
          + \sqrt{2\eta\mu_g T}\,\xi_g,

:math:`\mathcal L_B` the loss on the mini-batch :math:`B` (``method="sgd"``:
``batch_size`` indices drawn without replacement each step; ``"gd"`` and
``"langevin"``: all data).  ``label_noise`` :math:`=\delta` adds fresh
:math:`N(0,\delta^2)` noise to the batch labels at every step (label-noise SGD).
All random numbers (batches, noise) come from child streams of
``numpy.random.SeedSequence(seed)``, drawn in float64 and converted exactly,
so every backend sees the same batches and the same noise.

Divergence
----------
If the loss (the full-data loss, or for SGD / label noise also the mini-batch
loss of every step) becomes non-finite or exceeds ``loss_threshold``, training stops:
with ``on_divergence="raise"`` (default) a :class:`TrainingDiverged` is raised
(an ``ArithmeticError`` carrying ``.step``, ``.loss`` and the partial
``.trajectory``); with ``"stop"`` the trajectory is returned with
``diverged_at`` set.  Floating-point overflow warnings are suppressed
(``numpy.errstate``) so a divergence is one clear message.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
import threadpoolctl

from numerics.precision import Backend, float32_normal, get_backend
from numerics.validate import check_int
from theory.activations import Activation, resolve

__all__ = [
    "PARAMETERIZATIONS",
    "METHODS",
    "GDStepper",
    "EnsembleTrajectory",
    "Network",
    "Trajectory",
    "TrainingDiverged",
    "compress_linear_data",
    "deep_net",
    "forward",
    "flatten_params",
    "global_norm",
    "group_lasso",
    "group_soft_threshold",
    "gradient_flow",
    "inverse_sharpness_lr",
    "loss_and_gradient",
    "loss_hessian",
    "per_side_affine_fit",
    "top_hessian_eigenvalue",
    "two_layer_hessian_operator",
    "unflatten_params",
    "train",
    "train_ensemble",
    "two_layer_net",
]

PARAMETERIZATIONS = ("ntk", "mean_field", "standard")
METHODS = ("gd", "sgd", "langevin")


class TrainingDiverged(ArithmeticError):
    """Training stopped because the loss became non-finite or too large.

    Attributes: ``step`` (the step at which the loss was first bad),
    ``loss`` (float), ``trajectory`` (recorded up to that step).
    """

    def __init__(self, message, *, step, loss, trajectory=None):
        super().__init__(message)
        self.step = step
        self.loss = loss
        self.trajectory = trajectory


def _exact(value, name):
    """A SymPy number equal to ``value`` (floats by their exact binary value)."""
    if isinstance(value, sp.Basic):
        if not (value.is_real and value.is_finite):
            raise ValueError(f"{name} must be a finite real number, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    f = float(value)
    if not np.isfinite(f):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return sp.Rational(f)


def _sgd_batch_size(batch_size, n, replace):
    """The mini-batch size of method='sgd': required, >= 1, and <= n unless batches are
    drawn with replacement."""
    if batch_size is None:
        raise ValueError("method='sgd' needs batch_size")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if batch_size > n and not replace:
        raise ValueError(f"batch_size must be in [1, n={n}] without replacement, got "
                         f"{batch_size}")
    return batch_size


@dataclass(frozen=True)
class Network:
    """A fully connected network (see the module docstring for the model).

    Use :func:`two_layer_net` / :func:`deep_net` or construct directly.
    ``hidden_widths`` has one entry per hidden layer (``hidden_layers = L``).
    """

    input_dim: int
    hidden_widths: tuple
    activation: Activation
    parameterization: str = "ntk"
    sigma_w: object = 1.0
    sigma_b: object = 0.0
    bias: bool = False
    output_dim: int = 1
    unit_norm_rows: bool = False
    readout_std: float | None = None

    def __post_init__(self):
        check_int("input_dim", self.input_dim, minimum=1)
        widths = tuple(self.hidden_widths)
        if not widths:
            raise ValueError("hidden_widths must list at least one hidden layer width")
        for w in widths:
            check_int("hidden_widths entries", w, minimum=1)
        object.__setattr__(self, "hidden_widths", tuple(int(w) for w in widths))
        object.__setattr__(self, "activation", resolve(self.activation))
        self.activation.require_derivative()
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, "
                             f"got {self.parameterization!r}")
        check_int("output_dim", self.output_dim, minimum=1)
        if _exact(self.sigma_w, "sigma_w") <= 0:
            raise ValueError(f"sigma_w must be > 0, got {self.sigma_w}")
        if _exact(self.sigma_b, "sigma_b") < 0:
            raise ValueError(f"sigma_b must be >= 0, got {self.sigma_b}")
        if self.readout_std is not None and not (float(self.readout_std) >= 0):
            raise ValueError(f"readout_std must be >= 0, got {self.readout_std}")

    @property
    def hidden_layers(self) -> int:
        return len(self.hidden_widths)

    @property
    def param_names(self) -> tuple:
        L = self.hidden_layers
        names = [f"W{l}" for l in range(1, L + 1)]
        if self.bias:
            names += [f"b{l}" for l in range(1, L + 1)]
        names.append("a")
        if self.bias:
            names.append("c")
        return tuple(names)

    def param_shapes(self) -> dict:
        dims = (self.input_dim, *self.hidden_widths)
        shapes = {}
        for l in range(1, self.hidden_layers + 1):
            shapes[f"W{l}"] = (dims[l], dims[l - 1])
            if self.bias:
                shapes[f"b{l}"] = (dims[l], 1)
        shapes["a"] = (self.output_dim, dims[-1])
        if self.bias:
            shapes["c"] = (self.output_dim, 1)
        return {k: shapes[k] for k in self.param_names}

    @property
    def num_params(self) -> int:
        return sum(r * c for r, c in self.param_shapes().values())

    def multipliers(self) -> dict:
        """Exact forward multipliers ``s1..sL, s_out, beta`` as SymPy numbers."""
        sw, sb = _exact(self.sigma_w, "sigma_w"), _exact(self.sigma_b, "sigma_b")
        dims = (self.input_dim, *self.hidden_widths)
        out = {}
        for l in range(1, self.hidden_layers + 1):
            if self.parameterization == "standard":
                out[f"s{l}"] = sp.Integer(1)
            else:
                out[f"s{l}"] = sw / sp.sqrt(dims[l - 1])
        if self.unit_norm_rows:
            out["s1"] = sp.Integer(1)
        if self.parameterization == "standard":
            out["s_out"], out["beta"] = sp.Integer(1), sp.Integer(1)
        else:
            out["s_out"] = sw / (dims[-1] if self.parameterization == "mean_field"
                                 else sp.sqrt(dims[-1]))
            out["beta"] = sb
        return out

    def init(self, seed) -> dict:
        """Initial parameters (float64 arrays of float32-representable numbers).

        Each parameter group ``g`` is drawn with :func:`float32_normal` from the
        ``i``-th child of ``SeedSequence(seed)`` (order of :attr:`param_names`),
        so adding a group never changes the others.
        """
        children = np.random.SeedSequence(_seed_entropy(seed)).spawn(len(self.param_names))
        sw, sb = float(_exact(self.sigma_w, "sigma_w")), float(_exact(self.sigma_b, "sigma_b"))
        dims = (self.input_dim, *self.hidden_widths)
        params = {}
        for child, (name, shape) in zip(children, self.param_shapes().items(), strict=True):
            std = 1.0
            if self.parameterization == "standard":
                if name.startswith("W"):
                    std = sw / np.sqrt(dims[int(name[1:]) - 1])
                elif name.startswith("b") or name == "c":
                    std = sb
                elif name == "a":
                    std = self.readout_std if self.readout_std is not None else sw / np.sqrt(
                        dims[-1])
            if name == "W1" and self.unit_norm_rows:
                w = np.random.default_rng(child).standard_normal(shape)
                w /= np.linalg.norm(w, axis=1, keepdims=True)
                params[name] = w.astype(np.float32).astype(np.float64)
            else:
                params[name] = float32_normal(child, shape, std)
        return params


def two_layer_net(input_dim, width, activation, **kwargs) -> Network:
    r"""Two-layer net :math:`f(x) = s_{\rm out}\sum_{i\le m} a_i\sigma(s_1\langle w_i,x\rangle)`."""
    return Network(input_dim, (width,), activation, **kwargs)


def deep_net(input_dim, width, hidden_layers, activation, **kwargs) -> Network:
    """``hidden_layers`` hidden layers of equal ``width``."""
    L = check_int("hidden_layers", hidden_layers, minimum=1)
    return Network(input_dim, (width,) * L, activation, **kwargs)


def _seed_entropy(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed.entropy if seed.spawn_key == () else seed.generate_state(4)
    if seed is None:
        raise ValueError("seed must be given explicitly (an int or a SeedSequence)")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or SeedSequence, got {seed!r}")
    return int(seed)


#: SGD batches with replacement are drawn this many steps at a time (the same stream as
#: one draw per step)
BATCH_DRAW_BLOCK = 256


def batch_stream(seed):
    """The generator of a replica's SGD batches in :func:`train_ensemble`: child 0 of
    ``seed`` (an int or SeedSequence)."""
    return np.random.default_rng(np.random.SeedSequence(_seed_entropy(seed)).spawn(3)[0])


def draw_batches(rng, n, steps, batch_size, prob=None):
    """``steps`` batches of ``batch_size`` indices of ``range(n)`` drawn with replacement
    (probabilities ``prob``, None for uniform), sorted within each batch: one block of
    :func:`train_ensemble`'s stream."""
    return np.sort(rng.choice(n, size=(steps, batch_size), replace=True, p=prob), axis=1)


# ---------------------------------------------------------------------------
# validation and conversion
# ---------------------------------------------------------------------------


def _check_data(net, X, y):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != net.input_dim:
        raise ValueError(f"X must have shape (n, {net.input_dim}), got {X.shape}")
    if X.shape[0] < 1:
        raise ValueError("X must contain at least one sample")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite entries")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.shape != (X.shape[0], net.output_dim):
        raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, "
                         f"{net.output_dim}) to match X, got {np.shape(y)}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite entries")
    return X, y


def _to_native(net, B, params):
    if not isinstance(params, dict) or set(params) != set(net.param_names):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys {list(net.param_names)}, got {got}")
    out = {}
    for name, shape in net.param_shapes().items():
        value = params[name]
        if isinstance(value, np.ndarray) and value.dtype != object:
            if value.shape != shape:
                raise ValueError(f"params[{name!r}] must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"params[{name!r}] contains NaN or infinite entries")
        native = B.asarray(value)
        if B.shape(native) != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {B.shape(native)}")
        out[name] = native
    return out


class _Constants:
    """Multipliers of one network as native scalars of one backend."""

    def __init__(self, net, B, n):
        mult = net.multipliers()
        self.s = [B.scalar(mult[f"s{l}"]) for l in range(1, net.hidden_layers + 1)]
        self.s_is_one = [mult[f"s{l}"] == 1 for l in range(1, net.hidden_layers + 1)]
        self.s_out = B.scalar(mult["s_out"])
        self.beta = B.scalar(mult["beta"])
        self.inv_n = B.scalar(sp.Rational(1, n))
        self.half_inv_n = B.scalar(sp.Rational(1, 2 * n))
        self.mult = mult


def _scaled(B, a, c, is_one=False):
    return a if is_one else B.scale(a, c)


def _forward_native(net, B, P, X, K):
    """Pre-activations, activations and derivatives of every layer, and F."""
    A = X
    acts, derivs = [X], []
    n = B.shape(X)[0]
    ones = B.ones(n, 1) if net.bias else None
    for l in range(1, net.hidden_layers + 1):
        Z = _scaled(B, B.matmul(A, B.transpose(P[f"W{l}"])), K.s[l - 1], K.s_is_one[l - 1])
        if net.bias:
            Z = B.add(Z, B.scale(B.matmul(ones, B.transpose(P[f"b{l}"])), K.beta))
        A, dA = B.activation_pair(net.activation, Z)
        acts.append(A)
        derivs.append(dA)
    F = B.scale(B.matmul(A, B.transpose(P["a"])), K.s_out)
    if net.bias:
        F = B.add(F, B.scale(B.matmul(ones, B.transpose(P["c"])), K.beta))
    return acts, derivs, F


def _loss_grad_native(net, B, P, X, Y, K, need_grad=True, weights=None):
    acts, derivs, F = _forward_native(net, B, P, X, K)
    R = B.sub(F, Y)
    if weights is None:
        loss = B.scale(B.sum_squares(R), K.half_inv_n)
    else:  # weights = (p, sqrt p, 1/2) native: loss 1/2 sum_j p_j r_j^2
        loss = B.scale(B.sum_squares(B.scale_rows(R, weights[1])), weights[2])
    if not need_grad:
        return loss, None
    Rn = B.scale(R, K.inv_n) if weights is None else B.scale_rows(R, weights[0])
    L = net.hidden_layers
    grads = {}
    grads["a"] = B.scale(B.matmul(B.transpose(Rn), acts[L]), K.s_out)
    if net.bias:
        grads["c"] = B.scale(B.transpose(B.sum_rows(Rn)), K.beta)
    a = P["a"]
    G = None
    for l in range(L, 0, -1):
        s_l, one_l = K.s[l - 1], K.s_is_one[l - 1]
        dA, A_prev = derivs[l - 1], acts[l - 1]
        if l == L and net.output_dim == 1:
            # Delta = s_out diag(Rn) dA diag(a): never form the n x m_L elementwise product
            a_col = B.transpose(a)
            c = B.scale(B.matmul(B.transpose(dA), B.scale_rows(A_prev, Rn)), K.s_out)
            grads[f"W{l}"] = _scaled(B, B.scale_rows(c, a_col), s_l, one_l)
            if net.bias:
                g_b = B.scale_rows(B.matmul(B.transpose(dA), Rn), a_col)
                grads[f"b{l}"] = B.scale(B.scale(g_b, K.s_out), K.beta)
            if l > 1:
                G_next = B.scale_rows(B.matmul(dA, B.scale_rows(P[f"W{l}"], a_col)), Rn)
                G = _scaled(B, B.scale(G_next, K.s_out), s_l, one_l)
            continue
        if G is None:  # l == L with several outputs
            G = B.scale(B.matmul(Rn, a), K.s_out)
        delta = B.hadamard(G, dA)
        grads[f"W{l}"] = _scaled(B, B.matmul(B.transpose(delta), A_prev), s_l, one_l)
        if net.bias:
            grads[f"b{l}"] = B.scale(B.transpose(B.sum_rows(delta)), K.beta)
        if l > 1:
            G = _scaled(B, B.matmul(delta, P[f"W{l}"]), s_l, one_l)
    return loss, {k: grads[k] for k in net.param_names}


def _backend(backend, dps, bits, mode):
    if isinstance(backend, Backend):
        if dps is not None or bits is not None:
            raise ValueError("pass dps/bits with a backend name, not with a Backend instance")
        return backend
    return get_backend(backend, dps=dps, bits=bits, mode=mode)


def forward(net, params, X, *, backend="float64", dps=None, bits=None):
    """Network outputs ``F`` (``n x k``) as a float64 array."""
    B = _backend(backend, dps, bits, "midpoint-reset")
    X, _ = _check_data(net, X, np.zeros((np.shape(X)[0], net.output_dim)))
    with B.scope(), np.errstate(all="ignore"):
        P = _to_native(net, B, params)
        K = _Constants(net, B, X.shape[0])
        return B.to_numpy(_forward_native(net, B, P, B.asarray(X), K)[2])


def loss_and_gradient(net, params, X, y, *, backend="float64", dps=None, bits=None,
                      sample_weights=None):
    r"""Loss :math:`\frac1{2n}\|F-Y\|^2` and its gradient on one backend (with
    ``sample_weights`` :math:`p`: :math:`\frac12\sum_j p_j\|F_j-Y_j\|^2`).

    Returns ``(loss, grads)`` as native backend objects (use
    ``backend.to_numpy`` / ``to_mpmath``); ``params`` may be float64 arrays or
    native arrays.
    """
    B = _backend(backend, dps, bits, "midpoint-reset")
    X, Y = _check_data(net, X, y)
    with B.scope(), np.errstate(all="ignore"):
        P = _to_native(net, B, params)
        K = _Constants(net, B, X.shape[0])
        W = _native_weights(B, _check_weights(sample_weights, X.shape[0]))
        return _loss_grad_native(net, B, P, B.asarray(X), B.asarray(Y), K, weights=W)


class GDStepper:
    r"""Full-batch GD on native backend state, one :meth:`step` at a time.

    The data and parameters are converted once; :meth:`step` does
    :math:`\theta \leftarrow \theta - \eta\nabla\mathcal L(\theta)` (then resets Arb
    midpoints in ``midpoint-reset`` mode) and returns the loss before the step.
    For benchmarks and custom loops; :func:`train` has the full feature set.
    """

    def __init__(self, net, params, X, y, *, lr, backend="float64", dps=None, bits=None,
                 mode="midpoint-reset"):
        self.net = net
        self.backend = B = _backend(backend, dps, bits, mode)
        X, Y = _check_data(net, X, y)
        if not (isinstance(lr, numbers.Real) and np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr (step size) must be a finite number > 0, got {lr!r}")
        with B.scope():
            self.params = _to_native(net, B, params)
            self.X, self.Y = B.asarray(X), B.asarray(Y)
            self._K = _Constants(net, B, X.shape[0])
            self._eta = B.scalar(_exact(lr, "lr"))

    def step(self):
        B = self.backend
        with B.scope(), np.errstate(all="ignore"):
            loss, grads = _loss_grad_native(self.net, B, self.params, self.X, self.Y, self._K)
            self.params = {k: B.reset_midpoints(B.sub(v, B.scale(grads[k], self._eta)))
                           for k, v in self.params.items()}
        return loss


# ---------------------------------------------------------------------------
# trajectories
# ---------------------------------------------------------------------------


@dataclass
class Trajectory:
    """What a run recorded.

    ``steps`` (update count, or time for :func:`gradient_flow`), ``loss``
    (float64 data loss on all samples), ``params`` (native parameter dicts of
    ``backend``; empty if not recorded), ``radius`` (largest Arb radius of the
    parameters before any midpoint reset; 0 elsewhere), ``extra`` (callback
    values), ``diverged_at`` (step or ``None``).
    """

    backend: Backend
    network: Network
    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    params: list = field(default_factory=list)
    radius: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    diverged_at: int | None = None
    loss_native: list = field(default_factory=list)

    def __post_init__(self):
        self.loss = list(self.loss)

    @property
    def final_params(self) -> dict:
        return self.params[-1]

    def param_array(self, name) -> np.ndarray:
        """``(records, rows, cols)`` float64 array of one parameter group."""
        return np.stack([self.backend.to_numpy(p[name]) for p in self.params])

    def flat(self, i) -> np.ndarray:
        """Record ``i`` as one float64 vector (groups in ``param_names`` order)."""
        return np.concatenate([self.backend.to_numpy(self.params[i][k]).ravel()
                               for k in self.network.param_names])

    def flat_mpmath(self, i) -> np.ndarray:
        """Record ``i`` as one object vector of exact ``mpf`` values (midpoints for Arb)."""
        return np.concatenate([self.backend.to_mpmath(self.params[i][k]).ravel()
                               for k in self.network.param_names])

    def flat_radius(self, i) -> np.ndarray:
        """Arb radii of record ``i`` (zeros for point backends)."""
        B = self.backend
        if not hasattr(B, "radii"):
            return np.zeros(self.network.num_params)
        return np.concatenate([B.radii(self.params[i][k]).ravel()
                               for k in self.network.param_names])

    def numpy(self) -> np.ndarray:
        """All records as a ``(records, num_params)`` float64 array."""
        return np.stack([self.flat(i) for i in range(len(self.params))])


def _record_set(record, steps):
    if record is None:
        every = max(1, steps // 1000)
        chosen = set(range(0, steps + 1, every))
    elif isinstance(record, numbers.Integral) and not isinstance(record, bool):
        every = check_int("record", record, minimum=1)
        chosen = set(range(0, steps + 1, every))
    else:
        try:
            chosen = {int(s) for s in record}
        except (TypeError, ValueError):
            raise ValueError("record must be None, a positive int (every k steps) or an "
                             f"iterable of step numbers, got {record!r}") from None
        bad = [s for s in chosen if s < 0 or s > steps]
        if bad:
            raise ValueError(f"record steps must lie in [0, {steps}], got {sorted(bad)[:5]}")
    chosen.add(steps)
    return chosen


def _check_nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _group_rates(net, lr, frozen, lr_multipliers):
    frozen = set(frozen or ())
    unknown = frozen - set(net.param_names)
    if unknown:
        raise ValueError(f"frozen names {sorted(unknown)} are not parameters; valid: "
                         f"{list(net.param_names)}")
    mults = dict(lr_multipliers or {})
    unknown = set(mults) - set(net.param_names)
    if unknown:
        raise ValueError(f"lr_multipliers names {sorted(unknown)} are not parameters; valid: "
                         f"{list(net.param_names)}")
    rates = {}
    for name in net.param_names:
        if name in frozen:
            continue
        mu = _exact(mults.get(name, 1), f"lr_multipliers[{name!r}]")
        if mu < 0:
            raise ValueError(f"lr_multipliers[{name!r}] must be >= 0, got {mults[name]}")
        if mu != 0:
            rates[name] = _exact(lr, "lr") * mu
    return rates


def train(net, params, X, y, *, lr, steps, backend="float64", dps=None, bits=None,
          mode="midpoint-reset", method="gd", batch_size=None, seed=0, weight_decay=0.0,
          temperature=0.0, label_noise=0.0, frozen=(), lr_multipliers=None, record=None,
          record_params=True, callback: Callable | None = None, progress=None,
          on_divergence="raise", loss_threshold=1e30, clip_norm=None, replace=False,
          sample_weights=None) -> Trajectory:
    r"""Train ``net`` from ``params`` on ``(X, y)`` for ``steps`` updates.

    Parameters
    ----------
    lr : step size :math:`\eta > 0` (its exact binary value is used on every
        backend; float32 rounds it).
    backend, dps, bits, mode : see :func:`numerics.precision.get_backend`.
    method : ``"gd"`` (full batch), ``"sgd"`` (``batch_size`` required) or
        ``"langevin"`` (full batch, ``temperature > 0`` required); noise is
        added whenever ``temperature > 0``.
    seed : int or SeedSequence for batches and noise (explicit).
    weight_decay, temperature, label_noise : :math:`\lambda, T, \delta \ge 0`.
    frozen : parameter groups not trained (e.g. ``("a",)`` for a fixed
        second layer); ``lr_multipliers`` : per-group factors :math:`\mu_g`
        (e.g. ``{"a": 1/eps}`` for a fast second layer).
    record : ``None`` (every step, at most about 1000 records), an int ``k``
        (every ``k`` steps) or an iterable of steps; step 0 is the initial
        point and the last step is always recorded.
    callback : ``callback(step, params, backend)`` called at record steps;
        its return values go to ``Trajectory.extra``.
    progress : show a tqdm bar (``None``: only for runs of >= 1000 steps on
        a terminal).
    on_divergence : ``"raise"`` (:class:`TrainingDiverged`) or ``"stop"``.
    clip_norm : if given, every step's loss gradient :math:`g` (all trained groups
        together, before weight decay, as ``torch.nn.utils.clip_grad_norm_``) is
        rescaled to :math:`g\min(1, c/\|g\|)`; the factor is computed in float64.
    replace : ``method="sgd"`` draws each batch with replacement (``batch_size``
        may then exceed n).
    sample_weights : per-sample weights :math:`p_j \ge 0`; the loss becomes
        :math:`\frac12\sum_j p_j\|F_j - Y_j\|^2` (``None``: :math:`p_j = 1/n`).
        With ``method="sgd"`` (needs ``replace=True``) a batch draws indices with
        probabilities :math:`p_j/\sum p` and its loss is
        :math:`\frac{\sum p}{2b}\sum_{i\in B}\|F_i - Y_i\|^2`, unbiased for the
        weighted loss.

    Returns a :class:`Trajectory`.
    """
    B = _backend(backend, dps, bits, mode)
    X, Y = _check_data(net, X, y)
    n = X.shape[0]
    lr_f = float(lr) if isinstance(lr, (numbers.Real, sp.Basic)) and not isinstance(
        lr, bool) else None
    if lr_f is None or not np.isfinite(lr_f) or lr_f <= 0:
        raise ValueError(f"lr (step size) must be a finite number > 0, got {lr!r}")
    steps = check_int("steps", steps, minimum=0)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    weight_decay = _check_nonneg(weight_decay, "weight_decay")
    temperature = _check_nonneg(temperature, "temperature")
    label_noise = _check_nonneg(label_noise, "label_noise")
    if method == "sgd":
        batch_size = _sgd_batch_size(batch_size, n, replace)
    elif batch_size is not None and batch_size != n:
        raise ValueError(f"batch_size applies to method='sgd' only (got {batch_size} with "
                         f"method={method!r})")
    if method == "langevin" and temperature <= 0:
        raise ValueError("method='langevin' needs temperature > 0")
    if on_divergence not in ("raise", "stop"):
        raise ValueError(f"on_divergence must be 'raise' or 'stop', got {on_divergence!r}")
    if not (float(loss_threshold) > 0):
        raise ValueError(f"loss_threshold must be > 0, got {loss_threshold!r}")
    weights = _check_weights(sample_weights, n)
    if weights is not None and method == "sgd" and not replace:
        raise ValueError("sample_weights with method='sgd' needs replace=True (batches are "
                         "drawn with probabilities proportional to the weights)")
    if clip_norm is not None:
        _check_nonneg(clip_norm, "clip_norm")
        if not clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {clip_norm!r}")
    rates = _group_rates(net, lr, frozen, lr_multipliers)
    records = _record_set(record, steps)
    batch_rng, noise_rng, label_rng = (
        np.random.default_rng(s)
        for s in np.random.SeedSequence(_seed_entropy(seed)).spawn(3))
    traj = Trajectory(backend=B, network=net)

    with B.scope(), np.errstate(all="ignore"):
        P = _to_native(net, B, params)
        K = _Constants(net, B, n)
        Kb = _Constants(net, B, batch_size) if method == "sgd" else K
        W = _native_weights(B, weights)
        Wb = (_native_weights(B, np.full(batch_size, weights.sum() / batch_size))
              if weights is not None and method == "sgd" else None)
        Xn, Yn = B.asarray(X), B.asarray(Y)
        eta = {g: B.scalar(r) for g, r in rates.items()}
        lam = B.scalar(_exact(weight_decay, "weight_decay")) if weight_decay else None
        noise_scale = {g: B.scalar(sp.sqrt(2 * r * _exact(temperature, "temperature")))
                       for g, r in rates.items()} if temperature else {}
        shapes = net.param_shapes()
        pending_radius = 0.0

        def record_now(step, loss):
            traj.steps.append(step)
            traj.loss.append(B.to_float(loss))
            traj.loss_native.append(loss)
            traj.radius.append(pending_radius)
            if record_params:
                traj.params.append({k: B.copy(v) for k, v in P.items()})
            if callback is not None:
                traj.extra.append(callback(step, P, B))

        def check(step, loss):
            value = B.to_float(loss)
            if B.is_finite(loss) and value <= loss_threshold:
                return False
            traj.diverged_at = step
            if step not in traj.steps:
                traj.steps.append(step)
                traj.loss.append(value)
                traj.loss_native.append(loss)
                traj.radius.append(pending_radius)
            if on_divergence == "raise":
                raise TrainingDiverged(
                    f"training diverged at step {step}: loss = {value} (non-finite or above "
                    f"loss_threshold={loss_threshold}) on backend {B.label} with lr={lr}",
                    step=step, loss=value, trajectory=traj)
            return True

        from tqdm.auto import tqdm

        disable = (not progress) if progress is not None else (True if steps < 1000 else None)
        bar = tqdm(total=steps, disable=disable, desc=f"train {B.label}", leave=False)
        try:
            for step in range(steps + 1):
                full = method != "sgd" and not label_noise
                if full or step == steps:
                    loss, grads = _loss_grad_native(net, B, P, Xn, Yn, K,
                                                    need_grad=step < steps, weights=W)
                else:
                    loss = _loss_grad_native(net, B, P, Xn, Yn, K, need_grad=False,
                                             weights=W)[0] if (
                        step in records) else None
                    grads = None
                if loss is not None and check(step, loss):
                    break
                if step in records:
                    record_now(step, loss)
                if step == steps:
                    break
                if grads is None:
                    idx = (np.sort(batch_rng.choice(n, size=batch_size, replace=replace, p=None
                                                    if weights is None else weights
                                                    / weights.sum()))
                           if method == "sgd" else np.arange(n))
                    Yb = Y[idx]
                    if label_noise:
                        Yb = Yb + label_noise * label_rng.standard_normal(Yb.shape)
                    KK = Kb if method == "sgd" else K
                    batch_loss, grads = _loss_grad_native(net, B, P, B.asarray(X[idx]),
                                                          B.asarray(Yb), KK,
                                                          weights=Wb if method == "sgd" else W)
                    if check(step, batch_loss):  # mini-batch loss: catches divergence early
                        break
                if clip_norm is not None:
                    grads = _clipped(B, grads, eta, clip_norm)
                new = {}
                for g, value in P.items():
                    if g not in eta:
                        new[g] = value
                        continue
                    grad = grads[g]
                    if lam is not None:
                        grad = B.add(grad, B.scale(value, lam))
                    tangent = net.unit_norm_rows and g == "W1"
                    if tangent:
                        grad = B.sub(grad, B.scale_rows(value, B.row_dots(grad, value)))
                    upd = B.sub(value, B.scale(grad, eta[g]))
                    if g in noise_scale:
                        xi = B.asarray(noise_rng.standard_normal(shapes[g]))
                        if tangent:
                            xi = B.sub(xi, B.scale_rows(value, B.row_dots(xi, value)))
                        upd = B.add(upd, B.scale(xi, noise_scale[g]))
                    if tangent:
                        upd = B.scale_rows(upd, B.reciprocal(B.row_norms(upd)))
                    new[g] = upd
                if step + 1 in records:
                    pending_radius = max((B.max_radius(v) for v in new.values()), default=0.0)
                P = {g: B.reset_midpoints(v) if g in eta else v for g, v in new.items()}
                bar.update(1)
        finally:
            bar.close()
    return traj


# ---------------------------------------------------------------------------
# gradient flow
# ---------------------------------------------------------------------------


def gradient_flow(net, params, X, y, *, times, weight_decay=0.0, frozen=(),
                  lr_multipliers=None, method="DOP853", rtol=1e-10, atol=1e-12,
                  callback=None) -> Trajectory:
    r"""Gradient flow :math:`\dot\theta_g = -\mu_g(\nabla_g\mathcal L + \lambda\theta_g)`
    in float64 by ``scipy.integrate.solve_ivp`` on the flattened parameters.

    ``times``: increasing non-negative times at which the state is recorded
    (``Trajectory.steps`` holds these times).  GD with step :math:`\eta` after
    :math:`k` steps approximates the flow at :math:`t = k\eta` with error
    :math:`O(\eta)` (explicit Euler).  With ``unit_norm_rows`` the first-layer
    gradient is projected on the tangent space (the flow then preserves
    :math:`|u_i|`).
    """
    from scipy.integrate import solve_ivp

    X, Y = _check_data(net, X, y)
    times = np.asarray(times, dtype=np.float64).ravel()
    if times.size == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(
            np.diff(times) <= 0):
        raise ValueError("times must be a non-empty, strictly increasing array of finite "
                         "times >= 0")
    weight_decay = _check_nonneg(weight_decay, "weight_decay")
    rates = _group_rates(net, 1.0, frozen, lr_multipliers)
    B = get_backend("float64")
    P0 = _to_native(net, B, params)
    shapes = net.param_shapes()
    names = net.param_names
    sizes = [shapes[k][0] * shapes[k][1] for k in names]
    offsets = np.cumsum([0, *sizes])
    K = _Constants(net, B, X.shape[0])
    mu = {g: float(r) for g, r in rates.items()}

    def unflatten(theta):
        return {k: theta[offsets[i]:offsets[i + 1]].reshape(shapes[k])
                for i, k in enumerate(names)}

    def rhs(_t, theta):
        P = unflatten(theta)
        _, grads = _loss_grad_native(net, B, P, X, Y, K)
        out = []
        for k in names:
            if k not in mu:
                out.append(np.zeros(P[k].size))
                continue
            g = grads[k] + weight_decay * P[k]
            if net.unit_norm_rows and k == "W1":
                g = g - P[k] * np.sum(g * P[k], axis=1, keepdims=True)
            out.append(-mu[k] * g.ravel())
        return np.concatenate(out)

    theta0 = np.concatenate([P0[k].ravel() for k in names])
    t_start = 0.0
    with np.errstate(all="ignore"):
        sol = solve_ivp(rhs, (t_start, float(times[-1])), theta0, method=method,
                        t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise ArithmeticError(f"gradient flow integration failed: {sol.message}")
    traj = Trajectory(backend=B, network=net)
    for j, t in enumerate(sol.t):
        P = unflatten(sol.y[:, j].copy())
        loss, _ = _loss_grad_native(net, B, P, X, Y, K, need_grad=False)
        traj.steps.append(float(t))
        traj.loss.append(float(loss))
        traj.loss_native.append(loss)
        traj.radius.append(0.0)
        traj.params.append(P)
        if callback is not None:
            traj.extra.append(callback(float(t), P, B))
    return traj



# ---------------------------------------------------------------------------
# paper 004 / edge of stability: the small tanh net, Chebyshev targets, rewritten GD
# ---------------------------------------------------------------------------


def xavier_tanh_net(width=100, gain=1.9) -> Network:
    r"""The 1 -> ``width`` -> 1 tanh net of the edge-of-stability code (Cohen et al. 2021,
    locuslab/edge-of-stability): standard parameterization, Xavier-normal weights
    :math:`N(0, \mathrm{gain}^2\cdot 2/(\mathrm{fan_{in}}+\mathrm{fan_{out}}))` for both
    layers, hidden bias initialized at 0. The output bias ``c`` exists in
    :class:`Network` (``bias=True`` adds both); it starts at 0 and is meant to be frozen
    (``frozen=("c",)``), as the reference net has none."""
    std = float(gain) * float(np.sqrt(2.0 / (width + 1)))
    return Network(1, (int(width),), "tanh", parameterization="standard", sigma_w=std,
                   sigma_b=0.0, bias=True, readout_std=std)


def chebyshev_data(points=20, degree=3):
    r"""``points`` equispaced inputs in [-1, 1] (a column) and the Chebyshev polynomial
    :math:`T_{\rm degree}` at them."""
    from numpy.polynomial import chebyshev

    X = np.linspace(-1.0, 1.0, check_int("points", points, minimum=2))[:, None]
    return X, chebyshev.chebval(X[:, 0], [0] * check_int("degree", degree, minimum=0) + [1])


class RewrittenGDStepper(GDStepper):
    r"""Full-batch GD written as paper 004 writes its perturbed runs,
    :math:`\theta \leftarrow \theta - (k\eta)(g/k)`: equal to plain GD in exact
    arithmetic, different in the last bit of the working precision (``k\eta`` and
    ``1/k`` are rounded to the backend's precision, then two roundings per entry
    instead of one). ``k = 1`` is plain GD (bit-identical to :class:`GDStepper`).
    ``frozen`` groups are not updated."""

    def __init__(self, net, params, X, y, *, lr, k=1, frozen=(), backend="float64", dps=None,
                 bits=None, mode="midpoint-reset"):
        super().__init__(net, params, X, y, lr=lr, backend=backend, dps=dps, bits=bits,
                         mode=mode)
        self.k = check_int("k", k, minimum=1)
        self.frozen = frozenset(frozen)
        bad = self.frozen - set(net.param_names)
        if bad:
            raise ValueError(f"frozen names {sorted(bad)} are not parameters")
        B = self.backend
        with B.scope():
            self._k_eta = B.scalar(_exact(lr, "lr") * self.k)
            self._inv_k = B.scalar(sp.Rational(1, self.k))

    def step(self):
        loss, grads = self._gradient()
        if self.k == 1:
            return self._apply(loss, grads, self._eta)
        B = self.backend
        with B.scope(), np.errstate(all="ignore"):
            grads = {g: B.scale(v, self._inv_k) for g, v in grads.items()}
        return self._apply(loss, grads, self._k_eta)

    def _gradient(self):
        B = self.backend
        with B.scope(), np.errstate(all="ignore"):
            return _loss_grad_native(self.net, B, self.params, self.X, self.Y, self._K)

    def _apply(self, loss, grads, eta):
        B = self.backend
        with B.scope(), np.errstate(all="ignore"):
            self.params = {g: v if g in self.frozen else B.reset_midpoints(
                B.sub(v, B.scale(grads[g], eta))) for g, v in self.params.items()}
        return loss

    def flat(self) -> np.ndarray:
        """Current parameters as one float64 vector (``param_names`` order)."""
        return np.concatenate([self.backend.to_numpy(self.params[g]).ravel()
                               for g in self.net.param_names])

    def flat_mpmath(self) -> np.ndarray:
        """Current parameters as exact ``mpf`` values (object vector)."""
        return np.concatenate([self.backend.to_mpmath(self.params[g]).ravel()
                               for g in self.net.param_names])


__all__ += ["RewrittenGDStepper", "chebyshev_data", "xavier_tanh_net"]


@dataclass
class Divergence:
    """Two runs of one network compared along the way: ``steps`` where compared,
    ``relative_l2`` :math:`\\|\\theta_1-\\theta_2\\|/\\|\\theta_1\\|` and the paper's
    ``mean_relative_l1`` :math:`2\\,\\mathrm{mean}(|w_1-w_2|/(|w_1|+|w_2|))` over the entries
    with :math:`|w_1| >` ``l1_floor``, ``loss`` of run 1, ``diverged_at`` (first compared
    step with relative L2 >= threshold, or None), ``flat`` (run 1's float64 parameters at
    every step when recorded, else None)."""

    steps: np.ndarray
    relative_l2: np.ndarray
    mean_relative_l1: np.ndarray
    loss: np.ndarray
    diverged_at: int | None
    flat: np.ndarray | None = None


def divergence(net, params, X, y, *, lr, steps, backend="float64", dps=None, bits=None,
               k=3, params2=None, frozen=(), threshold=None, every=1, record_flat=False,
               l1_floor=1e-6) -> Divergence:
    r"""Train ``net`` twice by full-batch GD on one backend: run 1 plain, run 2 with the
    rewriting :math:`\theta - (k\eta)(g/k)` (:class:`RewrittenGDStepper`; ``k = 1``: plain)
    and/or from ``params2`` (e.g. one weight changed in its last bit). Differences are
    computed from exact midpoints (``to_mpmath``) on the mpmath/Arb backends, so they are
    resolved below float64 round-off. Stops at the first compared step where the relative
    L2 difference reaches ``threshold`` (if given)."""
    import mpmath

    one = RewrittenGDStepper(net, params, X, y, lr=lr, k=1, frozen=frozen, backend=backend,
                             dps=dps, bits=bits)
    two = RewrittenGDStepper(net, params if params2 is None else params2, X, y, lr=lr, k=k,
                             frozen=frozen, backend=one.backend)
    exact = one.backend.name in ("mpmath", "arb")
    at, l2, l1, losses, flat, hit = [], [], [], [], [], None
    for t in range(steps + 1):
        if record_flat:
            flat.append(one.flat())
        if t % every == 0 or t == steps:
            if exact:
                with mpmath.workprec(one.backend.bits + 64):
                    a, b = one.flat_mpmath(), two.flat_mpmath()
                    d = a - b
                    rel = float(mpmath.sqrt(mpmath.fsum(v * v for v in d)) /
                                mpmath.sqrt(mpmath.fsum(v * v for v in a)))
                    big = [i for i, v in enumerate(a) if abs(v) > l1_floor]
                    r1 = float(2 * mpmath.fsum(abs(d[i]) / (abs(a[i]) + abs(b[i]))
                                               for i in big) / max(1, len(big)))
            else:
                a, b = one.flat(), two.flat()
                rel = float(np.linalg.norm(a - b) / np.linalg.norm(a))
                big = np.abs(a) > l1_floor
                r1 = float(2 * np.mean(np.abs(a - b)[big] / (np.abs(a) + np.abs(b))[big]))
            at.append(t)
            l2.append(rel)
            l1.append(r1)
            if threshold is not None and hit is None and rel >= threshold:
                hit = t
                break
        if t == steps:
            break
        losses.append(float(one.backend.to_float(one.step())))
        two.step()
    return Divergence(np.array(at), np.array(l2), np.array(l1), np.array(losses), hit,
                      np.array(flat) if record_flat else None)


__all__ += ["Divergence", "divergence"]


# ---------------------------------------------------------------------------
# online SGD (a fresh sample every step), batched over independent runs
# ---------------------------------------------------------------------------

def online_sgd_committee(W0, B, *, lr, steps, rng, lr_v=0.0, v0=None, A=None, noise=0.0,
                         record_every=None, chunk=256):
    r"""Online SGD of soft committee machines :math:`\hat y = \sum_k v_k g(\lambda_k)`,
    :math:`g(z) = \mathrm{erf}(z/\sqrt2)`, on a teacher :math:`y = \sum_n A_n g(\nu_n)
    + \sigma\xi`, for ``S`` independent runs at once (Saad & Solla 1995 conventions:
    :math:`\lambda = Wx/\sqrt N`, :math:`\nu = Bx/\sqrt N`, a fresh
    :math:`x\sim\mathcal N(0, I_N)` per step and run, first layer steps
    :math:`\eta/\sqrt N`, second layer :math:`\eta_v/N`; :math:`\eta_v = 0` keeps ``v``
    fixed).

    ``W0``: (S, K, N) students; ``B``: (M, N) or (S, M, N) teachers; ``rng`` a NumPy
    Generator. Returns ``(steps_recorded, Q, R, v)`` with ``Q``: (n_rec, S, K, K),
    ``R``: (n_rec, S, K, M), ``v``: (n_rec, S, K), recorded every ``record_every`` steps
    (default N, i.e. once per unit of ODE time) and at step 0."""
    W = np.array(W0, dtype=float)
    if W.ndim != 3:
        raise ValueError(f"W0 must have shape (runs, K, N), got {W.shape}")
    S_, K, N = W.shape
    Bt = np.broadcast_to(np.asarray(B, dtype=float), (S_,) + np.shape(B)[-2:])
    if Bt.shape[-1] != N:
        raise ValueError(f"teacher input dimension {Bt.shape[-1]} != student's {N}")
    M = Bt.shape[1]
    A = np.ones(M) if A is None else np.asarray(A, dtype=float)
    v = np.ones((S_, K)) if v0 is None else np.array(np.broadcast_to(v0, (S_, K)), dtype=float)
    _check_nonneg(lr, "lr")
    _check_nonneg(lr_v, "lr_v")
    steps = check_int("steps", steps, minimum=1)
    record_every = N if record_every is None else check_int("record_every", record_every, minimum=1)
    sq = np.sqrt(N)
    rec_steps, Qs, Rs, vs = [], [], [], []

    def record(step):
        rec_steps.append(step)
        Qs.append(np.einsum("skn,sjn->skj", W, W) / N)
        Rs.append(np.einsum("skn,smn->skm", W, Bt) / N)
        vs.append(v.copy())

    record(0)
    from scipy.special import erf

    U = np.concatenate([W, Bt], axis=1)  # student and teacher rows: one matmul per step
    W = U[:, :K]  # a view: the updates below write into U
    root_half, c_prime = 1.0 / np.sqrt(2.0), np.sqrt(2.0 / np.pi)
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        X = rng.standard_normal((n, S_, N))
        xi = rng.standard_normal((n, S_)) if noise else None
        for j in range(n):
            x = X[j]
            fields = np.matmul(U, x[:, :, None])[:, :, 0] / sq
            g = erf(fields * root_half)
            delta = g[:, K:] @ A - np.einsum("sk,sk->s", v, g[:, :K])
            if noise:
                delta = delta + noise * xi[j]
            lam = fields[:, :K]
            coef = (lr / sq * c_prime) * v * np.exp(-0.5 * lam * lam) * delta[:, None]
            W += coef[:, :, None] * x[:, None, :]
            if lr_v:
                v += (lr_v / N) * delta[:, None] * g[:, :K]
            if (done + j + 1) % record_every == 0:
                record(done + j + 1)
        done += n
    if rec_steps[-1] != steps:
        record(steps)
    return np.array(rec_steps), np.array(Qs), np.array(Rs), np.array(vs)


def orthogonal_teacher(M, N, rng):
    r"""Teacher rows with :math:`BB^T/N = I_M` (orthonormal rows scaled by
    :math:`\sqrt N`), drawn by QR of a Gaussian matrix."""
    q, _ = np.linalg.qr(rng.standard_normal((N, M)))
    return np.sqrt(N) * q.T


__all__ += ["online_sgd_committee", "orthogonal_teacher"]


def online_sgd_single_index(a0, U0, u_star, activation, target, *, lr_a, lr_u, steps, rng,
                            batch=1, record_every=1):
    r"""Online (mini-batch) SGD of two-layer networks
    :math:`f(x) = \frac1m\sum_i a_i\,\sigma(\langle u_i, x\rangle)` with unit-norm rows on a
    single-index target :math:`y = \sum_k \varphi_k \mathrm{He}_k(\langle u^*, x\rangle)/
    \sqrt{k!}`, :math:`x\sim\mathcal N(0, I_d)`, for ``S`` independent runs at once.

    Every step draws a fresh batch of ``batch`` inputs per run and takes, with
    :math:`\delta = y - f` averaged over the batch, :math:`a_i \mathrel{+}= \eta_a
    \overline{\delta\,\sigma(\langle u_i,x\rangle)}`, :math:`u_i \mathrel{+}= \eta_u
    a_i\overline{\delta\,\sigma'(\langle u_i,x\rangle)\,x}` and then
    :math:`u_i \leftarrow u_i/|u_i|` (per-layer rates; the gradient of the squared loss
    is :math:`1/m` of these). ``a0``: (S, m); ``U0``: (S, m, d) unit rows; ``u_star``:
    (d,) or (S, d). Returns ``(steps_recorded, a, U)`` with ``a``: (n_rec, S, m) and
    ``U``: (n_rec, S, m, d) recorded every ``record_every`` steps and at step 0."""
    from math import factorial

    from numpy.polynomial.hermite_e import hermeval

    from numerics.compile import activation_function

    act = resolve(activation)
    s, ds = activation_function(act), activation_function(act, derivative=True)
    a = np.array(a0, dtype=float)
    U = np.array(U0, dtype=float)
    if U.ndim != 3 or a.shape != U.shape[:2]:
        raise ValueError(f"need a0 (S, m) and U0 (S, m, d), got {a.shape} and {U.shape}")
    S_, m, d = U.shape
    ustar = np.broadcast_to(np.asarray(u_star, dtype=float), (S_, d))
    coef = np.array([float(v) / np.sqrt(factorial(k)) for k, v in enumerate(target)])
    _check_nonneg(lr_a, "lr_a")
    _check_nonneg(lr_u, "lr_u")
    steps = check_int("steps", steps, minimum=1)
    batch = check_int("batch", batch, minimum=1)
    record_every = check_int("record_every", record_every, minimum=1)
    rec, As, Us = [0], [a.copy()], [U.copy()]
    for step in range(1, steps + 1):
        X = rng.standard_normal((S_, batch, d))
        pre = np.einsum("smd,sbd->sbm", U, X)
        y = hermeval(np.einsum("sd,sbd->sb", ustar, X), coef)
        delta = y - np.einsum("sbm,sm->sb", s(pre), a) / m
        grad_a = np.einsum("sb,sbm->sm", delta, s(pre)) / batch
        weights = delta[:, :, None] * ds(pre) * a[:, None, :]
        U += (lr_u / batch) * np.einsum("sbm,sbd->smd", weights, X)
        U /= np.linalg.norm(U, axis=2, keepdims=True)
        a += lr_a * grad_a
        if step % record_every == 0 or step == steps:
            rec.append(step)
            As.append(a.copy())
            Us.append(U.copy())
    return np.array(rec), np.array(As), np.array(Us)


__all__ += ["online_sgd_single_index"]


# ---------------------------------------------------------------------------
# sample weights, gradient clipping, the loss Hessian and the step 1/lambda_max
# ---------------------------------------------------------------------------


def _check_weights(sample_weights, n):
    """``None`` or a float64 vector of ``n`` finite weights >= 0 with a positive sum."""
    if sample_weights is None:
        return None
    p = np.asarray(sample_weights, dtype=np.float64).ravel()
    if p.shape != (n,):
        raise ValueError(f"sample_weights must hold one weight per sample ({n}), got shape "
                         f"{np.shape(sample_weights)}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not p.sum() > 0:
        raise ValueError("sample_weights must be finite, >= 0 and not all zero")
    return p


def _native_weights(B, p):
    """``(p, sqrt p, 1/2)`` as native columns / scalar: ``p`` exactly, ``sqrt p`` rounded
    to float64 (it only enters the loss value, never the gradient)."""
    if p is None:
        return None
    return B.asarray(p.reshape(-1, 1)), B.asarray(np.sqrt(p).reshape(-1, 1)), B.scalar(
        sp.Rational(1, 2))


def _clipped(B, grads, trained, clip_norm):
    r""":math:`g\,\min(1, c/\|g\|)` with :math:`\|g\|` the global norm over the trained groups."""
    total = float(np.sqrt(sum(B.to_float(B.sum_squares(grads[g])) for g in trained)))
    if not total > clip_norm:  # also leaves a NaN gradient alone: divergence is caught
        return grads
    factor = B.scalar(clip_norm / total)
    return {g: B.scale(v, factor) if g in trained else v for g, v in grads.items()}


def global_norm(grads) -> float:
    r""":math:`\sqrt{\sum_g\|g\|_F^2}` of a dict of float64 arrays (what ``clip_norm``
    bounds)."""
    return float(np.sqrt(sum(float(np.sum(np.asarray(v, dtype=np.float64) ** 2))
                             for v in grads.values())))


def group_lasso(W, lam):
    r"""The group penalty :math:`\lambda\sum_j\|W_{:,j}\|_2` on the columns of ``W``
    (first-layer weights ``(width, input_dim)``: one group per input, so a zero column
    removes that input) and its gradient :math:`\lambda W_{:,j}/\|W_{:,j}\|`, with the
    minimum-norm subgradient 0 where a column is 0. Returns ``(value, gradient)``;
    ``W`` may be stacked ``(R, width, input_dim)`` (one value per replica)."""
    lam = _check_nonneg(lam, "lam")
    W = np.asarray(W, dtype=np.float64)
    if W.ndim not in (2, 3):
        raise ValueError(f"W must have shape (width, input_dim) or (R, width, input_dim), "
                         f"got {W.shape}")
    norms = np.linalg.norm(W, axis=-2, keepdims=True)
    grad = lam * W / np.where(norms > 0, norms, 1.0)
    return lam * norms.sum(axis=(-2, -1)), grad


def group_soft_threshold(W, t):
    r"""Proximal map of :math:`t\sum_j\|W_{:,j}\|_2`: each column scaled by
    :math:`\max(0, 1 - t/\|W_{:,j}\|)`, so columns of norm :math:`\le t` become exactly 0.
    ``t``: a number or one per replica of a stacked ``(R, width, input_dim)`` ``W``."""
    W = np.asarray(W, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"t must be finite and >= 0, got {t}")
    t = t.reshape(t.shape + (1,) * (W.ndim - t.ndim))  # one per replica -> broadcast
    norms = np.linalg.norm(W, axis=-2, keepdims=True)
    return W * np.maximum(0.0, 1.0 - t / np.where(norms > 0, norms, 1.0))


def flatten_params(net, params) -> np.ndarray:
    """One float64 vector of the groups in :attr:`Network.param_names` order."""
    return np.concatenate([np.asarray(params[k], dtype=np.float64).ravel()
                           for k in net.param_names])


def unflatten_params(net, theta) -> dict:
    """Inverse of :func:`flatten_params`."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (net.num_params,):
        raise ValueError(f"theta must have shape ({net.num_params},), got {theta.shape}")
    out, i = {}, 0
    for name, (r, c) in net.param_shapes().items():
        out[name] = theta[i:i + r * c].reshape(r, c).copy()
        i += r * c
    return out


def loss_hessian(net, params, X, y, *, sample_weights=None, step=1e-5) -> np.ndarray:
    r"""Dense Hessian :math:`\nabla^2\mathcal L` (float64, ``num_params`` square, groups in
    ``param_names`` order) by central differences of the analytic gradient,
    :math:`H_{:,i} = (\nabla\mathcal L(\theta + h_i e_i) - \nabla\mathcal L(\theta - h_i e_i))/2h_i`
    with :math:`h_i = \mathrm{step}\,\max(1, |\theta_i|)`, symmetrized. Error
    :math:`O(h^2|\nabla^3\mathcal L|) + O(10^{-16}/h)`, about 1e-10 relative at the default
    step for smooth activations; for ReLU exact unless a perturbation moves a
    pre-activation across 0 (one within :math:`h|x|` of a kink). ``2 num_params``
    gradient evaluations: meant for nets of up to a few thousand parameters."""
    X, Y = _check_data(net, X, y)
    p = _check_weights(sample_weights, X.shape[0])
    if not (isinstance(step, numbers.Real) and 0 < step < 1):
        raise ValueError(f"step must be in (0, 1), got {step!r}")
    B = get_backend("float64")
    theta = flatten_params(net, _to_native(net, B, params))
    h = step * np.maximum(1.0, np.abs(theta))
    H = np.empty((theta.size, theta.size))
    with np.errstate(all="ignore"), threadpoolctl.threadpool_limits(1):
        if net.output_dim == 1 and not net.unit_norm_rows:  # all columns at once
            mult = net.multipliers()
            K = ([float(mult[f"s{l}"]) for l in range(1, net.hidden_layers + 1)],
                 float(mult["s_out"]), float(mult["beta"]))
            w = (np.full(X.shape[0], 1.0 / X.shape[0]) if p is None else p)[None, :, None]
            chunk = max(1, 2**22 // max(1, X.shape[0] * max(net.hidden_widths)))
            for start in range(0, theta.size, chunk):
                cols = np.arange(start, min(theta.size, start + chunk))
                T = np.repeat(theta[None, :], 2 * cols.size, axis=0)
                T[np.arange(cols.size), cols] += h[cols]
                T[cols.size + np.arange(cols.size), cols] -= h[cols]
                P = {}
                i = 0
                for name, (r, c) in net.param_shapes().items():
                    P[name] = T[:, i:i + r * c].reshape(-1, r, c)
                    i += r * c
                R = T.shape[0]
                grads = _ensemble_loss_grad(net, K, P, np.broadcast_to(X, (R, *X.shape)),
                                            np.broadcast_to(Y, (R, *Y.shape)), w)[1]
                G = np.concatenate([grads[k].reshape(R, -1) for k in net.param_names], axis=1)
                H[:, cols] = ((G[:cols.size] - G[cols.size:]) / (2 * h[cols, None])).T
            return (H + H.T) / 2
        K = _Constants(net, B, X.shape[0])
        W = _native_weights(B, p)
        for i in range(theta.size):
            cols = []
            for sign in (1.0, -1.0):
                t = theta.copy()
                t[i] += sign * h[i]
                grads = _loss_grad_native(net, B, unflatten_params(net, t), X, Y, K,
                                          weights=W)[1]
                cols.append(flatten_params(net, grads))
            H[:, i] = (cols[0] - cols[1]) / (2 * h[i])
    return (H + H.T) / 2


def two_layer_hessian_operator(net, params, X, y, *, sample_weights=None) -> Callable:
    r"""Exact loss-Hessian-vector product :math:`v\mapsto\nabla^2\mathcal L\,v` (flat
    vectors in ``param_names`` order) for a one-hidden-layer, one-output net with a
    piecewise-linear activation (family ``ab_relu``: :math:`\sigma'' = 0` off the kinks).

    With :math:`f_j = s_{out}\sum_i a_i\sigma(z_{ij}) + \beta c`,
    :math:`z_{ij} = s_1\langle W_i, x_j\rangle + \beta b_i`, residuals :math:`r_j` and
    weights :math:`p_j`: :math:`\nabla^2\mathcal L = J^\top\mathrm{diag}(p)J +
    \sum_j p_j r_j\nabla^2 f_j`, where the only second derivatives of :math:`f_j` are
    :math:`\partial_{a_i}\partial_{(W_i, b_i)} f_j = s_{out}\sigma'(z_{ij})(s_1 x_j, \beta)`.
    ``O(n m d)`` per product instead of the dense Hessian's ``O(n m^2 d^2)``; equal to
    :func:`loss_hessian` wherever that one is exact (no pre-activation within its
    difference step of a kink)."""
    if net.hidden_layers != 1 or net.output_dim != 1 or net.unit_norm_rows:
        raise ValueError("two_layer_hessian_operator needs one hidden layer, one output and "
                         "no unit_norm_rows")
    if net.activation.family != "ab_relu":
        raise ValueError(f"two_layer_hessian_operator needs a piecewise-linear activation "
                         f"(family 'ab_relu'), got {net.activation.family!r}")
    X, Y = _check_data(net, X, y)
    p = _check_weights(sample_weights, X.shape[0])
    p = np.full(X.shape[0], 1.0 / X.shape[0]) if p is None else p
    P = {k: np.asarray(v, dtype=np.float64) for k, v in _to_native(
        net, get_backend("float64"), params).items()}
    mult = net.multipliers()
    s1, s_out, beta = float(mult["s1"]), float(mult["s_out"]), float(mult["beta"])
    W, a = P["W1"], P["a"][0]                          # (m, d), (m,)
    Z = s1 * X @ W.T + (beta * P["b1"][:, 0] if net.bias else 0.0)   # (n, m)
    A, dA = _ab_relu_pair(net.activation)(Z)
    dA = np.broadcast_to(dA, Z.shape)
    r = s_out * A @ a + (beta * P["c"][0, 0] if net.bias else 0.0) - Y[:, 0]
    m, d = W.shape
    sizes = [m * d, m, m, 1] if net.bias else [m * d, m]
    cuts = np.cumsum(sizes)[:-1]
    pr = p * r                                          # (n,)
    # cross-term coefficients: sum_j p_j r_j s_out sigma'(z_ij) (s1 x_j, beta)
    CW = s_out * s1 * (dA * pr[:, None]).T @ X          # (m, d)
    Cb = s_out * beta * dA.T @ pr                       # (m,)
    Xs = s1 * X

    def matvec(v):
        v = np.asarray(v, dtype=np.float64).ravel()
        parts = np.split(v, cuts)
        vW, vb = parts[0].reshape(m, d), (parts[1] if net.bias else None)
        va = parts[2] if net.bias else parts[1]
        # directional derivative of the pre-activations, then of f (J v)
        dZ = Xs @ vW.T + (beta * vb if net.bias else 0.0)          # (n, m)
        Jv = s_out * (A @ va + (dA * dZ) @ a) + (beta * parts[3][0] if net.bias else 0.0)
        q = p * Jv
        G = s_out * (dA * q[:, None]) * a                 # (n, m): d/dz_ij of J^T q
        out_W = G.T @ Xs + CW * va[:, None]
        cross_a = np.sum(CW * vW, axis=1) + (Cb * vb if net.bias else 0.0)
        out_a = s_out * A.T @ q + cross_a
        if net.bias:
            out_b = beta * G.sum(axis=0) + Cb * va
            return np.concatenate([out_W.ravel(), out_b, out_a, [beta * q.sum()]])
        return np.concatenate([out_W.ravel(), out_a])

    return matvec


def top_hessian_eigenvalue(net, params, X, y, *, sample_weights=None, method="auto") -> float:
    r""":math:`\lambda_{\max}(\nabla^2\mathcal L)`. ``method="dense"``: ``eigvalsh`` of
    :func:`loss_hessian`; ``"lanczos"``: ARPACK's Lanczos (``eigsh``, tolerance 0 = machine
    precision) on :func:`two_layer_hessian_operator`; ``"auto"``: Lanczos where that
    operator applies and the net has more than 200 parameters, dense otherwise."""
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    matrix_free = (net.hidden_layers == 1 and net.output_dim == 1 and not net.unit_norm_rows
                   and net.activation.family == "ab_relu")
    if method == "lanczos" or (method == "auto" and matrix_free and net.num_params > 200):
        from scipy.sparse.linalg import LinearOperator, eigsh

        mv = two_layer_hessian_operator(net, params, X, y, sample_weights=sample_weights)
        op = LinearOperator((net.num_params,) * 2, matvec=mv, dtype=np.float64)
        # a fixed generic start vector: the result must not depend on ARPACK's random one
        v0 = np.random.default_rng(0).standard_normal(net.num_params)
        with threadpoolctl.threadpool_limits(1):
            return float(eigsh(op, k=1, which="LA", tol=0, v0=v0,
                               return_eigenvectors=False)[0])
    H = loss_hessian(net, params, X, y, sample_weights=sample_weights)
    return float(np.linalg.eigvalsh(H)[-1])


def inverse_sharpness_lr(net, params, X, y, *, sample_weights=None) -> float:
    r"""The step size :math:`1/\lambda_{\max}` of the loss Hessian at ``params`` (paper 003
    trains with it from the initialization; GD on a quadratic is stable below
    :math:`2/\lambda_{\max}`)."""
    lam = top_hessian_eigenvalue(net, params, X, y, sample_weights=sample_weights)
    if not lam > 0:
        raise ValueError(f"the loss Hessian has no positive eigenvalue (lambda_max = {lam})")
    return 1.0 / lam


# ---------------------------------------------------------------------------
# ensembles: many independent copies of one architecture trained at once
# ---------------------------------------------------------------------------


@dataclass
class EnsembleTrajectory:
    """What :func:`train_ensemble` recorded for ``R`` replicas.

    ``steps`` (record steps), ``loss`` (``(records, R)`` full-data losses), ``params``
    (per record a dict of stacked ``(R, rows, cols)`` float64 arrays), ``max_kink_distance``
    (``(R,)``: largest distance from the origin of any hidden unit's hyperplane
    :math:`s_1\\langle w_i, x\\rangle + \\beta b_i = 0` over all steps, when tracked),
    ``diverged_at`` (``(R,)`` step of the first non-finite loss, -1 if none); under a
    stopping rule (:func:`numerics.one_dim_relu.train_relu_1d`) ``stopped_at`` and
    ``stop_reason`` (``(R,)``: each replica's last step and why it stopped)."""

    network: Network
    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    params: list = field(default_factory=list)
    max_kink_distance: np.ndarray | None = None
    diverged_at: np.ndarray | None = None
    stopped_at: np.ndarray | None = None
    stop_reason: np.ndarray | None = None

    def replica(self, r, i=-1) -> dict:
        """Parameters of replica ``r`` at record ``i`` (a dict of 2-D arrays)."""
        return {k: v[r].copy() for k, v in self.params[i].items()}


def _stack_params(net, params):
    if isinstance(params, dict):
        P = {k: np.array(params[k], dtype=np.float64) for k in net.param_names}
    else:
        P = {k: np.stack([np.asarray(p[k], dtype=np.float64) for p in params])
             for k in net.param_names}
    R = P["a"].shape[0]
    for k, shape in net.param_shapes().items():
        if P[k].shape != (R, *shape):
            raise ValueError(f"params[{k!r}] must stack to shape {(R, *shape)}, got {P[k].shape}")
    return P, R


def _bmm(a, b):
    """Stacked matrix product; contiguous operands, since NumPy's stacked matmul leaves
    BLAS for a slow loop on transposed views (a 1000x slowdown at 10 000 x 15)."""
    return np.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b))


def _ensemble_loss_grad(net, K, P, X, Y, w, need_grad=True):
    """Loss ``(R,)`` and stacked gradients; ``X``: ``(R, b, d)``, ``Y``: ``(R, b, 1)``,
    ``w``: ``(R, b, 1)`` per-sample weights of the loss :math:`\\frac12\\sum_j w_j r_j^2`."""
    s, s_out, beta = K
    L = net.hidden_layers
    acts, derivs, A = [X], [], X
    shared = X.strides[0] == 0  # the same inputs for every replica: one BLAS product
    for l in range(1, L + 1):
        if l == 1 and shared:
            W = P["W1"]
            Z = s[0] * (X[0] @ W.reshape(-1, W.shape[2]).T).reshape(
                X.shape[1], W.shape[0], W.shape[1]).swapaxes(0, 1)
        else:
            Z = s[l - 1] * _bmm(A, np.swapaxes(P[f"W{l}"], 1, 2))
        if net.bias:
            Z = Z + beta * np.swapaxes(P[f"b{l}"], 1, 2)
        A, dA = _ensemble_activation(net.activation)(Z)
        acts.append(A)
        derivs.append(dA)
    F = s_out * _bmm(A, np.swapaxes(P["a"], 1, 2))
    if net.bias:
        F = F + beta * P["c"]
    Res = F - Y
    loss = 0.5 * np.sum(w * Res * Res, axis=(1, 2))
    if not need_grad:
        return loss, None
    Rn = w * Res
    grads = {"a": s_out * _bmm(np.swapaxes(Rn, 1, 2), acts[L])}
    if net.bias:
        grads["c"] = beta * np.sum(Rn, axis=1, keepdims=True)
    G = s_out * _bmm(Rn, P["a"])
    for l in range(L, 0, -1):
        delta = G * derivs[l - 1]
        if l == 1 and shared:
            Rr, nb, m = delta.shape
            grads["W1"] = s[0] * (delta.swapaxes(0, 1).reshape(nb, Rr * m).T @ X[0]).reshape(
                Rr, m, X.shape[2])
        else:
            grads[f"W{l}"] = s[l - 1] * _bmm(np.swapaxes(delta, 1, 2), acts[l - 1])
        if net.bias:
            grads[f"b{l}"] = beta * np.swapaxes(np.sum(delta, axis=1, keepdims=True), 1, 2)
        if l > 1:
            G = s[l - 1] * _bmm(delta, P[f"W{l}"])
    return loss, grads


def _ab_relu_pair(act):
    r""":math:`\sigma(z) = b z` for :math:`z > 0`, :math:`a z` otherwise, and its derivative
    (the registry's ``ab_relu`` family: ReLU, leaky ReLU, abs, identity)."""
    fp = dict(act.family_params)
    a, b = float(fp["a"]), float(fp["b"])

    if a == b:  # linear: the derivative is the scalar b (broadcast where it is used)
        return lambda z: (z if b == 1 else b * z, b)

    def pair(z):
        slope = (z > 0).astype(np.float64)  # np.where is 6x slower here
        if (a, b) != (0.0, 1.0):
            slope = a + (b - a) * slope
        return slope * z, slope
    return pair


#: fused float64 (value, derivative) evaluators by activation family (never by name);
#: other activations use the compiled registry expressions
ENSEMBLE_FAMILIES = {"ab_relu": _ab_relu_pair}


def _ensemble_activation(act):
    fused = ENSEMBLE_FAMILIES.get(act.family)
    if fused is not None:
        return fused(act)
    backend = get_backend("float64")
    return lambda z: backend.activation_pair(act, z)


def train_ensemble(net, params, X, y, *, lr, steps, method="gd", batch_size=None,
                   replace=False, sample_weights=None, clip_norm=None, weight_decay=0.0,
                   group_penalty=0.0, seeds=None, record=None,
                   track_kinks=False) -> EnsembleTrajectory:
    r"""Train ``R`` independent replicas of ``net`` at once (float64, vectorized over
    replicas): the fast path for sweeps over hundreds of seeds of small nets.

    Each replica follows exactly the update of :func:`train` (``method="gd"`` or
    ``"sgd"``, ``batch_size``, ``replace``, ``sample_weights``, ``clip_norm`` per replica,
    ``weight_decay``), with its own batches: ``seeds[r]`` plays the role of
    :func:`train`'s ``seed``, so replica ``r`` sees the batches :func:`train` would draw
    (the tests compare the two to 1e-12). ``params``: a list of ``R`` parameter dicts
    (or a dict of stacked ``(R, rows, cols)`` arrays); ``lr``: a number or ``R`` numbers;
    ``sample_weights``: ``(n,)`` or ``(R, n)``. A replica whose loss becomes non-finite
    is frozen and its ``diverged_at`` set. One output only.

    ``group_penalty`` :math:`\lambda`: the penalty :math:`\lambda\sum_j\|W_1[:, j]\|_2`
    on the first layer's input columns (:func:`group_lasso`), taken by a proximal step:
    after the (clipped) gradient step, :func:`group_soft_threshold` with :math:`\eta\lambda`
    (proximal gradient descent, ISTA). Where every column norm exceeds :math:`\eta\lambda`
    this is the gradient step with :math:`\lambda W_{:,j}/\|W_{:,j}\|` up to
    :math:`O(\eta^2)`; unlike a subgradient step (which moves every column by
    :math:`\eta\lambda` and so leaves it oscillating around 0 at that size) it sets a
    column exactly to 0 once the loss gradient cannot hold it there. Not clipped, like
    weight decay.
    """
    if net.output_dim != 1 or net.unit_norm_rows:
        raise ValueError("train_ensemble supports one output and no unit_norm_rows")
    X, Y = _check_data(net, X, y)
    n = X.shape[0]
    P, R = _stack_params(net, params)
    eta = np.broadcast_to(np.asarray(lr, dtype=np.float64), (R,)).copy()
    if not np.all(np.isfinite(eta)) or np.any(eta <= 0):
        raise ValueError(f"lr must be finite and > 0 for every replica, got {lr!r}")
    steps = check_int("steps", steps, minimum=0)
    if method not in ("gd", "sgd"):
        raise ValueError(f"method must be 'gd' or 'sgd' for ensembles, got {method!r}")
    weight_decay = _check_nonneg(weight_decay, "weight_decay")
    group_penalty = _check_nonneg(group_penalty, "group_penalty")
    if sample_weights is None:
        p = np.full((R, n), 1.0 / n)
    else:
        p = np.asarray(sample_weights, dtype=np.float64)
        p = np.broadcast_to(p, (R, n)).copy() if p.ndim == 1 else p
        if p.shape != (R, n):
            raise ValueError(f"sample_weights must have shape ({n},) or ({R}, {n}), got "
                             f"{np.shape(sample_weights)}")
        for row in p:
            _check_weights(row, n)
    if method == "sgd":
        batch_size = _sgd_batch_size(batch_size, n, replace)
        if sample_weights is not None and not replace:
            raise ValueError("sample_weights with method='sgd' needs replace=True")
        if seeds is None or len(seeds) != R:
            raise ValueError(f"method='sgd' needs one seed per replica ({R})")
        rngs = [batch_stream(s) for s in seeds]
    if clip_norm is not None and not (isinstance(clip_norm, numbers.Real) and clip_norm > 0):
        raise ValueError(f"clip_norm must be > 0, got {clip_norm!r}")
    mult = net.multipliers()
    K = ([float(mult[f"s{l}"]) for l in range(1, net.hidden_layers + 1)],
         float(mult["s_out"]), float(mult["beta"]))
    records = _record_set(record, steps)
    Xr, Yr, wr = (np.broadcast_to(X, (R, *X.shape)), np.broadcast_to(Y, (R, *Y.shape)),
                  p[:, :, None])
    traj = EnsembleTrajectory(network=net, diverged_at=np.full(R, -1))
    alive = np.ones(R, dtype=bool)
    if track_kinks:
        if not net.bias:
            raise ValueError("track_kinks needs a network with biases")
        traj.max_kink_distance = np.zeros(R)

    def kinks():
        dist = K[2] * np.abs(P["b1"][:, :, 0]) / (K[0][0] * np.linalg.norm(P["W1"], axis=2))
        with np.errstate(invalid="ignore"):
            top = np.max(dist, axis=1)
        traj.max_kink_distance[alive] = np.maximum(traj.max_kink_distance, top)[alive]

    # small stacked products: several BLAS threads only spin against each other (10x slower
    # on a shared machine), so the loop runs on one
    with np.errstate(all="ignore"), threadpoolctl.threadpool_limits(1):
        for step in range(steps + 1):
            if track_kinks:
                kinks()
            need = method == "gd" and step < steps
            if need or step in records:  # SGD: the full loss only where it is recorded
                loss, grads = _ensemble_loss_grad(net, K, P, Xr, Yr, wr, need_grad=need)
                bad = alive & ~np.isfinite(loss)
                traj.diverged_at[bad] = step
                alive &= ~bad
            if step in records:
                traj.steps.append(step)
                traj.loss.append(loss.copy())
                traj.params.append({k: v.copy() for k, v in P.items()})
            if step == steps:
                break
            if method == "sgd":
                if replace:  # draws for many steps at once: the same stream as step by step
                    if step % BATCH_DRAW_BLOCK == 0:
                        ahead = min(BATCH_DRAW_BLOCK, steps - step)
                        drawn = np.stack([draw_batches(
                            g, n, ahead, batch_size,
                            None if sample_weights is None else p[r] / p[r].sum())
                            for r, g in enumerate(rngs)])
                    idx = drawn[:, step % BATCH_DRAW_BLOCK]
                else:
                    idx = np.stack([np.sort(g.choice(n, size=batch_size, replace=False))
                                    for g in rngs])
                scale = p.sum(axis=1) / batch_size
                if replace and batch_size > n:  # the same batch as counts on the n points
                    counts = np.stack([np.bincount(i, minlength=n) for i in idx])
                    batch_loss, grads = _ensemble_loss_grad(
                        net, K, P, Xr, Yr, (counts * scale[:, None])[:, :, None])
                else:
                    wb = np.broadcast_to(scale[:, None, None], (R, batch_size, 1))
                    batch_loss, grads = _ensemble_loss_grad(
                        net, K, P, np.take(X, idx, axis=0), np.take(Y, idx, axis=0), wb)
                bad = alive & ~np.isfinite(batch_loss)
                traj.diverged_at[bad] = step
                alive &= ~bad
            if clip_norm is not None:
                norm = np.sqrt(sum(np.sum(g * g, axis=(1, 2)) for g in grads.values()))
                factor = np.where(norm > clip_norm, clip_norm / np.where(norm > 0, norm, 1),
                                  1.0)[:, None, None]
                grads = {k: g * factor for k, g in grads.items()}
            rate = np.where(alive, eta, 0.0)[:, None, None]
            for k in P:
                g = grads[k] + weight_decay * P[k] if weight_decay else grads[k]
                P[k] = P[k] - rate * g
            if group_penalty:
                P["W1"] = group_soft_threshold(P["W1"], rate[:, 0, 0] * group_penalty)
    return traj


def per_side_affine_fit(x, y, sample_weights=None):
    r"""The weighted least-squares fit by one affine function on the negative inputs and
    one on the positive inputs of 1-D data (Holzmüller & Steinwart 2020: the bad local
    minimum GD reaches when no kink crosses a data point), and its loss
    :math:`\frac12\sum_j p_j (f(x_j) - y_j)^2` (``p_j = 1/n`` by default).

    Returns ``(slopes, intercepts, loss)`` with ``slopes = (negative side, positive
    side)``. A side with a single point (or one distinct x) is fitted by a constant
    (the minimum-norm solution); inputs equal to 0 are not allowed."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0 or not np.all(np.isfinite(x)) or not np.all(
            np.isfinite(y)):
        raise ValueError("x and y must be finite 1-D arrays of the same non-zero length")
    if np.any(x == 0):
        raise ValueError("inputs equal to 0 belong to neither side")
    p = _check_weights(sample_weights, x.size)
    p = np.full(x.size, 1.0 / x.size) if p is None else p
    slopes, intercepts, loss = [], [], 0.0
    for side in (x < 0, x > 0):
        if not np.any(side):
            slopes.append(0.0)
            intercepts.append(0.0)
            continue
        sw = np.sqrt(p[side])
        design = np.stack([x[side], np.ones(side.sum())], axis=1) * sw[:, None]
        coef = np.linalg.lstsq(design, y[side] * sw, rcond=None)[0]
        slopes.append(float(coef[0]))
        intercepts.append(float(coef[1]))
        loss += 0.5 * float(np.sum(p[side] * (coef[0] * x[side] + coef[1] - y[side]) ** 2))
    return tuple(slopes), tuple(intercepts), loss


def compress_linear_data(X, y):
    r"""Replace ``n`` samples by ``d + 1`` rows with the same squared loss for every model
    linear in ``x`` (a deep linear net without biases: :math:`f(x) = v^\top x`).

    With the QR factorization :math:`[X\;y] = QR`, :math:`\|Xv - y\|^2 = \|R_x v - r_y\|^2`
    (:math:`R_x` the first ``d`` columns of R, :math:`r_y` the last), so training on
    ``(R_x, r_y)`` with ``sample_weights`` :math:`1/n` gives exactly the loss
    :math:`\frac1{2n}\|Xv-y\|^2`, its gradient and hence full-batch GD (clipped or not) on the
    ``n`` samples, at the cost of ``d + 1`` samples (to rounding, ~1e-15 relative).
    Returns ``(Xc, yc, weights)``. Not valid for nonlinear activations or biases."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] < X.shape[1] + 1:
        raise ValueError(f"need X of shape (n, d) with n >= d + 1 and y of shape (n,), got "
                         f"{X.shape} and {y.shape}")
    R = np.linalg.qr(np.column_stack([X, y]), mode="r")
    d = X.shape[1]
    return R[:, :d].copy(), R[:, d].copy(), np.full(d + 1, 1.0 / X.shape[0])
