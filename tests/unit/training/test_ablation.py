"""The ablation's rows: what differs between SFT+GRPO and SFT+GSPO, and the table."""

from __future__ import annotations

from typing import Any

import pytest

from training.ablation import ROWS, ablation_table
from training.config import config_to_dict, load_config
from training.evaluate import EvalReport, paired_delta

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


def _report(*totals: tuple[float, float]) -> EvalReport:
    """A report whose rows have the given (accuracy, temporal) per record."""
    rows = [{"accuracy": a, "format": 1.0, "temporal": t, "spatial": 0.0} for a, t in totals]
    means = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
    return EvalReport(n=len(rows), means=means, rows=rows)


DELTAS = [
    # the same scores: no change, no spread
    (((1, 0), (0, 0)), ((1, 0), (0, 0)), 0.0, 0.0),
    # every record up by 0.5: a sure change (SE 0), whatever the records' own spread
    (((1, 0), (0, 0)), ((1, 0.5), (0, 0.5)), 0.5, 0.0),
    # one up 1, one down 1: mean 0, SE = sd(+1, -1) / sqrt(2) = sqrt(2) / sqrt(2) = 1
    (((0, 0), (1, 0)), ((1, 0), (0, 0)), 0.0, 1.0),
]


@pytest.mark.parametrize(("base", "other", "mean", "se"), DELTAS)
def test_paired_delta_table(base: Any, other: Any, mean: float, se: float) -> None:
    assert paired_delta(_report(*base), _report(*other)) == pytest.approx((mean, se))


def test_paired_delta_refuses_different_records() -> None:
    with pytest.raises(ValueError, match="same non-empty records"):
        paired_delta(_report((1, 0)), _report((1, 0), (0, 0)))


def test_ablation_table_has_one_row_per_run_with_total_and_paired_delta() -> None:
    reports = {"SFT only": _report((0.5, 0.0), (0.5, 0.5)),
               "SFT+GSPO": _report((1.0, 0.5), (0.5, 0.5))}
    lines = ablation_table(reports).splitlines()
    assert lines[0].split()[:6] == ["run", "accuracy", "format", "temporal", "spatial", "total"]
    assert lines[1].split()[-5:] == ["0.500", "1.000", "0.250", "0.000", "1.750"]
    # GSPO: totals 2.5 and 2.0 vs 1.5 and 2.0 -> deltas +1, 0 -> mean 0.5,
    # SE = sd(1, 0) / sqrt(2) = 0.707 / 1.414 = 0.5
    assert lines[2].split()[0] == "SFT+GSPO" and lines[2].split()[-4:] == [
        "2.250", "+0.500", "+-", "0.500"]


def _tasked(task: str, *totals: tuple[float, float]) -> EvalReport:
    r = _report(*totals)
    r.tasks = [task] * len(r.rows)
    r.by_task = {task: r.means}
    return r


def test_seed_mean_is_per_record_and_summary_pairs_against_constant_and_sft(
    tmp_path: Any,
) -> None:
    from training.ablation import Results, seed_mean, summary_table

    s0 = _tasked("temporal QA", (0.0, 0.0), (1.0, 0.0))
    s1 = _tasked("temporal QA", (1.0, 0.0), (1.0, 0.0))
    mean = seed_mean([s0, s1])
    assert [r["accuracy"] for r in mean.rows] == [0.5, 1.0]
    constant = _tasked("temporal QA", (0.5, 0.0), (0.5, 0.0))
    seeded = {0: {"SFT only": s0, "SFT+GSPO": s1}, 1: {"SFT only": s1, "SFT+GSPO": s1}}
    table = summary_table({"constant": constant}, seeded)
    lines = {ln.split(" | ")[0].strip("| "): ln for ln in table.splitlines()[2:]}
    # SFT only vs constant: per-record seed means (0.5, 1.0) - (0.5, 0.5) = (0, 0.5)
    # -> mean +0.25, SE = sd(0, 0.5) / sqrt(2) = 0.25
    assert "+0.250 +- 0.250" in lines["SFT only"]
    assert lines["SFT only"].split(" | ")[1] == "2"  # two seeds
    # GSPO (1, 1) in both seeds vs SFT's seed means (0.5, 1.0): (0.5, 0) -> +0.25 +- 0.25
    assert lines["SFT+GSPO"].rstrip(" |").endswith("+0.250 +- 0.250")
    # saved and loaded back: a resumed run has every report
    state = Results(tmp_path)
    state.add(None, "constant", constant)
    state.add(0, "SFT only", s0, seconds=1.5)
    again = Results(tmp_path)
    again.load()
    assert again.baselines["constant"].rows == constant.rows
    assert again.seeded[0]["SFT only"].tasks == s0.tasks
    assert again.seconds == {"seed0/SFT only": 1.5}


def test_merge_adds_the_seeds_run_elsewhere(tmp_path: Any) -> None:
    from training.ablation import Results, merge_ablations

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first, second = Results(a), Results(b)
    first.add(None, "constant", _tasked("visual QA", (0.5, 0.0)))
    first.add(0, "SFT only", _tasked("visual QA", (0.25, 0.0)), seconds=3.0)
    second.add(1, "SFT only", _tasked("visual QA", (0.75, 0.0)), seconds=4.0)
    table = merge_ablations(a, [b])
    row = next(ln for ln in table.splitlines() if ln.startswith("| SFT only"))
    assert row.split(" | ")[1] == "2"  # both seeds
    merged = Results(a)
    merged.load()
    assert sorted(merged.seeded) == [0, 1] and merged.seconds["b:seed1/SFT only"] == 4.0


def test_modal_constant_answers_the_most_frequent_box_and_span() -> None:
    from collections import Counter

    from training.baselines import constant_trace

    st = {"spans": [(1.0, 1.9), (3.0, 4.9), (3.0, 4.9)],
          "gt_boxes": [(0.0, 0.0, 10.0, 10.0), (20.0, 20.0, 30.0, 30.0),
                       (20.0, 20.0, 30.0, 30.0)],
          "letters": Counter(), "answers": Counter(), "key_boxes": [], "key_times": []}
    assert "[20,20,30,30]" in constant_trace("visual QA", st, "mode")
    assert "[13,13,23,23]" in constant_trace("visual QA", st)  # the mean
    assert "<t>3.0</t>s to <t>4.9</t>s" in constant_trace("temporal QA", st, "mode")
