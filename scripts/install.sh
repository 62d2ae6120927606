#!/usr/bin/env bash
# Install optimkit (editable) with the given extras. Keeps an installed torch; otherwise asks for
# the CPU wheel, since a bare `pip install torch` would pull a multi-gigabyte CUDA build.
# Usage: bash scripts/install.sh [EXTRAS]      e.g. bash scripts/install.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet "torch==2.13.0+cpu" || "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
if [ -n "${1:-}" ]; then
    "$PYTHON" -m pip install --quiet -e ".[$1]"
else
    "$PYTHON" -m pip install --quiet -e .
fi
