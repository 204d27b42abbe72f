r"""Plots of signal propagation: cobweb diagrams, (sigma_w, sigma_b) phase
diagrams, correlation versus depth, depth scales near the edge of chaos.

Every function draws precomputed data (from :mod:`theory.fixedpoints`) on a
matplotlib ``Axes`` (a new :class:`matplotlib.figure.Figure` when ``ax`` is
None) and returns the Figure. Figures are built with the object API
(``matplotlib.figure.Figure``), never ``pyplot``, so they render with the Agg
backend without a display; :func:`save` writes PNG files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "COLORS",
    "color",
    "cobweb",
    "phase_diagram",
    "correlation_versus_depth",
    "relu_asymptotics",
    "depth_scale_divergence",
    "save",
]

#: the one place for colours: per activation, and per role in comparison panels
#: (verify/figures.py draws with these too)
COLORS = {"relu": "tab:blue", "gelu": "tab:orange", "elu": "tab:green", "tanh": "tab:red",
          "erf": "tab:purple", "leaky_relu": "tab:cyan", "abs": "tab:olive", "step": "tab:gray",
          "identity": "0.3", "sin": "tab:pink", "cos": "tab:brown", "monomial": "gold",
          "measured": "tab:blue", "predicted": "k", "band": "tab:green", "threshold": "tab:red",
          "reference": "0.5"}


def _axes(ax, figsize=(5.0, 4.0)):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def color(name):
    """The colour of an activation (``"elu(alpha=0.5)"`` as ``"elu"``) or a role
    (``"measured"``, ``"predicted"``, ``"band"``, ``"threshold"``); None if unknown."""
    return COLORS.get(str(name).split("(")[0], None)


def cobweb(correlation_map: Callable[[float], float], rho0: float, steps: int, *,
           rho_star: float | None = None, rho_range=(0.0, 1.0), label: str = "",
           points: int = 101, ax=None):
    r"""Cobweb diagram of :math:`\rho_{l+1} = \mathcal C(\rho_l)`: the map on
    ``rho_range``, the diagonal, and the staircase from ``rho0`` for ``steps``
    layers (``rho_star`` marked if given)."""
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    fig, ax = _axes(ax)
    grid = np.linspace(rho_range[0], rho_range[1], points)
    values = np.array([correlation_map(float(r)) for r in grid])
    ax.plot(grid, values, color=color(label) or "tab:blue", lw=1.6,
            label=f"C(rho) {label}".strip())
    ax.plot(grid, grid, color="0.5", lw=0.8, ls="--", label="diagonal")
    r = float(rho0)
    xs, ys = [r], [r]
    for _ in range(steps):
        nxt = float(correlation_map(r))
        xs += [r, nxt]
        ys += [nxt, nxt]
        r = nxt
    ax.plot(xs, ys, color="k", lw=0.7)
    ax.plot([rho0], [rho0], "ko", ms=3)
    if rho_star is not None:
        ax.plot([rho_star], [rho_star], "o", color="tab:red", ms=5, label=f"rho* = {rho_star:.4f}")
    ax.set_xlabel(r"$\rho_l$")
    ax.set_ylabel(r"$\rho_{l+1}$")
    ax.set_xlim(*rho_range)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def phase_diagram(curves: Mapping[str, Sequence[tuple[float, float]]], *, ax=None,
                  markers: Mapping[str, tuple[float, float]] | None = None):
    r"""Edge-of-chaos curves :math:`\chi_1 = 1` in the :math:`(\sigma_w, \sigma_b)` plane,
    one per activation (``curves[name] = [(sigma_w, sigma_b), ...]`` in order along
    the curve; a ``(nan, nan)`` entry breaks the line); the ordered phase
    (:math:`\chi_1<1`) lies to the left of each curve, the chaotic phase to the right.
    ``markers[name] = (sigma_w, sigma_b)`` adds a point."""
    fig, ax = _axes(ax)
    for name, pts in curves.items():
        if not pts:
            continue
        sw, sb = zip(*pts, strict=True)
        ax.plot(sw, sb, color=color(name), lw=1.6, marker="o", ms=2, label=name)
    for name, (sw, sb) in (markers or {}).items():
        ax.plot([sw], [sb], "o", color=color(name.split()[0]), ms=5)
        ax.annotate(name, (sw, sb), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(r"$\sigma_w$")
    ax.set_ylabel(r"$\sigma_b$")
    ax.set_title(r"edge of chaos $\chi_1 = 1$ (ordered: left, chaotic: right)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def correlation_versus_depth(series: Mapping[str, Sequence[float]], *,
                             rho_stars: Mapping[str, float] | None = None, ax=None,
                             log_depth: bool = True):
    r""":math:`\rho_l` versus layer ``l`` (``series[name] = [rho_0, rho_1, ...]``), with
    dashed lines at the fixed points ``rho_stars[name]``."""
    fig, ax = _axes(ax)
    for name, rhos in series.items():
        layers = np.arange(len(rhos))
        sel = layers >= (1 if log_depth else 0)
        ax.plot(layers[sel], np.asarray(rhos, dtype=float)[sel], color=color(name), lw=1.4,
                label=name)
        if rho_stars and name in rho_stars:
            ax.axhline(rho_stars[name], color=color(name), lw=0.8, ls="--")
    if log_depth:
        ax.set_xscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\rho_l$")
    ax.set_title(r"correlation vs depth (dashed: stable fixed point $\rho^*$)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def relu_asymptotics(layers: Sequence[int], one_minus_rho: Sequence[float], *,
                     constant: float = 9 * math.pi**2 / 2, ax=None):
    r""":math:`l^2(1-\rho_l)` versus ``l`` for ReLU, approaching ``constant``
    (:math:`9\pi^2/2`)."""
    fig, ax = _axes(ax)
    layers = np.asarray(layers, dtype=float)
    scaled = layers**2 * np.asarray(one_minus_rho, dtype=float)
    ax.semilogx(layers, scaled, color=color("relu"), lw=1.4, label=r"$l^2(1-\rho_l)$")
    ax.axhline(constant, color="k", ls="--", lw=0.8, label=rf"$9\pi^2/2 = {constant:.3f}$")
    ax.axhspan(0.99 * constant, 1.01 * constant, color="tab:green", alpha=0.15, label="±1%")
    ax.set_xlabel("layer l")
    ax.set_title(r"ReLU ($\sigma_w^2=2,\sigma_b=0$): $1-\rho_l \sim 9\pi^2/(2l^2)$", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def depth_scale_divergence(data: Mapping[str, tuple[Sequence[float], Sequence[float], float]],
                           *, ax=None):
    r""":math:`\xi_c` versus the distance :math:`\varepsilon = \sigma_w-\sigma_w^*` from the
    edge of chaos, log-log, with the asymptote :math:`A\varepsilon^{-2}`:
    ``data[name] = (epsilons, xi_values, A)``."""
    fig, ax = _axes(ax)
    for name, (eps, xi, coefficient) in data.items():
        eps = np.asarray(eps, dtype=float)
        c = color(name)
        ax.loglog(eps, xi, "o", color=c, ms=5, label=f"{name}: computed")
        fine = np.geomspace(eps.min() / 1.5, eps.max() * 1.5, 50)
        ax.loglog(fine, coefficient / fine**2, "--", color=c, lw=1,
                  label=rf"{name}: ${coefficient:.4g}\,\varepsilon^{{-2}}$")
    ax.set_xlabel(r"$\varepsilon = \sigma_w - \sigma_w^*$ ($\sigma_b = 0$)")
    ax.set_ylabel(r"$\xi_c$")
    ax.set_title(r"correlation depth scale diverges at the edge of chaos", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return fig


def save(fig, path: str | os.PathLike, *, dpi: int = 110) -> str:
    """Write ``fig`` as PNG (atomically: temp file + rename); returns the path."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path
