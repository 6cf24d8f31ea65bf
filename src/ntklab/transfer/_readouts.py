r"""Readouts fitted on transferred features F (n, k) to targets Y (n, K).

Ridge (closed form, with an unpenalised intercept): with A = [F, 1] and P = diag(rho, ..., rho, 0),

    beta = (A^T A + P)^{-1} A^T Y,     rho = ridge * tr(F^T F) / k,

so the penalty is relative to the features' scale (the sqrt(lambda_j) factor makes the scale differ by
orders of magnitude between gamma = 1 and gamma = 0; a relative rho treats them alike).

MLP (Caron et al.): Linear(k, H) - ReLU - Linear(H, H) - ReLU - Linear(H, K) with PyTorch's default
initialisation (drawn under ``torch.manual_seed(seed)``, the global generator restored afterwards), trained
by full-batch SGD on the MSE (mean over samples and outputs) for ``steps`` steps at ``lr``; the paper:
H = 64, lr 0.1, 5000 steps (regression), H = 128, lr 1.0, 10,000 steps (classification).
:func:`fit_mlps` trains many such problems at once as one batched program: problem r's inputs are
zero-padded to the widest k, and a zero input column receives zero gradient, so every problem follows
exactly the trajectory it would follow alone.

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

__all__ = ["fit_ridge", "predict_ridge", "fit_mlps", "MLPProblem"]


def fit_ridge(f: torch.Tensor, y: torch.Tensor, *, ridge: float = 1e-3) -> torch.Tensor:
    """beta (k + 1, K), the last row the intercept; solved in float64."""
    check_range("transfer.ridge", float(ridge), 0.0)
    f = f.to(torch.float64)
    y = y.to(torch.float64)
    n, k = f.shape
    a = torch.cat([f, torch.ones(n, 1, dtype=torch.float64)], 1)
    rho = ridge * float((f * f).sum()) / k
    pen = torch.full((k + 1,), rho, dtype=torch.float64)
    pen[-1] = 0.0
    gram = a.T @ a + torch.diag(pen)
    return torch.linalg.lstsq(gram, a.T @ y).solution if rho == 0 else torch.linalg.solve(gram, a.T @ y)


def predict_ridge(beta: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [torch.nn.Linear(k, hidden), torch.nn.Linear(hidden, hidden), torch.nn.Linear(hidden, out)]
    return [t.detach().to(torch.float64) for lay in layers for t in (lay.weight.T, lay.bias)]


def _forward(p: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    h = torch.relu(torch.baddbmm(p[1], x, p[0]))
    h = torch.relu(torch.baddbmm(p[3], h, p[2]))
    return torch.baddbmm(p[5], h, p[4])


def _pad(fs: list[torch.Tensor], width: int, dtype) -> torch.Tensor:
    return torch.stack([torch.nn.functional.pad(f.to(dtype), (0, width - f.shape[1])) for f in fs])


def fit_mlps(problems: list[MLPProblem], *, hidden: int, lr: float, steps: int, seeds: list[int],
             dtype: torch.dtype = torch.float32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Train one fresh MLP per problem (batched); returns (train predictions, test predictions) per problem."""
    if not problems:
        return []
    if len(seeds) != len(problems):
        raise ConfigError("seeds", "one seed per problem")
    check_range("transfer.lr", float(lr), 0.0, lo_open=True)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError("transfer.steps", f"got {steps!r}", allowed="integers >= 0")
    shapes = {(p.f_train.shape[0], p.y_train.shape[1], p.f_test.shape[0]) for p in problems}
    if len(shapes) != 1:
        raise ConfigError("problems", "batched transfer problems must share n_train, n_test and the output size")
    width = max(p.k for p in problems)
    out = problems[0].y_train.shape[1]
    inits = [_init(p.k, hidden, out, s) for p, s in zip(problems, seeds)]
    params = []
    for i in range(6):
        ts = [ini[i] for ini in inits]
        if i == 0:  # first-layer weights (k, H): zero rows for the padded inputs
            ts = [torch.nn.functional.pad(t, (0, 0, 0, width - t.shape[0])) for t in ts]
        t = torch.stack(ts).to(dtype)
        params.append((t[:, None, :] if i % 2 else t).requires_grad_())
    x = _pad([p.f_train for p in problems], width, dtype)
    y = torch.stack([p.y_train.to(dtype) for p in problems])
    opt = torch.optim.SGD(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        # sum over problems of each problem's mean-squared error: the gradients decouple problem by problem
        ((_forward(params, x) - y) ** 2).mean(dim=(1, 2)).sum().backward()
        opt.step()
    with torch.no_grad():
        tr = _forward(params, x)
        te = _forward(params, _pad([p.f_test for p in problems], width, dtype))
    return [(tr[r].to(torch.float64), te[r].to(torch.float64)) for r in range(len(problems))]
