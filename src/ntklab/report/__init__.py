"""Report: claims and their verdicts, tidy frames of stored runs, the figures drawn from them, the HTML page.

A claim is PASS, FAIL, INCONCLUSIVE (a declared precondition failed) or REPORTED (numbers only); see
:mod:`ntklab.report._claims`.  May import: layer 1 and ``runs`` (to read stored runs); never ``experiments``,
``sweeps`` or the command line, which decide what a directory holds and call in here.
"""

from ._claims import VERDICTS as VERDICTS
from ._claims import Claim as Claim
from ._claims import Precondition as Precondition
from ._claims import Support as Support
from ._claims import all_finite as all_finite
from ._claims import claim as claim
from ._claims import claims_frame as claims_frame
from ._claims import count_verdicts as count_verdicts
from ._claims import enough as enough
from ._claims import failing as failing
from ._claims import has_metric as has_metric
from ._claims import inconclusive as inconclusive
from ._claims import ordered as ordered
from ._claims import precondition as precondition
from ._claims import render_claims as render_claims
from ._claims import reported as reported
from ._claims import runs_usable as runs_usable
from ._claims import seed_support as seed_support
from ._claims import summary_line as summary_line
from ._claims import trained_below as trained_below
from ._figures import PAPER_COLOURS as PAPER_COLOURS
from ._figures import band_plot as band_plot
from ._figures import save_figure as save_figure
from ._frames import runs_frame as runs_frame
from ._style import BAND_ALPHA as BAND_ALPHA
from ._style import colour_for as colour_for
from ._style import log_ticks as log_ticks
from ._style import mathtext as mathtext
from ._style import outside_legend as outside_legend
from ._html import html_page as html_page
from ._html import png_data_uri as png_data_uri
