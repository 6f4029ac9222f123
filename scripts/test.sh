#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine with
# Python 3.11 (redis-server, ffmpeg, chromium for the page test, the .venv with the
# local, train and dev extras, and the pinned vLLM's protocol code for the conformance
# tier: scripts/vllm_protocol.sh, ~327 MB wheel kept in pip's cache, ~1 min the first
# time, a stamp check after), then runs ruff, mypy (strict on service/, clients/ and
# training/), the import contracts of the layer map and pytest. Extra arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
ensure_debian_packages redis-server:redis-server ffmpeg:ffmpeg chromium:chromium curl:curl
ensure_venv local,train,dev
bash scripts/vllm_protocol.sh
echo "==> ruff";  .venv/bin/ruff check .
echo "==> mypy";  .venv/bin/mypy
echo "==> import contracts (docs/ARCHITECTURE.md)"; .venv/bin/lint-imports --no-cache
echo "==> pytest"
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
