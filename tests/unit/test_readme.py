"""The README's promises: two set-up commands, CI runs the test one, every setting listed."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_quick_start_has_exactly_the_two_setup_commands() -> None:
    # guards: a newcomer runs exactly these two; a third would mean a hidden step
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in block.strip().splitlines()]
    assert commands == ["bash scripts/serve.sh", "bash scripts/test.sh"]


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    # guards: CI and a developer must run the same thing
    lines = [ln for ln in (ROOT / ".ci/run").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[-1].strip() == "exec bash scripts/test.sh"


def test_every_setting_is_in_the_configuration_table() -> None:
    # guards: a new setting without documentation (the table comes from
    # scripts/config_table.py)
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(O3_[A-Z0-9_]+)`", table))
    expected = {f"O3_{name.upper()}" for name in Settings.model_fields}
    assert expected - listed == set(), "run scripts/config_table.py and update README"
    assert listed - expected == set(), "README documents settings that no longer exist"


def test_training_block_installs_the_train_extra_first() -> None:
    # guards: the README's training commands work from a fresh clone (issue 12): every
    # `python -m training` runs through scripts/train.sh, which installs the train extra
    block = README.split("## Training", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in block.strip().splitlines()]
    training = [c for c in commands if "serve.sh" not in c]
    assert training and all(c.startswith("bash scripts/train.sh ") for c in training)
    script = (ROOT / "scripts" / "train.sh").read_text()
    assert 'ensure_venv "${O3_TRAIN_EXTRAS:-local,train}"' in script
    assert "exec .venv/bin/python -m training" in script
