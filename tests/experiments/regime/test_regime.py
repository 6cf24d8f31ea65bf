"""The regime preset: its --quick run through the CLI, its measurements against independent computations, and
its claims' preconditions and per-seed decisions on hand-made measurements."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import ntklab
from ntklab.cli import main
from ntklab.dynamics import LinearizedNetwork
from ntklab.experiments.regime._measure import linearized_by_kernel, regime_rows
from ntklab.experiments.regime._verdicts import kind_seeds, regime_claims, seed_interval
from ntklab.experiments.regime.regime import RegimeOptions, fit_exponents, regime_config, run_dir_name, verdict
from ntklab.nets import build_network, parameter_groups

F64 = torch.float64
NTK_LAZY = "ntk: lazy: the kernel's relative drift falls with width (exponent ≤ -0.4, every seed)"
TOP_NODE = ("asymmetric (γ=0.5, α=0.7): top-λ node's movement does not shrink with width (95% CI over seeds of "
            "its exponent above -0.25)")
BULK = ("asymmetric: the median node's movement shrinks like n^−1/2 (95% CI over seeds of its exponent within "
        "-0.5 ± 0.15)")
STORE_FILES = {"config.json", "status", "metrics.parquet", "arrays.npz", "model.pt"}


def test_quick_run_through_the_cli(tmp_path, capsys):
    out = tmp_path / "regime"
    assert main(["run", "regime", "--quick", "--out", str(out), "--no-progress"]) == 0
    shown = capsys.readouterr().out
    claims = pd.read_csv(out / "claims.csv")
    # the goal of the preset: no FAIL (and nothing undecided) in quick mode
    assert set(claims.verdict) == {"PASS", "REPORTED"}, claims[claims.verdict != "PASS"][["name", "measured"]]
    passed = set(claims[claims.verdict == "PASS"].name)
    assert {NTK_LAZY, TOP_NODE, BULK, "mup: coord check, hidden-layer updates stay O(1)",
            "ntk: coord check, hidden-layer updates shrink ∝ n^-1/2",
            "no run of a claimed parameterisation diverged or failed"} <= passed
    support = claims.set_index("name").support
    assert support[NTK_LAZY] == "2/2 seeds" and support[TOP_NODE] == support[BULK] == "95% CI over 24 seeds"
    assert "against the classical bound -0.5" in claims.set_index("name").measured[NTK_LAZY]
    assert "9 PASS, 0 FAIL, 0 INCONCLUSIVE" in shown
    # the measurements live under measurements/, one table per finished run, named by its run directory;
    # the run directories hold only what the run store writes
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    assert len(runs) == 4 * 5 * 2 + 24 * 5
    assert sorted(p.stem for p in (out / "measurements").glob("*.parquet")) == [p.name for p in runs]
    for p in runs:
        assert {f.name for f in p.iterdir()} <= STORE_FILES, p
    for kind in ("ntk", "mup", "meanfield", "standard", "asymmetric"):
        assert claims.name.str.startswith(kind).any(), kind
    ex = pd.read_csv(out / "regime_exponents.csv")
    assert np.isfinite(ex[ex.metric == "drift_fro_rel"].exponent).all()
    coord = pd.read_csv(out / "coord_check.csv")
    assert {"parameterization", "width", "layer", "coord_rms_0", "coord_rms", "coord_delta"} <= set(coord.columns)
    assert set(coord.layer) == {"x1", "x2", "out"}
    for name in ("regime_width_sweep", "regime_coord_check", "regime_weight_movement"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    # mup and mean field are one abc class: the same measured drift, run by run (float32 rounding)
    by = pd.read_csv(out / "regime_by_width.csv")
    d = by[by.metric == "drift_fro_rel"].pivot_table(index="width", columns="parameterization", values="value")
    np.testing.assert_allclose(d["mup"], d["meanfield"], rtol=1e-3)
    # under asymmetric scaling the top node moves far more than the bulk, and the bulk like an NTK node
    a = by[by.parameterization == "asymmetric"].pivot_table(index=["width", "seed"], columns="metric", values="value")
    assert (a.top_node_displacement > 2 * a.median_node_displacement).mean() > 0.9
    # the report command redoes the analysis from the stored runs and measurements: the same claims
    before = claims.copy()
    assert main(["report", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "claims.csv"), before)
    assert (out / "report.html").stat().st_size > 1000


def test_every_run_diverging_gives_no_pass_and_names_them(tmp_path, capsys):
    out = tmp_path / "regime"
    assert main(["run", "regime", "--quick", "--set", "lr=1e9", "--set", "widths=[64,128,256]", "--set",
                 "seeds=1", "--set", "asymmetric_seeds=2", "--out", str(out), "--no-progress"]) == 0
    shown = capsys.readouterr().out
    claims = pd.read_csv(out / "claims.csv")
    assert "PASS" not in set(claims.verdict)
    assert set(claims.verdict) == {"INCONCLUSIVE", "FAIL"}  # FAIL: "no run ... diverged", its only claim
    ntk = claims[claims.name.str.startswith("ntk: ")].iloc[0]
    assert ntk.verdict == "INCONCLUSIVE" and "3 ntk runs diverged or unfinished (ntk-n64-s0" in ntk.measured
    assert "ntk-n256-s0: diverged" in claims.iloc[-1].measured
    assert "diverged: runs/" in shown and "more runs (diverged)" in shown  # the CLI's list, capped on screen
    assert main(["report", str(out)]) == 0
    assert "diverged: runs/ntk-n64-s0-" in (out / "report.html").read_text()  # every run in the report


def _runs(o, status=lambda k, n, s: "done", missing=()):
    return {(k, n, s): (None if (k, n, s) in missing else SimpleNamespace(name=f"{k}-n{n}-s{s}",
                                                                           status=status(k, n, s)))
            for k in o.parameterization for n in o.widths for s in range(kind_seeds(o, k))}


def _frame(o, drift_exponent, coord_exponent=-0.5, top_exponent=lambda s: 0.0, bulk_exponent=-0.5):
    """Measurements with value = n^e exactly (e per seed from ``drift_exponent(seed)``, ``top_exponent(seed)``)."""
    rows = []
    for k in o.parameterization:
        for n in o.widths:
            for s in range(kind_seeds(o, k)):
                rows.append({"parameterization": k, "width": n, "seed": s, "metric": "drift_fro_rel", "layer": "",
                             "value": 0.3 * n ** drift_exponent(s)})
                rows += [{"parameterization": k, "width": n, "seed": s, "metric": "coord_delta", "layer": layer,
                          "value": n ** coord_exponent} for layer in ("x1", "x2")]
                rows += [{"parameterization": k, "width": n, "seed": s, "metric": "top_node_displacement",
                          "layer": "0", "value": 0.7 * n ** top_exponent(s)},
                         {"parameterization": k, "width": n, "seed": s, "metric": "median_node_displacement",
                          "layer": "", "value": 0.9 * n ** bulk_exponent}]
    return pd.DataFrame(rows)


def test_claims_are_decided_seed_by_seed():
    o = RegimeOptions(parameterization="ntk", widths=[64, 128, 256, 512], seeds=2)
    by_claim = {c.name.split(":")[0] + (":coord" if "coord" in c.name else ""): c
                for c in regime_claims(_frame(o, lambda s: -0.5), _runs(o), o)}
    assert by_claim["ntk"].verdict == "PASS" and by_claim["ntk"].support == "2/2 seeds"
    assert by_claim["ntk:coord"].verdict == "PASS"
    assert "exponent -0.50" in by_claim["ntk"].measured
    assert "against the classical bound -0.5 (+0.00) and the smooth-activation rate -1 (+0.50)" in \
        by_claim["ntk"].measured
    # faster than n^-1/2 is lazy too (smooth activations: O(1/n), Dyer & Gur-Ari)
    assert regime_claims(_frame(o, lambda s: -1.0), _runs(o), o)[0].verdict == "PASS"
    # seed 1 alone is not lazy (-0.3 > -0.4): 1/2 seeds; the measured column also gives the exponent of the
    # mean over seeds (of the values, so the slower seed weighs more)
    c = regime_claims(_frame(o, lambda s: -0.6 if s == 0 else -0.3), _runs(o), o)[0]
    assert c.verdict == "FAIL" and c.support == "1/2 seeds" and "per seed -0.60, -0.30" in c.measured
    assert "exponent -0.35" in c.measured
    # feature learning: flat drift within 0 ± 0.15 under muP
    o = RegimeOptions(parameterization="mup", widths=[64, 128, 256, 512], seeds=2)
    assert regime_claims(_frame(o, lambda s: 0.1, coord_exponent=0.0), _runs(o), o)[0].verdict == "PASS"
    assert regime_claims(_frame(o, lambda s: -0.2, coord_exponent=0.0), _runs(o), o)[0].verdict == "FAIL"


def _asym(top_exponent, seeds=8, **kw):
    o = RegimeOptions(parameterization="asymmetric", widths=[64, 128, 256, 512], seeds=1, asymmetric_seeds=seeds)
    top, bulk, drift = regime_claims(_frame(o, lambda s: -0.2, top_exponent=top_exponent, **kw), _runs(o), o)[:3]
    return top, bulk, drift


def test_top_node_claim_reads_an_interval_over_seeds():
    """The per-seed exponents' 95 % t interval (independent: scipy's t.interval) must lie above -1/4."""
    from scipy import stats

    spread = [0.3, -0.3, 0.1, -0.1, 0.2, -0.2, 0.0, 0.0]  # mean -0.05 + these: sd 0.2, as measured
    top, bulk, drift = _asym(lambda s: -0.05 + spread[s])
    lo, hi = stats.t.interval(0.95, 7, loc=-0.05, scale=np.std(spread, ddof=1) / np.sqrt(8))
    assert top.verdict == "PASS" and top.support == "95% CI over 8 seeds"
    assert f"exponent -0.05, 95% CI [{lo:.2f}, {hi:.2f}]" in top.measured
    assert seed_interval(np.array(spread) - 0.05) == pytest.approx((lo, -0.05, hi))
    # seeds 1, 3 and 5 alone would fail a per-seed rule at -0.15; the interval decides on all of them
    assert sum(-0.05 + v > -0.15 for v in spread) == 5
    assert bulk.verdict == "PASS" and bulk.support == "95% CI over 8 seeds" and drift.verdict == "REPORTED"
    # the same scatter around the lazy -1/2: the interval lies below -1/4
    assert _asym(lambda s: -0.5 + spread[s])[0].verdict == "FAIL"
    # a mean of -0.1 with three times the scatter: too wide to exclude shrinking, FAIL
    assert _asym(lambda s: -0.1 + 3 * spread[s])[0].verdict == "FAIL"
    # two seeds give no interval; a bulk that does not shrink like n^-1/2 fails its claim
    two = _asym(lambda s: 0.0, seeds=2)[0]
    assert two.verdict == "INCONCLUSIVE" and two.measured == "only 2 seeds (an interval over seeds) (needs 3)"
    assert _asym(lambda s: 0.0, bulk_exponent=-0.2)[1].verdict == "FAIL"
    assert "exponent -0.20, 95% CI [-0.20, -0.20]" in _asym(lambda s: 0.0, bulk_exponent=-0.2)[1].measured


def test_claims_declare_their_preconditions():
    o = RegimeOptions(parameterization="ntk", widths=[64, 128, 256, 512], seeds=1)
    frame = _frame(o, lambda s: -0.5)
    # a run missing, another diverged: named, and the claims that need them are INCONCLUSIVE
    runs = _runs(o, status=lambda k, n, s: "diverged" if n == 128 else "done", missing=[("ntk", 512, 0)])
    drift, coord, ended = regime_claims(frame[frame.width.isin([64, 256])], runs, o)
    assert drift.verdict == coord.verdict == "INCONCLUSIVE"
    assert drift.measured.startswith("1 of 4 ntk runs missing; 1 ntk runs diverged or unfinished (ntk-n128-s0)")
    assert ended.verdict == "INCONCLUSIVE" and "1 runs missing" in ended.measured
    # every run there, one diverged: the divergence claim FAILs and names it
    ended = regime_claims(frame, _runs(o, status=lambda k, n, s: "diverged" if n == 128 else "done"), o)[-1]
    assert ended.verdict == "FAIL" and ended.measured == "ntk-n128-s0: diverged"
    # two widths with a positive value: too few for a slope; a metric never recorded
    o2 = RegimeOptions(parameterization="ntk", widths=[64, 128], seeds=1)
    assert regime_claims(_frame(o2, lambda s: -0.5), _runs(o2), o2)[0].measured == (
        "only 2 widths with a positive finite drift_fro_rel (fewest over seeds) (needs 3)")
    c = regime_claims(frame[frame.metric != "coord_delta"], _runs(o), o)[1]
    assert c.verdict == "INCONCLUSIVE" and c.measured == "metric 'coord_delta' was never recorded"


def test_measurements_are_named_by_the_run_directory():
    o = RegimeOptions()
    a, b = regime_config(o, "ntk", 64, 0), regime_config(RegimeOptions(lr=0.25), "ntk", 64, 0)
    assert run_dir_name(a).startswith("ntk-n64-s0-") and run_dir_name(a) != run_dir_name(b)


def test_bad_options_exit_2(tmp_path, capsys):
    assert main(["run", "regime", "--quick", "--set", "parameterization=sp", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "parameterization" in err and "meanfield" in err
    assert main(["run", "regime", "--set", "widths=[64]", "--out", str(tmp_path)]) == 2
    assert main(["run", "regime", "--set", "widths=[64,64]", "--out", str(tmp_path)]) == 2
    assert main(["run", "regime", "--set", "widths=[0,64]", "--out", str(tmp_path)]) == 2
    assert main(["run", "regime", "--set", "activation=swish2", "--out", str(tmp_path)]) == 2
    assert "activation" in capsys.readouterr().err


def test_parameterization_option_takes_one_or_several():
    assert RegimeOptions(parameterization="mup").parameterization == ["mup"]
    assert RegimeOptions(parameterization="ntk, asymmetric").parameterization == ["ntk", "asymmetric"]
    assert RegimeOptions(parameterization="ntk,ntk,mup").parameterization == ["ntk", "mup"]
    assert RegimeOptions(widths=[256, 64, 64, 128]).widths == [64, 128, 256]
    cfg = regime_config(RegimeOptions(), "asymmetric", 128, 0)
    assert cfg.network.parameterization == "ntk" and cfg.network.scaling.kind == "zipf"
    assert regime_config(RegimeOptions(lr=0.5), "standard", 128, 0).optimizer.lr == pytest.approx(0.5 / 128)


@pytest.mark.parametrize("kind", ["ntk", "mup", "standard"])
def test_linearisation_in_function_space_equals_parameter_space(kind):
    """The kernel recursion f <- f - lr Theta_eta r and GD on the torch.func linear model agree (float64)."""
    net = ntklab.MLP(5, [40, 30], 2, parameterization=kind, bias=True, seed=1, dtype=F64)
    g = torch.Generator().manual_seed(0)
    x, xe = torch.randn(10, 5, generator=g, dtype=F64), torch.randn(7, 5, generator=g, dtype=F64)
    y = torch.randn(10, 2, generator=g, dtype=F64)
    lr = 0.05 if kind != "standard" else 0.002
    lrs = {grp["name"]: grp["lr"] for grp in parameter_groups(net, lr)}
    lin = LinearizedNetwork(net)  # parameter space, torch.func: independent of the kernel recursion
    opt = torch.optim.SGD([{"params": [lin.params[n.replace(".", "__")]], "lr": lrs[n]} for n in lin.names])
    for _ in range(20):
        opt.zero_grad()
        ((lin(x) - y) ** 2).mean().backward()
        opt.step()
    with torch.no_grad():
        a, risk_a = lin(xe), ((lin(x) - y) ** 2).mean()
    b, risk_b = linearized_by_kernel(net, lr, x, y, xe, 20)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(risk_a.to(F64), risk_b, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("kind, lazy", [("ntk", True), ("mup", False)])
def test_linearisation_gap_tells_lazy_from_feature_learning(kind, lazy):
    """Width 1024, 30 GD steps at lr 0.5: the NTK net stays within 5 % of its linearisation (measured 0.5 %),
    the muP net departs from it by more than 20 % of its own movement (measured 45 %)."""
    from ntklab.data import load_dataset

    o = RegimeOptions(dtype="float64", n_train=16, n_test=16)
    cfg = regime_config(o, kind, 1024, 0)
    data = load_dataset("sphere_sin", **cfg.data.options).to(F64)
    net = build_network(cfg.network, d=data.d, out_dim=1, seed=0, dtype=F64)
    f0 = net(data.x_test).detach()
    f_lin, _ = linearized_by_kernel(net, 0.5, data.x_train, data.y_train, data.x_test, 30)
    opt = torch.optim.SGD(parameter_groups(net, 0.5), lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        ((net(data.x_train) - data.y_train) ** 2).mean().backward()
        opt.step()
    f_t = net(data.x_test).detach()
    gap = float((f_t - f_lin).norm() / (f_t - f0).norm())
    assert (gap < 0.05) if lazy else (gap > 0.2), gap


def test_fit_exponents_recovers_power_laws():
    widths = [64, 128, 256, 512]
    rows = [{"parameterization": k, "metric": "drift_fro_rel", "layer": "", "width": n, "seed": s,
             "value": 3.0 * n ** e * (1 + 0.01 * s)} for k, e in (("ntk", -0.5), ("mup", 0.0)) for n in widths
            for s in (0, 1)]
    ex = fit_exponents(pd.DataFrame(rows)).set_index("parameterization").exponent
    assert ex["ntk"] == pytest.approx(-0.5, abs=1e-12) and ex["mup"] == pytest.approx(0.0, abs=1e-12)
    assert verdict(-0.48).startswith("lazy") and verdict(0.05).startswith("feature learning")
    assert verdict(-0.9).startswith("lazy") and verdict(0.4).startswith("unstable")
    assert verdict(-0.25).startswith("in between") and verdict(-0.35).startswith("in between")
    assert verdict(-0.4).startswith("lazy")


def test_node_displacements_against_the_weights():
    """The top-lambda node's and the median node's displacement, read off the first layer's weights by hand."""
    import copy

    from ntklab.data import load_dataset

    o = RegimeOptions(dtype="float64", n_train=8, n_test=8, ntk_points=8)
    cfg = regime_config(o, "asymmetric", 33, 0)
    data = load_dataset("sphere_sin", **cfg.data.options).to(F64)
    net0 = build_network(cfg.network, d=data.d, out_dim=1, seed=0, dtype=F64)
    net = copy.deepcopy(net0)
    shift = torch.arange(33 * 20, dtype=F64).reshape(33, 20).remainder(7) / 10
    with torch.no_grad():
        net.hidden[0].weight += shift
    rows = regime_rows(net0, net, data, lr=0.5, steps=2, ntk_points=8).set_index("metric")
    disp = np.linalg.norm(shift.numpy(), axis=1)  # node j's incoming weights moved by row j of shift
    top = int(np.argmax(net0.lambdas.numpy()))
    assert rows.loc["top_node_displacement"].layer == str(top)
    assert rows.loc["top_node_displacement"].value == pytest.approx(disp[top], rel=1e-12)
    assert rows.loc["median_node_displacement"].value == pytest.approx(np.sort(disp)[16], rel=1e-12)


def test_asymmetric_claims_declare_their_preconditions():
    o = RegimeOptions(parameterization="asymmetric", widths=[64, 128, 256, 512], seeds=1, asymmetric_seeds=4)
    assert kind_seeds(o, "asymmetric") == 4 and kind_seeds(o, "ntk") == 1
    assert kind_seeds(RegimeOptions(seeds=3, asymmetric_seeds=None), "asymmetric") == 3
    frame = _frame(o, lambda s: -0.2)
    # seed 2's top node has a value at two widths only: no slope for it, so no interval
    drop = (frame.metric == "top_node_displacement") & (frame.seed == 2) & frame.width.isin([256, 512])
    top, bulk = regime_claims(frame[~drop], _runs(o), o)[:2]
    assert top.verdict == "INCONCLUSIVE" and top.measured == (
        "only 2 widths with a positive finite top_node_displacement (fewest over seeds) (needs 3)")
    assert bulk.verdict == "PASS"
    # an asymmetric run diverged: both node claims are undecided and name it
    runs = _runs(o, status=lambda k, n, s: "diverged" if (n, s) == (512, 3) else "done")
    top, bulk = regime_claims(frame, runs, o)[:2]
    assert top.verdict == bulk.verdict == "INCONCLUSIVE" and "(asymmetric-n512-s3)" in top.measured
    # the median-node metric never recorded (an older measurement table): INCONCLUSIVE, not PASS
    bulk = regime_claims(frame[frame.metric != "median_node_displacement"], _runs(o), o)[1]
    assert bulk.verdict == "INCONCLUSIVE" and bulk.measured == "metric 'median_node_displacement' was never recorded"
