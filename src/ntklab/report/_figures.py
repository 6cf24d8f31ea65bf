"""Figures from tidy frames: mean +- std bands over seeds, one line per label.

Example:
    >>> import pandas as pd
    >>> from ntklab.report import band_plot
    >>> df = pd.DataFrame({"step": [0, 1, 0, 1], "value": [1.0, 0.5, 1.2, 0.4], "label": "a", "seed": [0, 0, 1, 1]})
    >>> ax = band_plot(df, title="risk")
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .._io import atomic_write_bytes  # noqa: E402
from ._style import BAND_ALPHA, DPI, FIGSIZE, RC, colour_for, log_ticks, mathtext, outside_legend  # noqa: E402

__all__ = ["band_plot", "save_figure", "PAPER_COLOURS"]

# the reference figures' colours (matplotlib's default cycle): gamma = 1, (0.7, 0.5), (0.5, 0.2), (0.4, 0)
PAPER_COLOURS = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
plt.rcParams.update(RC)


def band_plot(frame: pd.DataFrame, *, x: str = "step", y: str = "value", hue: str = "label", ax=None,
              logy: bool = False, logx: bool = False, title: str = "", xlabel: str | None = None,
              ylabel: str = "", order=None, transform=None, legend: bool = True, marker: str | None = None):
    """Mean ± 1 std over seeds of ``y`` against ``x``, one band per ``hue`` value, in the house style.

    Each ``hue`` value keeps its colour across figures (:func:`~ntklab.report.colour_for`); a log x axis of a
    few numeric values (widths, depths) is ticked at those values; the legend sits outside the data.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    labels = order if order is not None else list(dict.fromkeys(frame[hue]))
    xs = set()
    for position, lab in enumerate(labels):
        sub = frame[frame[hue] == lab]
        if sub.empty:
            continue
        vals = sub[y] if transform is None else transform(sub[y])
        g = vals.groupby(sub[x])
        mean, std = g.mean(), g.std().fillna(0.0)
        colour = colour_for(lab, position)
        ax.plot(mean.index, mean.values, color=colour, label=str(lab), lw=1.6, marker=marker, ms=3.5)
        lo, hi = mean - std, mean + std
        if logy:
            lo = lo.clip(lower=np.nanmin(mean.values[mean.values > 0]) / 10 if (mean.values > 0).any() else 1e-12)
        ax.fill_between(mean.index, lo.values, hi.values, color=colour, alpha=BAND_ALPHA, lw=0)
        xs.update(mean.index.tolist())
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
        if 0 < len(xs) <= 12:
            log_ticks(ax, xs)
    ax.set_title(title, wrap=True)
    ax.set_xlabel(xlabel if xlabel is not None else x)
    ax.set_ylabel(ylabel)
    if legend:
        outside_legend(ax)
    return ax


def _mathtext_labels(fig) -> None:
    """Every title, axis label and legend entry of ``fig`` with its scripts in mathtext (:func:`mathtext`)."""
    texts = [fig._suptitle] if getattr(fig, "_suptitle", None) is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        leg = ax.get_legend()
        if leg is not None:
            texts += list(leg.get_texts())
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")
    for t in texts:
        new = mathtext(t.get_text())
        if new == t.get_text():
            continue
        try:
            parser.parse(new)
        except ValueError:  # a label mathtext cannot parse is drawn as written
            continue
        t.set_text(new)


def _house_axes(fig) -> None:
    """The house style on axes a recipe drew itself: a log x axis of at most 12 values run is ticked at them, a
    linear x axis of integer values (depths) gets integer ticks, and a legend inside the axes moves outside."""
    from matplotlib.legend import Legend
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        xs = set()
        for line in ax.get_lines():
            xs.update(float(v) for v in np.asarray(line.get_xdata(), dtype=float).ravel() if np.isfinite(v))
        if ax.get_xscale() == "log" and 0 < len(xs) <= 12:
            log_ticks(ax, xs)
        elif ax.get_xscale() == "linear" and xs and all(float(v).is_integer() for v in xs):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        leg = ax.get_legend()
        if isinstance(leg, Legend) and leg.get_bbox_to_anchor().x0 < ax.bbox.x1 - 1:  # not already outside
            handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
            if handles and len(handles) == len(labels):
                ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                          frameon=False, fontsize=RC["legend.fontsize"], title=leg.get_title().get_text() or None)


def save_figure(fig_or_ax, path: str | Path) -> Path:
    """Save atomically as PNG and close the figure, in the house style: titles, axis labels and legends get
    mathtext scripts, log axes are ticked at the values run and legends sit outside the data."""
    import io

    fig = fig_or_ax.figure if hasattr(fig_or_ax, "figure") and not hasattr(fig_or_ax, "savefig") else fig_or_ax
    _house_axes(fig)
    _mathtext_labels(fig)
    if not fig.get_constrained_layout():
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
