#!/usr/bin/env bash
# CI for the veRL backend: builds (once) a separate venv with CPU torch + verl[verl-core] and runs
# tests/test_verl_*.py there. Separate because veRL would downgrade `packaging` and add pytest plugins
# (pytest-asyncio, pytest-rerunfailures) to the shared venv. Usage: bash scripts/ci_verl.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VERL_VENV:-.venv-verl}"
TORCH="${TORCH:-torch==2.13.0}"
VERL_PIN="$(sed -n 's/^verl = \["\(verl\[verl-core\]==[0-9.]*\)"\]/\1/p' pyproject.toml)"
if [ -z "$VERL_PIN" ]; then
    echo "ci_verl.sh: no 'verl = [\"verl[verl-core]==X\"]' extra in pyproject.toml" >&2
    exit 2
fi

marker="$VENV/.installed"
if [ ! -f "$marker" ] || [ pyproject.toml -nt "$marker" ]; then
    start=$(date +%s)
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    # torch first and pinned: an unpinned torch (pulled by veRL) would be a multi-GB CUDA build.
    "$VENV/bin/pip" install -q "$TORCH"
    "$VENV/bin/pip" install -q "$VERL_PIN"
    # editable install last: registers the verl.plugins entry point of this checkout
    "$VENV/bin/pip" install -q -e ".[train,dev]"
    touch "$marker"
    echo "ci_verl.sh: built $VENV in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1))"
fi

# Adding veRL must never move transformers out of the range both backends support.
"$VENV/bin/python" - <<'EOF'
import sys
from importlib.metadata import version

import transformers  # noqa: F401

v = tuple(int(x) for x in version("transformers").split(".")[:2])
if not (5, 5) <= v < (5, 11):
    sys.exit(f"ci_verl.sh: transformers {version('transformers')} is outside >=5.5.3,<5.11")
print(f"ci_verl.sh: verl {version('verl')}, torch {version('torch')}, transformers {version('transformers')}")
EOF

# test_train_algo.py too: its comparison with veRL's functions is skipped where veRL is absent.
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
    tests/test_verl_*.py tests/test_train_algo.py "$@"
