"""Compiled (numba) training loop of :func:`numerics.one_dim_relu.train_relu_1d`: R
independent two-layer ReLU nets f(x) = beta c + s_out sum_i a_i relu(s1 u_i x + beta b_i)
on 1-D data, one replica after another (each is tiny: its state stays in cache).

Imported only when numba is available; the update is the one of
:func:`numerics.networks.train_ensemble` step for step.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def _loss_grad(u, b, a, c, x, y, w, s1, s_out, beta, g_u, g_b, g_a):
    """Loss 1/2 sum_j w_j r_j^2 and (into g_*) its gradient; returns (loss, grad of c)."""
    m, n = u.size, x.size
    loss, g_c = 0.0, 0.0
    g_u[:] = 0.0
    g_b[:] = 0.0
    g_a[:] = 0.0
    for j in range(n):
        if w[j] == 0.0:
            continue
        f = beta * c
        for i in range(m):
            z = s1 * u[i] * x[j] + beta * b[i]
            if z > 0.0:
                f += s_out * a[i] * z
        r = f - y[j]
        loss += 0.5 * w[j] * r * r
        q = w[j] * r
        g_c += beta * q
        for i in range(m):
            z = s1 * u[i] * x[j] + beta * b[i]
            if z > 0.0:
                g_a[i] += s_out * q * z
                d = s_out * q * a[i]
                g_u[i] += s1 * d * x[j]
                g_b[i] += beta * d
    return loss, g_c


@numba.njit(cache=True, error_model="numpy")
def _max_kink(u, b, s1, beta):
    top = 0.0
    for i in range(u.size):
        d = beta * abs(b[i]) / (s1 * abs(u[i]))
        if d > top or d != d:  # a NaN propagates as in NumPy's max
            top = d
    return top


@numba.njit(cache=True, error_model="numpy")
def train(U, B, A, C, x, y, P, eta, steps, batch_w, s1, s_out, beta, loss_out, kink_out,
          diverged_at):
    """Train replicas in place. ``U, B, A``: (R, m); ``C``: (R,); ``P``: (R, n) full-data
    weights; ``batch_w``: (R, steps, n) per-step batch weights (SGD) or (R, 0, n) (GD).
    Writes the final full-data loss, the largest kink distance over steps and the step of
    the first non-finite loss (-1: none)."""
    R, m = U.shape
    sgd = batch_w.shape[1] > 0
    g_u, g_b, g_a = np.empty(m), np.empty(m), np.empty(m)
    for r in range(R):
        u, b, a = U[r], B[r], A[r]
        kink, dead = 0.0, False
        for step in range(steps + 1):
            if not dead and kink == kink:  # NaN stays, as NumPy's maximum keeps it
                k = _max_kink(u, b, s1, beta)
                if k > kink or k != k:
                    kink = k
            if not sgd or step == steps:
                loss, g_c = _loss_grad(u, b, a, C[r], x, y, P[r], s1, s_out, beta,
                                       g_u, g_b, g_a)
                if not dead and not np.isfinite(loss):
                    diverged_at[r] = step
                    dead = True
                if step == steps:
                    loss_out[r] = loss
                    break
            if sgd:
                bl, g_c = _loss_grad(u, b, a, C[r], x, y, batch_w[r, step], s1, s_out, beta,
                                     g_u, g_b, g_a)
                if not dead and not np.isfinite(bl):
                    diverged_at[r] = step
                    dead = True
            if dead:
                continue
            lr = eta[r]
            for i in range(m):
                u[i] -= lr * g_u[i]
                b[i] -= lr * g_b[i]
                a[i] -= lr * g_a[i]
            C[r] -= lr * g_c
        kink_out[r] = kink
