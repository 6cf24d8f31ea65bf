import subprocess
import sys

import pandas as pd
import pytest

from ntklab.cli import main


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "claims" in text
    claims = pd.read_csv(out / "claims.csv")
    assert len(claims) >= 8
    assert set(claims.verdict) <= {"PASS", "REPORTED"}, claims[claims.verdict == "FAIL"].to_string()
    for name in ("trainrisk", "testrisk", "ntkmineig", "ntkdiff", "wdiff", "width_sweep"):
        assert (out / "figures" / f"simulated_{name}.png").stat().st_size > 10_000
    assert len(list((out / "runs").iterdir())) == 20  # 4 configurations x 5 seeds (the paper's run count)
    # report re-reads the store without training
    assert main(["report", str(out)]) == 0
    again = pd.read_csv(out / "claims.csv")
    pd.testing.assert_frame_equal(claims, again)


@pytest.mark.parametrize("argv,needle", [
    (["run", "asym-simulated", "--set", "configs=[[0.5, 2.0]]"], "configs"),
    (["run", "asym-diabetes", "--set", "configs=[[1.5, 0.5]]"], "configs"),  # the real-data presets check too
    (["run", "asym-simulated", "--set", "steps=0"], "steps"),
    (["run", "asym-simulated", "--bogus-flag"], "--bogus-flag"),
    (["run", "asym-simulated", "--set", "widht=3"], "widht"),
    (["run", "no-such-preset"], "preset"),
    (["demo", "--quick", "--full"], "--quick/--full"),
    (["report", "/nonexistent/dir"], "DIR"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_console_script_has_no_traceback(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("network:\n  scaling:\n    gamma: 3\n")
    proc = subprocess.run([sys.executable, "-m", "ntklab", "run", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "network.scaling.gamma" in proc.stderr and "Traceback" not in proc.stderr


def test_run_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: tiny\nnetwork: {width: 30}\ndata: {options: {n_train: 10, n_test: 5, d: 4}}\n"
                   "training: {steps: 5}\nprobes: {every: 5}\n")
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "train_risk" in capsys.readouterr().out


def test_presets_lists_the_demo(capsys):
    assert main(["presets"]) == 0
    assert "asym-simulated" in capsys.readouterr().out


# --- OS faults: one line naming the path and the OS error, a non-zero exit, no traceback ---------------------

def _config_file(tmp_path, steps=4):
    import yaml

    f = tmp_path / "cfg.yaml"
    f.write_text(yaml.safe_dump({"network": {"width": 400}, "training": {"steps": steps}, "probes": {"every": 2}}))
    return f


def test_a_full_disk_gives_one_line_and_status_1(tmp_path):
    """`ulimit -f` (RLIMIT_FSIZE) makes the first large write fail with EFBIG, as a full disk fails with ENOSPC."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "ntklab", "run", str(_config_file(tmp_path)), "--out", str(out),
                        "--no-progress"], capture_output=True, text=True, preexec_fn=limit, timeout=120)
    err = p.stderr.strip()
    assert p.returncode == 1, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: cannot write '") and str(out) in err and "File too large" in err


def test_a_read_only_directory_gives_one_line_and_status_1(tmp_path, capsys, monkeypatch):
    """A directory the process may not write to.  Root writes anywhere, so as root the refusal is injected at
    the OS call every atomic write makes (mkstemp); otherwise the directory is made read-only for real."""
    import os

    out = tmp_path / "ro" / "run"
    out.parent.mkdir()
    if os.geteuid() == 0:
        import tempfile

        def refuse(*a, **k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        monkeypatch.setattr("ntklab._io.tempfile.mkstemp", refuse)
    else:
        out.parent.chmod(0o555)
    try:
        rc = main(["run", str(_config_file(tmp_path)), "--out", str(out), "--no-progress"])
    finally:
        out.parent.chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "Permission denied" in err and str(out.parent) in err


def test_an_output_path_under_a_file_gives_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    rc = main(["run", str(_config_file(tmp_path)), "--out", str(tmp_path / "file" / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc in (1, 2) and len(err.splitlines()) == 1 and "Traceback" not in err and "file" in err, err
