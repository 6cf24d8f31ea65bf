"""Report: tidy frames of stored runs and the figures drawn from them."""

from ._figures import PAPER_COLOURS as PAPER_COLOURS
from ._figures import band_plot as band_plot
from ._figures import save_figure as save_figure
from ._frames import runs_frame as runs_frame
from ._html import html_page as html_page
from ._html import png_data_uri as png_data_uri
from ._pages import report_dir as report_dir
from ._pages import report_experiment as report_experiment
from ._sweep_report import report_sweep as report_sweep
from ._sweep_report import sweep_frame as sweep_frame
