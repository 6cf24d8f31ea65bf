"""The peers' virtual environment (neural-tangents on an old JAX) and the worker process that runs them.

``ensure_venv()`` creates ``bench/.peers-venv`` with the one combination that installs and runs here
(about 2 GB; ``PEERS_VENV`` points elsewhere).  ``Peer`` starts ``_peer_worker.py`` in it and talks JSON lines.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from _common import BENCH_DIR, THREADS

VENV = Path(os.environ.get("PEERS_VENV", BENCH_DIR / ".peers-venv"))
PACKAGES = ["jax==0.4.23", "jaxlib==0.4.23", "numpy<2", "tensorflow==2.15.1", "tf2jax==0.3.5",
            "neural-tangents==0.6.5"]


def ensure_venv() -> Path | None:
    """The peers' python, creating the venv when missing; None (with a message) when it cannot be made."""
    py = VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import neural_tangents"], capture_output=True).returncode == 0
    if ok:
        return py
    print(f"creating the peers' environment in {VENV} (neural-tangents 0.6.5, JAX 0.4.23; about 2 GB) ...",
          flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"could not create the peers' environment: {exc}", flush=True)
        return None
    return py


class PeerError(RuntimeError):
    pass


class Peer:
    """A running neural-tangents worker."""

    def __init__(self):
        py = ensure_venv()
        if py is None:
            raise PeerError("peers' environment unavailable")
        env = dict(os.environ, BENCH_THREADS=str(THREADS), TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen([str(py), str(BENCH_DIR / "_peer_worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.info = self._read()

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise PeerError("the neural-tangents worker exited")
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue  # a stray library print

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise PeerError(reply["error"])
        return reply

    def prepare(self, key: str, kind: str, **inputs) -> dict:
        return self.ask(op="prepare", key=key, kind=kind, **inputs)

    def timer(self, key: str):
        """A callable returning the worker's own seconds of each of ``number`` calls (default 1; for
        ``interleave``, which takes their median)."""
        def timed(number: int = 1) -> list[float]:
            reply = self.ask(op="time", key=key, number=number)
            return [float(t) for t in reply["calls"]] if "calls" in reply else [float(reply["s"]) / number]

        timed.takes_number = True
        return timed

    def drop(self, key: str) -> None:
        self.ask(op="drop", key=key)

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_peer() -> tuple[Peer | None, str]:
    """A worker, or None and the reason (the rows are then marked, never silently dropped)."""
    try:
        return Peer(), ""
    except PeerError as exc:
        return None, str(exc)
