"""``make bench``: every comparison, one table of medians, spreads and ratios, and how it compares with the last run.

Each bench script runs in its own process (a failing one is reported, the others still run) and writes
bench/results/<name>.json; this collects them into bench/results/summary.{csv,md}, with the machine's load,
GEMM rate and bandwidth measured before and after beside the table.  Every run is also kept in
bench/results/history/<time>/, and the ratios are compared with the previous run there: run ``make bench``
twice on an idle machine and the second prints, row by row, both ratios and whether they agree within 20 %
(bench/results/stability.md).  ``--readme`` prints the README's performance table from the last summary.

The peers' environment (bench/.peers-venv) is created on the first run.  ``BENCH_THREADS`` sets the thread
count of every contender (default: all cores); ``BENCH_QUICK=1`` runs small sizes only; ``BENCH_DEMO=1`` also
times ``ntklab demo``; ``python bench/run_all.py NAME ...`` runs some scripts; ``--collect`` re-prints the table
from the scripts' last results without running anything.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import BENCH_DIR, QUICK, RESULTS, Row, fmt_time, machine_line, machine_state, print_table, spread, \
    state_line, write_csv
from _peers import ensure_venv

SCRIPTS = ["shallow_ntk", "generic_ntk", "e1", "infinite", "predict", "sweep"]
HISTORY = RESULTS / "history"
AGREE = 0.2  # two runs' ratios agree when they differ by at most this fraction
SCRIPT_TIMEOUT_S = 3600  # a script still running after this long is stopped and reported failed


def _run_scripts(names: list[str], collect: bool) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    failed = []
    for name in names:
        path = RESULTS / f"{name}.json"
        if collect:
            proc = subprocess.CompletedProcess([], 0 if path.exists() else 1)
        else:
            print(f"\n=== bench_{name}.py ===", flush=True)
            t0 = time.perf_counter()
            if path.exists():
                path.unlink()  # a script that fails must not leave its previous results to be collected
            try:
                proc = subprocess.run([sys.executable, str(BENCH_DIR / f"bench_{name}.py")], cwd=BENCH_DIR,
                                      timeout=SCRIPT_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # a hung script must not hold up the others (it is killed)
                print(f"bench_{name}.py did not finish in {SCRIPT_TIMEOUT_S} s: stopped", flush=True)
                proc = subprocess.CompletedProcess([], "timeout")
            print(f"(bench_{name}.py: {time.perf_counter() - t0:.0f} s, exit {proc.returncode})", flush=True)
        if proc.returncode != 0 or not path.exists():
            failed.append(name)
            rows.append(Row(name, "-", "-", float("nan"), note=f"bench_{name}.py failed (exit {proc.returncode})"))
            continue
        for d in json.loads(path.read_text()):
            d["times_s"] = [float(t) for t in d["times_s"].split()] if d["times_s"] else []
            rows.append(Row(**d))
    return rows, failed


def _read_summary(path: Path) -> dict:
    with open(path, newline="") as fh:
        return {(r["bench"], r["case"], r["contender"]): r for r in csv.DictReader(fh)}


def _ratio(r: dict) -> float:
    try:
        return float(r["ratio"])
    except (KeyError, ValueError):
        return float("nan")


def stability(previous: Path, current: Path) -> str:
    """Markdown table: each row's ratio in the previous and this run, and whether they agree within AGREE."""
    old, new = _read_summary(previous), _read_summary(current)
    lines = [f"ratios of {previous.parent.name} vs {current.parent.name} (agree: within {AGREE:.0%})", "",
             "| bench | case | contender | ratio before | ratio now | change | agree |", "|---|---|---|---|---|---|---|"]
    n = bad = 0
    for key, r in new.items():
        a, b = _ratio(old.get(key, {})), _ratio(r)
        if a != a or b != b:
            continue
        change = b / a - 1 if a else float("inf")
        ok = abs(change) <= AGREE
        n, bad = n + 1, bad + (not ok)
        lines.append(f"| {' | '.join(key)} | {a:.3g} | {b:.3g} | {change:+.0%} | {'yes' if ok else 'NO'} |")
    lines += ["", f"{n - bad}/{n} ratios agree within {AGREE:.0%}"]
    return "\n".join(lines)


def readme_table(summary: Path) -> str:
    """The README's performance table (rows with a target, and the E1 and sweep rows) from a summary.csv."""
    out = ["| bench | case | contender | median (spread) | ratio | target | met |", "|---|---|---|---|---|---|---|"]
    for (bench, case, contender), r in _read_summary(summary).items():
        if not (r["target"] or bench.startswith(("E1", "sweep"))):
            continue
        ts = [float(t) for t in r["times_s"].split()] if r["times_s"] else []
        w = spread(ts)
        med = fmt_time(float(r["median_s"])) + ("" if w != w else f" ({w:.0%})")
        ratio = _ratio(r)
        out.append(f"| {bench} | {case} | {contender} | {med} | {'-' if ratio != ratio else f'{ratio:.3g}'} | "
                   f"{r['target'] or '-'} | {r['met'] or '-'} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if "--readme" in argv:
        print(readme_table(RESULTS / "summary.csv"))
        return 0
    collect = "--collect" in argv  # only re-print the table from the scripts' last results
    names = [a for a in argv if not a.startswith("--")] or SCRIPTS
    RESULTS.mkdir(parents=True, exist_ok=True)
    head = machine_line()
    before = state_line(machine_state())
    print(head + "\n" + "before: " + before, flush=True)
    if not collect:
        ensure_venv()
    rows, failed = _run_scripts(names, collect)
    after = state_line(machine_state())
    print()
    title = (f"ntklab benchmarks ({head})\nbefore: {before}\nafter:  {after}\n"
             "ratio = ntklab / contender (on a target row: ntklab / best peer or / the bound); spread = "
             "interquartile range / median (max - min for 2-3 samples)")
    table = print_table(rows, title=title)
    write_csv(rows, RESULTS / "summary.csv")
    (RESULTS / "summary.md").write_text(table + "\n")
    print(f"\nwritten: {RESULTS / 'summary.csv'}, {RESULTS / 'summary.md'}")
    if not collect:
        kind = ("quick-" if QUICK else "") + "-".join(names)  # compare like with like
        previous = sorted(HISTORY.glob(f"*_{kind}/summary.csv")) if HISTORY.exists() else []
        stamp = HISTORY / f"{time.strftime('%Y%m%d-%H%M%S')}_{kind}"
        stamp.mkdir(parents=True, exist_ok=True)
        shutil.copy(RESULTS / "summary.csv", stamp / "summary.csv")
        (stamp / "summary.md").write_text(table + "\n")
        if previous:
            text = stability(previous[-1], stamp / "summary.csv")
            (RESULTS / "stability.md").write_text(text + "\n")
            print("\n" + text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
