"""Lazy trainer datasets and released key-frame JPEGs, on real generated videos.

- building the dataset for N records opens no video (probe/decode counted) until a row
  is read, and a read decodes only that record;
- a row read lazily equals the eager `build_sample` row (same frames, prompt, target);
- a key frame whose JPEG exists is read from it (resized to the fed size) and the video
  is not decoded at that time; without the file it is decoded from the video.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import training.data as data_module
from training.config import DataConfig
from training.data import SampleError, build_sample, sft_row
from training.lazy_dataset import RECORD_COLUMN, lazy_dataset
from training.records import load_records
from training.synth_records import generate

CFG = DataConfig(num_frames=4, short_video_s=0.0, max_frames=8, max_pixels=112 * 84)
GROUNDED = "temporal-spatial free-form QA"


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lazy")
    generate(out, 12, seed=4)
    return out


class Calls:
    """Counts calls to the sampler functions `training.data` uses (real calls pass on)."""

    def __init__(self) -> None:
        self.probe = 0
        self.decode_times: list[list[float]] = []


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    seen = Calls()
    probe, decode = data_module.probe_video, data_module.decode_at

    def counting_probe(*args: Any) -> Any:
        seen.probe += 1
        return probe(*args)

    def counting_decode(path: Any, info: Any, times: Any, fed: Any) -> Any:
        seen.decode_times.append(list(times))
        return decode(path, info, times, fed)

    monkeypatch.setattr(data_module, "probe_video", counting_probe)
    monkeypatch.setattr(data_module, "decode_at", counting_decode)
    yield seen


def test_building_decodes_nothing_until_rows_are_read(synth_dir: Path, calls: Calls) -> None:
    dataset = lazy_dataset(synth_dir / "STGR-SFT.json", CFG, "sft")
    assert len(dataset) == 12
    assert (calls.probe, calls.decode_times) == (0, [])  # N records, zero video opened
    row = dataset[0]  # record 0 is a video task (synth cycles tasks from a video one)
    assert calls.probe == 1 and len(calls.decode_times) == 1
    assert set(row) == {"prompt", "completion", "images"}
    assert all(isinstance(im, Image.Image) for im in row["images"])


def test_dataset_stores_record_text_not_frames(synth_dir: Path) -> None:
    # memory guard: the Arrow table is the records' JSON, so it scales with text only
    dataset = lazy_dataset(synth_dir / "STGR-RL.json", CFG, "rl")
    assert dataset.column_names == [RECORD_COLUMN]
    text_bytes = sum(len(t) for t in dataset.with_format(None)[RECORD_COLUMN])
    assert dataset.data.nbytes < 2 * text_bytes + 4096


def test_lazy_row_equals_eager_row(synth_dir: Path) -> None:
    records = load_records(synth_dir / "STGR-SFT.json", kind="sft")
    dataset = lazy_dataset(synth_dir / "STGR-SFT.json", CFG, "sft")
    for i in (0, 5):  # a video task and the image (visual QA) task
        eager = sft_row(build_sample(records[i], CFG, synth_dir, "sft"))
        lazy = dataset[i]
        assert lazy["prompt"] == eager["prompt"] and lazy["completion"] == eager["completion"]
        assert [np.asarray(a).tolist() == np.asarray(b).tolist()
                for a, b in zip(lazy["images"], eager["images"], strict=True)] == [True] * len(
                    eager["images"])


def test_missing_media_fails_at_build_naming_the_record(synth_dir: Path, tmp_path: Path) -> None:
    raw = json.loads((synth_dir / "STGR-RL.json").read_text())
    raw[2]["video_path"] = "videos/nowhere.mp4"
    (tmp_path / "STGR-RL.json").write_text(json.dumps(raw))
    cfg = DataConfig(num_frames=4, default_root=str(synth_dir))
    with pytest.raises(SampleError, match=f"record {raw[2]['id']}"):
        lazy_dataset(tmp_path / "STGR-RL.json", cfg, "rl")


# ---- released key-frame JPEGs -----------------------------------------------------------


def _grounded_with_jpeg(synth_dir: Path, tmp_path: Path,
                        make: Callable[[Path], None] | None) -> tuple[Any, float]:
    """The grounded record, its key frame pointed at tmp_path/kf.jpg (written by `make`)."""
    raw = next(r for r in json.loads((synth_dir / "STGR-SFT.json").read_text())
               if r["task"] == GROUNDED)
    raw["key_frames"][0]["path"] = "kf.jpg"
    if make is not None:
        make(tmp_path / "kf.jpg")
    (tmp_path / "STGR-SFT.json").write_text(json.dumps([raw]))
    record = load_records(tmp_path / "STGR-SFT.json", kind="sft")[0]
    return record, raw["key_frames"][0]["time"]


MAGENTA = (255, 0, 255)  # in no synthetic video: a frame of it can only come from the JPEG


def test_existing_key_frame_jpeg_is_used_resized(
    synth_dir: Path, tmp_path: Path, calls: Calls
) -> None:
    def make(path: Path) -> None:
        Image.new("RGB", (320, 240), MAGENTA).save(path, quality=95)

    record, key_time = _grounded_with_jpeg(synth_dir, tmp_path, make)
    cfg = DataConfig(num_frames=4, short_video_s=0.0, max_frames=8, max_pixels=112 * 84,
                     default_root=str(synth_dir))
    sample = build_sample(record, cfg, tmp_path, "sft")
    i = sample.meta.times.index(key_time)  # labelled with the annotated time
    image = sample.images[i]
    assert image.size == sample.meta.fed_size  # same fit_size as the decoded frames
    assert np.abs(np.asarray(image).astype(int) - MAGENTA).max() < 8
    assert all(key_time not in times for times in calls.decode_times)  # not decoded
    others = [im for k, im in enumerate(sample.images) if k != i]
    assert all(np.abs(np.asarray(im).astype(int) - MAGENTA).max() > 100 for im in others)


def test_missing_key_frame_jpeg_is_decoded_from_the_video(
    synth_dir: Path, tmp_path: Path, calls: Calls
) -> None:
    record, key_time = _grounded_with_jpeg(synth_dir, tmp_path, None)
    cfg = DataConfig(num_frames=4, short_video_s=0.0, max_frames=8, max_pixels=112 * 84,
                     default_root=str(synth_dir))
    sample = build_sample(record, cfg, tmp_path, "sft")
    assert any(key_time in times for times in calls.decode_times)
    i = min(range(len(sample.meta.times)), key=lambda k: abs(sample.meta.times[k] - key_time))
    assert abs(sample.meta.times[i] - key_time) < 0.051  # the decoded frame's own time
    assert np.abs(np.asarray(sample.images[i]).astype(int) - MAGENTA).max() > 100


def test_rows_are_built_in_dataloader_workers(synth_dir: Path, calls: Calls) -> None:
    # the transform runs in the worker process: the parent decodes nothing
    from torch.utils.data import DataLoader

    dataset = lazy_dataset(synth_dir / "STGR-RL.json", CFG, "rl")
    # spawned, not forked: a fork of this multi-threaded test process (OpenMP, decode
    # pools of earlier tests) once hung the worker for 300 s on a loaded machine
    loader = DataLoader(dataset, batch_size=3, num_workers=1, collate_fn=list,
                        multiprocessing_context="spawn")
    rows = [row for batch in loader for row in batch]
    assert [r["task"] for r in rows] == [r.task for r in load_records(
        synth_dir / "STGR-RL.json", kind="rl")]
    assert (calls.probe, calls.decode_times) == (0, [])
