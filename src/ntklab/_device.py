r"""Where tensors live: the ``device`` of a run, checked once, and exact float32 products on any device.

- :func:`resolve_device` turns a config's ``device`` (``cpu``, ``cuda``, ``cuda:1``) into a
  :class:`torch.device`, refusing one this machine does not have with a :class:`~ntklab.ConfigError` naming
  the field (one line, no traceback), so that a GPU config can still be read and analysed on a laptop.  Apple's
  ``mps`` is not offered: it has no float64, which the probes and kernels need.
- :func:`using_device` / :func:`current_device`: the device a preset (``--set device=cuda``) asks every run it
  trains to use; :func:`ntklab.runs.train_many` applies it.
- :func:`exact_float32` runs a block with float32 matrix products at full IEEE precision.  TF32 (the default
  of ``torch.set_float32_matmul_precision("high")``, which many training scripts set) rounds the inputs of a
  product to a 10-bit mantissa on Ampere and newer GPUs: a relative error near 1e-3 in every Gram entry, far
  above the kernels' stated accuracy.  The kernels enter it at every public entry point.

The device is *where* a run computes, not *what*: it is recorded with each run but is not part of the config's
identity (:func:`ntklab.runs.config_hash`), so a run started on a GPU resumes on a CPU from the same checkpoint.

Example:
    >>> import torch
    >>> from ntklab._device import exact_float32, resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> with exact_float32():
    ...     torch.backends.cuda.matmul.fp32_precision
    'ieee'
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading

import torch

from ._errors import ConfigError

__all__ = ["resolve_device", "valid_device_name", "using_device", "current_device", "exact_float32", "as_float64",
           "DEVICE_PATTERN"]

DEVICE_PATTERN = r"^(cpu|cuda(:\d+)?)$"
_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("ntklab_device", default=None)


def valid_device_name(name: str) -> str:
    """``name`` when it spells a device (``cpu``, ``cuda``, ``cuda:N``); else ValueError."""
    if not isinstance(name, str) or not re.match(DEVICE_PATTERN, name):
        raise ValueError(f"got {name!r} (allowed: cpu, cuda, cuda:N)")
    return name


def resolve_device(name: str | torch.device, field: str = "device") -> torch.device:
    """The :class:`torch.device` called ``name``, when this machine has it; else a ConfigError on ``field``."""
    if isinstance(name, torch.device):
        name = str(name)
    try:
        valid_device_name(name)
    except ValueError as exc:
        raise ConfigError(field, str(exc)) from None
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(field, f"{name!r} is not available here (torch {torch.__version__} sees no CUDA "
                                     "device; install the CUDA build of the same torch version, see the README)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(field, f"{name!r} is not available here ({torch.cuda.device_count()} CUDA "
                                     "device(s))")
    return dev


@contextlib.contextmanager
def using_device(name: str | None):
    """Within the block, :func:`current_device` is ``name`` (checked); None leaves each run's own device."""
    if name is not None:
        resolve_device(name)
    token = _CURRENT.set(name)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_device() -> str | None:
    """The device set by the innermost :func:`using_device`, or None."""
    return _CURRENT.get()


_EXACT = (("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"), ("mkldnn", "matmul"), ("mkldnn", "conv"))


def _precision_slots() -> list:
    out = []
    for backend, op in _EXACT:
        slot = getattr(getattr(torch.backends, backend, None), op, None)
        if slot is not None and hasattr(slot, "fp32_precision"):
            out.append(slot)
    return out


_SLOTS = _precision_slots()
_ACTIVE = threading.local()


class exact_float32(contextlib.ContextDecorator):  # noqa: N801  (used as a function and a decorator)
    """float32 products at full IEEE precision (no TF32 or bf16 inputs, on CUDA, cuDNN or oneDNN) within the
    block, restoring the caller's settings.  Re-entrant at no cost: a kernel calling another enters it once."""

    def __enter__(self):
        depth = getattr(_ACTIVE, "depth", 0)
        _ACTIVE.depth = depth + 1
        if depth == 0:
            _ACTIVE.before = [s.fp32_precision for s in _SLOTS]
            for s, b in zip(_SLOTS, _ACTIVE.before):
                if b != "ieee":
                    s.fp32_precision = "ieee"
        return self

    def __exit__(self, *exc):
        _ACTIVE.depth -= 1
        if _ACTIVE.depth == 0:
            for s, b in zip(_SLOTS, _ACTIVE.before):
                if b != "ieee":
                    s.fp32_precision = b
        return False


def as_float64(value, device: torch.device | str | None = None) -> torch.Tensor:
    """``value`` as a float64 tensor: a tensor keeps its device (unless ``device`` is given); a number or list
    goes to ``device`` (default the CPU, never torch's global default device)."""
    if torch.is_tensor(value):
        return value.to(dtype=torch.float64, device=device)
    return torch.tensor(value, dtype=torch.float64, device=device if device is not None else "cpu")
