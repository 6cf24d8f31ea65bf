"""The real-data presets run from the CLI in their --quick mode and write pruning/transfer tables and claims."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from ntklab.cli import main
from ntklab.experiments import get_preset, resolve_options
from ntklab.experiments.asym._real_data import postprocess
from ntklab.runs import load_runs, set_status

PRUNE_CLAIM = "pruning 90% of nodes"
TRANSFER_CLAIM = "transfer (the paper's MLP readout, mean of 2 initialisations; carries the verdict)"
RIDGE_CLAIM = "transfer (ridge on standardised features; scale-invariant; reported"
LAZY_CLAIMS = ("γ=1 follows its linearised prediction", "every γ<1 departs from its linearised prediction")
# the --quick modes sized down so that the suite stays fast (the presets' own quick budgets are measured in the
# notes): m = 60, 40 GD steps, k in {10, 20}
TINY = [f"--set={kv}" for kv in ("seeds=2", "width=60", "steps=40", "every=20", "ntk_points=20", "transfer_ks=[10, 20]",
                                 "mlp_ks=[10]", "mlp_steps=20", "mlp_repeats=2")]


def _check(out, prefix, classification):
    claims = pd.read_csv(out / "claims.csv", keep_default_na=False)
    names = " | ".join(claims.name)
    decided = claims[claims.verdict.isin(["PASS", "FAIL"])]
    # decided per seed, or with a stated interval over the seeds or the initialisation draws
    assert len(decided) and decided.support.str.fullmatch(
        r"[0-2]/2 seeds|2 seeds, 90% t-interval|32 initialisations, 90% t-interval").all()
    assert PRUNE_CLAIM in names and TRANSFER_CLAIM in names and RIDGE_CLAIM in names
    assert all(c in names for c in LAZY_CLAIMS) and "test risk of the linearised prediction" in names
    lazy = pd.read_parquet(out / "lazy.parquet")
    assert {"lazy_gap", "lazy_test_risk", "lazy_train_risk"} <= set(lazy.metric)
    assert set(lazy.width) == {15, 30, 60} and set(lazy[lazy.width < 60].gamma) == {1.0}  # the γ=1 lazy sweep
    assert set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    assert "final max-node displacement increases as γ decreases (mean over seeds)" in names
    assert "final max-node displacement of every γ<1 exceeds γ=1's" in names
    pr = pd.read_parquet(out / "pruning.parquet")
    assert set(pr.order) == {"importance", "displacement", "random"} and set(pr.gamma) == {1.0, 0.5, 0.2, 0.0}
    assert sorted(pr.n_pruned.unique())[:2] == [0, 3] and pr.fraction.max() == 1.0  # every 5 % of m = 60
    tr = pd.read_parquet(out / "transfer.parquet")
    assert set(tr.readout) == {"mlp", "ridge_std"} and set(tr.k) == {10, 20}
    assert set(tr[tr.readout == "mlp"].repeat) == {0, 1}
    assert ("test_acc" in set(tr.metric)) == classification
    for f in ("trainrisk", "ntkmineig", "ntkdiff", "wdiff", "prune_testrisk", "prune_orders", "transfer_testrisk"):
        assert (out / "figures" / f"{prefix}_{f}.png").exists(), f


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    """preset -> the directory of its --quick run (each preset run once per module)."""
    stores = {}

    def get(preset):
        if preset not in stores:
            out = tmp_path_factory.mktemp(preset)
            assert main(["run", preset, "--quick", *TINY, "--out", str(out), "--no-progress"]) == 0
            stores[preset] = out
        return stores[preset]

    return get


@pytest.mark.parametrize("preset, prefix, classification", [
    ("asym-concrete", "concrete", False), ("asym-diabetes", "diabetes", False), ("asym-digits", "digits", True), ("asym-mnist1d", "mnist1d", True)])
def test_quick_preset(quick_store, preset, prefix, classification):
    _check(quick_store(preset), prefix, classification)


def test_a_diverged_run_is_named_and_leaves_the_other_runs_numbers_unchanged(quick_store, tmp_path, capsys):
    out = tmp_path / "diabetes"
    shutil.copytree(quick_store("asym-diabetes"), out)
    before = pd.read_parquet(out / "transfer.parquet")
    bad = next(r for r in load_runs(out / "runs") if r.name == "a0.7-g0.5-s0")
    set_status(bad.path, "diverged", step=3, loss=1e30)
    opts = resolve_options(get_preset("asym-diabetes"), quick=True,
                           overrides=[t.removeprefix("--set=") for t in TINY])
    postprocess(opts, out)  # the tables again, without the diverged run
    after = pd.read_parquet(out / "transfer.parquet")
    assert bad.path.name not in set(after.run) and len(after) == len(before) * 7 // 8
    kept = before[before.run != bad.path.name].reset_index(drop=True)
    pd.testing.assert_frame_equal(after, kept)  # bitwise: a run's transfer numbers do not depend on the others
    assert main(["report", str(out)]) == 0
    assert f"diverged: runs/{bad.path.name} at step 3" in capsys.readouterr().out
    claims = pd.read_csv(out / "claims.csv", keep_default_na=False).set_index("name")
    for name, c in claims.iterrows():
        if name.startswith("pruning 90%"):  # γ=0 and γ=1 only
            assert c.verdict in ("PASS", "FAIL") and c.support.endswith("/2 seeds"), name
        elif name.startswith("λ_min"):  # step 0, over the initialisation draws
            assert c.verdict in ("PASS", "FAIL") and c.support == "32 initialisations, 90% t-interval", name
        elif name.startswith("γ=1: λ_min"):  # at m = 60 the draws spread too much to test the limit
            assert c.verdict == "INCONCLUSIVE" and "widen the net" in c.measured, name
        else:  # every other claim compares all four configurations, so it needs the diverged run
            assert c.verdict == "INCONCLUSIVE" and c.measured == "1 runs diverged or unfinished (a0.7-g0.5-s0)", name


def test_uci_preset_on_an_airfoil_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(120, 5))
    y = np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2]
    f = tmp_path / "airfoil_self_noise.dat"
    f.write_text("".join("\t".join(f"{v:.6f}" for v in (*row, t)) + "\n" for row, t in zip(x, y)))
    out = tmp_path / "out"
    args = ["run", "asym-uci", "--quick", *TINY, "--out", str(out), "--no-progress",
            "--set", f"data_file={f}", "--set", "dataset=airfoil"]
    assert main(args) == 0
    _check(out, "airfoil", False)
    assert main(["report", str(out)]) == 0  # the analysis is redone from the stored directory


def test_uci_preset_errors(tmp_path, capsys):
    assert main(["run", "asym-uci", "--quick", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "data_file: no file given" in capsys.readouterr().err
    missing = tmp_path / "Concrete_Data.xls"
    assert main(["run", "asym-uci", "--quick", "--out", str(tmp_path), "--no-progress",
                 "--set", f"data_file={missing}"]) == 2
    err = capsys.readouterr().err
    err = " ".join(err.split())  # rich wraps long lines
    assert "does not exist" in err and "Concrete_Data.xls" in err and err.startswith("error: data.path: file")
    assert main(["run", "asym-uci", "--quick", "--out", str(tmp_path), "--no-progress",
                 "--set", f"data_file={missing}", "--set", "dataset=wine"]) == 2
    assert "dataset: got 'wine' (allowed: 'concrete'" in " ".join(capsys.readouterr().err.split())


def test_initialisation_draws_include_every_runs_own_weights(quick_store):
    """Draw s of init_draws is the run of seed s: its λ_min(Θ̂_0) equals the one the run's probe recorded at step 0."""
    from ntklab.data import load_dataset
    from ntklab.experiments.asym._common import scaling_frame
    from ntklab.experiments.asym._core_claims import init_draws
    from ntklab.experiments.asym._real_data import real_configs

    out = quick_store("asym-concrete")
    opts = resolve_options(get_preset("asym-concrete"), quick=True, overrides=[t.removeprefix("--set=") for t in TINY])
    data = load_dataset(opts.dataset, **opts.data_options)
    draws = init_draws(real_configs(opts), data.x_train[: opts.ntk_points], d=data.d, out_dim=data.out_dim, draws=3)
    frame = scaling_frame(load_runs(out / "runs", real_configs(opts)))
    at0 = frame[(frame.metric == "lambda_min") & (frame.step == 0)].pivot_table(index="seed", columns="gamma",
                                                                                  values="value")
    assert list(draws.columns) == [1.0, 0.5, 0.2, 0.0] and len(draws) == 3
    for s in at0.index:  # the probes compute in float32 (measured: 1.6e-5 relative at m = 500)
        np.testing.assert_allclose(draws.loc[s, at0.columns].to_numpy(float), at0.loc[s].to_numpy(float), rtol=1e-4)
