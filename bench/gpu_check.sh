#!/usr/bin/env bash
# The GPU check in one line for the device tool (see bench/RESULTS.md, "One-command GPU check"):
#
#   run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=600)
#
# .whl/ is made here first by `bash bench/fetch_anchor_wheels.sh`. bench/gpu_check.py installs the carried wheels
# (pip install --no-index --target), links ../shared/data to .whl/data, runs every step within its own 450 s deadline,
# and writes gpu_check.json, gpu_check.md and gpu_check.log into $OUT (they come back with the reply) or, without
# $OUT, into bench/results/. `timeout` is a second guard that leaves a margin inside the tool's 600 s.
# Extra arguments go to gpu_check.py (e.g. `bash bench/gpu_check.sh --skip distributed --budget augment=150`).
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
timeout -k 10 "${GPU_CHECK_TIMEOUT:-540}" "$PY" bench/gpu_check.py --out "${OUT:-bench/results}" "$@"
rc=$?
[ $rc = 124 ] && echo "gpu_check.py was stopped after ${GPU_CHECK_TIMEOUT:-540} s: the files in the out folder are from its last write"
echo "gpu_check.py exit status: $rc"
exit $rc
