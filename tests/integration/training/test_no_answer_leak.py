"""No held-out prompt shows an answer time the service would not show (issue 12).

The synthetic generator puts a temporal record's key frames at the ends of its answer
span, exactly where an annotation-aware prompt would leak the answer as frame labels.
These tests build real samples (PyAV decoding of generated videos) and compare them with
what the service builds for the same video and question (`service.video.sample_video`
+ `build_prompt`, as `service.inference.pipeline` calls them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.grounding.prompt import DATASET_TASKS, build_prompt
from service.grounding.types import Prompt, TextPart
from service.video.sampler import sample_video
from training.config import DataConfig
from training.data import (
    SampleError,
    build_sample,
    frame_policy,
    parse_span,
    resolve_media,
    wants_duration_line,
)
from training.records import GROUNDED_TASKS, TEMPORAL_TASKS, load_records, validate_record
from training.synth_records import generate

CFG = DataConfig(num_frames=4, short_video_s=0.0, max_frames=8, max_pixels=112 * 84)
LABEL = re.compile(r"Frame \d+ at ([0-9.]+)s: ")


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("heldout")
    generate(out, 18, seed=1)  # three of each of the six tasks
    return out / "STGR-RL.json"


def _text(prompt: Prompt) -> str:
    return "".join(p.text for p in prompt.user if isinstance(p, TextPart))


def _label_times(prompt: Prompt) -> set[float]:
    return {float(t) for t in LABEL.findall(_text(prompt))}


def _served_prompt(record: object, path: Path) -> Prompt:
    """What the service builds for this video and question (pipeline._sample)."""
    meta = sample_video(path, frame_policy(CFG)).frameset.meta
    return build_prompt(record.question, meta.times,  # type: ignore[attr-defined]
                        task=DATASET_TASKS[record.task],  # type: ignore[attr-defined]
                        duration=meta.duration,
                        add_duration_line=wants_duration_line(record, CFG))  # type: ignore[arg-type]


def test_heldout_prompts_equal_the_served_prompts(heldout: Path) -> None:
    records = [r for r in load_records(heldout, kind="rl") if r.is_video]
    assert {r.task for r in records} == set(DATASET_TASKS)
    for record in records:
        path = resolve_media(record, CFG, heldout.parent)
        evaluated = build_sample(record, CFG, heldout.parent, "rl", served=True)
        assert evaluated.prompt == _served_prompt(record, path), record.id


def test_no_heldout_prompt_shows_an_answer_time_serving_would_not(heldout: Path) -> None:
    checked = 0
    for record in load_records(heldout, kind="rl"):
        if record.task not in TEMPORAL_TASKS:
            continue
        span = parse_span(record.answer)
        assert span is not None
        ends = {round(span[0], 1), round(span[1], 1)}
        served = _label_times(_served_prompt(record, resolve_media(record, CFG, heldout.parent)))
        for served_flag in (True, False):  # the eval path AND the training prompt
            sample = build_sample(record, CFG, heldout.parent, "rl", served=served_flag)
            shown = _label_times(sample.prompt)
            assert shown == served, record.id
            assert (ends & shown) <= (ends & served), record.id
        # the records are built to leak if key frames went in: their key times ARE the ends
        assert {round(kf.time, 1) for kf in record.key_frames} == ends
        checked += 1
    assert checked == 6


def test_training_inserts_key_frames_only_for_grounded_qa(heldout: Path) -> None:
    for record in load_records(heldout, kind="rl"):
        if not record.is_video or not record.key_frames:
            continue
        sample = build_sample(record, CFG, heldout.parent, "rl")
        served = _served_prompt(record, resolve_media(record, CFG, heldout.parent))
        if record.task in GROUNDED_TASKS:
            whole = {float(round(kf.time)) for kf in record.key_frames}
            assert whole <= set(sample.meta.times), record.id  # labelled in whole seconds
            assert len(sample.meta.times) > len(_label_times(served))
        else:
            assert sample.prompt == served, record.id


def test_key_frame_past_the_end_is_refused_naming_the_record(heldout: Path) -> None:
    raw = next(r for r in load_records(heldout, kind="rl") if r.task in GROUNDED_TASKS)
    data = raw.model_dump()
    data["id"] = "late-1"
    data["key_frames"] = [{**data["key_frames"][0], "time": 99.0}]
    data["key_items"] = {str(data["key_frames"][0]["idx"]): {}}
    record = validate_record(data, kind="rl")
    with pytest.raises(SampleError, match=r"record late-1: key frame .* past the end"):
        build_sample(record, CFG, heldout.parent, "rl")
