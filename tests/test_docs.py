"""The documentation site builds with --strict: a broken link, a missing page or a bad API reference fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # not -q: quiet mode drops warnings below ERROR, and --strict would then pass a warned build
    p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    site = tmp_path / "site"
    config = (site / "config" / "index.html").read_text()
    assert "network.scaling.gamma" in config and "γ ∈ [0, 1]" in config  # the field table, from the model
    cli = (site / "cli" / "index.html").read_text()
    assert "ntklab presets" in cli and "--check" in cli  # the CLI reference, from the typer app
    api = (site / "api" / "kernels" / "index.html").read_text()
    assert "empirical_ntk" in api and "network_limit" in api
    for page in (ROOT / "docs" / "recipes").glob("*.md"):
        assert (site / "recipes" / page.stem / "index.html").exists() or page.stem == "index"
    assert not (site / "_hooks.py").exists() and not (site / "generate_recipes.py").exists()
