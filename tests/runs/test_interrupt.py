"""Ctrl-C: the run is checkpointed at a step boundary, marked interrupted, and the same command resumes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

import ntklab
from ntklab._interrupt import request_stop
from ntklab.cli import main
from ntklab.dynamics import ProbeState

CFG = {"network": {"width": 30}, "training": {"steps": 12}, "probes": {"every": 3}}


@pytest.fixture
def stop_at(monkeypatch):
    """Make the probe at ``step`` press Ctrl-C once (what the first SIGINT does inside the loop)."""
    real = ProbeState.measure

    def arm(step: int):
        fired = []

        def measure(self, model, s):
            if s == step and not fired:
                fired.append(s)
                request_stop()
            return real(self, model, s)

        monkeypatch.setattr(ProbeState, "measure", measure)
        return lambda: monkeypatch.setattr(ProbeState, "measure", real)

    return arm


def test_ctrl_c_checkpoints_marks_interrupted_and_the_same_command_resumes_bitwise(tmp_path, capsys, stop_at):
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(CFG))
    ref = ntklab.train(ntklab.RunConfig(**CFG), out=tmp_path / "ref", progress=False)
    out = tmp_path / "run"
    disarm = stop_at(6)
    assert main(["run", str(cfg_file), "--out", str(out), "--no-progress"]) == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err
    status = json.loads((out / "status").read_text())
    assert status["status"] == "interrupted"
    assert torch_step(out) == 6 and (out / "metrics.parquet").exists()
    disarm()
    assert main(["run", str(cfg_file), "--out", str(out), "--no-progress"]) == 0
    assert "resuming run" in capsys.readouterr().err
    pd.testing.assert_frame_equal(ntklab.load_run(out).metrics, ref.metrics)  # bitwise: same rows, same values


def torch_step(path) -> int:
    import torch

    return int(torch.load(path / "checkpoint.pt", weights_only=False)["step"])


def test_a_real_sigint_stops_the_command_with_status_130(tmp_path):
    """The console script under a real SIGINT: one line, exit 130, status interrupted, no traceback."""
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({"network": {"width": 200}, "training": {"steps": 10**7},
                                        "probes": {"every": 10**6, "ntk": False}}))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ntklab", "run", str(cfg_file), "--out", str(out),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "status").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # inside the step loop
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; run the same command again to resume" in err and "Traceback" not in err
    assert json.loads((out / "status").read_text())["status"] == "interrupted"
    assert torch_step(out) > 0
