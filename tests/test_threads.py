"""The torch thread setting: ``free_cores`` from the affinity mask and the load, ``torch_threads("auto")``, and
the property that makes ``"auto"`` safe as a default: the thread count does not change a training result."""

from __future__ import annotations

import os

import pytest
import torch

import ntklab
from ntklab import _threads
from ntklab._threads import free_cores, torch_threads
from ntklab.dynamics import _shallow_grad
from ntklab.dynamics._shallow_grad import ShallowMSEGradient
from ntklab.dynamics._stacked import StackedModels


def _fake_stat(monkeypatch, tmp_path, per_cpu_busy: list[float]):
    """A /proc/stat whose CPUs are busy ``per_cpu_busy`` of the time between its first and second reading."""
    reads = {"n": 0}
    real_open = open

    def fake_open(path, *a, **k):
        if path != "/proc/stat":
            return real_open(path, *a, **k)
        reads["n"] += 1
        lines = [f"cpu  {1000 * reads['n']} 0 0 0 0 0 0 0 0 0"]
        for i, busy in enumerate(per_cpu_busy):
            used = 100 * reads["n"] * busy
            lines.append(f"cpu{i} {used:.0f} 0 0 {100 * reads['n'] - used:.0f} 0 0 0 0 0 0")
        (tmp_path / "stat").write_text("\n".join(lines) + "\nintr 0\n")
        return real_open(tmp_path / "stat", *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(_threads.time, "sleep", lambda s: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(len(per_cpu_busy))), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: pytest.fail("the load average is the fallback only"))


@pytest.mark.parametrize("busy, expected", [([0.0, 0.1], 2), ([0.2, 0.5], 1), ([1.0, 1.0], 1),
                                            ([0.0] * 8, 8), ([1.0, 1.0, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0], 5)])
def test_free_cores_is_the_mask_less_the_busy_share(monkeypatch, tmp_path, busy, expected):
    _fake_stat(monkeypatch, tmp_path, busy)
    assert free_cores() == expected


def test_only_the_cpus_in_the_mask_count(monkeypatch, tmp_path):
    _fake_stat(monkeypatch, tmp_path, [1.0, 1.0, 0.0, 0.0])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 3}, raising=False)
    assert free_cores() == 2


@pytest.mark.parametrize("load, expected", [(0.3, 2), (0.6, 1), (5.0, 1)])
def test_without_proc_stat_the_load_average(monkeypatch, load, expected):
    monkeypatch.setattr(_threads, "_cpu_times", lambda cpus: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert free_cores() == expected


def test_without_either_the_machine_counts_as_idle(monkeypatch):
    def no_load():
        raise OSError("no load average")

    monkeypatch.setattr(_threads, "_cpu_times", lambda cpus: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(os, "getloadavg", no_load)
    assert free_cores() == 3


@pytest.mark.parametrize("n", ["auto", 1, 2, 0, None])
def test_torch_threads_sets_and_restores(monkeypatch, n):
    monkeypatch.setattr(_threads, "free_cores", lambda: 1)
    before = torch.get_num_threads()
    with torch_threads(n):
        inside = torch.get_num_threads()
    assert torch.get_num_threads() == before
    assert inside == {"auto": 1, 1: 1, 2: 2}.get(n, before)


@pytest.mark.parametrize("current, free, expected", [(1, 2, 1), (2, 2, 2), (4, 2, 2), (2, 1, 1)])
def test_auto_never_raises_the_current_count(monkeypatch, current, free, expected):
    """A sweep worker runs with 1 thread: "auto" keeps it there even when the other cores look idle."""
    monkeypatch.setattr(_threads, "free_cores", lambda: free)
    before = torch.get_num_threads()
    torch.set_num_threads(current)
    try:
        with torch_threads("auto"):
            assert torch.get_num_threads() == expected
        assert torch.get_num_threads() == current
    finally:
        torch.set_num_threads(before)


def _gd_weights(threads: int, steps: int = 30) -> torch.Tensor:
    """``steps`` stacked float32 GD steps of 4 E1-shaped runs (m = 2000, n = 100, d = 50) at ``threads``."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 50, generator=g), torch.randn(100, 1, generator=g)
    lam = ntklab.node_scaling(2000, kind="zipf", gamma=0.5, alpha=0.7)
    nets = [ntklab.ScaledShallowNet(50, 2000, lambdas=lam, seed=s) for s in range(4)]
    st = StackedModels(nets)
    fast = ShallowMSEGradient(st, x, y)
    alive = torch.ones(st.R, dtype=torch.bool)
    with torch_threads(threads), torch.no_grad():
        for _ in range(steps):
            fast.loss_and_grad(alive)
            st.params["W"] -= 0.5 * st.params["W"].grad
    return st.params["W"].detach().clone()


@pytest.mark.parametrize("fused", [True, False])
def test_thread_count_does_not_change_the_gd_path(fused, monkeypatch):
    """Bitwise, not to a tolerance: the fused kernel sums in an order fixed by the shapes, and the unfused
    products split their rows (not their sums) over threads with exact elementwise passes, so one and two threads
    give the same weights."""
    monkeypatch.setattr(_shallow_grad, "FUSED", fused)
    assert torch.equal(_gd_weights(1), _gd_weights(2))
