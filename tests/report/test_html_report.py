"""The HTML report in a real headless browser (Debian's chromium): the page loads, the figures and the claims
table render (checked on the DOM and on the pixels of a screenshot saved in the test's temporary directory).

Covers a config sweep run on two local worker processes and a preset sweep whose unit is a preset
experiment (``ntklab report`` on one of those experiment directories writes its page too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ntklab.cli import main

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = os.environ.get("NTKLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:  # make test installs it (Makefile `browser`): its absence is a set-up failure, not a skip
        pytest.fail("chromium not found: run `make browser` (apt-get install chromium) or set NTKLAB_CHROMIUM")
    return found


def render(page: Path, tmp: Path, height: int) -> tuple[str, np.ndarray]:
    """The DOM after load and a screenshot (saved next to the page's test files) as an RGB array."""
    base = [chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--window-size=1280,{height}"]
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp / f"{page.parent.name}-screenshot.png"
    res = subprocess.run(base + [f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                         timeout=90)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    return dom.stdout, np.asarray(Image.open(shot).convert("RGB")).astype(int)


def share(img: np.ndarray, rgb) -> float:
    """Fraction of the screenshot's pixels within 12 levels of colour ``rgb``."""
    return float((np.abs(img - np.asarray(rgb)).max(-1) <= 12).mean())


SWEEP = {"name": "html", "base": {"config": {
    "network": {"width": 16}, "data": {"options": {"n_train": 12, "n_test": 6, "d": 3}},
    "training": {"steps": 20}, "probes": {"every": 5, "ntk": False, "top_nodes": 0}}},
    "grid": {"optimizer.lr": [0.25, 1.0]}, "seeds": 2,
    "claims": [{"name": "train risk falls below 10", "metric": "train_risk", "op": "<", "value": 10.0},
               {"name": "weights stay put", "metric": "weight_change_rel", "op": "<", "value": 1e-9}]}


def test_config_sweep_report_renders_in_chromium(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(SWEEP))
    out = tmp_path / "sweep"
    assert main(["sweep", str(tmp_path / "s.json"), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    assert main(["report", str(out)]) == 0
    frame = pd.read_parquet(out / "results.parquet")
    assert frame.unit.nunique() == 4 and {"optimizer.lr", "seed", "step", "metric", "value"} <= set(frame.columns)
    claims = pd.read_csv(out / "claims.csv")
    assert claims.verdict.tolist() == ["PASS", "FAIL"]
    dom, img = render(out / "report.html", tmp_path, 2600)
    n_fig = len(list((out / "figures").glob("*.png")))
    assert n_fig == frame[frame.key == ""].metric.nunique() >= 4
    assert dom.count('<img alt="') == n_fig and dom.count("data:image/png;base64,") == n_fig
    assert 'src="http' not in dom and "<script" not in dom  # self-contained
    assert '<table id="claims">' in dom and dom.count('<td class="PASS">') == 1 and dom.count('<td class="FAIL">') == 1
    assert share(img, (200, 240, 200)) > 1e-4 and share(img, (245, 192, 192)) > 1e-4  # PASS / FAIL cells painted
    assert share(img, (31, 119, 180)) > 2e-4  # matplotlib's first line colour: the figures were drawn


PRESET_SWEEP = {"name": "preset", "base": {"preset": "asym-simulated"},
                "set": ["width=16", "steps=10", "seeds=1", "every=5", "lr=0.5",
                        "n_train=10", "n_test=5", "d=3", "sweep_widths=[8, 16]", "sweep_steps=5",
                        "sweep_seeds=1", "sweep_gammas=[1.0]"],
                "grid": {"configs": [[[0.5, 1.0], [0.4, 0.0]]]}}


def test_preset_sweep_and_experiment_reports_render(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(PRESET_SWEEP))
    out = tmp_path / "psweep"
    assert main(["sweep", str(tmp_path / "p.json"), "--out", str(out), "--no-progress"]) == 0
    assert main(["report", str(out)]) == 0
    claims = pd.read_csv(out / "claims.csv")
    assert set(claims.unit) == {p.name for p in (out / "runs").iterdir()} and "configs" in claims.columns
    assert set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"} and len(claims) >= 4
    dom, img = render(out / "report.html", tmp_path, 1600)
    assert dom.count('<td class="PASS">') + dom.count('<td class="FAIL">') == int(claims.verdict.isin(["PASS", "FAIL"]).sum())
    assert dom.count("data:image/png;base64,") == 6  # the unit's preset figures, embedded
    assert share(img, (31, 119, 180)) > 2e-4
    unit = next((out / "runs").iterdir())
    assert main(["report", str(unit)]) == 0  # a preset experiment directory gets its page as well
    page = (unit / "report.html").read_text()  # the same page builder as the sweep page rendered above
    assert '<table id="claims">' in page and page.count("data:image/png;base64,") == 6
