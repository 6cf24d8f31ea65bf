"""``make bench``: every comparison, one table of medians and ratios, written to bench/results/summary.{csv,md}.

Each bench script runs in its own process (a failing one is reported, the others still run) and writes
bench/results/<name>.json; this collects them.  The peers' environment (bench/.peers-venv) is created on the
first run.  ``BENCH_THREADS`` sets the thread count of every contender (default: all cores);
``BENCH_QUICK=1`` runs small sizes only; ``python bench/run_all.py NAME ...`` runs some scripts;
``--collect`` re-prints the table from the scripts' last results without running anything.
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
    collect = "--collect" in argv  # only re-print the table from the scripts' last results
    names = [a for a in argv if a != "--collect"] or SCRIPTS
    RESULTS.mkdir(parents=True, exist_ok=True)
    head = machine_line()
    print(head, flush=True)
    if not collect:
        ensure_venv()
    rows: list[Row] = []
    failed = []
    for name in names:
        path = RESULTS / f"{name}.json"
        if collect:
            proc = subprocess.CompletedProcess([], 0 if path.exists() else 1)
        else:
            print(f"\n=== bench_{name}.py ===", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(BENCH_DIR / f"bench_{name}.py")], cwd=BENCH_DIR)
            print(f"(bench_{name}.py: {time.perf_counter() - t0:.0f} s, exit {proc.returncode})", flush=True)
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
