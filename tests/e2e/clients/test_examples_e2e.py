"""The examples in clients/examples run against the real gateway process and print the
scripted verdict (so the README's copy-paste snippets are known to work)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.video.synth import MovingSquareTruth
from tests.e2e.clients.conftest import REPO, Gateway
from tests.e2e.clients.support import ANSWER

EXAMPLES = REPO / "clients" / "examples"

CASES = [
    # (example, what its output must contain besides the answer) -- one per way in
    ("sdk_example.py", "seen in 8 traces"),  # the SDK (n=8), evidence rows with support
    ("openai_video_ref.py", "2.5s square"),  # openai client, video://<id> reference
    ("openai_frames.py", "box in fed frame"),  # openai client, frames as image_url parts
    ("curl.sh", "job "),  # curl: upload, sync reason, then a polled job
]


@pytest.mark.parametrize(("example", "fragment"), CASES)
def test_example_runs(
    scripted_gateway: Gateway, square: tuple[Path, MovingSquareTruth], example: str,
    fragment: str,
) -> None:
    if example.endswith(".sh") and not shutil.which("curl"):
        pytest.skip("curl is not installed (scripts/test.sh installs it)")
    path, _ = square
    script = EXAMPLES / example
    cmd = ["bash", str(script)] if example.endswith(".sh") else [sys.executable, str(script)]
    env = {**os.environ, "O3_SERVER": scripted_gateway.url,
           "O3_API_KEY": scripted_gateway.api_key or "", "PYTHONPATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run([*cmd, str(path), "Where is the square?"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ANSWER in proc.stdout and fragment in proc.stdout, proc.stdout
