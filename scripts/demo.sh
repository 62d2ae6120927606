#!/usr/bin/env bash
# Install optimkit, then run its demo (extra arguments go to `optimkit demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec "${PYTHON:-python3}" -m optimkit demo "$@"
