"""The scripts in examples/ run, at a small size (NTKLAB_EXAMPLE_SMALL=1), with warnings as errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script, tmp_path):
    env = {**os.environ, "NTKLAB_EXAMPLE_SMALL": "1", "OMP_NUM_THREADS": "1"}
    args = [str(tmp_path / "out")] if script.stem == "sweep_from_yaml" else []
    p = subprocess.run([sys.executable, "-W", "error", str(script), *args], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip(), "an example prints what it shows"


def test_there_are_the_four_examples_the_docs_promise():
    assert {p.stem for p in EXAMPLES} >= {"ntk_of_your_module", "asymmetric_scaling",
                                         "your_network_vs_its_linearisation", "sweep_from_yaml"}
