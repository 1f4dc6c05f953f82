#!/usr/bin/env bash
# The main job on the embedded defaults: install, then replay the bundled ward example
# (an NMS case and a quiet patient) and show its alert transitions with their explanation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/nms-monitor replay --pretty --summary examples/ward.ndjson "$@"
