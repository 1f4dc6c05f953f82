#!/usr/bin/env bash
# The main job on the embedded defaults: install, start the embedded Kafka-protocol broker on a
# free 127.0.0.1 port, run the streaming worker, and feed the bundled example patients so their
# alerts appear within a minute. Ctrl-C stops the worker and the broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/nms-monitor run --demo "$@"
