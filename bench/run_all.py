"""``make bench``: every comparison, one table of medians and ratios, written to bench/results/summary.{csv,md}.

Each bench script runs in its own process (a failing one is reported, the others still run) and writes
bench/results/<name>.json; this collects them.  The peers' environment (bench/.peers-venv) is created on the
first run.  ``BENCH_THREADS`` sets the thread count of every contender (default: all cores);
``BENCH_QUICK=1`` runs small sizes only; ``python bench/run_all.py NAME ...`` runs some scripts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from _common import BENCH_DIR, RESULTS, Row, machine_line, print_table, write_csv
from _peers import ensure_venv

SCRIPTS = ["shallow_ntk", "generic_ntk", "e1", "infinite", "predict"]


def main(argv: list[str]) -> int:
    names = argv or SCRIPTS
    RESULTS.mkdir(parents=True, exist_ok=True)
    head = machine_line()
    print(head, flush=True)
    ensure_venv()
    rows: list[Row] = []
    failed = []
    for name in names:
        print(f"\n=== bench_{name}.py ===", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(BENCH_DIR / f"bench_{name}.py")], cwd=BENCH_DIR)
        print(f"(bench_{name}.py: {time.perf_counter() - t0:.0f} s, exit {proc.returncode})", flush=True)
        path = RESULTS / f"{name}.json"
        if proc.returncode != 0 or not path.exists():
            failed.append(name)
            rows.append(Row(name, "-", "-", float("nan"), note=f"bench_{name}.py failed (exit {proc.returncode})"))
            continue
        for d in json.loads(path.read_text()):
            d["times_s"] = [float(t) for t in d["times_s"].split()] if d["times_s"] else []
            rows.append(Row(**d))
    print()
    table = print_table(rows, title=f"ntklab benchmarks ({head}); ratio = ntklab / contender "
                                    "(on a target row: ntklab / best peer or / the bound)")
    write_csv(rows, RESULTS / "summary.csv")
    (RESULTS / "summary.md").write_text(table + "\n")
    print(f"\nwritten: {RESULTS / 'summary.csv'}, {RESULTS / 'summary.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
