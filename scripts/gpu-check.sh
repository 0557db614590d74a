#!/usr/bin/env bash
# The GPU check (kinema.bench.gpu_check): a few bf16 training steps of every stage's paper
# preset on one GPU, then `kinema eval` and `kinema animate` on it; prints a table and exits
# non-zero if anything failed. Without CUDA it says so and exits 0. Under 8 minutes.
#
#   scripts/gpu-check.sh                                   # on a CUDA machine
#   scripts/gpu-check.sh --page benchmarks/gpu-check.md    # and write the table there
#   scripts/gpu-check.sh --device cpu --preset tiny --steps 2   # the machinery, on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -m kinema.bench.gpu_check "$@"
