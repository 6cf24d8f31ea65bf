r"""The training time the approximation theorems speak of: the lazy window tau_rho = rho^2 ||theta_0||^2 / L(theta_0).

What the theorems bound.  Gentile & Welper 2022 (1-d, gradient flow), Welper 2023 (S^{d-1}, constant depth,
gradient flow on the second-to-last layer) and Welper 2024 (the same for gradient descent, tau = k eta after k
steps of size eta) bound the error ||f_tau - f||_{L2} of the trained net at a *finite* training time tau, by an NTK
argument whose premise is that the trained weights stay close to their initialisation for as long as tau runs
(Welper 2023, sec. 4.5: "weights stay close to initial"); the admissible tau, and with it the error, improves with
the width.  None of them bounds the limit tau -> infinity: an under-parametrised net (the continuous L2 norm: there
is no interpolation) converges, if at all, to a minimiser far from its initialisation, outside the argument, and
plain GD gets there only along power-law tails (the NTK spectrum falls like k^-10 here).  So the rate claims are
stated at a time that grows with m, not at convergence; the stopping rule of :func:`ntklab.approximation.descend`
is still run, declared and reported (the steps each width needed).

Which time.  For gradient flow theta' = -grad L the energy identity dL/dt = -||grad L||^2 gives, on every
trajectory,

    ||theta_tau - theta_0|| <= int_0^tau ||grad L|| dt <= sqrt(tau (L_0 - L_tau)) <= sqrt(tau L_0),

so up to tau_rho = rho^2 ||theta_0||^2 / L_0 the relative displacement ||theta_tau - theta_0|| / ||theta_0|| is at
most rho, at every width and whatever the landscape (GD: the same up to the descent lemma's 1 / (1 - eta beta / 2)).
Under NTK scaling every trained weight is O(1), so ||theta_0||^2 is proportional to the number of trained weights:
3m for the 1-d nets, m (d + 1) for the sphere's inner layer and m (m + 1) for the deep nets' second-to-last layer.
tau_rho is the window over which the a-priori estimate keeps the theorems' premise uniformly in m; its rho is
declared (an option) and the rate at rho / 2 is reported beside the claim (how much the rate depends on it).

Reading e(tau_rho) per net: the recorded error interpolated at tau_rho (log error, linear in the flow time
sum_t eta_t, which counts the step halvings); a net that met the stopping rule before tau_rho is stationary there
and keeps its final error; a net whose budget ended before tau_rho has no value, and its width leaves the fit
(named in the claim).

Example:
    >>> import pandas as pd
    >>> e = pd.DataFrame({"target": "t", "m": [8], "seed": 0, "rel_error": 0.1, "error": 0.2, "status": "budget",
    ...                   "init_norm": 2.0, "loss0": 1.0})
    >>> cv = pd.DataFrame({"target": "t", "m": 8, "seed": 0, "step": [0, 10, 40], "time": [0.0, 2.0, 8.0],
    ...                    "rel_error": [1.0, 0.5, 0.1]})
    >>> w = window_errors(e, cv, ["target", "m", "seed"], rho=1.0)  # tau = 4: a third of the way from 0.5 to 0.1
    >>> float(w.tau.iloc[0]), round(float(w.rel_error.iloc[0]), 4), w.reached.iloc[0], float(w.steps_tau.iloc[0])
    (4.0, 0.2924, 'curve', 20.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["window_errors", "window_widths", "window_text"]


def _initial_loss(e: pd.DataFrame, curves: pd.DataFrame, keys: list[str]) -> pd.Series:
    """L(theta_0) per net: the stored ``loss0``, else 1/2 (e_0 ||f||)^2 from the curves' first record (1-d)."""
    if "loss0" in e:
        return e.loss0.astype(float)
    first = curves[curves.step == 0].groupby(keys).rel_error.first().rename("_e0")
    e0 = e.join(first, on=keys)["_e0"]
    return 0.5 * (e0 * e.error / e.rel_error) ** 2


def window_errors(e: pd.DataFrame, curves: pd.DataFrame, keys: list[str], rho: float,
                  column: str = "rel_error") -> pd.DataFrame:
    """``e`` (one row per net, with ``init_norm``) with ``tau`` = rho^2 ||theta_0||^2 / L_0, ``steps_tau`` (the GD
    steps it took), ``reached`` ('curve' | 'stationary' | 'budget') and ``column`` (and ``error``, scaled alike) at
    tau: NaN where the budget ended first.  ``curves``: the records (keys, time, step, ``column``)."""
    if "init_norm" not in e or "time" not in curves:
        raise KeyError("tables stored before the lazy window was recorded (no init_norm / time): rerun the preset")
    out = e.copy()
    out["tau"] = rho ** 2 * e.init_norm.astype(float) ** 2 / _initial_loss(e, curves, keys)
    groups = dict(tuple(curves.groupby(keys)))
    vals, steps, how = [], [], []
    for r in out.itertuples():
        g = groups[tuple(getattr(r, k) for k in keys)].sort_values("time")
        t, v = g.time.to_numpy(float), g[column].to_numpy(float)
        if r.tau <= t[-1]:
            vals.append(float(np.exp(np.interp(r.tau, t, np.log(v)))))
            steps.append(float(np.interp(r.tau, t, g.step.to_numpy(float))))
            how.append("curve")
        elif r.status == "converged":
            vals.append(float(getattr(r, column)))
            steps.append(float(r.steps_run))
            how.append("stationary")
        else:
            vals.append(float("nan"))
            steps.append(float("nan"))
            how.append("budget")
    out["steps_tau"], out["reached"] = steps, how
    if column == "rel_error" and "error" in out:  # the absolute error at tau, with the same norm ||f||
        out["error"] = np.asarray(vals) * (out.error / out.rel_error)
    out[column] = vals
    return out


def window_widths(w: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of the widths whose every net has a value at tau_rho, and one line per width left out."""
    ok = w.groupby("m").reached.apply(lambda s: bool((s != "budget").all()))
    excluded = [f"m={m}: {int((w[w.m == m].reached == 'budget').sum())}/{int((w.m == m).sum())} nets ran out of "
                f"budget before τ_ρ = {w[w.m == m].tau.max():.3g}" for m in ok.index[~ok.values]]
    return w[w.m.isin(ok.index[ok.values])], excluded


def window_text(w: pd.DataFrame, rho: float) -> str:
    """'ρ = 3: τ_ρ 120–9800 (GD steps 400–46000)' over the nets with a value."""
    v = w[w.reached != "budget"]
    if v.empty:
        return f"ρ = {rho:g}: no net reached τ_ρ"
    stationary = int((v.reached == "stationary").sum())
    return (f"ρ = {rho:g}: τ_ρ {v.tau.min():.3g}–{v.tau.max():.3g} (GD steps {v.steps_tau.min():.0f}–"
            f"{v.steps_tau.max():.0f})" + (f", {stationary} nets stationary before it" if stationary else ""))
