r"""Readouts fitted on transferred features F (n, k) to targets Y (n, K).

Ridge (closed form, with an unpenalised intercept): with A = [F, 1] and P = diag(rho, ..., rho, 0),

    beta = (A^T A + P)^{-1} A^T Y,     rho = ridge * tr(F^T F) / k,

so the penalty is relative to the features' scale (the sqrt(lambda_j) factor makes the scale differ by
orders of magnitude between gamma = 1 and gamma = 0; a relative rho treats them alike).  With ``standardise``
each column is first centred and divided by its standard deviation on the training features (a constant column
by 1), so the fit is invariant to any per-feature scale sqrt(lambda_j): beta is returned for the raw features,
beta_j = beta^s_j / sd_j and intercept b^s - sum_j mean_j beta^s_j / sd_j.

MLP (Caron et al.): Linear(k, H) - ReLU - Linear(H, H) - ReLU - Linear(H, K) with PyTorch's default
initialisation (drawn under ``torch.manual_seed(seed)``, the global generator restored afterwards), trained
by full-batch SGD on the MSE L = (1 / nK) sum_{i,c} (f_c(x_i) - y_ic)^2 for ``steps`` steps at ``lr``; the
paper: H = 64, lr 0.1, 5000 steps (regression), H = 128, lr 1.0, 10,000 steps (classification).

What :func:`fit_mlps` guarantees: problem r's predictions depend only on problem r (its features, targets
and seed) and on the dtype, never on the other problems in the call, their number, their k or their n:
fitting a problem alone and fitting it among others give bitwise equal results (on one machine and torch
build; tested).  To that end each problem is trained on its own tensors (fresh, aligned allocations) with
hand-written gradients of L (h_0 = F, h_1, h_2 the hidden layers, f the output),

    delta_3 = 2 (f - Y) / (nK),   delta_l = (delta_{l+1} W_{l+1}^T) * 1[h_l > 0],
    dL/dW_l = h_{l-1}^T delta_l,  dL/db_l = sum_i delta_l,

and under ``threads`` torch threads (default 1), since a BLAS product's summation blocking changes with its
thread count (measured: 1 and 2 threads differ in the last bits).  The former batched program did not give
this (measured in float32 with torch 2.13 / MKL): zero-padding the problems to a common k changed the bits
of h_0^T delta_1 (M = k rows), and the batched products (baddbmm over a batch of two or more) gave a
problem other bits than the same product alone for thin shapes (one output column, M = k rows); SGD
amplified those last bits to prediction gaps of 0.03 to 0.1 after 2000 steps (diabetes, gamma = 0, k = 10).  Across
machines or BLAS builds results still differ in the last bits (and, after many steps, by more).

Example:
    >>> import torch
    >>> from ntklab.transfer import fit_ridge
    >>> f = torch.randn(20, 3, dtype=torch.float64); y = f @ torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64) + 0.5
    >>> beta = fit_ridge(f, y, ridge=0.0)
    >>> [round(v, 6) for v in beta.flatten().tolist()]
    [1.0, 2.0, 3.0, 0.5]
"""

from __future__ import annotations

import torch

from .._errors import ConfigError, check_range
from .._threads import torch_threads

__all__ = ["fit_ridge", "predict_ridge", "fit_mlps", "MLPProblem"]


def fit_ridge(f: torch.Tensor, y: torch.Tensor, *, ridge: float = 1e-3, standardise: bool = False) -> torch.Tensor:
    """beta (k + 1, K), the last row the intercept, for the raw features; solved in float64."""
    check_range("transfer.ridge", float(ridge), 0.0)
    f = f.to(torch.float64)
    y = y.to(torch.float64)
    if standardise:
        mean, sd = f.mean(0), f.std(0, correction=0)
        sd = torch.where(sd > 0, sd, torch.ones_like(sd))
        beta = fit_ridge((f - mean) / sd, y, ridge=ridge)
        slopes = beta[:-1] / sd[:, None]
        return torch.cat([slopes, beta[-1:] - mean[None, :] @ slopes], 0)
    n, k = f.shape
    a = torch.cat([f, torch.ones(n, 1, dtype=torch.float64)], 1)
    rho = ridge * float((f * f).sum()) / k
    pen = torch.full((k + 1,), rho, dtype=torch.float64)
    pen[-1] = 0.0
    gram = a.T @ a + torch.diag(pen)
    return torch.linalg.lstsq(gram, a.T @ y).solution if rho == 0 else torch.linalg.solve(gram, a.T @ y)


def predict_ridge(beta: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """The ridge readout's prediction f β[:-1] + β[-1] (float64, (n, K)) for features ``f`` (n, k) and the
    coefficients of :func:`fit_ridge` (its last row the intercept)."""
    f = f.to(torch.float64)
    return f @ beta[:-1] + beta[-1]


class MLPProblem:
    """One transfer problem: train features/targets and test features/targets."""

    def __init__(self, f_train, y_train, f_test, y_test):
        self.f_train, self.y_train, self.f_test, self.y_test = f_train, y_train, f_test, y_test

    @property
    def k(self) -> int:
        return self.f_train.shape[1]


def _init(k: int, hidden: int, out: int, seed: int) -> list[torch.Tensor]:
    """[W_1 (k, H), b_1 (H,), W_2, b_2, W_3 (H, K), b_3 (K,)]: torch.nn.Linear's initialisation under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [torch.nn.Linear(k, hidden), torch.nn.Linear(hidden, hidden), torch.nn.Linear(hidden, out)]
    return [t.detach().to(torch.float64) for lay in layers for t in (lay.weight.T, lay.bias)]


def _fresh(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A new contiguous copy (a fresh allocation, so alignment never depends on where ``t`` came from)."""
    return t.detach().to(dtype=dtype, memory_format=torch.contiguous_format, copy=True)


def _forward(p: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h1 = torch.addmm(p[1], x, p[0]).clamp_(min=0)
    h2 = torch.addmm(p[3], h1, p[2]).clamp_(min=0)
    return h1, h2, torch.addmm(p[5], h2, p[4])


def _sgd_step(p: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
    """One full-batch SGD step on the MSE, gradients by hand (see the module docstring)."""
    h1, h2, f = _forward(p, x)
    d3 = f.sub_(y).mul_(2.0 / y.numel())
    d2 = (d3 @ p[4].T).mul_(h2 > 0)
    d1 = (d2 @ p[2].T).mul_(h1 > 0)
    grads = (x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0))
    for w, g in zip(p, grads):
        w.sub_(g, alpha=lr)


def _fit_one(problem: MLPProblem, *, hidden: int, lr: float, steps: int, seed: int, dtype: torch.dtype
             ) -> tuple[torch.Tensor, torch.Tensor]:
    p = [_fresh(t, dtype) for t in _init(problem.k, hidden, problem.y_train.shape[1], seed)]
    x, y = _fresh(problem.f_train, dtype), _fresh(problem.y_train, dtype)
    for _ in range(steps):
        _sgd_step(p, x, y, lr)
    return _forward(p, x)[2].to(torch.float64), _forward(p, _fresh(problem.f_test, dtype))[2].to(torch.float64)


def _check(problems: list[MLPProblem], seeds, lr: float, steps) -> None:
    if len(seeds) != len(problems):
        raise ConfigError("seeds", f"got {len(seeds)} seeds for {len(problems)} problems",
                          allowed="one seed per problem")
    check_range("transfer.lr", float(lr), 0.0, lo_open=True)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError("transfer.steps", f"got {steps!r}", allowed="integers >= 0")
    for r, p in enumerate(problems):
        n, k = p.f_train.shape
        n_test, out = p.f_test.shape[0], p.y_train.shape[1]
        if p.y_train.shape[0] != n or p.f_test.shape[1] != k or tuple(p.y_test.shape) != (n_test, out):
            raise ConfigError(f"problems[{r}]", "shapes do not match",
                              allowed="f_train (n, k), y_train (n, K), f_test (n', k), y_test (n', K)")


def fit_mlps(problems: list[MLPProblem], *, hidden: int, lr: float, steps: int, seeds: list[int],
             dtype: torch.dtype = torch.float32, threads: int | None = 1
             ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Train one fresh MLP per problem; returns (train predictions, test predictions) per problem, float64.

    Problem r (seeded with ``seeds[r]``) gives bitwise the same predictions alone as among any other problems;
    ``threads`` torch threads while training (None: leave the caller's count, which then enters the bits).
    """
    if not problems:
        return []
    _check(problems, seeds, lr, steps)
    with torch_threads(threads):
        return [_fit_one(p, hidden=hidden, lr=lr, steps=steps, seed=s, dtype=dtype) for p, s in zip(problems, seeds)]
