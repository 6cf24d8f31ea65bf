r"""One house style for every figure: a fixed colour per configuration, log axes ticked at the values run,
mathtext labels, legends outside the data, readable bands, sizes legible in the HTML report.

- :func:`colour_for` gives each configuration label the same colour in every figure: the paper's (Caron et al.'s
  reference figures, matplotlib's default cycle) for γ = 1, (0.7, 0.5), (0.5, 0.2), (0.4, 0); any other label
  the colour of its position among the figure's labels (figures of one report share their label order), and
  a colour fixed by the label's text when no position is given. A colour never depends on what was drawn
  before in the same process.
- :func:`log_ticks` puts the ticks of a log axis at the values actually run (widths, depths) with plain labels,
  so ``3×10²4×10²`` can no longer collide.
- :func:`outside_legend` puts the legend right of the axes, never over a line.
- :func:`mathtext` writes the sub- and superscripts of a label in mathtext (``‖Θ̂_0‖_F`` → ``‖Θ̂$_0$‖$_F$``,
  ``w_j*(t)`` → ``w$_{j^*}$(t)``); :func:`ntklab.report.save_figure` applies it to every title, axis label
  and legend entry, so a recipe writes its labels plainly.  Only the scripts of a one-letter (or ``‖``, ``)``)
  base of at most three characters are converted: ``train_risk`` stays as it is.
- :data:`BAND_ALPHA` is the fill of a ±std band; :data:`RC` the rcParams every figure is drawn under.

Example:
    >>> from ntklab.report import colour_for
    >>> colour_for("γ=1"), colour_for("α=0.4, γ=0"), colour_for("lr=0.5", 0)
    ('C0', 'C3', 'C0')
    >>> mathtext("‖ΔΘ̂‖_F / ‖Θ̂_0‖_F"), mathtext("f^lin_T"), mathtext("train_risk")
    ('‖ΔΘ̂‖$_F$ / ‖Θ̂$_0$‖$_F$', 'f$^{\\mathrm{lin}}_T$', 'train_risk')
"""

from __future__ import annotations

import re
import zlib

__all__ = ["colour_for", "log_ticks", "outside_legend", "mathtext", "BAND_ALPHA", "RC", "FIGSIZE", "DPI",
           "gamma_of"]

BAND_ALPHA = 0.15
FIGSIZE = (5.6, 3.6)  # one panel; the HTML report shows figures at their natural size up to the page width
DPI = 110
RC = {
    "font.size": 9.5, "axes.titlesize": 10, "axes.labelsize": 9.5, "legend.fontsize": 8.5, "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
    "axes.spines.right": False, "mathtext.fontset": "dejavusans", "figure.constrained_layout.use": True,
}

# Caron et al.'s configurations in their reference figures' colours, keyed by γ
_PAPER = {1.0: "C0", 0.5: "C1", 0.2: "C2", 0.0: "C3"}
_OTHERS = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "#1b9e77", "#d95f02", "#7570b3", "#e7298a"]


def gamma_of(label: str) -> float | None:
    """γ of an asymmetrical-scaling label (``γ=1``, ``α=0.7, γ=0.5``, ``gamma=0.2``), else None."""
    m = re.search(r"(?:γ|gamma)\s*=\s*([0-9.]+)", str(label))
    return float(m.group(1)) if m else None


def colour_for(label, position: int | None = None) -> str:
    """The colour of configuration ``label``: the paper's for its γ, else that of ``position`` (its index among
    the figure's labels), else one fixed by the label's text."""
    label = str(label)
    g = gamma_of(label)
    if g is not None and g in _PAPER:
        return _PAPER[g]
    if position is None:
        position = zlib.crc32(label.encode())
    return _OTHERS[position % len(_OTHERS)]


def log_ticks(ax, values, axis: str = "x") -> None:
    """Ticks of a log axis at ``values`` (those run), labelled plainly, without minor tick labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    vals = sorted({float(v) for v in values if float(v) > 0})
    if not vals:
        return
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(vals))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())
    if axis == "x" and len(vals) > 6:
        for lab in ax.get_xticklabels():
            lab.set_rotation(45)


def outside_legend(ax, **kw) -> None:
    """The legend to the right of the axes (never over the data); nothing when no artist is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
                  **kw)


_SCRIPT = r"[_^](?:\{[^}$]*\}|\([A-Za-z0-9]{1,3}\)|[A-Za-z0-9]{1,3}\*?(?![A-Za-z0-9]))"
_LABEL_SCRIPTS = re.compile(r"((?<![A-Za-z0-9_])[A-Za-zΑ-Ωα-ω][\u0300-\u036f]*|[‖)\]])((?:" + _SCRIPT + r")+)")


def _script(token: str) -> str:
    mark, body = token[0], token[1:]
    if body.startswith("{"):
        return mark + body
    if body.startswith("("):
        return mark + "{" + body + "}"
    star = body.endswith("*")
    body = body.rstrip("*")
    if len(body) > 1 and body.isalpha():
        body = r"\mathrm{" + body + "}"
    if star:
        body = body + "^*"
    return mark + ("{" + body + "}" if len(body) > 1 else body)


def mathtext(label: str) -> str:
    """``label`` with its sub/superscripts (``_0``, ``_F``, ``^l``, ``_j*``, ``^lin``) in mathtext; a label that
    already holds ``$`` is left alone."""
    if not isinstance(label, str) or "$" in label or ("_" not in label and "^" not in label):
        return label

    def repl(m: re.Match) -> str:
        tokens = re.findall(_SCRIPT, m.group(2))
        return m.group(1) + "$" + "".join(_script(t) for t in tokens) + "$"

    return _LABEL_SCRIPTS.sub(repl, label)
