"""The ablation's rows: what differs between SFT+GRPO and SFT+GSPO, and the table."""

from __future__ import annotations

from typing import Any

from training.ablation import ROWS, ablation_table
from training.config import config_to_dict, load_config
from training.evaluate import EvalReport

BASE = ["model=/nowhere", "data.rl_json=/nowhere.json"]


def _rl(extra: tuple[str, ...]) -> dict[str, Any]:
    rl: dict[str, Any] = config_to_dict(load_config("cpu-ablation", [*BASE, *extra]))["rl"]
    return rl


def test_rl_rows_differ_only_in_ratio_level_and_clip() -> None:
    rows = dict(ROWS)
    grpo, gspo = _rl(rows["SFT+GRPO"]), _rl(rows["SFT+GSPO"])
    # GRPO: token-level ratios with its usual 0.2 clip; GSPO: sequence-level, paper clip
    assert (grpo["importance_sampling_level"], grpo["epsilon"], grpo["epsilon_high"]) == (
        "token", 0.2, 0.2)
    assert (gspo["importance_sampling_level"], gspo["epsilon"], gspo["epsilon_high"]) == (
        "sequence", 3e-4, 4e-4)
    differing = {k for k in grpo if grpo[k] != gspo[k]}
    assert differing == {"importance_sampling_level", "epsilon", "epsilon_high"}
    # more than one update per rollout batch: otherwise both ratios are exactly 1 and
    # the two objectives give the same gradient, so the comparison would be empty
    assert gspo["updates_per_generation"] > 1
    assert dict(ROWS)["SFT only"] == ()


def test_ablation_table_has_one_row_per_run_with_the_total() -> None:
    reports = {
        "SFT only": EvalReport(n=2, means={"accuracy": 0.5, "format": 1.0, "temporal": 0.25,
                                           "spatial": 0.0}),
        "SFT+GSPO": EvalReport(n=2, means={"accuracy": 0.75, "format": 1.0, "temporal": 0.5,
                                           "spatial": 0.125}),
    }
    lines = ablation_table(reports).splitlines()
    assert lines[0].split() == ["run", "accuracy", "format", "temporal", "spatial", "total"]
    assert lines[1].split()[-5:] == ["0.500", "1.000", "0.250", "0.000", "1.750"]
    assert lines[2].split()[0] == "SFT+GSPO" and lines[2].split()[-1] == "2.375"
