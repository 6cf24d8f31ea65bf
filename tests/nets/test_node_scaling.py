import numpy as np
import pytest
import scipy.stats as ss
import torch

import ntklab
from ntklab import ConfigError
from ntklab.nets._node_scaling import _sample_random


def test_ntk_is_uniform():
    lam = ntklab.node_scaling(7, kind="ntk")
    assert lam.dtype == torch.float64
    assert torch.equal(lam, torch.full((7,), 1 / 7, dtype=torch.float64))


@pytest.mark.parametrize("alpha,gamma", [(0.7, 0.5), (0.5, 0.2), (0.4, 0.0), (0.5, 1.0)])
def test_zipf_mixture_matches_scipy_and_sums_to_one(alpha, gamma):
    m = 2000
    lam = ntklab.node_scaling(m, kind="zipf", gamma=gamma, alpha=alpha).numpy()
    # scipy's zipfian(a, n) has pmf k^-a / H_{n,a} on k = 1..n: an independent implementation
    expected = gamma / m + (1 - gamma) * ss.zipfian.pmf(np.arange(1, m + 1), 1 / alpha, m)
    np.testing.assert_allclose(lam, expected, rtol=1e-12, atol=0)
    assert lam.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(lam) <= 0)


@pytest.mark.parametrize("alpha,top", [(0.7, 0.351), (0.5, 0.608), (0.4, 0.745)])
def test_authors_offset_variant(alpha, top):
    m = 2000
    lam = ntklab.node_scaling(m, kind="zipf", gamma=0.0, alpha=alpha, zipf_offset=True).numpy()
    # the authors evaluate the pmf at 0..m-1: node 0 is dead, the mass misses m^{-1/alpha}/H
    h = np.sum(np.arange(1, m + 1) ** (-1 / alpha))
    assert lam[0] == 0.0
    assert lam.sum() == pytest.approx(1 - m ** (-1 / alpha) / h, abs=1e-12)
    assert lam.max() == pytest.approx(top, abs=5e-4)  # papers.md §1(a) values, 3 digits
    lam_g = ntklab.node_scaling(m, kind="zipf", gamma=0.5, alpha=alpha, zipf_offset=True).numpy()
    assert lam_g.sum() == pytest.approx(0.5 + 0.5 * (1 - m ** (-1 / alpha) / h), abs=1e-12)


@pytest.mark.parametrize("kind", ["horseshoe", "inverse_gamma", "beta", "gbfry", "stable"])
def test_random_kinds_seeded_normalised(kind):
    a = ntklab.node_scaling(500, kind=kind, gamma=0.3, alpha=0.5, seed=3)
    b = ntklab.node_scaling(500, kind=kind, gamma=0.3, alpha=0.5, seed=3)
    c = ntklab.node_scaling(500, kind=kind, gamma=0.3, alpha=0.5, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.sum()) == pytest.approx(1.0, abs=1e-12)
    assert (a >= 0.3 / 500 - 1e-15).all()


def _ks(sample, cdf):
    return ss.kstest(sample, cdf).pvalue


def test_samplers_follow_their_laws():
    rng = np.random.default_rng(0)
    m, n = 50, 20000
    # each raw draw i.i.d.; compare with scipy's distributions (independent code)
    ig = np.concatenate([_sample_random("inverse_gamma", m, 0.5, rng, {}) for _ in range(n // m)])
    assert _ks(ig, ss.invgamma(a=2, scale=1 / m).cdf) > 1e-3
    be = np.concatenate([_sample_random("beta", m, 0.5, rng, {}) for _ in range(n // m)])
    assert _ks(be, ss.beta(1 / (2 * m), 0.5).cdf) > 1e-3
    hs = np.concatenate([_sample_random("horseshoe", m, 0.5, rng, {}) for _ in range(n // m)])
    # (pi/2 C/m)^2 <= t  <=>  |C| <= 2 m sqrt(t)/pi ; |C| is half-Cauchy
    assert _ks(hs, lambda t: ss.halfcauchy.cdf(2 * m * np.sqrt(t) / np.pi)) > 1e-3
    st = np.concatenate([_sample_random("stable", m, 0.5, rng, {}) for _ in range(n // m)])
    assert _ks(st * m ** 2, ss.pareto(b=0.5).cdf) > 1e-3


@pytest.mark.parametrize("kwargs,field", [
    (dict(m=10, kind="zipf", gamma=1.5), "gamma"),
    (dict(m=10, kind="zipf", gamma=-0.1), "gamma"),
    (dict(m=10, kind="zipf", gamma=0.5, alpha=1.0), "alpha"),
    (dict(m=10, kind="zipf", gamma=0.5, alpha=0.0), "alpha"),
    (dict(m=0, kind="zipf"), "m"),
    (dict(m=10, kind="pareto"), "kind"),
    (dict(m=10, kind="horseshoe"), "seed"),
    (dict(m=10, kind="beta", seed=0, tau=3.0), "params"),
])
def test_bad_values_name_the_field(kwargs, field):
    m = kwargs.pop("m")
    with pytest.raises(ConfigError) as exc:
        ntklab.node_scaling(m, **kwargs)
    assert exc.value.field == field
    assert "allowed" in str(exc.value)
