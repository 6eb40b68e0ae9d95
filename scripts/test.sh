#!/usr/bin/env bash
# Set up and run the whole test suite (unit, page, real-browser and the report's reproduction).
# As root this installs the Debian packages the tests drive: chromium (browser tests), bubblewrap (the
# sandbox of learners' code), haproxy (the classroom setup), postgresql (the class store's tests). With arguments,
# it runs one pytest with them (your selection) instead of the whole suite.
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
if [ $# -gt 0 ]; then exec .venv/bin/python -m pytest -ra "$@"; fi  # your selection, in one process
# The whole suite in two parts. The unit and page tests use one CPU each: two pytest-xdist processes run them.
# The browser, classroom and reproduction tests drive servers and browsers that need both cores, and the
# sandbox's tests time limits of a few seconds (marker "serial"), so they run one at a time after them.
status=0
.venv/bin/python -m pytest -ra -n 2 -m "not e2e and not slow and not serial" || status=$?
.venv/bin/python -m pytest -ra -m "e2e or slow or serial" || status=$?
exit $status
