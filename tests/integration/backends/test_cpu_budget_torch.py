"""The thread setting reaches torch: a fresh process loads the tiny model with the local
backend and reports torch's intra-op and inter-op pool sizes as seen INSIDE generate,
in the backend's worker thread (the intra-op size is per OS thread) (a fresh process, because
torch lets the inter-op pool be sized only once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import build_tiny_once

REPO = Path(__file__).resolve().parents[3]
SCRIPT = """
import asyncio, json, os, sys
from service.grounding.prompt import build_prompt
from service.inference.backend import SamplingParams
from service.inference.local_hf import LocalHFBackend, load_model
from tests.support.fixtures import make_frames
backend = LocalHFBackend(sys.argv[1], device="cpu", threads=int(sys.argv[2]))
import torch  # after the backend: it set OpenMP's wait policy before torch loaded
asyncio.run(backend.load())
loaded = load_model(backend.info, "cpu", "auto")
real, seen = loaded.model.generate, []
def generate(*args, **kwargs):  # runs in the backend's worker thread
    seen.append([torch.get_num_threads(), torch.get_num_interop_threads()])
    return real(*args, **kwargs)
loaded.model.generate = generate
sampling = SamplingParams(temperature=1.0, max_tokens=2, seed=1)
for _ in range(2):  # each call may land on another pool thread
    asyncio.run(backend.sample(build_prompt("q", [0.0, 1.0]), make_frames(2), 2, sampling))
print(json.dumps({"in_generate": seen, "omp_wait": os.environ.get("OMP_WAIT_POLICY")}))
"""


@pytest.mark.parametrize("threads", [1, 3])
def test_backend_sizes_torch_pools(threads: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OMP_NUM_THREADS", None)  # torch's own default, not a shell's
    env.pop("OMP_WAIT_POLICY", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(build_tiny_once(0)), str(threads)],
                         capture_output=True, text=True, env=env, timeout=180, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["in_generate"] == [[threads, threads]] * 2, got
    assert got["omp_wait"] == "PASSIVE"
