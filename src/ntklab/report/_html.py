"""One self-contained HTML page: figures embedded as base64 PNG, a claims table, tables, configs, versions.

The page needs nothing beside itself (no scripts, no external styles or images), so it can be mailed,
archived or opened from a cluster's file system.  Everything taken from runs is HTML-escaped.

Example:
    >>> import pandas as pd
    >>> from ntklab.report import html_page
    >>> page = html_page("demo", claims=pd.DataFrame({"name": ["a"], "verdict": ["PASS"], "measured": ["1"],
    ...                                                "expected": [""]}))
    >>> '<table id="claims"' in page and "PASS" in page
    True
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from .._io import atomic_write_text

__all__ = ["html_page", "png_data_uri"]

_STYLE = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.PASS{background:#c8f0c8;font-weight:bold}td.FAIL{background:#f5c0c0;font-weight:bold}
td.INCONCLUSIVE{background:#f5ecc0;font-weight:bold}td.REPORTED{background:#e4eef8}figure{display:inline-block;margin:.5em;vertical-align:top}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.8em;color:#555}
pre{background:#f7f7f7;padding:.6em;font-size:.8em;overflow-x:auto;max-height:30em}
"""


def png_data_uri(png: bytes | str | Path) -> str:
    """A ``data:image/png;base64,...`` URI of a PNG (bytes or a path), for a self-contained page."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _table(df: pd.DataFrame, table_id: str) -> str:
    if df is None or df.empty:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            cls = f' class="{v}"' if c == "verdict" and v in ("PASS", "FAIL", "INCONCLUSIVE", "REPORTED") else ""
            text = f"{v:.6g}" if isinstance(v, float) else str(v)
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _figures(figures: list[tuple[str, bytes | str | Path]]) -> str:
    if not figures:
        return "<p><em>no figures</em></p>"
    parts = []
    for i, (caption, png) in enumerate(figures):
        cap = html.escape(caption)
        parts.append(f'<figure id="figure-{i}"><img alt="{cap}" src="{png_data_uri(png)}">'
                     f"<figcaption>{cap}</figcaption></figure>")
    return "\n".join(parts)


def _json_block(obj) -> str:
    return f"<pre>{html.escape(json.dumps(obj, indent=2, sort_keys=True, default=str))}</pre>"


def html_page(title: str, *, summary: str = "", claims: pd.DataFrame | None = None,
              figures: list[tuple[str, bytes | str | Path]] = (), tables: dict[str, pd.DataFrame] | None = None,
              configs: dict[str, object] | None = None, versions: dict | None = None,
              path: str | Path | None = None, problems: list[str] = ()) -> str:
    """The page as a string (also written atomically to ``path`` when given); ``problems`` lists diverged or
    failed runs by name under the claims."""
    claim_cols = ["name", "verdict", "measured", "support", "expected"]
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    if summary:
        parts.append(f'<p id="summary">{html.escape(summary)}</p>')
    parts.append("<h2>Claims</h2>")
    if claims is not None and not claims.empty:
        cols = [c for c in claims.columns if c not in ("passed",) and c not in claim_cols] + claim_cols
        parts.append(_table(claims[[c for c in cols if c in claims.columns]], "claims"))
        from ._claims import summary_line

        parts.append(f'<p id="verdicts">{html.escape(summary_line(claims))}</p>')
    else:
        parts.append('<p id="claims-none"><em>no claims defined</em></p>')
    if problems:
        parts.append('<ul id="problems">' + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>")
    parts += ["<h2>Figures</h2>", _figures(list(figures))]
    for name, df in (tables or {}).items():
        parts += [f"<h2>{html.escape(name)}</h2>", _table(df, f"table-{name}")]
    if configs:
        parts.append("<h2>Configs</h2>")
        for name, cfg in configs.items():
            parts.append(f"<details><summary>{html.escape(name)}</summary>{_json_block(cfg)}</details>")
    if versions:
        parts += ["<h2>Versions</h2>", _json_block(versions)]
    parts.append("</body></html>\n")
    page = "\n".join(parts)
    if path is not None:
        atomic_write_text(path, page)
    return page
