#!/usr/bin/env bash
# The run command: installs the gateway with the local transformers backend into .venv
# and starts the service (python -m service) with settings from O3_* variables.
# With no O3_CHECKPOINT and no O3_VLLM_URL it builds and serves a random tiny
# checkpoint so every route can be tried at once (labelled as such in responses).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
ensure_venv local
exec .venv/bin/python -m service "$@"
