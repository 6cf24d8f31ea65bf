"""A dataset as arrays plus the metadata the training loop needs.

``Dataset`` holds float64 tensors ``x_train (n, d)``, ``y_train (n, K)``, ``x_test``, ``y_test`` and says
whether the task is regression or classification (one-hot targets, ``labels_*`` for accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Dataset"]


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: str = "regression"
    n_classes: int | None = None
    extra: dict = field(default_factory=dict)  # further splits (e.g. the transfer split), notes

    def __post_init__(self):
        for nm in ("y_train", "y_test"):
            y = getattr(self, nm)
            if y.ndim == 1:
                setattr(self, nm, y[:, None])
        if self.task not in ("regression", "classification"):
            raise ValueError(f"task: got {self.task!r} (allowed: 'regression', 'classification')")

    @property
    def d(self) -> int:
        return self.x_train.shape[1]

    @property
    def out_dim(self) -> int:
        return self.y_train.shape[1]

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "Dataset":
        """The same dataset with its four splits in ``dtype`` and/or on ``device`` (``extra`` is left as is)."""
        conv = {k: getattr(self, k).to(dtype=dtype, device=device) for k in ("x_train", "y_train", "x_test", "y_test")}
        return Dataset(self.name, **conv, task=self.task, n_classes=self.n_classes, extra=self.extra)

    @property
    def device(self) -> torch.device:
        """Where the splits live."""
        return self.x_train.device
