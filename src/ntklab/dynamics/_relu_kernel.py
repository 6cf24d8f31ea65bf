r"""The fused float32 ReLU step of stacked shallow runs (``_relu_step.c``), compiled on first use.

One call of two AVX-512 passes replaces the two products and the elementwise passes of the unfused step
(:mod:`~ntklab.dynamics._shallow_grad`): pass 1 keeps each tile of Z = W X^T / sqrt(d) in registers and leaves only
the bits 1{Z > 0} and its share of f = sum_j c_j max(Z_j, 0); the residuals, the loss and diag(dL/df) X / sqrt(d)
follow in C; pass 2 forms each gradient row dL/dW_j = c_j sum_{n : Z_jn > 0} (dL/df_n) x_n / sqrt(d) as the
product of the bits with diag(dL/df) X / sqrt(d), half of each tile's rows through masked adds and half through
multiply-adds by 0 or 1 (the CPU's two kinds of unit side by side).  The runs go one after the other, each thread
on the same rows in both passes, so a run's W is still in cache for pass 2.  Every sum runs in an order fixed by
the shapes, so the thread count does not change a bit of the result.  For plain GD, pass 2 can take the step
itself, W_j <- W_j - eta dL/dW_j, as each gradient row leaves the registers (``step(..., lr=eta)``): the gradient
is never stored, and the optimiser's separate pass over W and its gradient is gone.

The C file is compiled once per source, compiler and flags into ``$NTKLAB_CACHE_DIR`` (default
``~/.cache/ntklab``; the system temporary directory when that is not writable) and loaded with :mod:`ctypes`.  It
needs a C compiler with OpenMP (``$CC``, else ``cc``/``gcc``) and a CPU with AVX-512 (F, BW, VL, DQ) as torch
reports it.  Where either is missing, or ``NTKLAB_FUSED_RELU=0``, :func:`library` returns None, :func:`status` says
why, and the step takes its unfused path.

Example:
    >>> from ntklab.dynamics import _relu_kernel
    >>> lib = _relu_kernel.library()
    >>> (lib is not None) == (_relu_kernel.status() == "compiled")
    True
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

__all__ = ["library", "status", "FusedReLUStep", "FLAGS"]

SOURCE = Path(__file__).with_name("_relu_step.c")
FLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-fopenmp", "-fPIC", "-shared"]
_LOCK = threading.Lock()
_STATE: dict = {}


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dirs() -> list[Path]:
    env = os.environ.get("NTKLAB_CACHE_DIR")
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ntklab"
    return [Path(env)] if env else [home, Path(tempfile.gettempdir()) / f"ntklab-{os.getuid()}"]


def _version(cc: str) -> str:
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _build(cc: str) -> Path:
    """The shared library for this source, compiler and flags: cached, else compiled (atomically renamed)."""
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + _version(cc).encode()).hexdigest()[:16]
    errors = []
    for folder in _cache_dirs():
        target = folder / f"relu_step-{key}.so"
        if target.exists():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        if not os.access(folder, os.W_OK):
            errors.append(f"{folder}: not writable")
            continue
        tmp = folder / f".relu_step-{key}-{os.getpid()}-{threading.get_ident()}.so"  # the compiler honours the umask
        try:
            done = subprocess.run([cc, *FLAGS, "-o", str(tmp), str(SOURCE)], capture_output=True, text=True,
                                  timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"{cc} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
            os.replace(tmp, target)
            return target
        finally:
            tmp.unlink(missing_ok=True)
    raise RuntimeError("no writable cache folder (" + "; ".join(errors) + ")")


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    lib.relu_step.argtypes = [p, i, i, i, i, p, i, p, i, p, p, p, ctypes.c_double, f, p, f, p, p, p, p, p, i]
    lib.relu_step.restype = None
    lib.relu_step_scratch.argtypes = [i, i, i]
    lib.relu_step_scratch.restype = ctypes.c_size_t
    lib.relu_step_share.argtypes = []
    lib.relu_step_share.restype = i
    return lib


def _load() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get("NTKLAB_FUSED_RELU", "1") in ("0", "", "false", "no"):
        return None, "switched off (NTKLAB_FUSED_RELU=0)"
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return None, f"the CPU lacks AVX-512 (torch reports {torch.backends.cpu.get_cpu_capability()})"
    cc = _compiler()
    if cc is None:
        return None, "no C compiler (set CC, or install gcc)"
    try:
        return _bind(ctypes.CDLL(str(_build(cc)))), "compiled"
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return None, f"build failed: {exc}"


def library() -> ctypes.CDLL | None:
    """The loaded kernel library, or None where it cannot be built here (see :func:`status`)."""
    with _LOCK:
        if "lib" not in _STATE:
            _STATE["lib"], _STATE["status"] = _load()
        return _STATE["lib"]


def status() -> str:
    """"compiled", or why the fused step is not available."""
    library()
    return _STATE["status"]


class FusedReLUStep:
    """The buffers and the one call of the fused step for R stacked runs: W (R, m, d), inputs ``xs`` = x / sqrt(d)
    (n, d), node factors ``c`` (R, m), targets ``y`` (n, 1); ``step(W, grad, alive, threshold, loss, ok)``.  Every
    buffer is on the CPU whatever the default device (the kernel reads their addresses)."""

    def __init__(self, shape: tuple[int, int, int], xs: torch.Tensor, c: torch.Tensor, y: torch.Tensor):
        self.lib = library()
        if self.lib is None:
            raise RuntimeError(f"the fused ReLU step is not available: {status()}")
        R, m, d = shape
        n = xs.shape[0]
        self.shape = (R, m, d, n)
        self.npad, self.dpad = -(-n // 16) * 16, -(-d // 16) * 16
        self.XT = torch.zeros(d, self.npad, device="cpu")  # x^T / sqrt(d), zero past n (so their bits stay 0)
        self.XT[:, :n] = xs.T
        self.xs = torch.zeros(n, self.dpad, device="cpu")  # x / sqrt(d), zero past d
        self.xs[:, :d] = xs
        self.c = c.detach().float().contiguous()  # (R, m)
        self.y = torch.zeros(self.npad, device="cpu")  # y, zero past n
        self.y[:n] = y.detach()[:, 0]
        self.fpart = torch.empty(2, -(-m // self.lib.relu_step_share()), self.npad, device="cpu")  # f's shares
        self.bits = torch.empty(m, self.npad // 16, dtype=torch.int16, device="cpu")  # one run's, reused
        self.per_thread = int(self.lib.relu_step_scratch(n, self.npad, self.dpad))
        self.scratch = torch.empty(0, dtype=torch.uint8, device="cpu")

    def step(self, W: torch.Tensor, grad: torch.Tensor | None, alive: torch.Tensor, threshold: float,
             loss: torch.Tensor, ok: torch.Tensor, *, lr: float | None = None) -> None:
        """Per-run MSE into ``loss`` (R,), whether each run may move into ``ok`` (alive, loss finite and at most
        ``threshold``), and dL/dW into ``grad`` (zero for the runs not ``ok``), for the current W.  With ``lr``
        the gradient is not stored: the runs ``ok`` take the GD step W <- W - lr dL/dW in place (the same
        multiply-add as ``W.add_(grad, alpha=-lr)``) and the others stay where they are; ``grad`` may be None."""
        R, m, d, n = self.shape
        for name, t in (("W", W), ("grad", grad)):
            if t is None and name == "grad" and lr is not None:
                continue
            if t.shape != (R, m, d) or t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu":
                raise ValueError(f"{name}: a contiguous float32 CPU tensor of shape {(R, m, d)} expected")
        for name, t, dtype in (("alive", alive, torch.bool), ("loss", loss, torch.float32), ("ok", ok, torch.bool)):
            if t.shape != (R,) or t.dtype != dtype or not t.is_contiguous() or t.device.type != "cpu":
                raise ValueError(f"{name}: a contiguous {dtype} CPU tensor of shape {(R,)} expected")
        threads = torch.get_num_threads()
        if self.scratch.numel() < threads * self.per_thread:
            self.scratch = torch.empty(threads * self.per_thread, dtype=torch.uint8, device="cpu")
        descent = lr is not None
        self.lib.relu_step(W.data_ptr(), R, m, d, n, self.XT.data_ptr(), self.npad, self.xs.data_ptr(), self.dpad,
                           self.y.data_ptr(), self.c.data_ptr(), alive.data_ptr(), float(threshold), 2.0 / n,
                           None if descent else grad.data_ptr(), -float(lr) if descent else 0.0, loss.data_ptr(),
                           ok.data_ptr(), self.fpart.data_ptr(), self.bits.data_ptr(), self.scratch.data_ptr(), threads)
