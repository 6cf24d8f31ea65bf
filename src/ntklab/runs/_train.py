r"""``train`` and ``train_many``: the training loop writing into the run store.

Each run goes to a directory bound to its config's hash (:mod:`ntklab.runs._identity`):

- a finished, intact run of the same config is reused (``reusing finished run DIR``), not trained again;
- an unfinished one of the same config (interrupted, failed, killed) resumes from its last checkpoint, or
  starts again when it has none;
- a directory holding another config is refused (:class:`~ntklab.runs.RunConflict`) unless ``overwrite``: the
  new run is then trained in a hidden staging directory beside it and swapped in only when it has finished,
  so the old and new files never mix and an interrupted overwrite leaves the old run as it was.

Each run computes on its config's ``device`` (or the one a preset sets with :func:`ntklab._device.using_device`,
or ``train_many(device=...)``); the store holds the same files wherever it ran, and a checkpoint written on one
device resumes on another (the device is not part of the run's identity; each segment's device is in its status).

A Ctrl-C is honoured at a step boundary: the live runs are checkpointed, their status becomes ``interrupted``
and :class:`KeyboardInterrupt` propagates; running the same command again resumes them bitwise.

Example:
    >>> import ntklab, tempfile
    >>> cfg = ntklab.RunConfig(network={"width": 50}, training={"steps": 20}, probes={"every": 10})
    >>> out = tempfile.mkdtemp() + "/run"
    >>> ntklab.train(cfg, out=out, progress=False).series("train_risk").index.tolist()
    [0, 10, 20]
    >>> ntklab.train(cfg, out=out, progress=False).reused
    True
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .._device import current_device, resolve_device
from .._errors import ConfigError
from .._interrupt import graceful_interrupts
from .._io import atomic_save_torch, make_dirs, replace_dir, staging_dir
from ..config import RunConfig, config_from_dict
from ..data import load_dataset
from ..dynamics import DTYPES, LoopResult, LoopRun, batch_key, train_group
from ..nets import build_network
from ._identity import RunConflict, check_binding
from ._integrity import file_digests, verify_run
from ._store import (
    FINISHED,
    Run,
    init_run,
    load_run,
    read_status,
    run_dir,
    set_status,
    write_arrays,
    write_metrics,
)

__all__ = ["train", "train_many", "load_model", "RESULT_FILES"]

RESULT_FILES = ("metrics.parquet", "arrays.npz", "model.pt", "checkpoint.pt")


@dataclass
class _Slot:
    cfg: RunConfig
    path: Path  # where the run is written (the staging directory while overwriting)
    final: Path  # where it lives when finished
    loop: LoopRun

    @property
    def staged(self) -> bool:
        return self.path != self.final


class _StoreSink:
    """The loop's sink: checkpoints, metrics, arrays, the model and the status, into each slot's directory."""

    def __init__(self, slots: list[_Slot]):
        self.slots = slots

    def checkpoint(self, index: int, state: dict) -> None:
        path = self.slots[index].path
        atomic_save_torch(path / "checkpoint.pt", state)
        write_metrics(path, state["rows"])

    def partial(self, index: int, rows: list) -> None:
        write_metrics(self.slots[index].path, rows)

    def finish(self, index: int, result: LoopResult) -> None:
        path = self.slots[index].path
        write_metrics(path, result.rows)
        write_arrays(path, result.arrays)
        atomic_save_torch(path / "model.pt", result.model_state)
        ck = path / "checkpoint.pt"
        if ck.exists():
            ck.unlink()
        set_status(path, result.status, files=file_digests(path), **result.info)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _wipe_results(path: Path) -> None:
    for f in RESULT_FILES:
        if (path / f).exists():
            (path / f).unlink()


def _staging_dir(final: Path, config: dict) -> Path:
    """A hidden directory beside ``final`` for an overwrite; an interrupted one of the same config is reused
    (so that the same ``--overwrite`` command resumes), any other is removed."""
    make_dirs(final.parent)
    keep = None
    for old in sorted(final.parent.glob(f".{final.name}.staging-*")):
        try:
            same = check_binding(old, "config.json", config, what="a run") == "same"
        except ConfigError:
            same = False
        if same and keep is None and ((old / "checkpoint.pt").exists() or verify_run(old) is None):
            keep = old
        else:
            shutil.rmtree(old, ignore_errors=True)
    return keep if keep is not None else staging_dir(final)


def _resume_or_start(cfg: RunConfig, path: Path, final: Path, *, resume: bool, log) -> _Slot:
    """Resume ``path`` from its checkpoint when it has a usable one, else (re)start it from step 0."""
    config = cfg.model_dump(mode="json")
    st = read_status(path).get("status")
    ck = path / "checkpoint.pt"
    if resume and ck.exists() and st in ("running", "failed", "interrupted"):
        try:
            ckpt = torch.load(ck, weights_only=False, map_location="cpu")
            set_status(path, "running", resumed_from=int(ckpt["step"]), device=cfg.device)
            if log is not None:
                log(f"resuming run {final} from step {int(ckpt['step'])}")
            return _Slot(cfg, path, final, LoopRun(cfg, ckpt))
        except Exception:  # noqa: BLE001  (a corrupt checkpoint is redone from scratch, never read as results)
            ck.unlink()
    _wipe_results(path)
    init_run(path, config, seed=cfg.seed)
    return _Slot(cfg, path, final, LoopRun(cfg))


def _prepare(cfg: RunConfig, final: Path, *, resume: bool, overwrite: bool, log) -> _Slot | Run:
    config = cfg.model_dump(mode="json")
    try:
        state = check_binding(final, "config.json", config, what="a run")
    except RunConflict:
        if not overwrite:
            raise
        state = "other"
    if overwrite and state != "free":
        staged = _staging_dir(final, config)
        if verify_run(staged) is None:  # an earlier overwrite finished but was stopped before the swap
            replace_dir(staged, final)
            return _prepare(cfg, final, resume=True, overwrite=False, log=log)
        return _resume_or_start(cfg, staged, final, resume=True, log=log)
    st = read_status(final).get("status")
    if state == "same" and resume and st in FINISHED and verify_run(final) is None:
        if log is not None:
            log(f"reusing finished run {final}")
        run = load_run(final)
        run.reused = True
        return run
    return _resume_or_start(cfg, final, final, resume=resume, log=log)


def _mark(slots: list[_Slot], status: str, **info) -> None:
    for s in slots:
        if read_status(s.path).get("status") not in FINISHED:
            set_status(s.path, status, **info)


def train_many(
    configs: list[RunConfig | dict],
    *,
    out: str | Path | None = None,
    out_dirs: list[str | Path] | None = None,
    progress: bool = True,
    resume: bool = True,
    overwrite: bool = False,
    batch: bool = True,
    desc: str = "training",
    log: Callable[[str], None] | None = None,
    device: str | None = None,
) -> list[Run]:
    """Train several runs (stacked where possible) into the store; returns their :class:`Run` records in order.

    Each run goes to ``out_dirs[i]`` or, by default, to ``<out>/<name>-<config hash>`` (``out``: a fresh
    temporary directory when None).  ``log`` receives one line per reused or resumed run (default: stderr when
    ``progress``).  Raises :class:`~ntklab.runs.RunConflict` for a directory bound to another config.
    ``device`` (default: the one set by :func:`~ntklab._device.using_device`, else each config's own) is where
    every run computes; a device this machine lacks is refused before anything is written.
    """
    cfgs = [config_from_dict(c if isinstance(c, dict) else c.model_dump()) for c in configs]  # re-validate
    device = device if device is not None else current_device()
    if device is not None:
        cfgs = [c.model_copy(update={"device": device}) for c in cfgs]
    for dev in sorted({c.device for c in cfgs}):
        resolve_device(dev)
    if log is None and progress:
        log = _stderr
    if out_dirs is None:
        base = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="ntklab-runs-"))
        out_dirs = [run_dir(base, c.model_dump(mode="json")) for c in cfgs]
    if len(out_dirs) != len(cfgs):
        raise ValueError("out_dirs: must have one directory per config")
    finals = [Path(p) for p in out_dirs]
    prepared = [_prepare(c, p, resume=resume, overwrite=overwrite, log=log) for c, p in zip(cfgs, finals)]
    groups: dict[tuple, list[_Slot]] = {}
    for i, item in enumerate(prepared):
        if isinstance(item, _Slot):
            key = batch_key(item.cfg) if batch else None
            groups.setdefault((key if key is not None else f"single-{i}", item.loop.start), []).append(item)
    total = sum(max(0, g[0].cfg.training.steps - g[0].loop.start) for g in groups.values())
    pbar = tqdm(total=total, desc=desc, disable=not progress, unit="step", leave=False) if groups else None
    cache: dict = {}
    try:
        with graceful_interrupts():
            for slots in groups.values():
                _train_slots(slots, cache, pbar)
    finally:
        if pbar is not None:
            pbar.close()
    reused = {id(r) for r in prepared if isinstance(r, Run)}
    return [r if id(r) in reused else load_run(p) for r, p in zip(prepared, finals)]


def _train_slots(slots: list[_Slot], cache: dict, pbar) -> None:
    cfg = slots[0].cfg
    key = json.dumps(cfg.data.model_dump(), sort_keys=True, default=str) + cfg.dtype + cfg.device
    if key not in cache:
        cache[key] = load_dataset(cfg.data.name, **cfg.data.options).to(DTYPES[cfg.dtype],
                                                                         device=resolve_device(cfg.device))
    sink = _StoreSink(slots)
    try:
        train_group([s.loop for s in slots], cache[key], sink, pbar=pbar)
    except KeyboardInterrupt:
        _mark(slots, "interrupted")
        raise
    except Exception as exc:
        _mark(slots, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    for s in slots:
        if s.staged:
            replace_dir(s.path, s.final)


def train(config: RunConfig | dict, *, out: str | Path | None = None, progress: bool = True,
          resume: bool = True, overwrite: bool = False, log: Callable[[str], None] | None = None) -> Run:
    """Train one run into directory ``out`` (a fresh temporary directory when None) and return its record.

    The directory is bound to the config: the same config is reused when finished and resumed when
    interrupted; another config is refused unless ``overwrite``.  See :func:`train_many`.
    """
    path = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="ntklab-run-")) / "run"
    return train_many([config], out_dirs=[path], progress=progress, resume=resume, overwrite=overwrite,
                      log=log)[0]


def load_model(run: Run, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a stored run's trained network from its config and ``model.pt``, on ``device`` (any device,
    whichever one the run was trained on)."""
    cfg = config_from_dict(run.config)
    data = load_dataset(cfg.data.name, **cfg.data.options)
    model = build_network(cfg.network, d=data.d, out_dim=data.out_dim, seed=cfg.seed, dtype=DTYPES[cfg.dtype])
    model.load_state_dict(torch.load(run.path / "model.pt", weights_only=True, map_location="cpu"))
    return model.to(resolve_device(device))
