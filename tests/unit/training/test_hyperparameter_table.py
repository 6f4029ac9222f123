"""docs/TRAINING.md's hyper-parameter table against the shipped configs (issue 12).

Each row names a config key, the release's value and source, our `released.yaml` value,
the paper's value and source, and our `paper.yaml` value. The configs must hold exactly
the documented values, and `released.yaml` must hold the release's value on every row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from training.config import RunConfig, load_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "TRAINING.md"
ROW = re.compile(r"^\| `(?P<key>[a-z_.]+)` \|(?P<rest>.*)\|\s*$")


def _cells(line: str) -> list[str]:
    body = line.strip().strip("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def table() -> list[dict[str, str]]:
    text = DOC.read_text()
    start = text.index("## Hyper-parameters")
    rows = []
    for line in text[start:].splitlines():
        m = ROW.match(line)
        if m:
            key, release, source, released, paper, paper_source, paper_yaml = _cells(line)
            rows.append({"key": key.strip("`"), "release": release, "source": source,
                         "released": released, "paper": paper, "paper_source": paper_source,
                         "paper_yaml": paper_yaml})
        elif rows and not line.startswith("|"):
            break
    return rows


def _value(cfg: RunConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _scalar(cell: str) -> Any:
    return yaml.safe_load(cell)


ROWS = table()


def test_table_is_complete() -> None:
    keys = {r["key"] for r in ROWS}
    assert len(ROWS) >= 45 and len(keys) == len(ROWS)
    # the list: per-step batch, schedules, masking, clip, KL, lengths
    for key in ("rl.global_batch_size", "sft.lr_scheduler", "rl.lr_scheduler", "sft.loss",
                "rl.epsilon", "rl.epsilon_high", "rl.beta", "rl.max_completion_length"):
        assert key in keys, key
    for row in ROWS:
        assert row["source"] and row["paper_source"], row["key"]


@pytest.mark.parametrize("row", ROWS, ids=[r["key"] for r in ROWS])
def test_configs_hold_the_documented_values(row: dict[str, str]) -> None:
    released, paper = load_config("released"), load_config("paper")
    assert _value(released, row["key"]) == _scalar(row["released"])
    assert _value(paper, row["key"]) == _scalar(row["paper_yaml"])
    # released.yaml is the release: every row
    assert _scalar(row["release"]) == _scalar(row["released"])
    # paper.yaml is the paper's column
    assert _scalar(row["paper"]) == _scalar(row["paper_yaml"])


def test_released_rl_step_is_32_completions_on_8_gpus() -> None:
    rl = load_config("released").rl
    assert rl.grad_accum(8) == 1  # 8 x 4 = 32: one optimizer step per generation batch
    assert rl.global_batch_size // rl.num_generations == 8  # prompts per step
