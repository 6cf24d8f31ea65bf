"""Shared test helpers: run Python children with this checkout's ``src`` first on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ntklab

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
