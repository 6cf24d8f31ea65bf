"""Child process for the kill-and-resume tests: train one run and SIGKILL itself at a chosen point.

    python kill_child.py CONFIG_JSON OUT_DIR POINT N

POINT: after_ckpt (after the N-th checkpoint is on disk), mid_ckpt (half-way through writing the N-th
checkpoint's temporary file), probe (inside the probe at step N), after_model (after model.pt is written,
before the checkpoint is removed and the status set).
"""

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import torch

torch.set_num_threads(1)

from ntklab.dynamics import ProbeState  # noqa: E402
from ntklab.runs import _train  # noqa: E402

cfg, out, point, n = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
saves = {"checkpoint.pt": 0}
real_save = _train.atomic_save_torch
real_measure = ProbeState.measure


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def save(path, obj):
    path = Path(path)
    if path.name == "checkpoint.pt":
        saves["checkpoint.pt"] += 1
        if point == "mid_ckpt" and saves["checkpoint.pt"] == n:
            fd, _ = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.write(fd, b"\x80\x02partial checkpoint bytes")
            die()
    real_save(path, obj)
    if point == "after_ckpt" and path.name == "checkpoint.pt" and saves["checkpoint.pt"] == n:
        die()
    if point == "after_model" and path.name == "model.pt":
        die()


def measure(self, model, step):
    if point == "probe" and step == n:
        die()
    return real_measure(self, model, step)


_train.atomic_save_torch = save
ProbeState.measure = measure
_train.train(cfg, out=out, progress=False)
sys.exit(3)  # not reached when the kill point is hit
