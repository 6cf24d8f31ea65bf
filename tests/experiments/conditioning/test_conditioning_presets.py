"""The Agarwal et al. presets run end to end from the CLI in --quick mode, and their pieces behave."""

from __future__ import annotations

import math

import pandas as pd
import torch

from ntklab.cli import main
from ntklab.data import digits_on_sphere, digits_split, mnist1d_split
from ntklab.experiments.conditioning.deep_normalized import build_mlp


def test_conditioning_quick_from_the_cli(tmp_path, capsys):
    assert main(["run", "conditioning", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) >= 8 and set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    for fig in ("conditioning_sphere.png", "conditioning_digits.png", "conditioning_finite_width.png"):
        assert (tmp_path / "figures" / fig).stat().st_size > 1000
    spectra = pd.read_parquet(tmp_path / "spectra.parquet")
    nngp = spectra[(spectra.dataset == "sphere") & (spectra.kernel == "nngp")]
    nrelu = nngp[nngp.activation == "normalized_relu"]
    # normalised relu on the sphere: K^(L) has unit diagonal, so lambda_min <= 1 <= lambda_max and trace = n
    assert (nrelu.lambda_min <= 1 + 1e-9).all() and (nrelu.lambda_max >= 1 - 1e-9).all()
    assert main(["report", str(tmp_path)]) == 0
    assert "claims" in capsys.readouterr().out


def test_deep_normalized_quick_from_the_cli(tmp_path):
    assert main(["run", "deep-normalized", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary.variant) == {"relu", "relu+bn", "nrelu", "nrelu+bn"}
    assert summary.train_loss.notna().all() and (tmp_path / "figures" / "deep_normalized_digits.png").exists()
    # a second run resumes: nothing is retrained, the stored runs are kept
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "training").glob("*.json")}
    assert main(["run", "deep-normalized", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "training").glob("*.json")}


def test_bad_preset_options_exit_with_status_2(tmp_path, capsys):
    assert main(["run", "conditioning", "--quick", "--set", "activations=[swish]", "--out", str(tmp_path)]) == 2
    assert "activations" in capsys.readouterr().err
    assert main(["run", "deep-normalized", "--quick", "--set", "datasets=[mnist]", "--out", str(tmp_path)]) == 2


def test_datasets_and_initialisation():
    x = digits_on_sphere(50, seed=1)
    assert x.shape == (50, 64) and torch.allclose(x.norm(dim=1), torch.ones(50, dtype=torch.float64))
    x_tr, y_tr, x_te, y_te = digits_split()
    assert x_tr.shape == (1437, 64) and x_te.shape == (360, 64) and abs(x_tr.mean()) < 1e-12
    m_tr, my_tr, m_te, _ = mnist1d_split()
    assert m_tr.shape == (4000, 40) and m_te.shape == (1000, 40) and set(my_tr) == set(range(10))
    # normalised relu + LeCun init keeps the second moment at ~1 (a marginally stable fixed point: finite-width
    # fluctuations ~ sqrt(2 / 2048) per layer random-walk, ~7% after 5 layers)
    net = build_mlp(40, 2048, 5, 10, "nrelu", seed=0)
    h = torch.randn(256, 40)
    with torch.no_grad():
        for layer in list(net)[:-1]:
            h = layer(h)
    assert math.isclose(float(h.pow(2).mean()), 1.0, rel_tol=0.25)
