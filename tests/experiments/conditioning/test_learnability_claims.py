"""deep-learnability's claims on synthetic tables: they PASS on data that follows the theory, FAIL on data that
contradicts it, and are INCONCLUSIVE when a precondition (enough depths, the runs, the activation) fails."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ntklab.experiments.conditioning._learnability_claims import decay_rate, depth_window, learnability_claims
from ntklab.experiments.conditioning._learnability_theory import activation_constants
from ntklab.experiments.conditioning.learnability import LearnabilityOptions

MU = {"normalized_relu": 0.267, "normalized_tanh": 0.070, "centred_gelu": 0.277, "relu": 0.0}


def _options(**kw) -> LearnabilityOptions:
    base = dict(max_depth=10, seeds=2, n_train=[250, 1000], claim_n=1000, n_test=100, net_depths=[1, 3, 5, 7],
                net_seeds=1, net_n=500)
    return LearnabilityOptions(**{**base, **kw})


def _tables(o, *, shape=lambda r, L: math.exp(-r * L), noise=0.02, relu_floor=0.8) -> dict:
    """Tables in the preset's layout: F_c = shape(rate, L) n / (n + 100) with 2% multiplicative seed noise, the SQ
    mass 0.95 shape(rate, L) in degree 1, plain relu's degree-0 mass and learnable fraction at ``relu_floor``."""
    rng = np.random.default_rng(0)
    rows = {k: [] for k in ("krr", "theory_krr", "sq", "theory_masses", "nets", "constants")}
    for a in o.activations:
        r = -math.log(1 - MU[a]) if a != "relu" else 0.05
        rows["constants"].append({"activation": a, "mu": MU[a], "a1_sq": 1 - MU[a], "rate_linear": r,
                                  "rho_star": 1.0 if a == "relu" else 0.0})
        for L in range(1, o.max_depth + 1):
            base = shape(r, L)
            for n in sorted(set(o.n_train) | {o.net_n}):
                rows["theory_krr"].append({"activation": a, "depth": L, "n": n, "fc": base * n / (n + 100)})
            for degree in range(o.theory_degree + 1):
                m = {0: relu_floor if a == "relu" else 0.0, 1: 0.95 * base}.get(degree, 0.0)
                rows["theory_masses"].append({"activation": a, "depth": L, "degree": degree, "mass": m})
            for s in range(o.seeds):
                wobble = lambda: math.exp(noise * rng.standard_normal())  # noqa: E731
                for n in o.n_train:
                    fc = base * n / (n + 100) * wobble()
                    rows["krr"].append({"activation": a, "seed": s, "depth": L, "n": n, "fc": fc,
                                        "f": relu_floor if a == "relu" else fc})
                for degree in range(o.sq_degree + 1):
                    m = {0: relu_floor if a == "relu" else 0.0, 1: 0.95 * base * wobble()}.get(degree, 0.0)
                    rows["sq"].append({"activation": a, "seed": s, "depth": L, "output": 0, "degree": degree,
                                       "mass": m})
        if a in o.net_activations:
            for L in o.net_depths:
                for s in range(o.net_seeds):
                    rows["nets"].append({"activation": a, "depth": L, "seed": s, "run": f"{a}-L{L}-s{s}",
                                         "status": "done", "fc": shape(r, L) * 0.9 * math.exp(noise * rng.standard_normal())})
    return {k: pd.DataFrame(v) for k, v in rows.items()}


def _verdicts(claims) -> dict:
    return {c.name: c.verdict for c in claims}


def _find(claims, *words) -> str:
    hits = [c for c in claims if all(w in c.name for w in words)]
    assert len(hits) == 1, [c.name for c in hits]
    return hits[0].verdict


def test_data_that_follows_the_theory_passes_every_claim():
    o = _options()
    claims = learnability_claims(o, _tables(o))
    assert {c.verdict for c in claims} == {"PASS", "REPORTED"}, _verdicts(claims)
    assert len(claims) == 3 * 5 + 4 + 2  # 5 per centred activation, 4 tables, the mu order and relu


def test_a_power_law_fall_is_not_exponential():
    o = _options()
    claims = learnability_claims(o, _tables(o, shape=lambda r, L: min(1.0, 0.9 * L ** (-3 * r))))
    assert _find(claims, "normalized_relu: kernel learner", "exponentially") == "FAIL"
    assert _find(claims, "normalized_relu: trained shallow net") == "FAIL"


def test_rates_against_mu_inverted_fail():
    o = _options()
    t = _tables(o)
    swap = {"normalized_tanh": "normalized_relu", "normalized_relu": "normalized_tanh"}
    for name in ("krr", "theory_krr", "sq", "theory_masses", "nets"):
        t[name]["activation"] = t[name].activation.map(lambda a: swap.get(a, a))
    claims = learnability_claims(o, t)  # the constants still say tanh has the smaller mu
    assert _find(claims, "faster for larger μ") == "FAIL"


def test_a_measured_rate_away_from_the_prediction_fails():
    o = _options()
    t = _tables(o)
    th = t["theory_krr"]
    sel = th.activation == "normalized_tanh"
    th.loc[sel, "fc"] = th.loc[sel, "fc"] * np.exp(-0.05 * th.loc[sel, "depth"])  # predicted rate +0.05
    claims = learnability_claims(o, t)
    assert _find(claims, "normalized_tanh", "eigenlearning prediction") == "FAIL"
    assert _find(claims, "normalized_tanh", "exponentially", "kernel learner") == "PASS"


def test_relu_whose_correlations_vanish_fails_the_saturation_claim():
    o = _options()
    t = _tables(o, relu_floor=0.05)
    assert _find(learnability_claims(o, t), "relu (not centred)") == "FAIL"


def test_too_few_depths_or_a_missing_run_is_inconclusive():
    o = _options()
    t = _tables(o, shape=lambda r, L: math.exp(-1.2 * L))  # F_c < fit_min = 0.05 from L = 3: a 2-depth window
    claims = learnability_claims(o, t)
    assert _find(claims, "normalized_tanh: kernel learner", "exponentially") == "INCONCLUSIVE"
    assert _find(claims, "faster for larger μ") == "INCONCLUSIVE"  # no activation has a rate
    t = _tables(o)
    t["nets"].loc[t["nets"].index[0], "status"] = "diverged"
    assert _find(learnability_claims(o, t), "normalized_relu: trained shallow net") == "INCONCLUSIVE"


def test_an_activation_that_was_not_computed_is_inconclusive_not_pass():
    o = _options()
    t = _tables(o)
    for name in ("krr", "sq"):
        t[name] = t[name][t[name].activation != "centred_gelu"]
    claims = learnability_claims(o, t)
    for c in claims:
        if c.name.startswith("centred_gelu") and "trained" not in c.name:
            assert c.verdict == "INCONCLUSIVE", c.name


def test_decay_rate_and_window():
    r = decay_rate([1, 2, 3, 4, 5], 0.8 * np.exp(-0.25 * np.arange(1, 6)))
    assert r.rate == pytest.approx(0.25) and r.lo <= 0.25 <= r.hi and r.r2_exp == pytest.approx(1.0)
    assert depth_window(pd.Series([0.5, 0.01, 0.4], index=[1, 2, 3]), 0.05) == [1]
    assert depth_window(pd.Series([0.01], index=[1]), 0.05) == []


@pytest.mark.parametrize("label,mu", [("normalized_relu", 1 - 1 / (2 * (1 - 1 / math.pi)) * (1 / 2) ** 2 * 2),
                                      ("relu", None)])
def test_activation_constants(label, mu):
    """Normalised relu: a_1^2 = (1/4) / Var(relu) = (1/4) / (1/2 - 1/(2 pi)); plain relu's fixed point is rho* = 1."""
    c = activation_constants(label)
    if label == "normalized_relu":
        assert c["a1_sq"] == pytest.approx(0.25 / (0.5 - 1 / (2 * math.pi)), rel=1e-6)
        assert c["rate_linear"] == pytest.approx(-math.log(c["a1_sq"]))
        assert c["rho_star"] == pytest.approx(0.0, abs=1e-6)
    else:
        assert c["rho_star"] == pytest.approx(1.0, abs=1e-4)


def test_between_network_spread_enters_the_interval_and_a_far_prediction_still_fails():
    from ntklab.experiments.conditioning._learnability_claims import Rate, agrees, between_networks

    rates = {s: Rate(r, r - 0.005, r + 0.005, 0.99, 0.8) for s, r in enumerate([0.075, 0.065, 0.072])}
    se2 = (0.005 / 1.96) ** 2
    assert between_networks(rates) == pytest.approx(math.sqrt(np.var([0.075, 0.065, 0.072], ddof=1) - se2))
    assert not all(r.lo <= 0.074 <= r.hi for r in rates.values())  # seed 1 alone excludes it ...
    assert agrees(rates, 0.074)[0].all  # ... a width-m network's interval does not
    assert not agrees(rates, 0.095)[0].all  # 0.03 above seed 1, three times its interval
    tight = {s: Rate(r, r - 0.04, r + 0.04, 0.99, 0.8) for s, r in enumerate([0.29, 0.291])}
    assert between_networks(tight) == 0.0 and between_networks({0: tight[0]}) == 0.0
