"""The DataFrame log-log fit against the core fit and against scipy; the sphere sweep's divergence rule and its
plain GD iterates; the thread count around the sweeps; the target catalogue's domains."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from ntklab._fits import loglog_fit as core_loglog_fit
from ntklab.approximation import (TARGET_DOMAINS, TARGETS, NetStack, diverging, gauss_legendre, gd_train, init_params,
                                  loglog_fit, make_target, sphere_forward, sphere_init, sphere_monte_carlo, sphere_vjp,
                                  sphere_width_sweep)
from ntklab.approximation._sphere import _top_eigenvalue


def _noisy(seed=0):
    rng = np.random.default_rng(seed)
    m = np.repeat([8, 16, 32, 64], 3)
    return pd.DataFrame({"m": m, "seed": np.tile([0, 1, 2], 4), "g": np.where(m > 16, "b", "a"),
                         "error": 2.0 * m ** -0.7 * np.exp(0.2 * rng.standard_normal(m.size))})


def test_frame_fit_is_the_core_fit_per_group():
    df = _noisy()
    for by in ([], ["seed"]):
        front = loglog_fit(df, by=by, level=0.9)
        groups = df.groupby(by, sort=False) if by else [((), df)]
        for (key, g), (_, row) in zip(groups, front.iterrows()):
            core = core_loglog_fit(g.m, g.error, level=0.9)
            assert row.slope == core.slope and (row.ci_low, row.ci_high) == (core.ci_low, core.ci_high)
            assert (row.intercept, row.r2, row.n) == (core.intercept, core.r2, core.n)
    assert list(loglog_fit(df).columns) == ["slope", "ci_low", "ci_high", "intercept", "r2", "n"]


def test_frame_fit_matches_scipy_and_needs_three_points():
    df = _noisy(1)
    fit = loglog_fit(df, level=0.95).iloc[0]
    ref = stats.linregress(np.log(df.m), np.log(df.error))  # the implementation the front end had before
    half = stats.t.ppf(0.975, len(df) - 2) * ref.stderr
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12) and fit.r2 == pytest.approx(ref.rvalue ** 2, rel=1e-12)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((ref.slope - half, ref.slope + half), rel=1e-10)
    # points with y <= 0 or y non-finite are dropped; fewer than three left: NaN throughout, n says how many
    two = loglog_fit(pd.DataFrame({"m": [8, 16, 32, 64], "error": [1.0, 0.5, 0.0, np.nan]})).iloc[0]
    assert two.n == 2 and all(math.isnan(two[c]) for c in ("slope", "ci_low", "ci_high", "intercept", "r2"))
    three = loglog_fit(pd.DataFrame({"m": [8, 16, 32, 64], "error": [1.0, 0.5, 0.25, -1.0]})).iloc[0]
    assert three.n == 3 and three.slope == pytest.approx(-1.0) and three.ci_high - three.ci_low < 1e-9


def test_divergence_rule():
    first = torch.tensor([1.0, 1.0, 1.0, 1.0, 2.0], dtype=torch.float64)
    loss = torch.tensor([float("nan"), float("inf"), 1001.0, 999.0, 1999.0], dtype=torch.float64)
    assert diverging(loss, first).tolist() == [True, True, True, False, False]


def test_sphere_sweep_is_plain_gd_and_stops_diverged_nets():
    f = make_target("zonal", d=3)
    kw = dict(seeds=2, n_points=300, every=1, trainable=("w", "b"), dtype="float64")
    out = sphere_width_sweep([f], [8], steps=4, lr_factor=1.0, **kw)
    assert set(out["errors"].status) == {"budget"} and set(out["errors"].steps_run) == {4}
    # the same iterates written out: theta <- theta - eta J^T Omega (f - y), eta = 1 / lambda_max
    q, qt = sphere_monte_carlo(300, 3, seed=0), sphere_monte_carlo(300, 3, seed=1)
    ps = [sphere_init(8, 3, seed=1000 * s + 8, dtype=torch.float64) for s in range(2)]
    p = {k: torch.stack([x[k] for x in ps]) for k in ps[0]}
    omega, y = q.w[0], f(q.x)[None]
    eta = 1.0 / _top_eigenvalue(p, q.x, omega, ("w", "b"))
    for _ in range(4):
        g = sphere_vjp(p, q.x, omega * (sphere_forward(p, q.x) - y))
        for k in ("w", "b"):
            p[k] = p[k] - eta.reshape(-1, *[1] * (p[k].ndim - 1)) * g[k]
    rt = sphere_forward(p, qt.x) - f(qt.x)[None]
    test = torch.sqrt((qt.w[0] * rt * rt).sum(1)) / torch.sqrt((qt.w[0] * f(qt.x) ** 2).sum())
    np.testing.assert_allclose(out["errors"].rel_error, test.numpy(), rtol=1e-12)
    blown = sphere_width_sweep([f], [8], steps=50, lr_factor=1e9, **kw)["errors"]
    assert set(blown.status) == {"diverged"} and (blown.steps_run < 50).all()


def test_sweeps_run_in_one_thread_and_restore_the_count():
    before = torch.get_num_threads()
    seen = []
    q, f = gauss_legendre(200), make_target("gaussian")
    st = NetStack.from_params([init_params(8, seed=0)], [q])
    top = st.top_eigenvalue
    st.top_eigenvalue = lambda p: (seen.append(torch.get_num_threads()), top(p))[1]
    torch.set_num_threads(2)
    try:
        gd_train(st, f(q.x)[None], steps=3, every=1)
        assert seen == [1] and torch.get_num_threads() == 2
        sphere_width_sweep([make_target("zonal", d=3)], [8], seeds=1, steps=2, n_points=100)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_target_domains_name_every_target():
    assert set(TARGET_DOMAINS) == set(TARGETS)
    for name, domain in TARGET_DOMAINS.items():
        assert make_target(name).domain == domain
