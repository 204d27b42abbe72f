"""Compiled (numba) training loop of :func:`numerics.one_dim_relu.train_relu_1d`: R
independent two-layer ReLU nets f(x) = beta c + s_out sum_i a_i relu(s1 u_i x + beta b_i)
on 1-D data, one replica after another (each is tiny: its state stays in cache).

Imported only when numba is available; the update is the one of
:func:`numerics.networks.train_ensemble` step for step. The optional checks of
:class:`numerics.one_dim_relu.EarlyStopping` (crossing, then validation loss) run inside
the loop.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def _output(u, b, a, c, xj, s1, s_out, beta):
    """f(x_j) = beta c + s_out sum_i a_i relu(s1 u_i x_j + beta b_i)."""
    f = beta * c
    for i in range(u.size):
        z = s1 * u[i] * xj + beta * b[i]
        if z > 0.0:
            f += s_out * a[i] * z
    return f


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
        r = _output(u, b, a, c, x[j], s1, s_out, beta) - y[j]
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
def _weighted_sse(u, b, a, c, x, y, q, s1, s_out, beta):
    """sum_j q_j (f(x_j) - y_j)^2: the authors' validation loss (no factor 1/2)."""
    total = 0.0
    for j in range(x.size):
        total += q[j] * (_output(u, b, a, c, x[j], s1, s_out, beta) - y[j]) ** 2
    return total


@numba.njit(cache=True)
def validation_check(val, best, wait, min_delta, patience):
    """One check of mc_training.EarlyStoppingCriterion (lines 98-105): the count of checks
    without improvement grows by one, an improvement (``val < best - min_delta``,
    absolute, against the best so far) resets it; returns ``(best, wait, stop)`` with
    stop = the count reached ``patience``."""
    wait += 1
    if val < best - min_delta:
        best, wait = val, 0
    return best, wait, wait >= patience


#: why a replica stopped (``stop_reason``; the indices of one_dim_relu.STOP_REASONS): still
#: running, step cap, a kink reached ``crossing_at``, no validation improvement in
#: ``patience`` checks
RUNNING, CAP, CROSSED, EARLY_STOPPED = 0, 1, 2, 3


@numba.njit(cache=True, error_model="numpy")
def train(U, B, A, C, x, y, P, eta, first, stop, steps, batch_w, s1, s_out, beta, loss_out,
          kink_io, diverged_at, Q, check_every, patience, min_delta, crossing_at, best, wait,
          stopped_at, stop_reason):
    """Train replicas in place over the top-of-step indices ``first .. stop - 1`` (one
    call: ``0, steps + 1``; the SGD path calls it chunk by chunk). ``U, B, A``: (R, m);
    ``C``: (R,); ``P``: (R, n) full-data weights; ``batch_w``: (R, stop - first, n) batch
    weights of these steps (SGD) or (R, 0, n) (GD). State carried between calls:
    ``kink_io`` (largest kink distance so far, start 0), ``diverged_at`` (step of the first
    non-finite loss, -1: none), ``best, wait`` (validation), ``stopped_at, stop_reason``
    (-1 and RUNNING until the replica stops; stopped replicas are skipped). At step
    ``steps`` or when a check stops the replica, its full-data loss goes to ``loss_out``.

    ``check_every > 0``: at every step index k > 0 divisible by it, first a replica whose
    kink distance reached ``crossing_at`` stops (CROSSED), then the validation loss
    L = sum_j Q_j r_j^2 counts as an improvement if L < best - min_delta (best = L,
    wait = 0), else wait += 1, and wait >= patience stops it (EARLY_STOPPED)."""
    R, m = U.shape
    sgd = batch_w.shape[1] > 0
    g_u, g_b, g_a = np.empty(m), np.empty(m), np.empty(m)
    for r in range(R):
        if stopped_at[r] >= 0:
            continue
        u, b, a = U[r], B[r], A[r]
        kink, dead = kink_io[r], diverged_at[r] >= 0
        for step in range(first, stop):
            if not dead and kink == kink:  # NaN stays, as NumPy's maximum keeps it
                k = _max_kink(u, b, s1, beta)
                if k > kink or k != k:
                    kink = k
            reason = CAP if step == steps else RUNNING
            if check_every > 0 and step > 0 and step % check_every == 0:
                if kink >= crossing_at:
                    reason = CROSSED
                else:
                    val = _weighted_sse(u, b, a, C[r], x, y, Q[r], s1, s_out, beta)
                    best[r], wait[r], done = validation_check(val, best[r], wait[r],
                                                              min_delta, patience)
                    if done:
                        reason = EARLY_STOPPED
            if not sgd or reason != RUNNING:
                loss, g_c = _loss_grad(u, b, a, C[r], x, y, P[r], s1, s_out, beta,
                                       g_u, g_b, g_a)
                if not dead and not np.isfinite(loss):
                    diverged_at[r] = step
                    dead = True
                if reason != RUNNING:
                    loss_out[r] = loss
                    stopped_at[r], stop_reason[r] = step, reason
                    break
            if sgd:
                bl, g_c = _loss_grad(u, b, a, C[r], x, y, batch_w[r, step - first], s1, s_out,
                                     beta, g_u, g_b, g_a)
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
        kink_io[r] = kink
