"""The Docker build context: .dockerignore keeps what the Dockerfile COPYs, drops the rest,
and the package builds from exactly that context (the image's `pip install .` step).

`dockerignore_included` follows Docker's rules: patterns in order, the last match wins,
`!` re-includes, `*` does not cross `/`, `**` does, a pattern matching a directory
matches everything under it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.unit.deploy.loaders import REPO, dockerfile_stages


def _pattern(p: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/?|\*|\?)", p.strip("/"))
    table = {"**": ".*", "**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    body = "".join(table.get(part, re.escape(part)) for part in parts)
    return re.compile(rf"^{body}(?:/.*)?$")


def dockerignore_included(paths: list[str], rules_text: str) -> set[str]:
    rules = [(line.startswith("!"), _pattern(line.lstrip("!")))
             for line in (raw.strip() for raw in rules_text.splitlines())
             if line and not line.startswith("#")]
    included = set()
    for path in paths:
        keep = True
        for negated, pattern in rules:
            if pattern.match(path):
                keep = negated
        if keep:
            included.add(path)
    return included


RULES = (REPO / ".dockerignore").read_text()


@pytest.mark.parametrize(("path", "kept"), [
    ("pyproject.toml", True),  # pip install . needs it
    ("README.md", True),  # pyproject's readme
    ("service/app.py", True),  # the package
    ("service/web/index.html", True),  # package data served at /
    ("service/inference/tiny.py", True),  # the tiny-checkpoint builder (the package)
    (".env", False),  # secrets never enter the image
    (".venv/bin/python", False),  # the host's virtualenv
    ("data/videos/abc.mp4", False),  # uploaded videos
    ("tests/unit/deploy/test_k8s.py", False),  # tests are not shipped
    ("service/__pycache__/app.cpython-311.pyc", False),  # bytecode of the host
])
def test_dockerignore_keeps_exactly_the_package(path: str, kept: bool) -> None:
    assert (path in dockerignore_included([path], RULES)) is kept


def test_matcher_can_say_no() -> None:
    # an empty .dockerignore keeps everything, including secrets
    assert ".env" in dockerignore_included([".env"], "")
    # re-including after an exclude-all works in order
    assert dockerignore_included(["a/b", "c"], "**\n!a/") == {"a/b"}


def _copied_sources() -> list[str]:
    stages = dockerfile_stages((REPO / "Dockerfile").read_text())
    sources = []
    for stage in stages:
        for arg in stage.args("COPY"):
            words = [w for w in arg.split() if not w.startswith("--")]
            if "--from=" not in arg:
                sources += words[:-1]
    return sources


def test_every_copied_source_survives_the_dockerignore() -> None:
    sources = _copied_sources()
    assert sources, "the Dockerfile copies nothing from the context"
    dropped = [s for s in sources if s not in dockerignore_included([s], RULES)]
    assert dropped == []


def test_package_builds_from_the_build_context(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    context = tmp_path / "context"
    for path in dockerignore_included(tracked, RULES):
        if (REPO / path).is_file():
            (context / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, context / path)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"service/__main__.py", "service/settings.py", "service/web/index.html"} <= names
    assert not any(n.startswith("tests/") for n in names)
