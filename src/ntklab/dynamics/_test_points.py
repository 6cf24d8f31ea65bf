r"""Function-space predictions at points other than the training set (test points), and the infinite-width
ensembles of neural-tangents' ``predict`` (``gradient_descent_mse_ensemble``, ``gp_inference``), under MSE.

**Test points.**  Every update of the linearised network lies along J^T (the gradient of the training loss is
2 w J^T e), so theta_k - theta_0 = J^T alpha_k and, at any points x' with J' their Jacobian,

    f_k(x') = f_0(x') + Theta(x', X) alpha_k,        e_k = e_0 + Theta alpha_k       (training points X).

In the modes of :class:`~ntklab.dynamics.FunctionSpaceModes` (A = 2 w Theta = Q diag(a) Q^T, c_0 = Q^T e_0) each
method multiplies mode i by a factor S_k(a_i), so Q^T alpha_k = 2 w R_k(a) c_0 with the *gain*
R_k(a) = (S_k(a) - 1) / a, and

    f_k(x') = f_0(x') + Theta(x', X) Q diag(2 w R_k(a)) Q^T e_0.

R_k is computed without dividing by a small a (a = 0 is a mode the kernel does not see; there R_k = -k eta):

    GD             R_k = expm1(k log1p(-eta a)) / a   (eta a < 1/2; else ((1 - eta a)^k - 1) / a)
    HB, NAG(-SC)   R_{k+1} = R^y_k - eta (1 + a R^y_k),  R_0 = R_{-1} = 0, with R^y_k where the gradient is taken:
                   HB R_k + beta (R_k - R_{k-1}); NAG (1 + beta_k) R_k - beta_k R_{k-1}, beta_k = (k-1)/(k+2)
    gradient flow  R(t) = expm1(-a t) / a
    HB ODE         overdamped, a < 3 g^2/16: R = [expm1(-r_1 t)/r_1 - expm1(-r_2 t)/r_2] / (r_2 - r_1), with
                   r_2 = g/2 + sqrt(g^2/4 - a), r_1 = a / r_2; otherwise (F(t) - 1) / a
    NAG ODE        t^2 (-1/8 + x^2/192 - x^4/9216 + x^6/737280) below x = sqrt(a) t = 0.1, else (F - 1) / a

(F the flow factor of :func:`~ntklab.dynamics.flow_factors`).  Predictions at step k are at the point the
optimiser holds (the look-ahead point for NAG / NAG-SC), as the training-set predictions.

Where the kernel is too large to decompose (n K training entries in the tens of thousands: a K-output net's own
(n, n, K, K) kernel), :func:`shallow_linearized_gd` gives the same GD prediction for a ScaledShallowNet by
stepping its linearisation in parameter space: with the activation pattern S_0 = sigma'(W_0 x / sqrt(d)) frozen,
f^lin(x) = f_0(x) + ((x dW^T / sqrt(d)) o S_0 o s) u^T and dW -= eta 2 w ((e u) o S_0 o s)^T X / sqrt(d), which
costs one training step per step.

**Ensembles.**  At initialisation an infinitely wide network is a GP, f_0 ~ N(0, K) (K the NNGP).  Trained on
the MSE with the NTK Theta (``get="ntk"``) or with K itself (``get="nngp"``: only the readout trains),
f_k(x') = f_0(x') + M_k (f_0(X) - y) with M_k = Theta(x', X) Q diag(2 w R_k) Q^T, so over initialisations

    mean_k = -M_k y,      cov_k = K(x', x') + M_k K M_k^T + M_k K(X, x') + K(x', X) M_k^T.

At t = inf (gradient flow, ``times`` holding ``inf``) R = -1/a on the modes above ``rcond`` a_max and 0 on the
others (the pseudo-inverse).  :func:`gp_inference` is the Bayesian posterior: mean K'(K + s I)^{-1} y,
covariance K'' - K'(K + s I)^{-1} K'^T.  Kernels are per output, (n, n) with y (n, K), and the covariance
(n', n') is that of every output (neural-tangents' ``trace_axes=(-1,)``).  ``diag_reg`` adds s = diag_reg *
mean(diag K) to the training kernel (``diag_reg_absolute_scale``: s = diag_reg), as neural-tangents.

Time units: with normalisation "mean" (L = mean (f - y)^2, ntklab's MSE) neural-tangents' time T (its loss is
(1 / 2N) ||f - y||^2) is 2 t.

Example:
    >>> import numpy as np
    >>> from ntklab.dynamics import FunctionSpaceModes
    >>> theta = np.array([[2.0, 1.0], [1.0, 2.0]]); e0 = np.array([[1.0], [-1.0]])
    >>> lazy = FunctionSpaceModes(theta, e0).at(np.array([[1.0, 0.0]]), np.zeros((1, 1)))
    >>> f = lazy.flow("gradient_flow", [0.0, np.inf])[:, 0, 0]   # f(x') = Theta' Theta^{-1} (e_inf - e_0)
    >>> [round(float(v), 6) for v in f]
    [0.0, -1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .._errors import ConfigError, check_choice
from ._predictions import _ODE_OF, FLOWS, METHODS, NORMALISATIONS, check_stability, flow_factors

__all__ = ["discrete_gains", "flow_gains", "TestPointPredictor", "GPEnsemble", "EnsemblePrediction",
           "gp_ensemble", "gp_inference", "shallow_linearized_gd"]


def _array(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


def _steps(steps) -> np.ndarray:
    k = np.atleast_1d(np.asarray(steps))
    if k.size == 0 or (k < 0).any() or not np.all(k == np.round(k)):
        raise ConfigError("steps", f"got {np.asarray(steps).tolist()!r}", allowed="a non-empty list of integers >= 0")
    return k.astype(np.int64)


def _gd_gains(a: np.ndarray, lr: float, k: np.ndarray) -> np.ndarray:
    ea = lr * a
    small = ea < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        stable = np.expm1(k[:, None] * np.log1p(-np.where(small, ea, 0.0))) / np.where(a > 0, a, 1.0)
        direct = ((1.0 - ea) ** k[:, None] - 1.0) / np.where(a > 0, a, 1.0)
    zero = -lr * k[:, None] * np.ones_like(a)
    return np.where(a > 0, np.where(small, stable, direct), zero)


def discrete_gains(a, method: str, *, lr: float, momentum: float = 0.0, steps) -> np.ndarray:
    """R_k(a) = (S_k(a) - 1) / a at ``steps`` for the discrete ``method`` (module docstring); (len(steps), len(a))."""
    check_choice("method", method, METHODS)
    a = np.clip(np.asarray(a, np.float64), 0.0, None)
    k = _steps(steps)
    if method == "gd":
        return _gd_gains(a, float(lr), k)
    want: dict[int, list[int]] = {}
    for i, s in enumerate(k.tolist()):
        want.setdefault(s, []).append(i)
    out = np.empty((k.size, a.size))
    r_prev, r = np.zeros_like(a), np.zeros_like(a)
    b = float(momentum)
    for step in range(int(k.max()) + 1):
        beta = b if method in ("heavy_ball", "nag_sc") else ((step - 1) / (step + 2) if step >= 1 else 0.0)
        if method == "heavy_ball":
            held, ry = r, r + beta * (r - r_prev)
        else:  # the look-ahead point is held and the gradient taken there
            held = ry = (1 + beta) * r - beta * r_prev
        if step in want:
            out[want[step]] = held
        if method == "heavy_ball":
            r_prev, r = r, ry - lr * (1.0 + a * r)
        else:
            r_prev, r = r, ry - lr * (1.0 + a * ry)
    return out


def _expm1_over(r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """expm1(-r t) / r, -t at r = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, np.expm1(-r * t) / np.where(r > 0, r, 1.0), -t * np.ones_like(r))


def flow_gains(kind: str, a, times, *, damping: float | None = None) -> np.ndarray:
    """R(t; a) = (F(t; a) - 1) / a for the continuous flows (module docstring); (len(times), len(a))."""
    check_choice("flow", kind, FLOWS)
    a = np.clip(np.asarray(a, np.float64), 0.0, None)
    t = np.atleast_1d(np.asarray(times, np.float64))[:, None]
    if (t < 0).any():
        raise ConfigError("times", "negative time", allowed="t >= 0")
    if kind == "gradient_flow":
        with np.errstate(over="ignore"):
            finite = _expm1_over(a, np.where(np.isinf(t), 0.0, t))
        return np.where(np.isinf(t), np.where(a > 0, -1.0 / np.where(a > 0, a, 1.0), -np.inf), finite)
    if np.isinf(t).any():
        raise ConfigError("times", "inf is only defined for gradient flow", allowed="finite times")
    direct = np.zeros((t.shape[0], a.size))
    pos = a > 0
    direct[:, pos] = (flow_factors(kind, a[pos], t[:, 0], damping=damping) - 1.0) / a[pos]
    if kind == "nesterov":
        x2 = a * t * t
        series = t * t * (-1 / 8 + x2 / 192 - x2 ** 2 / 9216 + x2 ** 3 / 737280)
        return np.where(x2 < 0.01, series, direct)
    g = float(damping)
    over = a < 3 * g * g / 16
    r2 = g / 2 + np.sqrt(np.clip(g * g / 4 - a, 0.0, None))
    r1 = np.where(r2 > 0, a / np.where(r2 > 0, r2, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        stable = (_expm1_over(r1, t) - _expm1_over(r2, t)) / np.where(r2 > r1, r2 - r1, 1.0)
    if g == 0:
        stable = -t * t / 2 * np.ones_like(a)  # no friction: R = -t^2/2 at a = 0 (direct covers a > 0)
    return np.where(over | ~pos, stable, direct)


def _ode_times(method: str, lr: float, momentum: float, steps) -> tuple[str, np.ndarray, float | None]:
    check_choice("method", method, METHODS)
    kind = _ODE_OF[method]
    k = np.atleast_1d(np.asarray(steps, np.float64))
    t = k * (lr if kind == "gradient_flow" else math.sqrt(lr))
    damping = (1 - momentum) / math.sqrt(lr) if kind == "heavy_ball" else None
    return kind, t, damping


class TestPointPredictor:
    """f_k(x') of the linearised network at points x' (module docstring), from ``modes`` (the training kernel and
    e_0), Theta(x', X) and f_0(x').

    ``k_test_train``: (n', n) when the modes' kernel is per output ((n, n), one output or Theta (x) I_K),
    else (n', n, K, K) or (n' K, n K) like the modes' full kernel.  Predictions have f_0(x')'s shape with a
    leading axis over the steps or times.
    """

    __test__ = False  # not a pytest class

    def __init__(self, modes, k_test_train, f0_test):
        kt = _array(k_test_train)
        f0 = _array(f0_test)
        K = modes.shape[1] if len(modes.shape) == 2 else 1
        n = modes.shape[0]
        if kt.ndim == 4:
            kt = kt.transpose(0, 2, 1, 3).reshape(kt.shape[0] * kt.shape[2], -1)
        per_output = modes.per_output_kernel
        cols = n if per_output else modes.a.size
        if kt.ndim != 2 or kt.shape[1] != cols:
            raise ConfigError("k_test_train", f"shape {kt.shape} does not match the training kernel",
                              allowed=f"(n', {n})" + ("" if per_output else f", (n', {n}, {K}, {K}) or (n' K, {n * K})"))
        n_test = kt.shape[0] if per_output else kt.shape[0] // K
        want = (n_test, K) if len(modes.shape) == 2 else (n_test,)
        if f0.shape != want:
            raise ConfigError("f0_test", f"shape {f0.shape} does not match k_test_train", allowed=str(want))
        self.modes, self.f0 = modes, f0
        self._proj = kt @ modes.q  # Theta(x', X) Q
        self._weighted_c0 = modes.scale * modes.c0  # 2 w c_0

    def _apply(self, gains: np.ndarray) -> np.ndarray:
        z = gains * self._weighted_c0  # (T, modes)
        if self.modes.per_output_kernel:
            K = self.modes.shape[1]
            moved = np.einsum("pi,tik->tpk", self._proj, z.reshape(z.shape[0], -1, K))
        else:
            moved = z @ self._proj.T
        return self.f0 + moved.reshape((z.shape[0],) + self.f0.shape)

    def discrete(self, method: str, *, lr: float, momentum: float = 0.0, steps) -> np.ndarray:
        """f_k(x') at ``steps`` of ``method`` with step size ``lr``."""
        check_stability(method, lr=lr, momentum=momentum, lambda_max=self.modes.lambda_max)
        return self._apply(discrete_gains(self.modes.a, method, lr=lr, momentum=momentum, steps=steps))

    def flow(self, kind: str, times, *, damping: float | None = None) -> np.ndarray:
        """f(t; x') of the continuous ``kind`` at ``times`` (``inf``: the end point of gradient flow)."""
        return self._apply(flow_gains(kind, self.modes.a, times, damping=damping))

    def ode(self, method: str, *, lr: float, momentum: float = 0.0, steps) -> np.ndarray:
        """The ODE limit of ``method`` on the step axis (t = k eta, or k sqrt(eta) with momentum)."""
        kind, t, damping = _ode_times(method, lr, momentum, steps)
        return self.flow(kind, t, damping=damping)


@dataclass
class EnsemblePrediction:
    """Mean (T, n', K) and covariance (T, n', n') over initialisations of the infinitely wide network."""

    mean: np.ndarray
    cov: np.ndarray | None
    at: np.ndarray  # the steps or times


def _reg(k: np.ndarray, diag_reg: float, absolute: bool) -> np.ndarray:
    if diag_reg < 0:
        raise ConfigError("diag_reg", f"got {diag_reg!r}", allowed=">= 0")
    s = float(diag_reg) if absolute else float(diag_reg) * float(np.mean(np.diag(k)))
    return k + s * np.eye(k.shape[0])


class GPEnsemble:
    """The infinite-width ensemble trained on the MSE (module docstring); build it with :func:`gp_ensemble`."""

    def __init__(self, train_kernel, test_train_kernel, y_train, *, nngp_train=None, nngp_test_train=None,
                 nngp_test=None, diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False,
                 normalisation: str = "mean", rcond: float = 1e-12):
        check_choice("normalisation", normalisation, tuple(NORMALISATIONS))
        y = _array(y_train)
        self.y = y[:, None] if y.ndim == 1 else y
        k = _reg(_array(train_kernel), diag_reg, diag_reg_absolute_scale)
        n = self.y.shape[0]
        self.k_td = _array(test_train_kernel)
        if k.shape != (n, n) or self.k_td.ndim != 2 or self.k_td.shape[1] != n:
            raise ConfigError("kernels", f"train {k.shape}, test-train {self.k_td.shape} do not match y {y.shape}",
                              allowed=f"({n}, {n}) and (n', {n}) per-output kernels")
        w = NORMALISATIONS[normalisation]
        self.scale = 2 * (1.0 / self.y.size if w is None else w)
        theta, self.q = np.linalg.eigh(0.5 * (k + k.T))
        self.a = self.scale * np.clip(theta, 0.0, None)
        self.rcond = float(rcond)
        self._proj = self.k_td @ self.q
        self._qy = self.q.T @ self.y
        self.nngp = None if nngp_train is None else (_array(nngp_train), _array(nngp_test_train),
                                                     None if nngp_test is None else _array(nngp_test))

    def _predict(self, gains: np.ndarray, at, compute_cov: bool) -> EnsemblePrediction:
        g = self.scale * gains  # (T, n): M_k = k_td Q diag(g_k) Q^T
        mean = -np.einsum("pi,ti,ik->tpk", self._proj, g, self._qy)
        cov = None
        if compute_cov:
            if self.nngp is None or self.nngp[2] is None:
                raise ConfigError("nngp", "the covariance needs the NNGP on train, test-train and test points",
                                  allowed="nngp_train=, nngp_test_train=, nngp_test=")
            k_dd, k_td, k_tt = self.nngp
            cov = np.empty((g.shape[0], k_tt.shape[0], k_tt.shape[0]))
            for i, gk in enumerate(g):
                m = (self._proj * gk) @ self.q.T  # (n', n)
                mk = m @ k_td.T  # M K(X, x')
                cov[i] = k_tt + m @ k_dd @ m.T + mk + mk.T
        return EnsemblePrediction(mean, cov, np.asarray(at, np.float64))

    def flow(self, times, *, compute_cov: bool = True) -> EnsemblePrediction:
        """Gradient flow at ``times`` (``inf``: the end point)."""
        t = np.atleast_1d(np.asarray(times, np.float64))
        gains = flow_gains("gradient_flow", self.a, t)
        null = self.a <= self.rcond * self.a.max()
        gains[:, null] = np.where(np.isinf(t)[:, None], 0.0, gains[:, null])  # pseudo-inverse at t = inf
        return self._predict(gains, t, compute_cov)

    def discrete(self, method: str, *, lr: float, momentum: float = 0.0, steps,
                 compute_cov: bool = True) -> EnsemblePrediction:
        """``method`` with step size ``lr`` after ``steps`` steps."""
        check_stability(method, lr=lr, momentum=momentum, lambda_max=float(self.a.max()))
        return self._predict(discrete_gains(self.a, method, lr=lr, momentum=momentum, steps=steps), steps,
                             compute_cov)


def gp_ensemble(kernels_train: Mapping, kernels_test_train: Mapping, y_train, *, nngp_test=None, get: str = "ntk",
                diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False, normalisation: str = "mean"
                ) -> GPEnsemble:
    """neural-tangents' ``gradient_descent_mse_ensemble`` from kernels: ``kernels_*`` map "nngp" / "ntk" to the
    per-output kernels on (train, train) and (test, train); ``get`` picks the GP trained ("ntk": the NTK drives
    training, "nngp": the NNGP does); the covariance needs the NNGP everywhere, ``nngp_test`` on (test, test)."""
    check_choice("get", get, ("nngp", "ntk"))
    for name, ks in (("kernels_train", kernels_train), ("kernels_test_train", kernels_test_train)):
        if get not in ks:
            raise ConfigError(name, f"has no {get!r} kernel", allowed="a mapping with 'nngp' and/or 'ntk'")
    return GPEnsemble(kernels_train[get], kernels_test_train[get], y_train, nngp_train=kernels_train.get("nngp"),
                      nngp_test_train=kernels_test_train.get("nngp"), nngp_test=nngp_test, diag_reg=diag_reg,
                      diag_reg_absolute_scale=diag_reg_absolute_scale, normalisation=normalisation)


def gp_inference(k_train, k_test_train, y_train, *, k_test=None, diag_reg: float = 0.0,
                 diag_reg_absolute_scale: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The GP posterior with prior kernel k: mean k'(k + s I)^{-1} y (n', K), covariance k'' - k'(k + s I)^{-1} k'^T
    (n', n') when ``k_test`` is given (neural-tangents' ``gp_inference``, solved through a Cholesky factor)."""
    import scipy.linalg

    y = _array(y_train)
    y = y[:, None] if y.ndim == 1 else y
    k = _reg(_array(k_train), diag_reg, diag_reg_absolute_scale)
    kt = _array(k_test_train)
    factor = scipy.linalg.cho_factor(0.5 * (k + k.T), lower=True)
    mean = kt @ scipy.linalg.cho_solve(factor, y)
    if k_test is None:
        return mean, None
    return mean, _array(k_test) - kt @ scipy.linalg.cho_solve(factor, kt.T)


def shallow_linearized_gd(net, x_train, y_train, x_eval, *, lr: float, steps, normalisation: str = "mean"
                          ) -> np.ndarray:
    """GD on the MSE of a :class:`~ntklab.ScaledShallowNet`'s linearisation at its current weights (W trained, no
    bias), in parameter space; f^lin(x_eval) at ``steps``, shape (len(steps), n_eval, K), in the net's dtype.

    The same prediction as ``FunctionSpaceModes(empirical_ntk(net, x_train), f_0 - y).at(empirical_ntk(net, x_eval,
    x_train), f_0(x_eval)).discrete("gd", ...)`` without forming or decomposing the kernel (module docstring).
    """
    import torch

    check_choice("normalisation", normalisation, tuple(NORMALISATIONS))
    if tuple(net.trainable) != ("W",) or net.b is not None:
        raise ConfigError("net", f"trainable {net.trainable}", allowed="a ScaledShallowNet training W only, no bias")
    k = _steps(steps)
    with torch.no_grad():
        dtype = net.W.dtype
        xs, xe = x_train.to(dtype) / math.sqrt(net.d), x_eval.to(dtype) / math.sqrt(net.d)
        y = y_train.to(dtype)
        w0, u, s = net.W.detach(), net.u.detach(), net.node_scale().detach()
        act = net._act
        pat, pat_e = act.derivative(xs @ w0.T) * s, act.derivative(xe @ w0.T) * s  # S_0 o s on both point sets
        f0, f0e = net(x_train.to(dtype)), net(x_eval.to(dtype))
        w = NORMALISATIONS[normalisation]
        scale = 2 * (1.0 / y.numel() if w is None else w)
        dw = torch.zeros_like(w0)
        out = np.empty((k.size,) + tuple(f0e.shape))
        want: dict[int, list[int]] = {}
        for i, st in enumerate(k.tolist()):
            want.setdefault(st, []).append(i)
        for step in range(int(k.max()) + 1):
            if step in want:
                out[want[step]] = (f0e + ((xe @ dw.T) * pat_e) @ u.T).cpu().double().numpy()
            if step == k.max():
                break
            e = f0 + ((xs @ dw.T) * pat) @ u.T - y
            dw -= (lr * scale) * (((e @ u) * pat).T @ xs)
    return out
