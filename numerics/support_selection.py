r"""The support-selection experiment of Beneventano, Pinto & Poggio, "How neural networks
learn the support is an implicit regularization effect of SGD" (arXiv 2406.11110; code:
andreakiro/sgd-finds-support, ``source/models.py``, ``source/trainer.py`` and the
``support-selection-syth-*`` notebooks).

Data: ``n`` inputs :math:`x\sim N(0, I_{15})`, the irrelevant columns 5..14 mean-centred,
target :math:`y = \sum_{i<5} x_i` (or :math:`\sin\sum_{i<5}x_i`); the label-noise device
duplicates every sample with labels :math:`y\pm\epsilon`, :math:`\epsilon = 10^{-3}N(0,1)`
(so 2n samples whose copies have opposite residuals at the best fit). Net: linear MLP
15 -> 15 -> 15 -> 15 -> 1 without biases, He-normal init. Measured: the ratio
:math:`\|W_1[:, 5:]\|_F / \|W_1[:, 5:]\|_F(0)` (the norm is about 4.47 at init).

Units: the authors' loss is PyTorch's MSE :math:`\frac1n\sum(f-y)^2`, ours
:math:`\frac1{2n}\sum(f-y)^2` (half of it), so their (lr, clip, weight decay) =
(0.1, 1.0, 0.1) is ours (0.2, 0.5, 0.05): the same updates exactly
(:data:`AUTHORS_TO_OURS`). Full-batch GD runs on the QR compression of the data
(:func:`numerics.networks.compress_linear_data`: exact for a net linear in x), so GD on
10 000 samples costs as much as on 16.
"""

from __future__ import annotations

import math

import numpy as np

from numerics.networks import Network, compress_linear_data, train_ensemble

__all__ = ["AUTHORS_TO_OURS", "RELEVANT", "irrelevant_ratio", "linear_mlp", "support_data",
           "train_runs"]

RELEVANT, INPUT_DIM = 5, 15
#: multiply the authors' (lr, clip_norm, weight_decay) by these for our loss convention
AUTHORS_TO_OURS = {"lr": 2.0, "clip_norm": 0.5, "weight_decay": 0.5}


def linear_mlp(hidden=(15, 15, 15)) -> Network:
    """The authors' linear MLP (He-normal: every weight ~ N(0, 2/fan_in), no biases)."""
    return Network(INPUT_DIM, tuple(hidden), "identity", parameterization="standard",
                   sigma_w=math.sqrt(2.0))


def support_data(n, rng, *, label_noise=1e-3, duplicate=True, target="linear"):
    """``(X, y)``: ``2n`` samples with labels y +- eps (``duplicate=True``) or ``n`` clean."""
    X = rng.standard_normal((n, INPUT_DIM))
    X[:, RELEVANT:] -= X[:, RELEVANT:].mean(axis=0)
    s = X[:, :RELEVANT].sum(axis=1)
    if target not in ("linear", "sine"):
        raise ValueError(f"target must be 'linear' or 'sine', got {target!r}")
    y = s if target == "linear" else np.sin(s)
    if not duplicate:
        return X, y
    eps = label_noise * rng.standard_normal(n)
    return np.concatenate([X, X]), np.concatenate([y + eps, y - eps])


def irrelevant_ratio(W1, W1_init):
    r""":math:`\|W_1[:, 5:]\|_F / \|W_1^{(0)}[:, 5:]\|_F` per replica (stacked ``(R, 15, 15)``)."""
    return (np.linalg.norm(W1[:, :, RELEVANT:], axis=(1, 2))
            / np.linalg.norm(W1_init[:, :, RELEVANT:], axis=(1, 2)))


def train_runs(X, y, init_seeds, *, lr, steps, batch_size=None, clip_norm=None,
               weight_decay=0.0, group_penalty=0.0, batch_seeds=None, record=None, net=None,
               final_W1=False):
    """Train one replica per initialization seed (full-batch GD when ``batch_size`` is
    None, on the compressed data; mini-batch SGD without replacement otherwise, batches
    from ``batch_seeds``; ``weight_decay`` and ``group_penalty`` as in
    :func:`numerics.networks.train_ensemble`). Returns ``(record steps, ratios (records,
    R), losses (records, R))`` with the losses on the full data, and with ``final_W1``
    also the initial and final first layers ``(R, 15, 15)``."""
    net = net or linear_mlp()
    params = [net.init(s) for s in init_seeds]
    W0 = np.stack([p["W1"] for p in params])
    common = dict(lr=lr, steps=steps, clip_norm=clip_norm, weight_decay=weight_decay,
                  group_penalty=group_penalty, record=record)
    if batch_size is None:
        Xc, yc, w = compress_linear_data(X, y)
        traj = train_ensemble(net, params, Xc, yc, sample_weights=w, **common)
    else:
        traj = train_ensemble(net, params, X, y, method="sgd", batch_size=batch_size,
                              seeds=list(batch_seeds), **common)
    ratios = np.array([irrelevant_ratio(P["W1"], W0) for P in traj.params])
    out = (np.array(traj.steps), ratios, np.array(traj.loss))
    return (*out, W0, traj.params[-1]["W1"]) if final_W1 else out
