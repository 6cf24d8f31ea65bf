"""Child process for the local-executor tests: a sweep whose units all go to spawned workers (``driver=False``),
so that the tests can kill or interrupt a worker mid-unit whatever the machine's load.

    python _sweep_child.py SWEEP_FILE OUT WORKERS

Prints one line per finished unit (as ``ntklab sweep`` does); exits 130 on Ctrl-C, 1 when a unit failed.
"""

import faulthandler
import signal
import sys
from pathlib import Path

from ntklab.sweeps import execute_units, expand_sweep, load_sweep
from ntklab.sweeps._directory import write_sweep_record

if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a hung test can ask for the stacks
    # Ctrl-C raises KeyboardInterrupt here even when the suite runs as a background job, whose children start
    # with SIGINT ignored (POSIX: an asynchronous command of a non-interactive shell) and Python then installs
    # no handler of its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    spec = load_sweep(sys.argv[1])
    out = Path(sys.argv[2])
    units = expand_sweep(spec)
    write_sweep_record(spec, units, out)
    try:
        results = execute_units(units, out, workers=int(sys.argv[3]), retries=2, driver=False)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0 if all(r["state"] == "done" for r in results) else 1)
