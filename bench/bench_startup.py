"""Start-up times: ``import ntklab`` against ``import torch``, and ``ntklab --help`` / ``ntklab presets``.

Each command runs in a fresh interpreter, alternating, 7 times; the table gives the medians (and min-max).
Targets (issue 20): ``ntklab --help`` and ``ntklab presets`` under 1 s; ``import ntklab`` no more than
1.3 x ``import torch``.  Run: ``python bench/bench_startup.py`` (not part of the test suite: no timing asserts
in tests; tests/test_public_api.py checks that these commands load no torch, pandas, scipy or matplotlib).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("ntklab"))
COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "import ntklab": [sys.executable, "-c", "import ntklab"],
    "import ntklab; ntklab.MLP (loads torch)": [sys.executable, "-c", "import ntklab; ntklab.MLP"],
    "ntklab --help": [CLI, "--help"],
    "ntklab presets": [CLI, "presets"],
}


def main(repeats: int = 7) -> int:
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(repeats):
        for name, cmd in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'command':45s} {'median':>8s} {'min-max':>15s}")
    for k, v in times.items():
        print(f"{k:45s} {med[k]:7.3f}s {min(v):6.3f}-{max(v):.3f}s")
    ratio = med["import ntklab"] / med["import torch"]
    ok = med["ntklab --help"] < 1 and med["ntklab presets"] < 1 and ratio <= 1.3
    print(f"import ntklab / import torch = {ratio:.2f} (target <= 1.3); --help {med['ntklab --help']:.2f} s, "
          f"presets {med['ntklab presets']:.2f} s (targets < 1 s): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
