"""A sweep from a YAML file: expand it, run it on two local workers, and report it.

    python examples/sweep_from_yaml.py [OUT_DIR]

The same as ``ntklab sweep examples/sweep.yaml --workers 2`` then ``ntklab report OUT_DIR``.
"""

import sys
import tempfile
from pathlib import Path

from ntklab.sweeps import expand_sweep, load_sweep, report_sweep, run_sweep


def main() -> None:
    spec = load_sweep(Path(__file__).with_name("sweep.yaml"))
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / spec.name
    units = expand_sweep(spec)
    print(f"{len(units)} runs: " + ", ".join(f"γ={u.grid['network.scaling.gamma']} seed {u.seed}" for u in units))
    states = run_sweep(spec, out, workers=2, progress=False)
    print(states[["network.scaling.gamma", "seed", "state"]].to_string(index=False))
    report = report_sweep(out)
    print(report.claims[["name", "verdict", "support"]].to_string(index=False))
    print(f"report: {report.html}")


if __name__ == "__main__":  # the local workers re-import this file: run only in the parent
    main()
