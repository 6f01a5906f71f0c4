#!/usr/bin/env bash
# One-GPU check of both training backends, offline, in under 10 minutes (see scripts/gpu_check.py):
# random-init Qwen2-shaped ~0.5B model and tokenizer built in code, 5 native GRPO steps in bf16, 3 veRL
# steps with vLLM rollouts; prints tokens/s and peak GPU memory; non-zero exit on any failure.
#
# Usage: bash scripts/gpu_check.sh [--cpu-only] [--size 0.5b|tiny] [--workdir DIR]
#   WHEELS=DIR   install the project with its [train,gpu] extras from wheels carried into DIR (no index;
#                put flash-attn's wheel there too, or the veRL run falls back to sdpa attention)
#   PYTHON=...   interpreter to use (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1  # nothing is downloaded
if [ -n "${WHEELS:-}" ]; then
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" -e ".[train,gpu]"
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" flash-attn 2>/dev/null \
        || echo "gpu_check: no flash-attn wheel in $WHEELS (the veRL run will use sdpa)"
fi
# 590 s: the whole check, CPU part included, stays under 10 minutes or fails.
exec timeout 590 "$PYTHON" scripts/gpu_check.py "$@"
