"""The layer map (docs/ARCHITECTURE.md) is enforced by import-linter's contracts in
`.importlinter`: the repository keeps them, and a crossing import breaks them with a
message that names the forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("service", "training", "clients", "bench")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed "
                                "(the dev extra installs it)")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True,
                          text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          timeout=240)


def _copy_tree(dst: Path) -> None:
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, dst / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "web", "*.md"))
    shutil.copy(REPO / ".importlinter", dst / ".importlinter")


def test_repository_keeps_every_contract() -> None:
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(("module", "line", "named"), [
    ("service/grounding/leak.py", "import fastapi\n", "service.grounding.leak -> fastapi"),
    ("service/video/leak.py", "from service.api import errors\n",
     "service.video.leak -> service.api"),
    ("clients/leak.py", "from service.state import cache\n", "clients.leak -> service.state"),
    ("training/leak.py", "import service.app\n", "training.leak -> service.app"),
])
def test_a_crossing_import_breaks_a_contract_and_is_named(
        tmp_path: Path, module: str, line: str, named: str) -> None:
    _copy_tree(tmp_path)
    (tmp_path / module).write_text(f'"""A deliberate layer crossing."""\n{line}')
    out = _lint(tmp_path)
    assert out.returncode != 0
    assert named in out.stdout, out.stdout
