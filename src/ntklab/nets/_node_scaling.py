r"""Asymmetrical node scalings lambda_j (Caron et al. 2023).

Each hidden node j of a width-m layer has its output multiplied by sqrt(lambda_j), with the mixture

    lambda_j = gamma / m + (1 - gamma) * lambda~_j,      lambda~_j >= 0,  sum_j lambda~_j = 1,

so that sum_j lambda_j = 1.  ``gamma = 1`` is the NTK parameterisation (every lambda_j = 1/m); ``gamma < 1``
keeps a few nodes at non-vanishing scale as m grows, which is what makes feature learning possible.

Deterministic lambda~: Zipf's law, lambda~_j = j^{-1/alpha} / H_{m,1/alpha} for j = 1..m with
H_{m,s} = sum_{k<=m} k^{-s} and alpha in (0, 1).  The authors' code evaluates the pmf at j = 0..m-1
(``zipf_offset=True`` reproduces it): node 0 gets lambda~ = 0 and the tilde weights sum to 1 - m^{-1/alpha}/H.

Random lambda~ (i.i.d. draws, then normalised to sum 1), parameterised as in the authors' samplers:

- ``horseshoe``: (pi/2 * C / m)^2 with C standard Cauchy;
- ``inverse_gamma``: InvGamma(shape=2, scale=1/m);
- ``beta``: Beta(eta/(2m), 1/2), eta = 1;
- ``gbfry``: the finite-m generalised BFRY approximation (alpha, tau=2, mu=1), a double power law;
- ``stable``: Pareto(index alpha, scale 1) / m^{1/alpha}, the finite approximation of a positive
  alpha-stable sum.  (The authors' sampler passes the Pareto arguments swapped; we use the standard form.)

Example:
    >>> import ntklab
    >>> lam = ntklab.node_scaling(2000, kind="zipf", gamma=0.5, alpha=0.7)
    >>> float(lam.sum())  # doctest: +ELLIPSIS
    1.0...
"""

from __future__ import annotations

import numpy as np
import torch

from .._errors import ConfigError, check_choice, check_gamma, check_range

__all__ = ["node_scaling", "SCALING_KINDS", "zipf_weights"]

RANDOM_KINDS = ("horseshoe", "inverse_gamma", "beta", "gbfry", "stable")
SCALING_KINDS = ("ntk", "zipf", *RANDOM_KINDS)


def zipf_weights(m: int, alpha: float, *, offset: bool = False) -> np.ndarray:
    """lambda~_j = j^{-1/alpha} / H_{m,1/alpha}; with ``offset`` the pmf is taken at j-1 (authors' quirk)."""
    s = 1.0 / alpha
    j = np.arange(1, m + 1, dtype=np.float64)
    harmonic = np.sum(j ** (-s))
    if offset:
        j = j - 1.0
        out = np.zeros(m)
        out[1:] = j[1:] ** (-s) / harmonic
        return out
    return j ** (-s) / harmonic


def _sample_random(kind: str, m: int, alpha: float, rng: np.random.Generator, params: dict) -> np.ndarray:
    if kind == "horseshoe":
        c = rng.standard_cauchy(m)
        return (np.pi / 2 * c / m) ** 2
    if kind == "inverse_gamma":
        shape = params.get("shape", 2.0)
        scale = params.get("scale", 1.0 / m)
        return scale / rng.gamma(shape, 1.0, size=m)
    if kind == "beta":
        eta = params.get("eta", 1.0)
        return rng.beta(eta / (2 * m), 0.5, size=m)
    if kind == "gbfry":
        tau = max(params.get("tau", 2.0), 1.01)
        mu = params.get("mu", 1.0)
        eta = 1.0
        c = mu * (tau - 1) / (tau - alpha)
        t_l = (alpha * m * tau / eta / (tau - alpha)) ** (1 / alpha)
        u = rng.uniform(size=m)
        w = (u + (1 - u) * (t_l + 1) ** alpha) ** (-1 / alpha)
        gam = rng.gamma(1 - alpha, 1.0, size=m)
        pareto = (1 - rng.uniform(size=m)) ** (-1 / tau)  # Pareto(scale 1, index tau)
        return c * w * pareto * gam
    if kind == "stable":
        pareto = (1 - rng.uniform(size=m)) ** (-1 / alpha)
        return pareto / m ** (1 / alpha)
    raise AssertionError(kind)


def node_scaling(
    m: int,
    *,
    kind: str = "zipf",
    gamma: float = 0.0,
    alpha: float = 0.5,
    zipf_offset: bool = False,
    seed: int | None = None,
    **params: float,
) -> torch.Tensor:
    """Node scalings lambda (float64, shape (m,)): lambda_j = gamma/m + (1-gamma) lambda~_j.

    Args:
        m: width (number of hidden nodes), m >= 1.
        kind: ``"ntk"`` (lambda_j = 1/m, gamma ignored), ``"zipf"`` or a random sampler
            (``"horseshoe"``, ``"inverse_gamma"``, ``"beta"``, ``"gbfry"``, ``"stable"``).
        gamma: weight of the uniform part, in [0, 1].
        alpha: tail parameter in (0, 1) (Zipf exponent 1/alpha; GBFRY and stable index).
        zipf_offset: reproduce the authors' off-by-one Zipf (node 0 gets lambda~ = 0).
        seed: seed of the random samplers (required for them, so runs are reproducible).
        params: sampler parameters (``shape``/``scale`` for inverse_gamma, ``eta`` for beta,
            ``tau``/``mu`` for gbfry).
    """
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise ConfigError("m", f"must be an integer, got {m!r}", allowed="integers >= 1")
    if m < 1:
        raise ConfigError("m", f"got {m}", allowed="integers >= 1")
    check_choice("kind", kind, SCALING_KINDS)
    if kind == "ntk":
        return torch.full((m,), 1.0 / m, dtype=torch.float64, device="cpu")
    check_gamma("gamma", float(gamma))
    needs_alpha = kind in ("zipf", "gbfry", "stable")
    if needs_alpha:
        check_range("alpha", float(alpha), 0.0, 1.0, lo_open=True, hi_open=True)
    if kind == "zipf":
        tilde = zipf_weights(m, alpha, offset=zipf_offset)
        if zipf_offset:
            # the authors' quirk keeps the unnormalised mass 1 - m^{-1/alpha}/H
            lam = gamma / m + (1 - gamma) * tilde
            return torch.as_tensor(lam, dtype=torch.float64, device="cpu")
    else:
        if seed is None:
            raise ConfigError("seed", "random node scalings need a seed", allowed="an integer")
        allowed = {"inverse_gamma": {"shape", "scale"}, "beta": {"eta"}, "gbfry": {"tau", "mu"}}.get(kind, set())
        unknown = set(params) - allowed
        if unknown:
            raise ConfigError(
                "params", f"unknown parameter(s) {sorted(unknown)} for kind {kind!r}",
                allowed=", ".join(sorted(allowed)) or "none",
            )
        rng = np.random.default_rng(seed)
        raw = _sample_random(kind, m, alpha, rng, params)
        total = raw.sum()
        if not np.isfinite(total) or total <= 0:
            raise ConfigError("kind", f"sampler {kind!r} produced a degenerate draw (sum {total})")
        tilde = raw / total
    lam = gamma / m + (1 - gamma) * tilde
    return torch.as_tensor(lam, dtype=torch.float64, device="cpu")
