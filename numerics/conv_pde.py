r"""The single-layer convolutional model of paper 004 (Sun, Lao, Sundaramoorthi, Yezzi;
code sunyx523/surprising-instabilities, ``single_layer/``), trained by full-batch GD.

One ``k x k`` kernel :math:`K` (no padding, no bias) is cross-correlated with one image
:math:`I`, giving :math:`u_{ij} = \langle I^{(ij)}, K\rangle` over the valid positions
(:math:`I^{(ij)}` the patch at :math:`(i, j)`); Swish :math:`s(x) = x\,\mathrm{sigmoid}(bx)`;
pooling :math:`P = \sum_{ij} s(u_{ij})` (``"sum"``, the PDE's integral, which SETUPS.md's
numbers assume) or the mean (``"mean"``, the published script); sigmoid and binary cross
entropy with label 1, :math:`\ell(P) = \log(1 + e^{-P})`; weight decay :math:`\alpha`:

.. math:: \mathcal L(K) = \ell(P(K)) + \tfrac\alpha2\|K\|^2,\qquad
    \nabla\mathcal L = \ell'(P)\sum_{ij} s'(u_{ij}) I^{(ij)} + \alpha K
    = \ell'(P)\,(I \star s'(u)) + \alpha K,

with :math:`\star` the valid cross-correlation (computed by FFT). :meth:`ConvModel.
linear_gradient` is the gradient of the model linearized at :math:`K = 0` (the linear
PDE: :math:`g_0 + H_0 K`, with :math:`H_0 = \alpha + \ell'(0)s''(0)\sum I^{(ij)}I^{(ij)\top}
+ \ell''(0)s'(0)^2 pp^\top`, :math:`p = \sum I^{(ij)}`), evaluated by the same
correlations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy.special import expit, log_expit

__all__ = ["ConvModel", "ConvRun", "checkerboard", "train_conv"]


def checkerboard(size=256) -> np.ndarray:
    """The paper's image: -1 where (m + n) is even, +1 elsewhere (``single_layer/``)."""
    m = np.arange(size)
    return np.where((m[:, None] + m[None, :]) % 2 == 0, -1.0, 1.0)


class ConvModel:
    """Loss and gradient of the single-layer conv model (see the module docstring)."""

    def __init__(self, image, ksize=32, *, b=1.0, pooling="sum"):
        if pooling not in ("sum", "mean"):
            raise ValueError(f"pooling must be 'sum' or 'mean', got {pooling!r}")
        self.image = np.asarray(image, dtype=np.float64)
        if self.image.ndim != 2 or min(self.image.shape) < ksize:
            raise ValueError(f"image must be 2-D and at least {ksize} x {ksize}")
        self.ksize, self.b, self.pooling = int(ksize), float(b), pooling
        self.out_shape = tuple(s - self.ksize + 1 for s in self.image.shape)
        self.positions = self.out_shape[0] * self.out_shape[1]
        self.scale = 1.0 if pooling == "sum" else 1.0 / self.positions
        self.size = self.ksize**2
        self._image_fft = sfft.rfft2(self.image)
        # p = sum of patches (the PDE's constant term)
        self._patch_sum = self._corr(np.ones(self.out_shape)).ravel()

    def _corr(self, w):
        """Valid cross-correlation of the image with ``w`` (a kernel or a map): the
        circular correlation by FFT, which has no wrap-around on the valid positions."""
        r, c = self.image.shape
        full = sfft.irfft2(self._image_fft * np.conj(sfft.rfft2(w, s=(r, c))), s=(r, c))
        return full[:r - w.shape[0] + 1, :c - w.shape[1] + 1]

    def conv(self, K) -> np.ndarray:
        return self._corr(np.asarray(K, dtype=np.float64).reshape(self.ksize, self.ksize))

    def swish(self, u):
        return u * expit(self.b * u)

    def dswish(self, u):
        sg = expit(self.b * u)
        return sg + self.b * u * sg * (1 - sg)

    def pooled(self, K) -> float:
        return float(self.scale * np.sum(self.swish(self.conv(K))))

    def loss(self, K, alpha=0.0) -> float:
        """Data loss (BCE, label 1) plus :math:`\\frac\\alpha2\\|K\\|^2`."""
        K = np.asarray(K, dtype=np.float64).ravel()
        return float(-log_expit(self.pooled(K)) + 0.5 * alpha * K @ K)

    def gradient(self, K, alpha=0.0) -> np.ndarray:
        return self.loss_and_gradient(K, alpha)[1]

    def loss_and_gradient(self, K, alpha=0.0, *, linear=False):
        """``(loss, gradient)`` sharing one correlation; ``linear=True``: the gradient of
        the linearization at 0 (the loss is the model's)."""
        K = np.asarray(K, dtype=np.float64).ravel()
        u = self.conv(K)
        P = self.scale * np.sum(self.swish(u))
        loss = float(-log_expit(P) + 0.5 * alpha * K @ K)
        if linear:
            return loss, self._linear_gradient(K, u, alpha)
        G = (expit(P) - 1.0) * self.scale * self.dswish(u)
        return loss, self._corr(G).ravel() + alpha * K

    def linear_gradient(self, K, alpha=0.0) -> np.ndarray:
        r"""Gradient of the model linearized at ``K = 0``: with :math:`s'(0) = 1/2`,
        :math:`s''(0) = b/2`, :math:`\ell'(0) = -1/2`, :math:`\ell''(0) = 1/4`, and the
        pooling scale :math:`c` (1 or 1/positions):
        :math:`c\,\ell'(0)[s'(0)p + s''(0)\sum I^{(ij)}u_{ij}] + c^2\ell''(0)s'(0)^2 p\,(p^\top K)
        + \alpha K`."""
        K = np.asarray(K, dtype=np.float64).ravel()
        return self._linear_gradient(K, self.conv(K), alpha)

    def _linear_gradient(self, K, u, alpha):
        c, p = self.scale, self._patch_sum
        data = c * (-0.5) * (0.5 * p + 0.5 * self.b * self._corr(u).ravel())
        return data + c * c * 0.25 * 0.25 * p * (p @ K) + alpha * K


@dataclass
class ConvRun:
    """``loss`` per step (before the step, weight decay included), ``norm`` of K per
    step, ``update`` the norm of each step's change of K, ``diverged_at`` (first
    non-finite or above-threshold step, or None), final ``K``."""

    loss: np.ndarray
    norm: np.ndarray
    update: np.ndarray
    diverged_at: int | None
    K: np.ndarray

    def rate_window(self, series="update", floor=1e-12):
        """``(start, stop)``: the second quarter of the steps before ``series`` first
        leaves ``[floor, 1/floor]`` times its first value (or becomes non-finite)."""
        v = getattr(self, series)
        ok = np.isfinite(v) & (v > floor * v[0]) & (v < v[0] / floor)
        n = int(np.argmin(ok)) if not ok.all() else v.size
        return n // 4, max(n // 2, n // 4 + 1)

    def rate(self, series="update", start=None, stop=None):
        """Mean per-step log growth of ``series`` over ``[start, stop]`` (default
        :meth:`rate_window`)."""
        v = getattr(self, series)
        if start is None or stop is None:
            start, stop = self.rate_window(series)
        return float(np.log(v[stop] / v[start]) / (stop - start))


def train_conv(model: ConvModel, K0, *, lr, alpha, steps, linear=False,
               blowup=1e30) -> ConvRun:
    """Full-batch GD :math:`K \\leftarrow K - \\mathrm{lr}\\,\\nabla\\mathcal L` on the model
    (``linear=True``: on its linearization at 0). Stops at the first step where the loss
    or the kernel norm is non-finite or above ``blowup``."""
    K = np.array(K0, dtype=np.float64).ravel()
    losses, norms, updates = (np.full(steps, np.nan) for _ in range(3))
    diverged = None
    with np.errstate(all="ignore"):
        for t in range(steps):
            losses[t], g = model.loss_and_gradient(K, alpha, linear=linear)
            norms[t] = np.linalg.norm(K)
            if not (np.isfinite(losses[t]) and losses[t] < blowup and norms[t] < blowup):
                diverged = t
                break
            step = lr * g
            updates[t] = np.linalg.norm(step)
            K = K - step
    return ConvRun(losses, norms, updates, diverged, K)
