r"""Function-space predictions of GD, heavy ball and Nesterov under MSE from a fixed kernel (Bu et al. 2021).

With J the Jacobian at theta_0 and Theta = J J^T, the linearised network's error e = f - y obeys, for a loss
L = w * sum_i e_i^2 (``normalisation``: "mean" w = 1/N over the N = n K entries, the training loop's MSE;
"half_sum" w = 1/2, the paper's; "sum" w = 1), grad_theta L = 2 w J^T e, so with A = 2 w Theta

    GD       e_{k+1} = (I - eta A) e_k
    HB       e_{k+1} = (I - eta A) e_k + beta (e_k - e_{k-1})
    NAG      y_k = e_k + beta_k (e_k - e_{k-1}),  e_{k+1} = (I - eta A) y_k,   beta_k = (k-1)/(k+2)
    NAG-SC   the same with a constant beta

(e_{-1} = e_0), exactly, because e is affine in theta.  One eigendecomposition A = Q diag(a) Q^T decouples the
modes c = Q^T e, so each step costs O(N): the constant-coefficient recursions are advanced in blocks of steps
by precomputed mode responses, NAG's time-varying one step by step.  The reported loss at step k is that of
the point the optimiser holds (y_k for NAG / NAG-SC, see :mod:`ntklab.dynamics._momentum`);
``loss_iterate`` is L(e_k).  :meth:`FunctionSpaceModes.at` extends every prediction to test points from
Theta(X_test, X_train) (:mod:`ntklab.dynamics._test_points`, with the infinite-width ensembles).

Continuous time (eta -> 0), per mode with c(0) = c0, c'(0) = 0:

    gradient flow  c' = -a c,                    c(t) = c0 exp(-a t),                     t = k eta
    HB ODE         c'' + gamma c' + a c = 0,     c(t) = c0 e^{-gamma t/2} (cosh(dt) + gamma sinh(dt)/(2d)),
                   d = sqrt(gamma^2/4 - a) (imaginary: cos / sin),  t = k sqrt(eta), gamma = (1 - beta)/sqrt(eta)
    NAG ODE        c'' + (3/t) c' + a c = 0,     c(t) = c0 2 J_1(sqrt(a) t) / (sqrt(a) t),  t = k sqrt(eta)

(NAG-SC maps to the HB ODE with its gamma = (1 - beta)/sqrt(eta)).

Example:
    >>> import numpy as np
    >>> from ntklab.dynamics import FunctionSpaceModes
    >>> theta = np.diag([1.0, 0.1]); e0 = np.array([1.0, 1.0])
    >>> modes = FunctionSpaceModes(theta, e0, normalisation="half_sum")
    >>> round(float(modes.discrete("gd", lr=1.0, steps=2).loss[-1]), 10)  # 0.5 * (0 + 0.9^4)
    0.32805
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import j1

from .._errors import ConfigError, check_choice

__all__ = ["FunctionSpaceModes", "Prediction", "StabilityWarning", "stability_bound", "check_stability",
           "flow_factors", "METHODS", "FLOWS", "NORMALISATIONS"]

METHODS = ("gd", "heavy_ball", "nag", "nag_sc")
FLOWS = ("gradient_flow", "heavy_ball", "nesterov")
NORMALISATIONS = {"mean": None, "half_sum": 0.5, "sum": 1.0}  # loss weight w (None: 1/N)
_ODE_OF = {"gd": "gradient_flow", "heavy_ball": "heavy_ball", "nag_sc": "heavy_ball", "nag": "nesterov"}
_BLOCK = 128


class StabilityWarning(UserWarning):
    """A step size at or beyond the method's stability bound on the largest kernel eigenvalue."""


def stability_bound(method: str, momentum: float = 0.0) -> float:
    """Largest stable eta * a_max: GD 2, HB 2(1+beta), NAG-SC 2(1+beta)/(1+2beta), NAG 4/3 (beta_k -> 1)."""
    check_choice("method", method, METHODS)
    b = float(momentum)
    return {"gd": 2.0, "heavy_ball": 2 * (1 + b), "nag_sc": 2 * (1 + b) / (1 + 2 * b), "nag": 4 / 3}[method]


def check_stability(method: str, *, lr: float, momentum: float = 0.0, lambda_max: float,
                    field: str = "optimizer.lr") -> bool:
    """Refuse beta outside [0, 1) (ConfigError); warn (StabilityWarning) when eta * lambda_max >= the bound."""
    if method in ("heavy_ball", "nag_sc") and not 0.0 <= momentum < 1.0:
        raise ConfigError("optimizer.momentum", f"got {momentum!r}", allowed="[0, 1)")
    if not lr > 0:
        raise ConfigError(field, f"got {lr!r}", allowed="a finite number > 0")
    bound = stability_bound(method, momentum)
    if lr * lambda_max >= bound:
        warnings.warn(f"{field}: eta * lambda_max = {lr * lambda_max:.4g} >= {bound:.4g}, the stability bound "
                      f"of {method}: the iteration diverges (allowed: eta < {bound / lambda_max:.4g})",
                      StabilityWarning, stacklevel=2)
        return False
    return True


@dataclass
class Prediction:
    """A predicted trajectory: loss at ``step`` (and ``time`` for the ODEs), errors at the kept steps."""

    method: str
    step: np.ndarray
    loss: np.ndarray
    errors: dict[int, np.ndarray] = field(default_factory=dict)
    loss_iterate: np.ndarray | None = None
    time: np.ndarray | None = None

    def frame(self, label: str | None = None) -> pd.DataFrame:
        """Tidy (step, time, loss, method, label)."""
        return pd.DataFrame({"step": self.step, "time": self.time if self.time is not None else self.step,
                             "loss": self.loss, "method": self.method, "label": label or self.method})


def _flow_factor_block(kind: str, a: np.ndarray, t: np.ndarray, damping: float | None) -> np.ndarray:
    t = t[:, None]
    if kind == "gradient_flow":
        return np.exp(-a * t)
    if kind == "nesterov":
        x = np.sqrt(a) * t
        small = x < 1e-4
        xs = np.where(small, 1.0, x)
        return np.where(small, 1 - x * x / 8, 2 * j1(xs) / xs)  # series 1 - x^2/8 + O(x^4)
    g = float(damping)
    d2 = g * g / 4 - a  # d^2 > 0: overdamped (real exponentials); < 0: underdamped (oscillating)
    d = np.sqrt(np.abs(d2))
    over = d2 > 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp((d - g / 2) * t)
        r = np.exp(-2 * d * t)
        sinh_over_d = np.where(d > 0, e * -np.expm1(-2 * d * t) / (2 * np.where(d > 0, d, 1)), t * e)
        real = e * (1 + r) / 2 + g / 2 * sinh_over_d
        damp = np.exp(-g * t / 2)
        sin_over_d = np.where(d > 0, np.sin(d * t) / np.where(d > 0, d, 1), t)
        osc = damp * (np.cos(d * t) + g / 2 * sin_over_d)
    return np.where(over, real, osc)


def flow_factors(kind: str, a, t, *, damping: float | None = None) -> np.ndarray:
    """c(t) / c(0) per mode for the continuous flows; shape (len(t), len(a))."""
    check_choice("flow", kind, FLOWS)
    if kind == "heavy_ball" and (damping is None or not damping >= 0):
        raise ConfigError("damping", f"got {damping!r}", allowed="a number >= 0 (the HB ODE's gamma)")
    a = np.clip(np.asarray(a, float), 0, None)
    t = np.atleast_1d(np.asarray(t, float))
    if (t < 0).any():
        raise ConfigError("times", "negative time", allowed="t >= 0")
    return _flow_factor_block(kind, a, t, damping)


class FunctionSpaceModes:
    """Eigen-modes of A = 2 w Theta and of e_0: every prediction after one O(N^3) decomposition.

    ``theta`` is (N, N), or (n, n, K, K) with e0 (n, K) (flattened row-major, entry i*K + k), or (n, n) with e0
    (n, K): the kernel of each output, the full one being Theta (x) I_K (independent outputs, as an infinite-width
    limit gives and neural-tangents assumes).  That case decomposes only the (n, n) kernel: its eigenvalues a_i
    repeat K times (mode i*K + k has eigenvector q_i (x) e_k), so it costs O(n^3), not O((n K)^3).
    """

    def __init__(self, theta, e0, *, normalisation: str = "mean"):
        check_choice("normalisation", normalisation, tuple(NORMALISATIONS))
        e0 = np.asarray(e0.detach().cpu() if hasattr(e0, "detach") else e0, dtype=np.float64)
        th = np.asarray(theta.detach().cpu() if hasattr(theta, "detach") else theta, dtype=np.float64)
        self.shape = e0.shape
        N = e0.size
        if th.ndim == 4:
            th = th.transpose(0, 2, 1, 3).reshape(th.shape[0] * th.shape[2], -1)
        per_output = e0.ndim == 2 and e0.shape[1] > 1 and th.shape == (e0.shape[0], e0.shape[0])
        if th.shape != (N, N) and not per_output:
            raise ConfigError("theta", f"shape {th.shape} does not match e0 with {N} entries",
                              allowed=f"({N}, {N}), (n, n, K, K), or (n, n) with e0 of shape (n, K)")
        w = NORMALISATIONS[normalisation]
        self.weight = 1.0 / N if w is None else w
        self.scale = 2 * self.weight
        a, q = np.linalg.eigh(self.scale * 0.5 * (th + th.T))
        a = np.clip(a, 0, None)  # PSD: rounding can leave -1e-17
        self._outputs = e0.shape[1] if per_output else None
        if per_output:  # Theta (x) I_K: modes (i, k) in row-major order, eigenvalues ascending as a_i are
            self.a = np.repeat(a, self._outputs)
            self.q = q
            self.c0 = (q.T @ e0).reshape(-1)
        else:
            self.a = a
            self.q = q
            self.c0 = q.T @ e0.reshape(-1)

    @property
    def lambda_min(self) -> float:
        return float(self.a[0])

    @property
    def per_output_kernel(self) -> bool:
        """True when the kernel is per output, (n, n) with e0 (n, K): Theta (x) I_K."""
        return self._outputs is not None

    def at(self, k_test_train, f0_test):
        """Predictions at other points x' (e.g. test points) from Theta(x', X) and f_0(x'):
        a :class:`~ntklab.dynamics.TestPointPredictor` (see :mod:`ntklab.dynamics._test_points`)."""
        from ._test_points import TestPointPredictor

        return TestPointPredictor(self, k_test_train, f0_test)

    @property
    def lambda_max(self) -> float:
        return float(self.a[-1])

    def errors(self, c: np.ndarray) -> np.ndarray:
        if self._outputs is not None:  # (Q (x) I_K) c = Q C with C the (n, K) reshape of c
            return (self.q @ c.reshape(-1, self._outputs)).reshape(self.shape)
        return (self.q @ c).reshape(self.shape)

    def _loss(self, c: np.ndarray) -> np.ndarray:
        return self.weight * np.einsum("...i,...i->...", c, c)

    def discrete(self, method: str, *, lr: float, momentum: float = 0.0, steps: int,
                 keep=()) -> Prediction:
        """Loss at steps 0..steps of the linearised model trained by ``method``; errors e_k at ``keep``."""
        check_choice("method", method, METHODS)
        if method == "gd" and momentum:
            raise ConfigError("momentum", f"got {momentum!r} for gd", allowed="0")
        check_stability(method, lr=lr, momentum=momentum, lambda_max=self.lambda_max)
        keep = {int(k) for k in keep if 0 <= int(k) <= steps}
        contraction = 1 - lr * self.a
        if method == "nag":
            loss, loss_it, errs = self._nag(contraction, steps, keep)
            return Prediction(method, np.arange(steps + 1), loss, errs, loss_it)
        b = float(momentum)
        p, q = {"gd": (contraction, 0 * contraction), "heavy_ball": (1 + b - lr * self.a, b + 0 * contraction),
                "nag_sc": (contraction * (1 + b), contraction * b)}[method]
        y_beta = b if method == "nag_sc" else None
        loss, loss_it, errs = self._lti(p, q, steps, keep, y_beta)
        return Prediction(method, np.arange(steps + 1), loss, errs, loss_it if y_beta is not None else None)

    def _lti(self, p, q, steps, keep, y_beta):
        """c_{k+1} = p c_k - q c_{k-1} in blocks of B steps: c_{k0+j} = P_j c_{k0} + Q_j c_{k0-1}.

        (P_j, Q_j) are the mode responses (P_0, Q_0) = (1, 0), (P_{-1}, Q_{-1}) = (0, 1); the block-start states
        advance sequentially (O(N) per block) and every block's losses come out of one matrix product,
        L = w [P^2 (c^2) + 2 PQ (c c') + Q^2 (c'^2)].  The expansion costs a relative error of at most about
        B^2 eps (near-critical modes, where P_j ~ j z^j), so B is kept at 128.
        """
        B = max(1, min(_BLOCK, steps))
        P, Q = np.empty((B + 2, self.a.size)), np.empty((B + 2, self.a.size))
        P[0], Q[0], P[1], Q[1] = 0.0, 1.0, 1.0, 0.0  # row j+1 holds response j (row 0: j = -1)
        for j in range(1, B + 1):
            P[j + 1] = p * P[j] - q * P[j - 1]
            Q[j + 1] = p * Q[j] - q * Q[j - 1]
        Rp, Rq = P[2:], Q[2:]  # responses j = 1..B
        Yp, Yq = Rp, Rq
        if y_beta is not None:  # y_k = (1 + beta) c_k - beta c_{k-1}
            Yp, Yq = (1 + y_beta) * Rp - y_beta * P[1:-1], (1 + y_beta) * Rq - y_beta * Q[1:-1]
        nblocks = -(-steps // B)
        starts = np.empty((nblocks, 2, self.a.size))
        c, c_prev = self.c0.copy(), self.c0.copy()
        for b in range(nblocks):
            starts[b, 0], starts[b, 1] = c, c_prev
            c, c_prev = P[B + 1] * c + Q[B + 1] * c_prev, P[B] * c + Q[B] * c_prev  # c_{k0+B}, c_{k0+B-1}
        loss_it = self._block_losses(Rp, Rq, starts, steps)
        loss = loss_it if y_beta is None else self._block_losses(Yp, Yq, starts, steps)
        errs = {0: self.errors(self.c0)} if 0 in keep else {}
        for k in keep - {0}:
            b, j = divmod(k - 1, B)
            errs[k] = self.errors(Yp[j] * starts[b, 0] + Yq[j] * starts[b, 1])
        return loss, loss_it, errs

    def _block_losses(self, Rp, Rq, starts, steps):
        out = np.empty((starts.shape[0], Rp.shape[0]))
        gd = not Rq.any()
        for lo in range(0, starts.shape[0], 512):
            c, cp = starts[lo:lo + 512, 0], starts[lo:lo + 512, 1]
            blk = (Rp * Rp) @ (c * c).T
            if not gd:
                blk += (2 * Rp * Rq) @ (c * cp).T + (Rq * Rq) @ (cp * cp).T
            out[lo:lo + 512] = blk.T
        loss = np.empty(steps + 1)
        loss[0] = self._loss(self.c0)
        loss[1:] = self.weight * out.reshape(-1)[:steps]
        return loss

    def _nag(self, contraction, steps, keep):
        """c_{k+1} = (1 - eta a) y_k with y_k = (1 + beta_k) c_k - beta_k c_{k-1}: two vector operations per step.

        The iterates of a block sit in consecutive rows of a buffer, so y_k is one (2,) x (2, N) product of
        (-beta_k, 1 + beta_k) with rows (c_{k-1}, c_k); the losses of a block come out of one product each.
        """
        N = self.a.size
        loss, loss_it = np.empty(steps + 1), np.empty(steps + 1)
        B = max(1, min(_BLOCK, steps + 1))
        cbuf, ybuf = np.empty((B + 2, N)), np.empty((B, N))  # cbuf row j + 1 holds c_{k0 + j}
        cbuf[0] = cbuf[1] = self.c0
        k = np.arange(steps + 1, dtype=float)
        beta = np.where(k >= 1, (k - 1) / (k + 2), 0.0)  # beta_k = (k-1)/(k+2), beta_0 = 0
        weights = np.ascontiguousarray(np.stack([-beta, 1.0 + beta], axis=1))
        errs = {}
        for k0 in range(0, steps + 1, B):
            nb = min(B, steps + 1 - k0)
            for j in range(nb):
                np.dot(weights[k0 + j], cbuf[j:j + 2], out=ybuf[j])
                np.multiply(contraction, ybuf[j], out=cbuf[j + 2])
            for k in keep:
                if k0 <= k < k0 + nb:
                    errs[k] = self.errors(ybuf[k - k0])
            loss[k0:k0 + nb] = self._loss(ybuf[:nb])
            loss_it[k0:k0 + nb] = self._loss(cbuf[1:nb + 1])
            cbuf[0], cbuf[1] = cbuf[nb].copy(), cbuf[nb + 1].copy()
        return loss, loss_it, errs

    def flow(self, kind: str, times, *, damping: float | None = None, keep_times=()) -> Prediction:
        """The continuous flow's loss at ``times`` (closed forms above); errors at ``keep_times``."""
        t = np.atleast_1d(np.asarray(times, float))
        loss = np.empty(t.size)
        for lo in range(0, t.size, 4096):
            f = flow_factors(kind, self.a, t[lo:lo + 4096], damping=damping)
            loss[lo:lo + 4096] = self._loss(f * self.c0)
        errs = {}
        for tk in keep_times:
            errs[tk] = self.errors(flow_factors(kind, self.a, [tk], damping=damping)[0] * self.c0)
        return Prediction(kind, t.copy(), loss, errs, time=t.copy())

    def ode(self, method: str, *, lr: float, momentum: float = 0.0, steps: int | np.ndarray) -> Prediction:
        """The ODE limit of ``method`` on the step axis: t = k eta (GD) or k sqrt(eta) (momentum methods)."""
        check_choice("method", method, METHODS)
        k = np.arange(steps + 1) if np.isscalar(steps) else np.asarray(steps, float)
        kind = _ODE_OF[method]
        t = k * (lr if kind == "gradient_flow" else math.sqrt(lr))
        damping = (1 - momentum) / math.sqrt(lr) if kind == "heavy_ball" else None
        pred = self.flow(kind, t, damping=damping)
        return Prediction(f"{method}_ode", k, pred.loss, time=t)
