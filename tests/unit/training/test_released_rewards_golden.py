"""`rl.rewards.mode: released` equals the release's reward functions on every golden row.

`tests/golden/released_rewards.jsonl` was written by `scripts/golden/released_rewards.py`
running THEIR `reward_func.py` (marinero4972/Open-o3-Video) on generated annotations of
all six tasks and completions with one perturbation each (clean included). Regenerate:
`python scripts/golden/released_rewards.py /path/to/Open-o3-Video`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from training.config import RewardConfig
from training.rewards import make_reward_funcs, score_all
from training.rewards_released import NAMES, TERMS, released_scores

TABLE = Path(__file__).resolve().parents[2] / "golden" / "released_rewards.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in TABLE.read_text().splitlines()]


def test_table_covers_every_task_and_perturbation() -> None:
    assert len(ROWS) >= 600
    tasks = Counter(r["task"] for r in ROWS)
    assert len(tasks) == 6 and min(tasks.values()) >= 100
    cases = {r["case"] for r in ROWS}
    assert {"clean", "letter_form", "box_swapped", "time_malformed", "two_answers",
            "answer_empty", "span_reversed", "box_normalized"} <= cases
    # the table is not degenerate: every released reward is non-zero on some row
    for name in NAMES:
        assert any(r["expected"][name] > 0 for r in ROWS), name


def test_every_row_equal_case_for_case() -> None:
    wrong = []
    for i, row in enumerate(ROWS):
        got = released_scores(row["completion"], row["task"], row["fields"], row["step_percent"])
        if got != row["expected"]:
            wrong.append((i, row["case"], row["task"], got, row["expected"]))
    assert not wrong, f"{len(wrong)} of {len(ROWS)} rows differ; first: {wrong[:3]}"


def _annotation(row: dict[str, Any]) -> str:
    return json.dumps({"task": row["task"], "answer": "", "released": row["fields"]})


class _State:
    def __init__(self, step_percent: float) -> None:
        self.max_steps = 1000
        self.global_step = round(step_percent * 1000) - 1


def test_trl_reward_functions_sum_the_released_rewards() -> None:
    cfg = RewardConfig(mode="released")
    funcs = make_reward_funcs(cfg)
    rows = [r for r in ROWS if r["step_percent"] * 1000 == round(r["step_percent"] * 1000)]
    rows = [r for r in rows if r["step_percent"] >= 0.001][:200]
    for row in rows:
        state = _State(row["step_percent"])
        got = {f.__name__: f(completions=[[{"role": "assistant", "content": row["completion"]}]],
                             annotation=[_annotation(row)], trainer_state=state)[0]
               for f in funcs}
        want = {term: sum(row["expected"][n] for n in names) for term, names in TERMS.items()}
        assert got == pytest.approx(want, abs=1e-12), row["case"]
    assert len(rows) >= 100


def test_score_all_in_released_mode() -> None:
    row = next(r for r in ROWS if r["task"] == "temporal QA (MCQ)" and r["case"] == "clean"
               and r["expected"]["ans_acc"] == 1.0)
    scores = score_all(row["completion"], _annotation(row), RewardConfig(mode="released"),
                       progress=row["step_percent"])
    # the release ADDS letter and span IoU: accuracy may exceed 1 on temporal MCQ
    assert scores["accuracy"] == 1.0 + row["expected"]["ans_tiou"]
