r"""Shared figure panels for claims.

Each panel draws on a matplotlib ``Axes`` and returns it; :func:`grid` makes
a Figure of panels (object API, Agg-safe: no ``pyplot``). Colours come from
:data:`numerics.plots.COLORS`, the one place for them: an activation's name
or a role (``"measured"``, ``"predicted"``, ``"band"``, ``"threshold"``).

Panels: :func:`loglog_fit` (data and a fitted power law with its slope),
:func:`prediction_band` (measurement with error bars vs a prediction with its
tolerance band), :func:`trajectory_vs_ode` (simulated runs vs a reduced ODE),
:func:`strip` / :func:`z_strip` (values or z-scores against thresholds), :func:`qq_plot` (normal
quantile plot).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.ticker
import numpy as np

from numerics.plots import color

__all__ = ["grid", "loglog_fit", "prediction_band", "qq_plot", "strip", "trajectory_vs_ode",
           "z_strip"]


def grid(rows: int = 1, cols: int = 1, *, size=(4.4, 3.6), title: str | None = None):
    """A constrained-layout Figure with ``rows x cols`` panels; returns
    ``(figure, axes)`` with ``axes`` a 2-D array."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes


def _finish(ax, title, xlabel, ylabel, legend=True):
    if title:
        ax.set_title(title, fontsize=9)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return ax


def loglog_fit(ax, x, y, fit=None, *, yerr=None, expected_slope=None, label="", name=None,
               title="", xlabel="", ylabel=""):
    """Points ``(x, y)`` on log-log axes (error bars ``yerr``), the fitted line of
    ``fit`` (a :class:`numerics.stats.SlopeFit`) labelled with its slope, and, when
    ``expected_slope`` is given, a reference line of that slope through the fit's
    middle point."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    points = ax.errorbar(x, y, yerr=yerr, fmt="o", ms=4, color=color(name or label), capsize=2)
    c = points[0].get_color()  # the axes' colour cycle where no colour is registered
    ax.set_xscale("log")
    ax.set_yscale("log")
    values = np.unique(x)
    if values.size <= 8:  # a sweep's few sizes: label them, not the log axis' minor ticks
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if fit is not None:
        fine = np.geomspace(x.min(), x.max(), 50)
        se = f" ± {fit.slope_se:.3f}" if fit.slope_se else ""
        ax.plot(fine, fit.predict(fine), "-", color=c, lw=1,
                label=f"{label + ': ' if label else ''}slope {fit.slope:.3f}{se}")
        if expected_slope is not None:
            mid = np.sqrt(x.min() * x.max())
            ref = fit.predict(mid) * (fine / mid) ** expected_slope
            ax.plot(fine, ref, ":", color=color("reference"), lw=1,
                    label=f"slope {expected_slope:g}")
    return _finish(ax, title, xlabel, ylabel)


def prediction_band(ax, x, measured, predicted, band=None, *, yerr=None, label="", name=None,
                    title="", xlabel="", ylabel="", logy=False):
    """A measurement (points, error bars ``yerr``) against a prediction (line),
    with the tolerance ``band`` (half-width, scalar or per point) shaded around it."""
    c = color(name or label) or color("measured")
    x = np.asarray(x, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    ax.plot(x, pred, "-", color=color("predicted"), lw=1.2, label="prediction")
    if band is not None:
        b = np.broadcast_to(np.asarray(band, dtype=float), pred.shape)
        ax.fill_between(x, pred - b, pred + b, color=color("band"), alpha=0.2, lw=0,
                        label="tolerance")
    ax.errorbar(x, np.asarray(measured, dtype=float), yerr=yerr, fmt="o", ms=4, color=c,
                capsize=2, label=label or "measured")
    if logy:
        ax.set_yscale("log")
    return _finish(ax, title, xlabel, ylabel)


def trajectory_vs_ode(ax, t, runs, ode_t, ode_y, *, label="", name=None, title="",
                      xlabel="t", ylabel="", logx=False, logy=False):
    """Simulated trajectories ``runs`` (shape ``(n_runs, len(t))``: thin lines and
    their mean) against the reduced ODE's solution ``(ode_t, ode_y)`` (thick line)."""
    c = color(name or label) or color("measured")
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    for r in runs:
        ax.plot(t, r, color=c, lw=0.5, alpha=0.35)
    ax.plot(t, runs.mean(axis=0), color=c, lw=1.2, label=f"{label or 'simulation'} (mean of "
            f"{len(runs)})")
    ax.plot(ode_t, ode_y, "--", color=color("predicted"), lw=1.5, label="reduced ODE")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return _finish(ax, title, xlabel, ylabel)


def strip(ax, values, *, lines=(), groups: Sequence[str] | None = None, logy=False,
          title="", ylabel=""):
    """Values in order (coloured by ``groups[i]`` when given: activation names or any
    labels) with horizontal threshold ``lines``; NaN entries are not drawn."""
    values = np.asarray(values, dtype=float).ravel()
    index = np.arange(values.size)
    if groups is None:
        ax.plot(index, values, "o", ms=3, color=color("measured"))
    else:
        groups = list(groups)
        for g in dict.fromkeys(groups):
            sel = np.array([gg == g for gg in groups])
            ax.plot(index[sel], values[sel], "o", ms=3, color=color(g), label=str(g))
    for y in lines:
        ax.axhline(y, color=color("threshold"), ls="--", lw=0.8)
    if logy:
        ax.set_yscale("log")
    ax.set_xticks([])
    return _finish(ax, title, "", ylabel)


def z_strip(ax, z, threshold, *, groups: Sequence[str] | None = None, title="", ylabel="z"):
    """z-scores in order with the threshold lines ``±threshold`` (see :func:`strip`)."""
    ax.axhline(0, color=color("reference"), lw=0.6)
    return strip(ax, z, lines=(-threshold, threshold), groups=groups, ylabel=ylabel,
                 title=title or f"z-scores (threshold ±{threshold:.2f})")


def qq_plot(ax, samples, *, label="", name=None, title="", ylabel="sample quantile"):
    """Normal quantile plot of ``samples`` with the line y = x (standard normal)."""
    from scipy import stats as st

    s = np.sort(np.asarray(samples, dtype=float).ravel())
    theory = st.norm.ppf((np.arange(1, s.size + 1) - 0.5) / s.size)
    ax.plot(theory, s, ".", ms=3, color=color(name or label) or color("measured"),
            label=f"{label} (n = {s.size})".strip())
    lim = max(4.0, float(np.max(np.abs(s))) if s.size else 4.0)
    ax.plot([-lim, lim], [-lim, lim], "--", color=color("predicted"), lw=0.8, label="N(0, 1)")
    return _finish(ax, title, "normal quantile", ylabel)
