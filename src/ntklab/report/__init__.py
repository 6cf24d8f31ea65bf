"""Report: tidy frames of stored runs and the figures drawn from them."""

from ._figures import PAPER_COLOURS as PAPER_COLOURS
from ._figures import band_plot as band_plot
from ._figures import save_figure as save_figure
from ._frames import runs_frame as runs_frame
