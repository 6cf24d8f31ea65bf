r"""Spectral diagnostics of kernel matrices and kernel drift.

For a symmetric PSD Gram Theta: lambda_min, lambda_max and the condition number lambda_max / lambda_min.
Kernel drift between Theta_t and Theta_0 (Caron et al. plot sqrt(||Theta_t - Theta_0||_2)):

    Frobenius: ||Theta_t - Theta_0||_F,  relative ||.||_F / ||Theta_0||_F
    spectral:  ||Theta_t - Theta_0||_2 = max |eig(Theta_t - Theta_0)|,  relative ||.||_2 / ||Theta_0||_2

Example:
    >>> import torch
    >>> from ntklab.kernels import kernel_drift
    >>> a = torch.eye(3, dtype=torch.float64)
    >>> kernel_drift(2 * a, a)["drift_spectral"]
    1.0
"""

from __future__ import annotations

import torch

__all__ = ["spectrum", "kernel_drift", "condition_number"]


def _sym(a: torch.Tensor) -> torch.Tensor:
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"kernel: expected a square (n, n) matrix, got shape {tuple(a.shape)}")
    return 0.5 * (a + a.T)


def spectrum(theta: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (ascending, float64) of the symmetric part of ``theta``."""
    return torch.linalg.eigvalsh(_sym(theta.to(torch.float64)))


def condition_number(theta: torch.Tensor) -> float:
    """cond(Θ) = λ_max / λ_min of a symmetric positive semi-definite kernel matrix (inf when λ_min <= 0)."""
    ev = spectrum(theta)
    return float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf")


def kernel_drift(theta_t: torch.Tensor, theta_0: torch.Tensor) -> dict[str, float]:
    """Absolute and relative drift in the Frobenius and spectral norms."""
    a, b = _sym(theta_t.to(torch.float64)), _sym(theta_0.to(torch.float64))
    diff = a - b
    fro = float(torch.linalg.matrix_norm(diff, "fro"))
    spec = float(torch.linalg.eigvalsh(diff).abs().max())
    fro0 = float(torch.linalg.matrix_norm(b, "fro"))
    spec0 = float(torch.linalg.eigvalsh(b).abs().max())
    return {
        "drift_fro": fro,
        "drift_fro_rel": fro / fro0 if fro0 > 0 else float("inf"),
        "drift_spectral": spec,
        "drift_spectral_rel": spec / spec0 if spec0 > 0 else float("inf"),
    }
