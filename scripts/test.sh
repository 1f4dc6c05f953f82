#!/usr/bin/env bash
# Install with the development extras, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy
echo "== schemas in sync" && .venv/bin/nms-monitor schemas --check
echo "== pytest" && .venv/bin/python -m pytest "$@"
