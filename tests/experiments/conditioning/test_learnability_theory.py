"""The composition law behind the learnability rates: for a normalised, centred sigma the power series of
sigma-hat^{o L} has b_1 = a_1^{2L} and b_2 = a_2^2 a_1^{2(L-1)} (1 - a_1^{2L}) / (1 - a_1^2) (derived in
_learnability_theory), checked by finite differences of the composed dual activations at t = 0."""

from __future__ import annotations

import pytest
import torch

from ntklab.experiments.conditioning._benign_theory import deep_cosine_kernels
from ntklab.experiments.conditioning._learnability_data import target_activation
from ntklab.kernels import dual_activation, nonlinearity_degree


def _composed(act, t: torch.Tensor, depth: int) -> torch.Tensor:
    for _ in range(depth):
        t = dual_activation(act, t)
    return t


@pytest.mark.parametrize("label", ["normalized_relu", "normalized_tanh", "centred_gelu"])
def test_power_series_coefficients_of_the_composition(label):
    act, _ = target_activation(label)
    a1 = 1 - nonlinearity_degree(act)
    h = 1e-3
    t = torch.tensor([-h, 0.0, h], dtype=torch.float64)
    base = dual_activation(act, t)
    a2 = float((base[2] - 2 * base[1] + base[0]) / (2 * h * h))  # a_2^2 (the t^2 coefficient of sigma-hat)
    for depth in (1, 3, 6):
        k = _composed(act, t, depth)
        b1 = float((k[2] - k[0]) / (2 * h))
        b2 = float((k[2] - 2 * k[1] + k[0]) / (2 * h * h))
        assert abs(float(k[1])) < 1e-9  # centred: k_L(0) = 0
        # central differences: b1 errs by b_3 h^2, b2 by b_4 h^2 (coefficients <= 1): 1e-5 is far above both
        assert b1 == pytest.approx(a1 ** depth, abs=1e-5)
        assert b2 == pytest.approx(a2 * a1 ** (depth - 1) * (1 - a1 ** depth) / (1 - a1), abs=1e-4)


def test_deep_cosine_kernels_tend_to_the_identity():
    """K^(L) = sigma-hat^{o L}(X X^T) has unit diagonal and its off-diagonal entries fall like a_1^{2L} (|t| small)."""
    act, _ = target_activation("normalized_relu")
    x = torch.nn.functional.normalize(torch.randn(50, 30, dtype=torch.float64), dim=1)
    off = []
    for depth, gram in deep_cosine_kernels(act, x, 12):
        assert torch.allclose(gram.diagonal(), torch.ones(50, dtype=torch.float64))
        off.append(float((gram - torch.eye(50, dtype=torch.float64)).abs().max()))
    assert all(b < a for a, b in zip(off, off[1:])) and off[-1] < 0.1 * off[0]
