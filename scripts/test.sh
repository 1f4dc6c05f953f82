#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole test suite.
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --fast     every test that needs no broker, on every core: about a minute
#   scripts/test.sh ARGS...    extra arguments go to pytest (e.g. -k lifecycle, -x)
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0
if [ "${1:-}" = "--fast" ]; then
  FAST=1
  shift
fi
# kcat (Debian) is the interoperability client of the streaming tests, Chromium (Debian) the
# browser of the dashboard tests, driven by Playwright at /usr/bin/chromium, and Prometheus and
# Alertmanager (Debian: prometheus with promtool, prometheus-alertmanager with amtool) the real
# programs of the monitoring and paging tests (not needed by --fast, whose promtool and amtool
# checks are skipped when they are missing). Installed only when one is missing.
if [ "$FAST" = 0 ] && { ! command -v kcat >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ] ||
  ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1 ||
  ! command -v prometheus-alertmanager >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; }; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q kcat chromium >/dev/null
  # Not their recommendations (the node exporter): the tests start the programs themselves.
  $SUDO apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi
scripts/setup.sh dev
echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy
echo "== schemas in sync" && .venv/bin/nms-monitor schemas --check
if [ "$FAST" = 1 ]; then
  # One pytest-xdist worker per core; work stealing keeps both busy to the end (the slowest
  # tests take several seconds each).
  echo "== pytest (fast tier: no broker)" && exec .venv/bin/python -m pytest -m "not broker" -n auto --dist worksteal "$@"
fi
echo "== pytest" && .venv/bin/python -m pytest "$@"
