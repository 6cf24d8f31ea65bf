r"""Agarwal et al.'s top-layer version: gradient descent on the readout of a deep random network.

Only the readout of a depth-L network (:class:`ntklab.nets.TorchMLP`, width m, no biases, He-scaled relu or
LeCun-scaled normalised relu, ``trainable = ["u"]``) is trained, by full-batch GD on the MSE (the training loop,
:func:`ntklab.runs.train_many`), from the network's random readout.  This is a convex least squares on the
features Phi = x^L of the n training points, and its GD trajectory is exact in the spectrum of K-hat^(L) =
Phi Phi^T / m (:mod:`ntklab.experiments.conditioning._readout_gd`): at the step eta = 1 / lambda_max(Hessian),
chosen for every network from its own features, the steps to reach the relative loss eps are at most
ln(1/eps) / (-2 ln(1 - 1/kappa)) ~ kappa ln(1/eps) / 2, kappa = cond(K-hat^(L)).  The main theorem makes
cond(K^(L)) -> 1 with depth for a normalised activation (the steps fall with depth); plain relu's K^(L) -> 11^T
(cond grows, the steps do not fall).

Data: n points uniform on S^{d-1} scaled to |x| = sqrt(d) (so that x.x'/d is the cosine, as the kernels assume)
with labels y ~ N(0, 1) independent of x (every eigendirection of K-hat carries weight, so the slowest one,
lambda_min, is felt), written by :func:`top_layer_data` as an ``npz`` file inside the experiment directory and
read back by the library's ``npz`` source (``standardise_x = False``; y is standardised on the training part).
``int(0.4 N) = n`` of the N rows train, as the paper split does.  The configs name that file, so a run belongs to
the experiment directory it was trained in; :func:`top_layer_plan` stores the configs as trained
(``top_layer/plan.json``), with each network's step, spectrum and the infinite-width cond(K^(L)), and the
analysis reads the runs of exactly those configs.

Probes record the train loss every p = max(1, floor(k_pred / 100)) steps (k_pred: the exact prediction's steps to
eps), and a run trains for p * ceil((1.25 k_pred + 5) / p) steps (at most ``top_max_steps``): a loop that did
anything but GD on this quadratic would miss eps within that budget.

Example:
    >>> from ntklab.experiments.conditioning._top_layer import top_layer_network
    >>> net = top_layer_network("nrelu", width=64, depth=3)
    >>> net["activation"], net["weight_std"], net["trainable"], net["bias"]
    ('normalized_relu', 1.0, ['u'], False)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..._io import atomic_save_npz, atomic_write_json, make_dirs
from ...config import config_from_dict
from ...data import load_dataset, sphere_points
from ...kernels import infinite_kernel
from ...nets import build_network
from ...runs import load_runs, train_many
from ._readout_gd import ReadoutGD, readout_gd

__all__ = ["TOP_VARIANTS", "top_layer_network", "top_layer_data", "top_layer_plan", "train_top_layer",
           "top_layer_frame", "top_layer_curves", "PLAN_FILE", "FRAME_COLUMNS"]

# variant -> (activation, weight_std): He-scaled relu and LeCun-scaled normalised relu, as the training variants
TOP_VARIANTS = {"relu": ("relu", math.sqrt(2.0)), "nrelu": ("normalized_relu", 1.0)}
PLAN_FILE = Path("top_layer") / "plan.json"
FRAME_COLUMNS = ["variant", "depth", "seed", "run", "status", "lr", "cond", "exact_cond", "steps", "steps_predicted",
                 "steps_bound", "probe_every", "rate", "rate_times_cond", "max_log_deviation"]
_TRAIN_FRACTION = 0.4  # the npz source's paper split: int(0.4 N) training rows


def top_layer_network(variant: str, *, width: int, depth: int) -> dict:
    """The ``network`` section: a random deep net whose readout (and nothing else) trains; no biases."""
    act, std = TOP_VARIANTS[variant]
    return {"kind": "torch_mlp", "width": width, "depth": depth, "parameterization": "standard",
            "activation": act, "batch_norm": False, "bias": False, "bias_std": 0.0, "weight_std": std,
            "trainable": ["u"]}


def _rows_for(n_train: int) -> int:
    rows = math.ceil(n_train / _TRAIN_FRACTION)
    while int(_TRAIN_FRACTION * rows) < n_train:
        rows += 1
    return rows


def top_layer_data(o, out: Path) -> Path:
    """Write (once) the sphere data of the top-layer runs into ``out/top_layer``; returns its absolute path."""
    rows = _rows_for(o.top_n)
    path = (Path(out) / "top_layer" / f"sphere-n{o.top_n}-d{o.top_d}-seed{o.top_data_seed}.npz").resolve()
    if not path.exists():
        make_dirs(path.parent)
        x = sphere_points(rows, o.top_d, seed=o.top_data_seed).numpy() * math.sqrt(o.top_d)
        y = np.random.default_rng(o.top_data_seed).standard_normal(rows)
        atomic_save_npz(path, x=x, y=y)
    return path


def _data_section(path: Path) -> dict:
    return {"name": "npz", "options": {"path": str(path), "standardise_x": False}}


def _budget(k_pred: int | None, cap: int) -> tuple[int, int]:
    """(probe interval, training steps) for a run predicted to reach eps at step k_pred."""
    if k_pred is None:
        return max(1, cap // 100), cap
    every = max(1, k_pred // 100)
    return every, min(cap, every * math.ceil((1.25 * k_pred + 5) / every))


def _infinite_cond(x: torch.Tensor, variant: str, depths) -> dict[int, float]:
    act, std = TOP_VARIANTS[variant]
    k = infinite_kernel(x, depth=max(depths), activation=act, kind="nngp", weight_var=std ** 2, all_depths=True)
    ev = torch.linalg.eigvalsh(k)
    return {L: float(ev[L - 1, -1] / ev[L - 1, 0]) for L in depths}


def top_layer_plan(o, out: Path) -> list[dict]:
    """One entry per (variant, depth, seed): its labels, the RunConfig (as a dict), the exact GD prediction
    (step, eigenvalues, weights) and the infinite-width cond(K^(L)) on the same points."""
    path = top_layer_data(o, out)
    data = load_dataset("npz", path=str(path), standardise_x=False)
    if data.x_train.shape[0] != o.top_n:
        raise RuntimeError(f"top-layer data: {data.x_train.shape[0]} training rows, expected {o.top_n}")
    plan = []
    for variant in o.top_variants:
        exact = _infinite_cond(data.x_train, variant, o.top_depths)
        for depth in o.top_depths:
            net_cfg = top_layer_network(variant, width=o.top_width, depth=depth)
            for seed in range(o.top_seeds):
                base = {"name": f"top-{variant}-L{depth}-s{seed}", "seed": seed, "dtype": "float32",
                        "data": _data_section(path), "network": net_cfg}
                net = build_network(config_from_dict(base).network, d=data.d, out_dim=data.out_dim, seed=seed,
                                    dtype=torch.float64)
                with torch.no_grad():
                    gd = readout_gd(net.readout_features(data.x_train), net(data.x_train), data.y_train)
                k_pred = gd.steps_to(o.top_tolerance, max_steps=o.top_max_steps)
                every, steps = _budget(k_pred, o.top_max_steps)
                cfg = config_from_dict({**base, "optimizer": {"name": "gd", "lr": gd.lr},
                                        "training": {"steps": steps, "loss": "mse"},
                                        "probes": {"every": every, "ntk": False, "top_nodes": 0}})
                plan.append({"variant": variant, "depth": depth, "seed": seed, "config": cfg.model_dump(mode="json"),
                             "lr": gd.lr, "eigenvalues": gd.eigenvalues.tolist(), "weights": gd.weights.tolist(),
                             "n": gd.n, "exact_cond": exact[depth]})
    return plan


def train_top_layer(o, out: Path, progress: bool) -> None:
    """Plan (store ``top_layer/plan.json``) and train the top-layer runs into ``out/top_layer/runs``."""
    plan = top_layer_plan(o, out)
    atomic_write_json(Path(out) / PLAN_FILE, plan)
    train_many([p["config"] for p in plan], out=Path(out) / "top_layer" / "runs", progress=progress,
               desc="deep-normalized: top layer")


def _prediction(entry: dict) -> ReadoutGD:
    return ReadoutGD(lr=entry["lr"], eigenvalues=np.asarray(entry["eigenvalues"]),
                     weights=np.asarray(entry["weights"]), n=entry["n"])


def _read_plan(out: Path) -> list[dict]:
    f = Path(out) / PLAN_FILE
    return json.loads(f.read_text()) if f.exists() else []


def _measured(series: pd.Series, tolerance: float) -> float:
    """The first probe step with train loss <= tolerance * loss at step 0 (NaN when never)."""
    if series.empty or 0 not in series.index:
        return math.nan
    hit = series[series <= tolerance * series[0]]
    return float(hit.index.min()) if len(hit) else math.nan


def top_layer_frame(o, out: Path) -> pd.DataFrame:
    """One row per planned top-layer run: labels, status, the step, cond(K-hat) and cond(K), the measured and
    predicted steps to eps (the prediction on the run's probe grid), the cond bound, the measured rate rho and
    rho * kappa, and the largest |ln(measured / predicted loss)| over the probes up to the measured step."""
    plan = _read_plan(out)
    cfgs = [p["config"] for p in plan]
    stored = {r.name: r for r in load_runs(Path(out) / "top_layer" / "runs", cfgs, finished_only=False)}
    rows = []
    for entry, cfg in zip(plan, cfgs):
        gd, run = _prediction(entry), stored.get(cfg["name"])
        every = cfg["probes"]["every"]
        status = run.status if run is not None else "missing"
        loss = run.series("train_risk") if run is not None and status == "done" else pd.Series(dtype=float)
        k_meas = _measured(loss, o.top_tolerance)
        k_pred = gd.steps_to(o.top_tolerance, max_steps=o.top_max_steps)
        upto = loss[loss.index <= k_meas] if math.isfinite(k_meas) else loss
        deviation = (float(np.abs(np.log(upto.to_numpy() / gd.loss(upto.index.to_numpy()))).max())
                     if len(upto) else math.nan)
        rate = math.log(loss[0] / loss[int(k_meas)]) / (2 * k_meas) if math.isfinite(k_meas) and k_meas > 0 else math.nan
        rows.append({"variant": entry["variant"], "depth": entry["depth"], "seed": entry["seed"], "run": cfg["name"],
                     "status": status, "lr": gd.lr, "cond": gd.cond, "exact_cond": entry["exact_cond"],
                     "steps": k_meas, "steps_predicted": math.nan if k_pred is None
                     else float(every * math.ceil(k_pred / every)), "steps_bound": gd.bound(o.top_tolerance),
                     "probe_every": every, "rate": rate, "rate_times_cond": rate * gd.cond,
                     "max_log_deviation": deviation})
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def top_layer_curves(o, out: Path) -> pd.DataFrame:
    """The measured and predicted loss curves (step, variant, depth, seed, measured, predicted) for the figure."""
    plan = _read_plan(out)
    cfgs = [p["config"] for p in plan]
    stored = {r.name: r for r in load_runs(Path(out) / "top_layer" / "runs", cfgs)}
    parts = []
    for entry, cfg in zip(plan, cfgs):
        run = stored.get(cfg["name"])
        if run is None:
            continue
        loss = run.series("train_risk")
        parts.append(pd.DataFrame({"step": loss.index, "variant": entry["variant"], "depth": entry["depth"],
                                   "seed": entry["seed"], "measured": loss.to_numpy(),
                                   "predicted": _prediction(entry).loss(loss.index.to_numpy())}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["step", "variant", "depth", "seed", "measured", "predicted"])
