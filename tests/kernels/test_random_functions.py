"""Random deep-network functions: their covariance over readouts is the finite-width NNGP of the same network."""

from __future__ import annotations

import pytest
import torch

from ntklab._errors import ConfigError
from ntklab.kernels import random_network_nngp, random_network_outputs


def test_covariance_over_readouts_is_the_finite_width_nngp():
    """20000 independent readouts of one network: the sample covariance of f_L estimates K-hat^L (same hidden
    weights, random_network_nngp with the same seed); its standard error is about sqrt(2 / 20000) K = 1% of the
    diagonal, so 5% of the diagonal is a 5 sigma bound.  A different seed's K-hat differs by far more at width 8."""
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = random_network_outputs(x, depth=3, activation="tanh", width=8, seed=5, outputs=20000, bias_var=0.0)
    k_hat = random_network_nngp(x, depth=3, activation="tanh", width=8, seed=5)
    cov = f @ f.T / f.shape[1]
    scale = float(k_hat.diagonal().max())
    assert float((cov - k_hat).abs().max()) < 0.05 * scale
    other = random_network_nngp(x, depth=3, activation="tanh", width=8, seed=6)
    assert float((other - k_hat).abs().max()) > 0.1 * scale


def test_each_depth_is_the_same_function_with_or_without_all_depths():
    x = torch.randn(5, 3, dtype=torch.float64)
    every = random_network_outputs(x, depth=4, activation="relu", width=16, seed=1, outputs=2, all_depths=True)
    for depth in (1, 3, 4):
        alone = random_network_outputs(x, depth=depth, activation="relu", width=16, seed=1, outputs=2)
        assert torch.equal(every[depth - 1], alone)
    assert not torch.equal(every[0], every[1])


def test_bad_arguments_are_refused():
    x = torch.randn(5, 3)
    with pytest.raises(ConfigError):
        random_network_outputs(x, depth=0, width=4, seed=0)
    with pytest.raises(ConfigError):
        random_network_outputs(x[0], depth=1, width=4, seed=0)
