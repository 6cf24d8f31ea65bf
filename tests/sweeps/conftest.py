"""Shared by the executor tests: a unit resumed after its worker was killed equals the same unit trained alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

CHILDREN = Path(__file__).parents[1] / "_children"


@pytest.fixture
def equals_trained_alone(run_python, tmp_path):
    """``check(unit, out)``: train ``unit`` alone in a plain local process (one thread) and compare its metrics
    with ``out/runs/<id>`` bit for bit."""

    def check(unit, out: Path) -> None:
        ref = tmp_path / "trained-alone"
        p = run_python(CHILDREN / "resume_child.py", json.dumps([{"unit": unit.to_dict(), "dir": str(ref)}]))
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        pd.testing.assert_frame_equal(pd.read_parquet(out / "runs" / unit.id / "metrics.parquet"),
                                      pd.read_parquet(ref / "runs" / unit.id / "metrics.parquet"), check_exact=True)

    return check
