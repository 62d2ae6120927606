#!/usr/bin/env bash
# Install what the tests need, then run them (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
exec "${PYTHON:-python3}" -m pytest "$@"
