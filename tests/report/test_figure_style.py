"""The house figure style: colours fixed by configuration, mathtext scripts, ticks at the values run."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.mathtext import MathTextParser  # noqa: E402

from ntklab.report import band_plot, colour_for, log_ticks, mathtext, save_figure  # noqa: E402


def test_colours_follow_the_paper_for_gamma_and_the_position_otherwise():
    assert [colour_for(f"α=0.5, γ={g}") for g in (1, 0.5, 0.2, 0)] == ["C0", "C1", "C2", "C3"]
    first = [colour_for(f"lr={v}", i) for i, v in enumerate((0.1, 1.0, 10.0))]
    for i in range(30):  # drawing other labels in between changes nothing
        colour_for(f"noise-{i}")
    assert [colour_for(f"lr={v}", i) for i, v in enumerate((0.1, 1.0, 10.0))] == first == ["C0", "C1", "C2"]
    assert colour_for("some label") == colour_for("some label")  # fixed by the text when no position is given


@pytest.mark.parametrize("plain, expected", [
    ("‖ΔΘ̂‖_F / ‖Θ̂_0‖_F", "‖ΔΘ̂‖$_F$ / ‖Θ̂$_0$‖$_F$"),
    ("‖w_j*(t) − w_j*(0)‖", "‖w$_{j^*}$(t) − w$_{j^*}$(0)‖"),
    ("‖ΔW^l‖_F / ‖W^l_0‖_F", "‖ΔW$^l$‖$_F$ / ‖W$^l_0$‖$_F$"),
    ("f^lin_T", r"f$^{\mathrm{lin}}_T$"),
    ("K^(L) (NNGP)", "K$^{(L)}$ (NNGP)"),
    ("λ_min(Θ̂_0)", r"λ$_{\mathrm{min}}$(Θ̂$_0$)"),
    ("train_risk", "train_risk"),            # identifiers stay as they are
    ("max_node_displacement", "max_node_displacement"),
    ("$a_1^2$", "$a_1^2$"),                  # already mathtext
])
def test_mathtext_scripts(plain, expected):
    assert mathtext(plain) == expected
    if "$" in expected:
        MathTextParser("path").parse(expected)  # and matplotlib can draw it


def test_save_figure_writes_scripts_in_mathtext_and_ticks_at_the_widths(tmp_path):
    frame = pd.DataFrame({"m": [125, 250, 500, 1000] * 2, "value": [1.0, 0.7, 0.5, 0.35] * 2,
                          "label": ["γ=1"] * 4 + ["α=0.5, γ=0.2"] * 4})
    ax = band_plot(frame, x="m", logx=True, logy=True, ylabel="‖ΔΘ̂‖_F / ‖Θ̂_0‖_F", title="drift of Θ_t")
    fig = ax.figure
    assert [t.get_text() for t in ax.get_xticklabels()] == ["125", "250", "500", "1000"]
    assert [line.get_color() for line in ax.get_lines()] == ["C0", "C2"]
    save_figure(fig, tmp_path / "f.png")
    assert ax.yaxis.label.get_text() == "‖ΔΘ̂‖$_F$ / ‖Θ̂$_0$‖$_F$" and ax.title.get_text() == "drift of Θ$_t$"
    assert (tmp_path / "f.png").stat().st_size > 5000
    plt.close("all")


def test_log_ticks_ignore_non_positive_values():
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    log_ticks(ax, [0, 10, 100])
    assert [t for t in ax.get_xticks()] == [10, 100]
    plt.close(fig)


def test_save_figure_puts_a_recipes_own_axes_in_the_house_style(tmp_path):
    """A figure drawn without band_plot: its log-x ticks go to the widths run, a depth axis gets integer ticks,
    and its legends move outside the axes."""
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], label="relu")
    a.legend()
    b.plot([128, 256, 512, 1024, 2048], [1, 0.7, 0.5, 0.35, 0.25], label="m^-1/2")
    b.set(xscale="log", yscale="log")
    b.legend(loc="lower left")
    save_figure(fig, tmp_path / "own.png")
    assert [t.get_text() for t in b.get_xticklabels()] == ["128", "256", "512", "1024", "2048"]
    assert all(float(v).is_integer() for v in a.get_xticks())
    for ax in (a, b):
        assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.bbox.x1  # outside, right of the axes
    assert [t.get_text() for t in b.get_legend().get_texts()] == ["m^-1/2"]  # the labels survive the move
