#!/usr/bin/env bash
# Set up and run the whole test suite (unit, page, real-browser and the report's reproduction).
# As root this installs the Debian packages the tests drive: chromium (browser tests), bubblewrap (the
# sandbox of learners' code), haproxy (the classroom setup), postgresql (the class store's tests). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v haproxy >/dev/null || need+=(haproxy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
exec .venv/bin/python -m pytest -ra "$@"
