r"""The training loop: full-batch GD (or minibatch SGD, or any registered optimiser) with probes.

Loss (as the authors): MSE = (1/(nK)) sum_i sum_k (f_k(x_i) - y_ik)^2, or cross-entropy.  Every
``probes.every`` steps the probes write tidy rows (see :mod:`ntklab.dynamics._probes`).  A run whose loss
becomes non-finite (or exceeds ``training.divergence_threshold``) stops with status ``diverged`` and keeps
every row up to then.  With ``probes.checkpoint_every`` the loop checkpoints parameters, optimiser state,
generator states and rows, and a restarted run resumes from its last checkpoint.

Runs that differ only in seed and node scaling are trained together (:class:`StackedModels`).  A run trained
alone and resumed from a checkpoint ends bitwise identical to an uninterrupted one (CPU, same thread count);
a stacked group rounds differently from a lone run (last-bit differences, measured ~1e-7), so resuming a
group whose composition changed matches only to rounding.  Sweeps therefore train every run alone.

Example:
    >>> import ntklab
    >>> cfg = ntklab.RunConfig(network={"width": 50}, training={"steps": 20}, probes={"every": 10})
    >>> run = ntklab.train(cfg, progress=False)
    >>> run.series("train_risk").index.tolist()
    [0, 10, 20]
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import RunConfig, config_from_dict
from ..data import load_dataset
from ..nets import build_network, parameter_groups
from ..runs._atomic import atomic_save_torch
from ..runs._integrity import file_digests, verify_run
from ..runs._store import (FINISHED, Run, init_run, load_run, read_status, run_id, set_status, write_arrays,
                           write_metrics)
from ._optimizers import ELEMENTWISE, build_optimizer
from ._probes import ProbeState, node_weights
from ._shallow_grad import ShallowMSEGradient
from ._shallow_grad import supports as closed_form_supported
from ._stacked import StackedModels

__all__ = ["train", "train_many", "load_model", "batch_key"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def batch_key(cfg: RunConfig) -> str | None:
    """Runs with equal keys can be trained as one stacked program (None: train alone)."""
    if cfg.optimizer.name not in ELEMENTWISE:
        return None
    d = cfg.model_dump()
    d.pop("seed"), d.pop("name")
    d["network"].pop("scaling")
    return json.dumps(d, sort_keys=True, default=str)


@dataclass
class _Slot:
    cfg: RunConfig
    path: Path
    ckpt: dict | None = None
    rows: list = field(default_factory=list)

    @property
    def start(self) -> int:
        return 0 if self.ckpt is None else int(self.ckpt["step"])


def _load_data(cfg: RunConfig, cache: dict):
    key = json.dumps(cfg.data.model_dump(), sort_keys=True, default=str) + cfg.dtype
    if key not in cache:
        cache[key] = load_dataset(cfg.data.name, **cfg.data.options).to(_DTYPES[cfg.dtype])
    return cache[key]


def _slice_state(state: dict, r: int, R: int, params: list[torch.Tensor]) -> dict:
    """Run r's slice of an optimiser state_dict of stacked parameters."""
    out = {"param_groups": state["param_groups"], "state": {}}
    for idx, st in state["state"].items():
        shape = params[idx].shape
        out["state"][idx] = {k: (v[r].clone() if torch.is_tensor(v) and v.shape == shape else v)
                             for k, v in st.items()}
    return out


def _stack_states(states: list[dict], params: list[torch.Tensor]) -> dict:
    out = {"param_groups": states[0]["param_groups"], "state": {}}
    for idx in states[0]["state"]:
        shape = params[idx].shape[1:]
        out["state"][idx] = {
            k: (torch.stack([s["state"][idx][k] for s in states]) if torch.is_tensor(v) and v.shape == shape else v)
            for k, v in states[0]["state"][idx].items()
        }
    return out


def _per_run_loss(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """out (R, n, K), y (n, K) or (R, n, K) -> per-run loss (R,)."""
    if loss == "mse":
        return ((out - y) ** 2).mean(dim=(1, 2))
    R, n, K = out.shape
    labels = y.argmax(-1).expand(R, n) if y.ndim == 2 else y.argmax(-1)
    return F.cross_entropy(out.reshape(R * n, K), labels.reshape(-1), reduction="none").view(R, n).mean(1)


def _train_group(slots: list[_Slot], data, pbar) -> None:
    cfg0 = slots[0].cfg
    dtype = _DTYPES[cfg0.dtype]
    models = [build_network(s.cfg.network, d=data.d, out_dim=data.out_dim, seed=s.cfg.seed, dtype=dtype)
              for s in slots]
    probes = [ProbeState(m, data, s.cfg) for m, s in zip(models, slots)]
    gens = [torch.Generator().manual_seed(s.cfg.seed * 1_000_003 + 17) for s in slots]
    start = slots[0].start
    for s, m, p, g in zip(slots, models, probes, gens):
        if s.ckpt is not None:
            m.load_state_dict(s.ckpt["model"])
            p.load_state_dict(s.ckpt["probes"])
            g.set_state(s.ckpt["generator"])
    stacked = StackedModels(models)
    R = stacked.R
    # one group per parameter, at lr times the parameterisation's multiplier (same order as param_list)
    groups = parameter_groups(models[0], cfg0.optimizer.lr, params=stacked.params, optimizer=cfg0.optimizer.name)
    opt = build_optimizer(groups, cfg0.optimizer)
    if start > 0 and slots[0].ckpt.get("optimizer") is not None:
        opt.load_state_dict(_stack_states([s.ckpt["optimizer"] for s in slots], stacked.param_list()))
    steps, every = cfg0.training.steps, cfg0.probes.every
    ck_every = cfg0.probes.checkpoint_every
    loss_name = cfg0.training.loss
    threshold = cfg0.training.divergence_threshold
    bs = cfg0.training.batch_size
    n = data.x_train.shape[0]
    alive = torch.ones(R, dtype=torch.bool)
    full_batch = bs is None or bs >= n
    fast = (ShallowMSEGradient(stacked, data.x_train, data.y_train)
            if closed_form_supported(models, loss=loss_name, full_batch=full_batch) else None)
    diverged_info: dict[int, dict] = {}

    def probe(step):
        stacked.sync()
        for r in range(R):
            if alive[r]:
                slots[r].rows.extend(probes[r].measure(models[r], step))

    def checkpoint(step):
        stacked.sync()
        state = opt.state_dict()
        for r, s in enumerate(slots):
            if not alive[r]:
                continue
            atomic_save_torch(s.path / "checkpoint.pt", {
                "step": step, "model": models[r].state_dict(), "probes": probes[r].state_dict(),
                "optimizer": _slice_state(state, r, R, stacked.param_list()), "generator": gens[r].get_state(),
                "rows": list(s.rows),
            })
            write_metrics(s.path, s.rows)

    if start == 0:
        probe(0)
    reached = start
    for step in range(start, steps):
        if fast is not None:
            loss_vec = fast.loss()
        elif bs is not None and bs < n:
            idx = torch.stack([torch.randperm(n, generator=g)[:bs] for g in gens])
            out = stacked.forward_per_run(data.x_train[idx])
            loss_vec = _per_run_loss(out, data.y_train[idx], loss_name)
        else:
            loss_vec = _per_run_loss(stacked.forward(data.x_train), data.y_train, loss_name)
        with torch.no_grad():
            bad = alive & (~torch.isfinite(loss_vec) | (loss_vec.abs() > threshold))
        for r in torch.nonzero(bad).flatten().tolist():
            alive[r] = False
            value = float(loss_vec[r].detach())
            slots[r].rows.append((step, "train_loss", "", value))
            diverged_info[r] = {"step": step, "loss": value}
        if not alive.any():
            break
        if fast is not None:
            fast.set_grads(alive)
        else:
            total = loss_vec[alive].sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
        opt.step()
        s_next = reached = step + 1
        if s_next % every == 0 or s_next == steps:
            probe(s_next)
        if ck_every and s_next % ck_every == 0 and s_next < steps:
            checkpoint(s_next)
        if pbar is not None:
            pbar.update(1)
            if s_next % 200 == 0:
                pbar.set_postfix(loss=f"{float(loss_vec.detach().max()):.3g}", refresh=False)
    if pbar is not None and reached < steps:
        pbar.update(steps - reached)  # runs that all diverged leave their remaining steps

    stacked.sync()
    for r, s in enumerate(slots):
        extra_rows, arrays = probes[r].finish()
        s.rows.extend(extra_rows)
        write_metrics(s.path, s.rows)
        m = models[r]
        lam = getattr(m, "lambdas", None)
        if isinstance(lam, torch.Tensor):
            arrays["lambdas"] = lam.detach().to(torch.float64).numpy()
        w = node_weights(m)
        if w is not None:
            arrays["node_norm_sq"] = (w.to(torch.float64) ** 2).sum(1).numpy()
        write_arrays(s.path, arrays)
        atomic_save_torch(s.path / "model.pt", m.state_dict())
        ck = s.path / "checkpoint.pt"
        if ck.exists():
            ck.unlink()
        if r in diverged_info:
            set_status(s.path, "diverged", files=file_digests(s.path), **diverged_info[r])
        else:
            set_status(s.path, "done", step=steps, files=file_digests(s.path))


def _prepare(cfg: RunConfig, path: Path, resume: bool) -> _Slot | Run:
    st = read_status(path)
    if resume and st.get("status") in FINISHED and verify_run(path) is None:  # corrupt runs are redone
        return load_run(path)
    ck = path / "checkpoint.pt"
    if resume and ck.exists() and st.get("status") in ("running", "failed"):
        try:
            ckpt = torch.load(ck, weights_only=False)
            return _Slot(cfg, path, ckpt, list(ckpt["rows"]))
        except Exception:  # a corrupt checkpoint is redone from scratch, never read as results
            ck.unlink()
    for f in ("metrics.parquet", "arrays.npz", "model.pt", "checkpoint.pt"):
        if (path / f).exists():
            (path / f).unlink()
    init_run(path, cfg.model_dump(mode="json"), seed=cfg.seed)
    return _Slot(cfg, path)


def train_many(
    configs: list[RunConfig | dict],
    *,
    out: str | Path | None = None,
    out_dirs: list[str | Path] | None = None,
    progress: bool = True,
    resume: bool = True,
    batch: bool = True,
    desc: str = "training",
) -> list[Run]:
    """Train several runs (stacked where possible); finished runs in ``out_dirs`` are loaded, not redone."""
    cfgs = [c if isinstance(c, RunConfig) else config_from_dict(c) for c in configs]
    cfgs = [config_from_dict(c.model_dump()) for c in cfgs]  # re-validate
    if out_dirs is None:
        base = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="ntklab-runs-"))
        out_dirs = [base / f"{c.name}-{run_id(c.model_dump(mode='json'))}" for c in cfgs]
    if len(out_dirs) != len(cfgs):
        raise ValueError("out_dirs: must have one directory per config")
    prepared = [_prepare(c, Path(p), resume) for c, p in zip(cfgs, out_dirs)]
    groups: dict[tuple, list[_Slot]] = {}
    for i, item in enumerate(prepared):
        if isinstance(item, _Slot):
            key = batch_key(item.cfg) if batch else None
            groups.setdefault((key if key is not None else f"single-{i}", item.start), []).append(item)
    total = sum(max(0, g[0].cfg.training.steps - g[0].start) for g in groups.values())
    pbar = tqdm(total=total, desc=desc, disable=not progress, unit="step", leave=False) if groups else None
    cache: dict = {}
    try:
        for slots in groups.values():
            data = _load_data(slots[0].cfg, cache)
            try:
                _train_group(slots, data, pbar)
            except Exception as exc:
                for s in slots:
                    if s.rows:
                        write_metrics(s.path, s.rows)
                    set_status(s.path, "failed", error=f"{type(exc).__name__}: {exc}")
                raise
    finally:
        if pbar is not None:
            pbar.close()
    return [load_run(p) for p in out_dirs]


def train(config: RunConfig | dict, *, out: str | Path | None = None, progress: bool = True,
          resume: bool = True) -> Run:
    """Train one run into directory ``out`` (a fresh temporary directory when None)."""
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="ntklab-run-"))
    return train_many([config], out_dirs=[path], progress=progress, resume=resume)[0]


def load_model(run: Run) -> torch.nn.Module:
    """Rebuild a stored run's trained network from its config and ``model.pt``."""
    cfg = config_from_dict(run.config)
    data = load_dataset(cfg.data.name, **cfg.data.options)
    model = build_network(cfg.network, d=data.d, out_dim=data.out_dim, seed=cfg.seed, dtype=_DTYPES[cfg.dtype])
    model.load_state_dict(torch.load(run.path / "model.pt", weights_only=True))
    return model
