import os

# One torch/BLAS thread for the suite and every process it starts: the tests' products are small, and on a
# busy 2-core machine a second spinning thread made them 10-30x slower (measured). Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import ntklab  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# The devices the device tests run on: the CPU always, CUDA when this machine has it (tests/test_device.py).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Each device of :data:`DEVICES` in turn (explicit ``torch.device``, never the global default)."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


# --- child processes (kill / resume tests, Ray clusters): this checkout's src first on the path -------------

CHILDREN = Path(__file__).parent / "_children"
SRC = str(Path(ntklab.__file__).resolve().parents[1])


def child_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra})
    return env


@pytest.fixture
def run_python():
    """Start ``python ARGS`` with this checkout importable; returns the Popen."""

    def start(*args, **kw):
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([sys.executable, *map(str, args)], env=child_env(), stdout=subprocess.PIPE,
                                text=True, **kw)

    return start
