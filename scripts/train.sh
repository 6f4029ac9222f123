#!/usr/bin/env bash
# The training command: installs .venv with the `local` and `train` extras (on first use,
# or when pyproject.toml changed) and runs `python -m training "$@"`, e.g.
#   bash scripts/train.sh synth artifacts/synth/train --n 120 --seed 0
#   bash scripts/train.sh sft --config tiny-cpu --out artifacts/train/tiny-cpu/sft
# GPU clusters add the `deepspeed` and `vllm` extras: O3_TRAIN_EXTRAS=local,train,deepspeed,vllm
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
ensure_venv "${O3_TRAIN_EXTRAS:-local,train}"
exec .venv/bin/python -m training "$@"
