#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned requirements: `scripts/setup.sh [requirements file]`.
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
python=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
