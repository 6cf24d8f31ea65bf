r"""Transfer curves (Caron et al.): features of the k most important nodes, fitted by a fresh readout.

For a trained :class:`~ntklab.ScaledShallowNet` the transferred features are the hidden outputs of its
top-k nodes by importance I_j = sum_k u_kj^2 lambda_j (ties broken by a seeded random order, see
:func:`ntklab.prune.prune_order`):

    h_j(x) = sqrt(lambda_j) sigma(w_j^T x / sqrt(d)),   j in top_k,

computed on held-out data: the transfer split, i.e. the valid split cut 50/50 into transfer-train and
transfer-test (``Dataset.extra["transfer"]``; :func:`transfer_curves` takes the :class:`~ntklab.data.Dataset`
itself or that dict).  For each k in ``ks`` (the paper: 10, 20, ..., 100) a readout is fitted on
transfer-train and measured on both halves: ``"mlp"`` (a fresh k-H-H-K MLP by full-batch SGD, as the paper,
``mlp_repeats`` times from different initialisations), ``"ridge"`` (closed form, penalty relative to the
features' scale) and ``"ridge_std"`` (ridge on standardised features, invariant to each feature's scale
sqrt(lambda_j)).  The tidy result has one row per (model, k, readout, repeat, metric) with metric in
train_risk, test_risk (MSE, mean over samples and outputs) and, for classification, train_acc, test_acc
(``repeat`` numbers the MLP's initialisations; 0 for the ridge readouts).

Why a scale-invariant readout: gamma = 1 features carry sqrt(1/m) and gamma = 0's top features sqrt(lambda~_j)
(Zipf), about 45 times larger at m = 2000, so a fixed-step MLP barely moves on gamma = 1's features; the MLP's
transfer gap is then partly a feature-scale effect, which ``"ridge_std"`` removes.
A model's rows depend on that model alone, not on the other models passed with it (see
:func:`ntklab.transfer.fit_mlps`).

Example:
    >>> import torch, ntklab
    >>> from ntklab.transfer import transfer_curves
    >>> net = ntklab.ScaledShallowNet(10, 30, lambdas=ntklab.node_scaling(30, gamma=0.0, alpha=0.5), seed=0)
    >>> ds = ntklab.load_dataset("friedman1", n_samples=100)
    >>> curve = transfer_curves({"net": net}, ds, ks=[5, 10], readouts=("ridge",))
    >>> sorted(curve.k.unique().tolist())
    [5, 10]
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd
import torch

from .._errors import ConfigError, check_choice
from ..data import Dataset
from ..prune import top_nodes
from ._readouts import MLPProblem, fit_mlps, fit_ridge, predict_ridge

__all__ = ["transfer_features", "transfer_curves", "PAPER_MLP", "READOUTS"]

READOUTS = ("mlp", "ridge", "ridge_std")
MLP_REPEAT_STRIDE = 100_003  # repeat r of the MLP at (model, k) is seeded s + k + r * stride
# the paper's MLP readouts: hidden width, learning rate, full-batch SGD steps
PAPER_MLP = {"regression": {"hidden": 64, "lr": 0.1, "steps": 5000},
             "classification": {"hidden": 128, "lr": 1.0, "steps": 10_000}}


def transfer_features(model, x: torch.Tensor, nodes) -> torch.Tensor:
    """h_j(x) = sqrt(lambda_j) mask_j sigma(w_j^T x / sqrt(d)) for j in ``nodes`` (float64, (n, len(nodes)))."""
    with torch.no_grad():
        return model.features(x.to(model.W.dtype))[:, torch.as_tensor(nodes, dtype=torch.long)].to(torch.float64)


def _metrics(pred_tr, pred_te, data: dict, classification: bool) -> dict[str, float]:
    out = {}
    for split, pred in (("train", pred_tr), ("test", pred_te)):
        y = data[f"y_{split}"].to(torch.float64)
        out[f"{split}_risk"] = float(((pred - y) ** 2).mean())
        if classification:
            out[f"{split}_acc"] = float((pred.argmax(-1) == y.argmax(-1)).to(torch.float64).mean())
    return out


def _split(data) -> tuple[dict, bool | None]:
    """The transfer data as a dict (from a Dataset: its transfer split) and the task when the Dataset says it."""
    if isinstance(data, Dataset):
        split = data.extra.get("transfer")
        if split is None:
            raise ConfigError("transfer.data", f"dataset {data.name!r} has no transfer split",
                              allowed='a Dataset with extra["transfer"], or a dict x_train, y_train, x_test, y_test')
        return split, data.task == "classification"
    return data, None


def _check(data: dict, ks, models: dict) -> list[int]:
    for key in ("x_train", "y_train", "x_test", "y_test"):
        if key not in data:
            raise ConfigError("transfer.data", f"missing {key!r}", allowed="x_train, y_train, x_test, y_test")
    ks = [int(k) for k in ks]
    if not models:
        raise ConfigError("transfer.models", "no models given", allowed="a mapping name -> trained network")
    m_min = min(int(mod.lambdas.shape[0]) for mod in models.values())
    bad = [k for k in ks if not 1 <= k <= m_min]
    if bad or not ks:
        raise ConfigError("transfer.ks", f"got {ks}", allowed=f"a non-empty list of integers in [1, {m_min}]")
    return ks


def _per_model(value: int | Mapping[str, int], name: str, field: str) -> int:
    if isinstance(value, Mapping):
        if name not in value:
            raise ConfigError(f"transfer.{field}", f"no entry for model {name!r}", allowed="one int per model")
        return int(value[name])
    return int(value)


def transfer_curves(models: dict, data: Dataset | dict, *, ks=tuple(range(10, 101, 10)), readouts=READOUTS,
                    classification: bool | None = None, hidden: int = 64, lr: float = 0.1, steps: int = 5000,
                    ridge: float = 1e-3, seed: int | Mapping[str, int] = 0,
                    order_seed: int | Mapping[str, int] = 0, mlp_repeats: int = 1) -> pd.DataFrame:
    """Tidy rows (model, k, readout, repeat, metric, value) for every model in ``models`` (name -> network).

    ``data``: a :class:`~ntklab.data.Dataset` (its transfer split is used, and its task unless
    ``classification`` is given) or a dict x_train, y_train, x_test, y_test.  The MLP of (model, k) is
    initialised with seed ``s + k`` (repeat r: ``s + k + r * MLP_REPEAT_STRIDE``), s = ``seed`` (an int, or
    name -> int): it depends on neither the model's position in ``models`` nor the other models, and models
    given one s start their readouts alike.
    ``order_seed`` (an int, or name -> int) seeds the tie-break of the importance order.
    """
    data, task_says = _split(data)
    ks = _check(data, ks, models)
    for r in readouts:
        check_choice("transfer.readouts", r, READOUTS)
    if isinstance(mlp_repeats, bool) or not isinstance(mlp_repeats, int) or mlp_repeats < 1:
        raise ConfigError("transfer.mlp_repeats", f"got {mlp_repeats!r}", allowed="integers >= 1")
    if classification is None and task_says is not None:
        classification = task_says
    elif classification is None:  # a dict: one-hot targets mean classification
        y = data["y_train"]
        classification = bool(y.shape[1] > 1 and torch.all((y == 0) | (y == 1)))
    rows, problems, tags = [], [], []
    for name, model in models.items():
        order = top_nodes(model, max(ks), seed=_per_model(order_seed, name, "order_seed"))
        mlp_seed = _per_model(seed, name, "seed")
        f_tr_all = transfer_features(model, data["x_train"], order)
        f_te_all = transfer_features(model, data["x_test"], order)
        for k in ks:
            f_tr, f_te = f_tr_all[:, :k], f_te_all[:, :k]
            for readout in [r for r in ("ridge", "ridge_std") if r in readouts]:
                beta = fit_ridge(f_tr, data["y_train"], ridge=ridge, standardise=readout == "ridge_std")
                met = _metrics(predict_ridge(beta, f_tr), predict_ridge(beta, f_te), data, classification)
                rows += [(name, k, readout, 0, mk, v) for mk, v in met.items()]
            if "mlp" in readouts:
                for rep in range(mlp_repeats):
                    problems.append(MLPProblem(f_tr, data["y_train"], f_te, data["y_test"]))
                    tags.append((name, k, rep, mlp_seed + k + rep * MLP_REPEAT_STRIDE))
    if problems:
        preds = fit_mlps(problems, hidden=hidden, lr=lr, steps=steps, seeds=[t[3] for t in tags])
        for (name, k, rep, _), (p_tr, p_te) in zip(tags, preds):
            rows += [(name, k, "mlp", rep, mk, v) for mk, v in _metrics(p_tr, p_te, data, classification).items()]
    return pd.DataFrame(rows, columns=["model", "k", "readout", "repeat", "metric", "value"])
