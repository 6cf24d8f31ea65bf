"""Child process for the kill-and-resume tests: run units (train or resume) with one torch thread.

    python resume_child.py JOBS_JSON      # [{"unit": Unit.to_dict(), "dir": SWEEP_DIR}, ...]

Prints the list of run_unit summaries as JSON on its last line.
"""

import json
import sys

import torch

torch.set_num_threads(1)

from ntklab.sweeps import run_unit  # noqa: E402

jobs = json.loads(sys.argv[1])
print(json.dumps([run_unit(j["unit"], j["dir"]) for j in jobs]))
