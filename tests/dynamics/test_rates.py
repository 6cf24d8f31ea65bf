"""Rate fits on curves with known rates, and predicted rates against long simulated recursions."""

import numpy as np
import pytest

from ntklab import ConfigError
from ntklab.dynamics import (FunctionSpaceModes, fit_linear_rate, fit_power_law, fit_rates, predicted_ode_rate,
                             predicted_rate)


def test_fits_recover_known_rates():
    k = np.arange(1, 2001)
    lin = fit_linear_rate(k, 2.0 * np.exp(-0.01 * k))
    assert lin.rate == pytest.approx(0.01, rel=1e-10) and lin.r2 == pytest.approx(1.0)
    pw = fit_power_law(k, 5.0 * k ** -3.0)
    assert pw.rate == pytest.approx(-3.0, rel=1e-10) and pw.r2 == pytest.approx(1.0)
    # a power law is not a straight line in semilog axes, an exponential is not one in log-log axes
    assert fit_linear_rate(k, k ** -3.0, start_fraction=0.0).r2 < 0.95
    assert fit_power_law(k, np.exp(-0.01 * k)).r2 < 0.95
    frame = fit_rates(k, np.exp(-0.01 * k))
    assert list(frame.kind) == ["linear", "power"]
    # the prefactor option removes a k^-3 factor exactly
    assert fit_linear_rate(k, k ** -3.0 * np.exp(-0.02 * k), prefactor_power=-3).rate == pytest.approx(0.02)


def test_fit_stops_at_the_floor_and_at_divergence():
    k = np.arange(400)
    loss = np.maximum(np.exp(-0.2 * k), 1e-30)  # hits a float floor at k ~ 345, then flat
    f = fit_linear_rate(k, loss)  # floor 1e-24 L0: the flat part is excluded
    assert f.rate == pytest.approx(0.2, rel=1e-8) and f.stop < 280
    loss = np.exp(-0.1 * k)
    loss[300:] = np.inf
    assert fit_linear_rate(k, loss).stop == 299
    with pytest.raises(ConfigError, match="start_fraction"):
        fit_linear_rate(k, loss, start_fraction=1.5)


def _spectrum():
    """Eigenvalues with a gap above the smallest, so a long run's tail is the slowest mode alone."""
    return np.concatenate([[0.01], np.linspace(0.05, 1.0, 20)])


@pytest.mark.parametrize("method,beta", [("gd", 0.0), ("heavy_ball", 0.6), ("heavy_ball", 0.9), ("nag_sc", 0.7)])
def test_predicted_rate_matches_simulated_recursion(method, beta):
    """-2 log rho from the companion roots against the fitted tail of the exact mode recursion.

    Near-double roots carry a polynomial factor (k z^k) whose slope bias is ~2/k over the window; the 2 %
    tolerance covers it at these lengths."""
    a = _spectrum()
    modes = FunctionSpaceModes(np.diag(a), np.ones(a.size), normalisation="half_sum")
    pred = predicted_rate(method, lr=1.0, momentum=beta, eigenvalues=a)
    steps = int(min(8000, 40 / pred))
    fit = fit_linear_rate(np.arange(steps + 1), modes.discrete(method, lr=1.0, momentum=beta, steps=steps).loss)
    assert fit.rate == pytest.approx(pred, rel=0.02)
    # with only the ends of the spectrum the interval bound is at least as slow (a smaller rate)
    assert predicted_rate(method, lr=1.0, momentum=beta, lambda_min=0.01, lambda_max=1.0) <= pred * (1 + 1e-12)


def test_nag_is_linear_at_finite_step_and_cubic_in_the_ode_limit():
    a = _spectrum()
    modes = FunctionSpaceModes(np.diag(a), np.ones(a.size), normalisation="half_sum")
    steps = 3000
    loss = modes.discrete("nag", lr=1.0, steps=steps).loss
    k = np.arange(steps + 1)
    fit = fit_linear_rate(k, loss, prefactor_power=-3)  # L ~ (1 - eta a_min)^k k^-3 (times an oscillation)
    assert fit.rate == pytest.approx(predicted_rate("nag", lr=1.0, eigenvalues=a), rel=0.05)
    t = np.linspace(1, 4000, 4000)  # the ODE: Bessel modes, loss envelope ~ t^-3
    ode = modes.flow("nesterov", t).loss
    assert fit_power_law(t, ode).rate == pytest.approx(-3.0, abs=0.3)
    assert np.isnan(predicted_ode_rate("nag", lr=1.0, eigenvalues=a))
    assert predicted_ode_rate("gd", lr=0.5, eigenvalues=a) == pytest.approx(2 * 0.5 * 0.01)
