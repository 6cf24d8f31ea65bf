"""The approximation presets through the CLI (small settings), their preconditions and option errors, and the
claims' decisions on hand-made tables (converged-width exclusion, GD against the flow proxy)."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from ntklab.cli import main
from ntklab.experiments import get_preset
from ntklab.experiments.approximation._interval_claims import TargetNets, flow_claims, rate_claims

SMALL_1D = ["widths=[8,16,24,32]", "seeds=2", "steps=1500", "every=100", "sweep_steps=100", "sweep_seeds=1",
            "ntk_widths=[8]"]


def _run(preset, out, *sets, quick=True):
    argv = ["run", preset, "--out", str(out), "--no-progress"] + (["--quick"] if quick else [])
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return pd.read_csv(out / "claims.csv")


def test_approximation_1d_small(tmp_path):
    claims = _run("approximation-1d", tmp_path, *SMALL_1D)
    names = " ".join(claims.name)
    for t in ("gaussian", "cusp", "jump"):
        assert f"{t}: error at the lazy-window time τ_ρ falls with m" in names
        assert f"{t}: GD with a finite step reaches the gradient-flow error" in names
    for t in ("gaussian", "cusp"):
        assert f"{t}: rate at τ_ρ no faster than the best m-term rate" in names
    assert "breakpoints gather at x=0 " in names and "breakpoints gather at x=0.318" in names
    assert set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    needed = claims.set_index("name").loc["steps each width needed (stopping rule)"]
    assert needed.verdict == "REPORTED" and "m=32" in needed.measured
    errors = pd.read_parquet(tmp_path / "tables" / "errors.parquet")
    assert set(errors.status) <= {"converged", "budget"} and (errors.steps_run <= 1500).all()
    sweep = pd.read_parquet(tmp_path / "tables" / "sweep.parquet")
    assert sorted(sweep.lr_factor.unique()) == [0.0625, 0.125, 0.25, 0.5]
    # one gradient-flow time: f * budget is the same for every factor
    assert (sweep.lr_factor * sweep.budget).nunique() == 1 and int(sweep.budget.max()) == 8 * 100
    rates = pd.read_csv(tmp_path / "rates.csv")
    assert set(rates.method) == {"network", "interpolant", "projection"}
    assert len(list((tmp_path / "figures").glob("approx1d_*.png"))) == 5
    assert main(["report", str(tmp_path)]) == 0  # the analysis is redone from the stored tables


def test_approximation_sphere_small(tmp_path):
    claims = _run("approximation-sphere", tmp_path, "widths=[8,16]", "deep_widths=[8,16]", "dims=[3]", "steps=10")
    assert any("zonal, d=3" in n for n in claims.name) and any("harmonics, d=3" in n for n in claims.name)
    assert any(n.startswith("deep H=2 zonal, d=3") for n in claims.name)
    assert len(list((tmp_path / "figures").glob("sphere_*.png"))) == 3
    falls = claims[claims.name.str.contains("test error at the lazy-window time τ_ρ falls")]
    assert len(falls) == 4 and (falls.verdict == "INCONCLUSIVE").all()  # two widths: no rate
    errors = pd.read_parquet(tmp_path / "tables" / "errors.parquet")
    assert set(errors.depth) == {1, 2} and (errors.steps_run <= 10).all()


@pytest.mark.parametrize("preset, sets", [
    ("approximation-1d", SMALL_1D + ["lr_factor=1e9", "sweep_factors=[1e9,5e8]"]),
    ("approximation-sphere", ["lr_factor=1e9", "dims=[3]", "widths=[8,16]", "deep_widths=[8]", "steps=20"]),
])
def test_every_net_diverging_gives_no_pass_and_names_them(tmp_path, capsys, preset, sets):
    claims = _run(preset, tmp_path, *sets)
    shown = capsys.readouterr().out
    # the spline reference needs no training: it stays a PASS of the splines
    assert "PASS" not in set(claims[~claims.name.str.startswith("gaussian: spline")].verdict)
    trained = claims[claims.name.str.contains("falls|no faster|gather")]
    assert len(trained) and (trained.verdict == "INCONCLUSIVE").all()
    assert trained.measured.str.contains(r"nets diverged or unfinished \(").all()
    assert "diverged: " in shown and " m=8 s0 after " in shown
    assert main(["report", str(tmp_path)]) == 0


def test_a_slope_over_untrained_nets_is_inconclusive(tmp_path):
    claims = _run("approximation-1d", tmp_path, *SMALL_1D, "lr_factor=1e-6", "targets=[\"cusp\"]").set_index("name")
    c = claims.loc["cusp: error at the lazy-window time τ_ρ falls with m (slope CI below 0)"]
    assert c.verdict == "INCONCLUSIVE" and "did not fall below 0.9" in c.measured
    assert claims.loc["cusp: breakpoints gather at x=0 (mass within 0.1)"].verdict == "INCONCLUSIVE"


def _errors(budget_ends: dict, slope=-1.5, target="gaussian"):
    """Nets whose error is 0.05 m^slope from the first record on, ||theta_0|| = L_0 = 1 (tau_rho = rho^2); a width's
    nets whose budget ends at a flow time below tau_rho (``budget_ends[m]`` True) never reach it."""
    rows, curves = [], []
    for m, short in budget_ends.items():
        for s in range(2):
            err = 0.05 * m ** slope * (1 + 0.01 * s)
            end = 0.5 * OPTS.lazy_radius ** 2 if short else 1e9
            rows.append({"target": target, "m": m, "seed": s, "error": err, "rel_error": err, "status": "budget",
                         "steps_run": 100, "budget": 100, "init_norm": 1.0, "loss0": 1.0})
            curves.append(pd.DataFrame({"target": target, "m": m, "seed": s, "step": [0, 1, 100],
                                        "time": [0.0, 1e-9, end], "rel_error": [1.0, err, err]}))
    return {"errors": pd.DataFrame(rows), "curves": pd.concat(curves, ignore_index=True)}


OPTS = SimpleNamespace(widths=[8, 16, 32, 64, 128], seeds=2, level=0.95, cusp_beta=0.5, spline_knots=[64, 128, 256],
                       lazy_radius=3.0)
FALLS = "gaussian: error at the lazy-window time τ_ρ falls with m (slope CI below 0)"
NO_FASTER = "gaussian: rate at τ_ρ no faster than the best m-term rate (loss in rate)"


def _claims(frames):
    spl = pd.DataFrame({"target": "gaussian", "method": ["interpolant"], "slope": [-2.0], "ci_low": -2.0,
                        "ci_high": -2.0, "n": 3})
    return {x.name: x for x in rate_claims(OPTS, spl, {"gaussian": TargetNets(OPTS, "gaussian", frames)})}


def test_widths_short_of_the_lazy_window_leave_the_fit_and_fewer_than_four_is_inconclusive():
    assert _claims(_errors({m: False for m in OPTS.widths}))[FALLS].verdict == "PASS"
    falls = _claims(_errors({8: False, 16: False, 32: True, 64: False, 128: True}))[FALLS]
    assert falls.verdict == "INCONCLUSIVE", falls.measured
    assert "m=32: 2/2 nets ran out of budget before τ_ρ = 9" in falls.measured and "m=128: 2/2" in falls.measured
    assert "only 3 gaussian widths at τ_ρ" in falls.measured


def test_the_rate_claims_can_fail():
    flat = _claims(_errors({m: False for m in OPTS.widths}, slope=0.0))  # errors flat in m, as at a fixed time
    assert flat[FALLS].verdict == "FAIL" and flat[NO_FASTER].verdict == "PASS"
    faster = _claims(_errors({m: False for m in OPTS.widths}, slope=-2.5))
    c = faster[NO_FASTER]
    assert c.verdict == "FAIL" and "loss in rate -0.50" in c.measured  # faster than m^-2: FAIL
    assert faster[FALLS].verdict == "PASS"


def _sweep(errors_by_factor: dict, statuses=None, widths=(8, 16)):
    rows = []
    for m in widths:
        for f, err in errors_by_factor.items():
            st = (statuses or {}).get((m, f), "budget")
            rows.append({"target": "gaussian", "m": m, "seed": 0, "lr_factor": f, "rel_error": err, "status": st})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("errs, statuses, verdict, text, issue", [
    ({0.5: 0.0102, 0.25: 0.0101, 0.125: 0.01001, 0.0625: 0.0100}, None, "PASS", "m=8: f=0.5", "2/2 nets"),
    # the largest stable step is off the flow by 30 %, but 4x the flow proxy's step reaches it
    ({0.5: 0.0130, 0.25: 0.0101, 0.125: 0.01001, 0.0625: 0.0100}, None, "PASS", "m=8: f=0.25", "0/2 nets"),
    ({0.5: 0.3, 0.25: 0.0101, 0.125: 0.01001, 0.0625: 0.0100}, {(8, 0.5): "unstable", (16, 0.5): "unstable"},
     "PASS", "m=16: f=0.25", "2/2 nets"),
    # ending below the flow error reaches it (the theorem is an upper bound)
    ({0.5: 0.0080, 0.25: 0.0150, 0.125: 0.01001, 0.0625: 0.0100}, None, "PASS", "m=8: f=0.5", "2/2 nets"),
    # no step >= 4x the flow proxy's is within the tolerance (unstable at m=8, off the flow at m=16): FAIL
    ({0.5: 0.3, 0.25: 0.0130, 0.125: 0.01001, 0.0625: 0.0100}, {(8, 0.5): "unstable", (8, 0.25): "unstable"},
     "FAIL", "m=8: f=nan", "1/2 nets"),
    ({0.5: 0.0102, 0.25: 0.0101, 0.125: 0.0110, 0.0625: 0.0100}, None, "INCONCLUSIVE", "does not stand in for flow",
     None),
])
def test_gd_against_the_flow_proxy(errs, statuses, verdict, text, issue):
    o = SimpleNamespace(targets=["gaussian"], flow_tol=0.1)
    (c, wording), table = flow_claims(o, _sweep(errs, statuses))
    assert c.verdict == verdict and text in c.measured, c.measured
    if issue is not None:
        assert wording.verdict == "REPORTED" and wording.measured.startswith(issue), wording.measured
    if verdict == "PASS":
        assert c.support == "2/2 nets" and math.isfinite(table.reaching_factor.min())


def test_presets_share_one_declaration():
    for name in ("approximation-1d", "approximation-sphere"):
        p = get_preset(name)
        assert set(p.modes) == {"quick", "full"} and p.modes["quick"]["seeds"] in (2, 3)
        assert p.modes["full"]["steps"] > p.options().steps > p.modes["quick"]["steps"]


@pytest.mark.parametrize("preset, sets", [
    ("approximation-1d", ["seeds=0"]), ("approximation-1d", ["targets=[\"sine\"]"]),
    ("approximation-1d", ["targets=[\"zonal\"]"]), ("approximation-1d", ["scaling=\"mup\""]),
    ("approximation-1d", ["trainable=[\"c\"]"]), ("approximation-1d", ["output=\"flat\""]),
    ("approximation-1d", ["widths=[0, 8]"]), ("approximation-1d", ["bogus=1"]),
    ("approximation-1d", ["tol=0"]), ("approximation-1d", ["sweep_factors=[0.5]"]),
    ("approximation-sphere", ["dims=[1]"]), ("approximation-sphere", ["targets=[\"cusp\"]"]),
    ("approximation-sphere", ["trainable=[]"]), ("approximation-sphere", ["deep_depth=1"]),
])
def test_bad_options_exit_2(tmp_path, preset, sets, capsys):
    argv = ["run", preset, "--quick", "--out", str(tmp_path), "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and sets[0].split("=")[0] in err
    assert not (tmp_path / "tables").exists()  # refused before anything ran


def _sphere_nets(slope: float, short: int | None = None):
    """One sphere case: test error 0.05 m^slope from the first record on, tau_rho = rho^2 (||theta_0|| = L_0 = 1);
    the nets of width ``short`` stop (budget) at half that flow time."""
    rows, curves = [], []
    for m in (16, 32, 64, 128):
        for s in range(2):
            err = 0.05 * m ** slope * (1 + 0.01 * s)
            rows.append({"case": "zonal, d=3", "target": "zonal", "d": 3, "m": m, "seed": s, "rel_error": err,
                         "status": "budget", "steps_run": 100, "init_norm": 1.0, "loss0": 1.0})
            curves.append(pd.DataFrame({"case": "zonal, d=3", "m": m, "seed": s, "step": [0, 1, 100],
                                        "time": [0.0, 1e-9, 0.5 if m == short else 1e9],
                                        "rel_error": [1.0, err, err]}))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


@pytest.mark.parametrize("slope, short, verdict", [(-0.5, None, "PASS"), (0.0, None, "FAIL"),
                                                   (-0.5, 64, "INCONCLUSIVE")])
def test_the_sphere_rate_claim_reads_the_lazy_window_and_can_fail(slope, short, verdict):
    from ntklab.experiments.approximation._on_sphere import ApproxSphereOptions, _case_claim

    e, cv = _sphere_nets(slope, short)
    c = _case_claim(ApproxSphereOptions(), "zonal, d=3", e, cv, expected_nets=8)
    assert c.verdict == verdict, c.measured
    if short:
        assert "m=64: 2/2 nets ran out of budget before τ_ρ = 1" in c.measured
