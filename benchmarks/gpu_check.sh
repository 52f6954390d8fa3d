#!/usr/bin/env bash
# One command for a person with a GPU (or this project, when a GPU is lent): checks placement
# over the visible GPUs, the dtypes under each precision, determinism and the training device,
# and runs the GPU sections of the bench (under 10 minutes); prints a Markdown table to paste
# and writes it to <out_dir>/gpu_check.md. Without CUDA the checks that need it say so and are
# skipped. See benchmarks/gpu_check.py for what each check runs.
#
#   benchmarks/gpu_check.sh [out_dir] [--no-bench]
#   PYTHON=python3 benchmarks/gpu_check.sh      # without the venv: the source tree on PYTHONPATH
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then
    py=$PYTHON
elif [[ -x .venv/bin/python ]]; then
    py=.venv/bin/python
else
    py=python3
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
out=${1:-gpu_check-$(date +%Y%m%d-%H%M%S)}
shift || true
exec "$py" benchmarks/gpu_check.py --out "$out" "$@"
