#!/usr/bin/env bash
# Set up and run the whole test suite (unit, page, real-browser and the report's reproduction).
# Browser tests need Debian's chromium; as root this installs it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
exec .venv/bin/python -m pytest -ra "$@"
