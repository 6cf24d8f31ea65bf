#!/usr/bin/env bash
# The GPU check (about 5 minutes on one recent GPU): the device tests on CUDA, the paper-scale E1 and E3 presets
# on CUDA, the kernel and training benches CUDA against the CPU, and neural-tangents on the same GPU when its CUDA
# build installs there.  Prints a summary and writes everything under OUT (default results/gpu-check).
#
#   bash bench/gpu_check.sh [OUT]
#
# Needs the CUDA build of the pinned torch (README, "On a GPU"); exits 2 when torch sees no CUDA device.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/gpu-check}
PY=${PYTHON:-python}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"
: > "$SUMMARY"

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: torch sees no CUDA device (install the CUDA build of torch: README, 'On a GPU')" >&2
    exit 2
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(0), '| CUDA', torch.version.cuda, '| torch', torch.__version__)" | tee -a "$SUMMARY"

step() {  # step NAME COMMAND...: run it, log it, record its wall time and exit status
    local name=$1; shift
    local t0=$SECONDS
    echo "== $name: $*" | tee -a "$OUT/log.txt"
    "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    local dt=$((SECONDS - t0))
    tail -n 25 "$OUT/$name.txt"
    echo "| $name | exit $rc | ${dt} s |" | tee -a "$SUMMARY"
    return 0
}

echo "| step | status | wall |" >> "$SUMMARY"
echo "|---|---|---:|" >> "$SUMMARY"
step device-tests "$PY" -m pytest -q -p no:cacheprovider tests/test_device.py
step demo-full-cuda "$PY" -m ntklab demo --full --set device=cuda --out "$OUT/demo-full" --no-progress
step asym-digits-full-cuda "$PY" -m ntklab run asym-digits --full --set device=cuda --out "$OUT/asym-digits-full" --no-progress
step bench-device "$PY" bench/bench_device.py --out "$OUT/bench_device.md"

# neural-tangents on the same GPU: its CUDA build (JAX with CUDA wheels) needs PyPI; say so when it cannot install.
NT_VENV=${NT_CUDA_VENV:-$OUT/.nt-cuda-venv}
if [ ! -x "$NT_VENV/bin/python" ]; then
    python3 -m venv "$NT_VENV" && "$NT_VENV/bin/pip" install -q "jax[cuda12]" neural-tangents > "$OUT/nt-install.txt" 2>&1
fi
if "$NT_VENV/bin/python" -c "import jax, sys; sys.exit(0 if jax.default_backend() == 'gpu' else 1)" 2>> "$OUT/nt-install.txt"; then
    step nt-gpu "$NT_VENV/bin/python" bench/nt_gpu.py --out "$OUT/nt_gpu.md"
else
    echo "| neural-tangents on GPU | not run: its CUDA build did not install or sees no GPU (see $OUT/nt-install.txt) | |" | tee -a "$SUMMARY"
fi
echo
cat "$SUMMARY"
