"""The conformance tier's fixtures: vLLM's own code in a child process (`vllm_probe`).

`vllm` is the pinned version's protocol code installed by scripts/vllm_protocol.sh
(run here when missing; pip's cache makes a re-install cheap). The tier skips, with
the installer's reason, only when that install is impossible.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / ".cache" / "vllm-protocol"


def pinned_version() -> str:
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    match = re.search(r"image:\s*vllm/vllm-openai:v(\d[\d.]*)", text)
    assert match, "docker-compose.yml pins no vllm/vllm-openai:vX.Y.Z image"
    return match.group(1)


def installed_target() -> Path:
    """The pinned vLLM's directory; installs it when missing; skips when impossible."""
    version = pinned_version()
    target = ROOT / version
    if not (target / ".installed").exists():
        subprocess.run(["bash", str(REPO / "scripts" / "vllm_protocol.sh")], check=False,
                       timeout=900)
    if not (target / ".installed").exists():
        failed = ROOT / f"{version}.failed"
        reason = failed.read_text(encoding="utf-8") if failed.exists() else "unknown reason"
        pytest.skip(f"vLLM {version}'s protocol code cannot be installed here "
                    f"(scripts/vllm_protocol.sh): {reason.strip()}")
    return target


class Probe:
    """One long-lived `python -m tests.conformance.vllm_probe`: a JSON line per ask."""

    def __init__(self, target: Path) -> None:
        env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{REPO}",
               "VLLM_TARGET_DEVICE": "cpu", "VLLM_LOGGING_LEVEL": "ERROR",
               "VLLM_CONFIGURE_LOGGING": "0",
               # 1 would make EngineArgs look the model up in the local hub cache
               "HF_HUB_OFFLINE": "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.conformance.vllm_probe"], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        self.asked = 0

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the vLLM probe died (exit {self.proc.poll()})"
        self.asked += 1
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:  # it exits on EOF; a loaded machine can take long to unwind vLLM's imports
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # how fast it exits is not under test
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def vllm_probe() -> Iterator[Probe]:
    probe = Probe(installed_target())
    answer = probe.ask({"op": "version"})  # waits for vLLM's import (~10-30 s)
    assert answer == {"ok": True, "version": pinned_version()}, answer
    yield probe
    probe.close()
