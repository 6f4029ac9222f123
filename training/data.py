"""Training samples from STGR records: frames, prompt, SFT target, RL annotation (SPEC 5).

Owns: resolving a record's media path per `source`, choosing frame times (the sampler's
uniform times, plus the annotated key frames for grounded records), converting every
box of a record to fed-frame pixels, and turning a record into a TRL row.

Invariants:
- Frames come from `service.video` (`sample_video`, or probe/choose_times/fit_size/
  decode_at when key frames are inserted) and the prompt from
  `service.grounding.prompt.build_prompt`. Nothing here imports PyAV.
- Key frames are inserted ONLY for `temporal-spatial free-form QA`, as the released code
  does, labelled with their annotated time rounded to whole seconds (released RL:
  `round(time)`). Every other task gets exactly the service's frames: a temporal
  record's key frames sit at its answer's ends and would give the answer away.
- `build_sample(served=True)` (evaluation) builds exactly the service's prompt for the
  video and question: no key frames, whatever the task.
- A key frame past the video's end is refused (`SampleError` naming the record), never
  clamped. A key frame replaces a uniform frame within half a native frame interval,
  so a time never appears twice.
- A key frame whose released JPEG (`key_frames[i].path`) exists is read from that file,
  resized (bicubic) to the video's fed size; otherwise it is decoded from the video at
  its annotated time.
- Every box a sample carries (SFT target text: reasoning AND answer, RL annotation) is
  in fed-frame pixels, whatever its source unit: normalized [0, 1], image pixels
  (`image_size`, visual QA) or original display pixels (video).
- `visual QA` records get the builder's image-only prompt (`build_image_prompt`).
- The annotation also carries the record's raw fields as the released reward code
  reads them (`released`), for `rl.rewards.mode: released`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from service.grounding import grammar
from service.grounding.geometry import denormalize_box, display_to_fed, scale_box
from service.grounding.parser import normalize_mcq_letter
from service.grounding.prompt import (
    DATASET_TASKS,
    build_image_prompt,
    build_prompt,
    option_letters_in,
    to_hf_messages,
)
from service.grounding.types import Box, FrameSetMeta, Prompt, TaskType
from service.video.decode import decode_at
from service.video.policy import FramePolicy, choose_times, fit_size
from service.video.probe import VideoInfo, probe_video
from service.video.sampler import sample_video
from training.annotation import Annotation, as_box
from training.config import DataConfig
from training.records import (
    GROUNDED_TASKS,
    MCQ_TASKS,
    TEMPORAL_TASKS,
    RecordKind,
    STGRRecord,
    load_records,
)

_LIST_SPAN = re.compile(rf"\[\s*({grammar.NUMBER.pattern})\s*,\s*({grammar.NUMBER.pattern})\s*\]")


class SampleError(ValueError):
    """A record cannot be turned into a sample (missing video, bad answer...)."""


@dataclass(frozen=True)
class Sample:
    """One record made ready for a trainer."""

    record_id: str
    task: str
    prompt: Prompt
    images: tuple[Image.Image, ...]
    meta: FrameSetMeta
    target: str | None          # SFT completion text, None for RL
    annotation: str             # JSON read by training.rewards


# ---- media ------------------------------------------------------------------------


def resolve_media(record: STGRRecord, cfg: DataConfig, base_dir: Path) -> Path:
    """`video_roots[source]` (or `default_root`, or the JSON file's dir) / the record path."""
    rel = record.video_path if record.is_video else record.image_path
    assert rel is not None  # guaranteed by STGRRecord validation
    root = cfg.video_roots.get(record.source) or cfg.default_root
    root_path = Path(root) if root else base_dir
    path = Path(rel) if Path(rel).is_absolute() else root_path / rel
    if not path.exists():
        where = f"video_roots[{record.source!r}]" if record.source in cfg.video_roots else (
            "data.default_root" if cfg.default_root else "the JSON file's directory")
        raise SampleError(f"record {record.id}: media file {path} not found (resolved from "
                          f"{where}; set data.video_roots for source {record.source!r})")
    return path


def frame_policy(cfg: DataConfig) -> FramePolicy:
    return FramePolicy(
        num_frames=cfg.num_frames, short_video_s=cfg.short_video_s, short_fps=cfg.short_fps,
        min_frames=cfg.min_frames, max_frames=cfg.max_frames,
        min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels,
    )


def merge_key_times(
    uniform: Sequence[float], key_times: Sequence[float], fps: float, max_frames: int
) -> list[float]:
    """Uniform times with key times inserted; a uniform time within half a frame of a key
    time is replaced by it; uniform times are dropped (farthest-from-nothing last) to fit."""
    half = 0.5 / fps if fps > 0 else 0.0
    keys = sorted(set(key_times))
    kept = [t for t in uniform if all(abs(t - k) > half for k in keys)]
    while len(kept) + len(keys) > max_frames and kept:
        # drop the uniform frame closest to a key frame: it adds the least new view
        kept.remove(min(kept, key=lambda t: min(abs(t - k) for k in keys)))
    return sorted(kept + keys)[:max_frames]


def key_frame_files(record: STGRRecord, cfg: DataConfig, base_dir: Path) -> dict[float, Path]:
    """Key-frame time -> its released JPEG, for the key frames whose file exists.

    A relative `path` is looked up under the record's media root, then the JSON's dir.
    """
    root = cfg.video_roots.get(record.source) or cfg.default_root
    bases = [Path(root)] if root else []
    found: dict[float, Path] = {}
    for kf in record.key_frames:
        if not kf.path:
            continue
        rel = Path(kf.path)
        candidates = [rel] if rel.is_absolute() else [b / rel for b in (*bases, base_dir)]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is not None:
            found[kf.time] = hit
    return found


def load_key_frame(path: Path, fed: tuple[int, int]) -> Image.Image:
    """A released key-frame image, RGB, resized (bicubic) to the fed size."""
    with Image.open(path) as img:
        return img.convert("RGB").resize(fed, Image.Resampling.BICUBIC)


def key_label_time(t: float) -> float:
    """A key frame's label time: its annotated time rounded to whole seconds, as the
    released RL code writes it (`round(key_frame["time"])`, Python's round-half-even)."""
    return float(round(t))


def check_key_frames(record: STGRRecord, duration: float) -> None:
    """Refuse key frames past the video's end (a time no frame of the video has)."""
    for kf in record.key_frames:
        if kf.time > duration:
            raise SampleError(
                f"record {record.id}: key frame idx {kf.idx} at {kf.time}s is past the end "
                f"of the video ({duration:.3f}s); fix the record's key_frames")


def video_frames(
    path: Path, cfg: DataConfig, key_times: Sequence[float],
    key_files: Mapping[float, Path] | None = None, info: VideoInfo | None = None,
) -> tuple[list[Image.Image], FrameSetMeta]:
    """Uniform frames plus key frames labelled at their whole-second time.

    A key frame in `key_files` (annotated time -> JPEG) comes from its file; the others
    are decoded from the video at their annotated time. `key_times` must lie in the video.
    """
    info = info or probe_video(path)
    uniform = choose_times(info, frame_policy(cfg))
    source = {key_label_time(k): k for k in sorted(key_times, reverse=True)}
    labels = merge_key_times(uniform, list(source), info.fps, cfg.max_frames)
    fed = fit_size(*info.display_size, cfg.min_pixels, cfg.max_pixels)
    files = key_files or {}
    plan = [(t, source.get(t)) for t in labels]  # (label, annotated key time or None)
    to_decode = sorted({t if k is None else k for t, k in plan if k is None or k not in files})
    decoded = dict(zip(to_decode, decode_at(path, info, to_decode, fed)[0], strict=True))
    frames: list[tuple[float, Image.Image]] = []
    for t, k in plan:
        if k is not None and k in files:
            frames.append((t, load_key_frame(files[k], fed)))
        elif k is not None:
            frames.append((t, decoded[k].image))
        else:
            got = decoded[t]
            frames.append((got.time, got.image))
    return [img for _, img in frames], _meta(info, fed, [t for t, _ in frames])


def served_frames(
    path: Path, cfg: DataConfig, info: VideoInfo | None = None
) -> tuple[list[Image.Image], FrameSetMeta]:
    """Exactly the frames the service feeds for this video: `service.video.sample_video`
    with the config's policy, no annotation of any kind."""
    sampled = sample_video(path, frame_policy(cfg), info=info)
    return list(sampled.frameset.frames), sampled.frameset.meta


def _meta(info: VideoInfo, fed: tuple[int, int], times: Sequence[float]) -> FrameSetMeta:
    return FrameSetMeta(times=tuple(times), fed_size=fed, orig_size=(info.width, info.height),
                        rotation=info.rotation, duration=info.duration)


def image_frame(path: Path, cfg: DataConfig) -> tuple[list[Image.Image], FrameSetMeta]:
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    lo, hi = cfg.image_min_pixels or cfg.min_pixels, cfg.image_max_pixels or cfg.max_pixels
    fed = fit_size(rgb.width, rgb.height, lo, hi)
    resized = rgb.resize(fed, Image.Resampling.BICUBIC)
    meta = FrameSetMeta(times=(0.0,), fed_size=fed, orig_size=rgb.size, duration=0.0)
    return [resized], meta


# ---- answers and boxes ------------------------------------------------------------


def parse_span(text: str) -> tuple[float, float] | None:
    """A span written as `[s, e]` or `From <t>s</t>s to <t>e</t>s`."""
    tagged = grammar.TEMPORAL_SPAN.search(text)
    listed = None if tagged else _LIST_SPAN.search(text)
    if tagged:
        a, b = grammar.span_ends(tagged)  # named groups; clock ends converted
    elif listed:
        a, b = float(listed.group(1)), float(listed.group(2))
    else:
        return None
    return (min(a, b), max(a, b))


def canonical_answer(record: STGRRecord) -> tuple[str, str | None, tuple[float, float] | None]:
    """(answer text the model should write, MCQ letter, temporal span) for a record."""
    raw = record.answer.strip()
    if record.task in TEMPORAL_TASKS:
        span = parse_span(raw)
        if span is None:
            raise SampleError(f"record {record.id}: temporal answer {raw!r} has no [start, end]")
        if record.task == "temporal QA":
            return grammar.format_temporal_answer(*span), None, span
        letter = normalize_mcq_letter(raw.splitlines()[0]) or _correct_option(raw)
        if letter is None:
            raise SampleError(f"record {record.id}: temporal MCQ answer {raw!r} has no letter")
        return grammar.format_temporal_mcq_answer(*span, letter), letter, span
    if record.task in MCQ_TASKS:
        letter = normalize_mcq_letter(raw)
        if letter is None:
            raise SampleError(f"record {record.id}: MCQ answer {raw!r} has no option letter")
        return raw, letter, None
    return raw, None, None


def _correct_option(raw: str) -> str | None:
    match = grammar.CORRECT_OPTION.search(raw)
    return normalize_mcq_letter(raw[match.end():].strip()) if match else None


def rewrite_boxes(text: str, to_fed: Any) -> str:
    """Rewrite every `<box>[..]</box>` in `text` with `to_fed(box) -> Box | None`."""

    def sub(match: re.Match[str]) -> str:
        nums = grammar.NUMBER.findall(match.group("coords") or "")
        if not match.group("box") or len(nums) != 4:
            return match.group(0)
        fed = to_fed(tuple(float(n) for n in nums))
        return match.group(0) if fed is None else f"<box>{grammar.format_box(fed)}</box>"

    return grammar.EVIDENCE_TAG.sub(sub, text)


def normalized_to_fed(size: tuple[int, int]) -> Any:
    """Box map: normalized [0, 1] -> fed pixels; pixel boxes left as they are."""
    return lambda b: denormalize_box(b, size) if max(b) <= 1.0 else None


def _is_normalized(box: Box) -> bool:
    return max(box) <= 1.0


def image_answer_to_fed(record: STGRRecord, fed: tuple[int, int]) -> Any:
    """Box map for visual-QA text (answer AND reasoning): `image_size` pixels (the
    released data's unit, scaled to the fed image as the released SFT collator does for
    the whole text) or normalized [0, 1] -> fed pixels."""
    def convert(box: Box) -> Box:
        if _is_normalized(box):
            return denormalize_box(box, fed)
        w, h = record.image_size or fed
        return scale_box(box, fed[0] / w, fed[1] / h)
    return convert


def video_box_to_fed(meta: FrameSetMeta) -> Any:
    """Box map for video reasoning: normalized [0, 1] (the released data's unit) or
    pixels of the original video in display orientation -> fed pixels."""
    def convert(box: Box) -> Box:
        if _is_normalized(box):
            return denormalize_box(box, meta.fed_size)
        return display_to_fed(box, meta.display_size, meta.fed_size)
    return convert


def text_box_map(record: STGRRecord, meta: FrameSetMeta) -> Any:
    """The box map for every box written in this record's text, whatever its unit."""
    if record.is_video:
        return video_box_to_fed(meta)
    return image_answer_to_fed(record, meta.fed_size)


def sft_target(record: STGRRecord, meta: FrameSetMeta) -> str:
    """`<think>{reasoning}</think>\n<answer>{answer}</answer>`, every box in fed pixels."""
    to_fed = text_box_map(record, meta)
    think = rewrite_boxes((record.reasoning_process or "").strip(), to_fed)
    answer, _, _ = canonical_answer(record)
    return grammar.format_trace(think, rewrite_boxes(answer, to_fed))


def annotation_json(record: STGRRecord, meta: FrameSetMeta) -> str:
    """The reward functions' view of a record (training.rewards), boxes in fed pixels,
    plus the record's own fields as the released reward code reads them (`released`)."""
    answer, letter, span = canonical_answer(record)
    frames = tuple(
        (kf.time, {name: tuple(as_box(denormalize_box(b, meta.fed_size)) for b in boxes)
                   for name, boxes in record.key_items.get(str(kf.idx), {}).items()})
        for kf in record.key_frames
    )
    gt_box = None
    if record.task == "visual QA":
        found = _first_box(answer)
        gt_box = as_box(image_answer_to_fed(record, meta.fed_size)(found)) if found else None
    n_options = len(option_letters_in(record.question)) or None
    return Annotation(
        task=record.task, answer=answer, letter=letter, span=span, key_frames=frames,
        gt_box=gt_box, fed_size=meta.fed_size, duration=meta.duration,
        n_options=n_options, released=released_fields(record, meta),
    ).to_json()


def released_fields(record: STGRRecord, meta: FrameSetMeta) -> dict[str, Any]:
    """What the released reward functions receive for this record: the raw answer,
    key frames and normalized key items, and `image_size` (fed size for videos, the
    record's stored size for images) / `image_size_refine` (fed size of an image)."""
    image_size = list(meta.fed_size) if record.is_video else list(
        record.image_size or meta.orig_size)
    return {
        "answer": record.answer,
        "key_frames": [{"idx": kf.idx, "time": kf.time} for kf in record.key_frames],
        "key_items": {k: {n: [list(b) for b in bs] for n, bs in objs.items()}
                      for k, objs in record.key_items.items()},
        "image_size": image_size,
        "image_size_refine": list(meta.fed_size),
    }


def _first_box(text: str) -> Box | None:
    for match in grammar.EVIDENCE_TAG.finditer(text):
        nums = grammar.NUMBER.findall(match.group("coords") or "")
        if match.group("box") and len(nums) == 4:
            x1, y1, x2, y2 = (float(n) for n in nums)
            return (x1, y1, x2, y2)
    return None


# ---- samples and rows -------------------------------------------------------------


def wants_duration_line(record: STGRRecord, cfg: DataConfig, kind: RecordKind = "rl") -> bool:
    """`The video is in total N seconds.`: released RL writes it for every video task,
    released SFT for all but temporal-spatial free-form QA (`data.sft_duration_line`)."""
    mode = (cfg.sft_duration_line if kind == "sft" else None) or cfg.duration_line
    if mode == "never" or not record.is_video:
        return False
    return mode == "always" or record.task not in GROUNDED_TASKS


def inserts_key_frames(record: STGRRecord, cfg: DataConfig) -> bool:
    """Key frames go into the prompt only for `temporal-spatial free-form QA` (as the
    released code does); every other task's key frames would give its answer away."""
    return cfg.insert_key_frames and record.task in GROUNDED_TASKS and bool(record.key_frames)


def build_sample(
    record: STGRRecord, cfg: DataConfig, base_dir: Path, kind: RecordKind,
    *, served: bool = False,
) -> Sample:
    """One record as a trainer sample; `served=True` builds the prompt exactly as the
    service would for the same video and question (no key frames: evaluation)."""
    path = resolve_media(record, cfg, base_dir)
    if record.is_video:
        images, meta = _video_sample_frames(record, cfg, base_dir, path, served)
        prompt = build_prompt(
            record.question, meta.times, task=DATASET_TASKS.get(record.task, TaskType.FREE_FORM),
            duration=meta.duration, add_duration_line=wants_duration_line(record, cfg, kind),
        )
    else:
        images, meta = image_frame(path, cfg)
        prompt = build_image_prompt(record.question)
    target = sft_target(record, meta) if kind == "sft" else None
    return Sample(record.id, record.task, prompt, tuple(images), meta, target,
                  annotation_json(record, meta))


def _video_sample_frames(
    record: STGRRecord, cfg: DataConfig, base_dir: Path, path: Path, served: bool,
) -> tuple[list[Image.Image], FrameSetMeta]:
    info = probe_video(path)
    check_key_frames(record, info.duration)  # before anything is decoded
    if served or not inserts_key_frames(record, cfg):
        return served_frames(path, cfg, info)
    files = key_frame_files(record, cfg, base_dir)
    return video_frames(path, cfg, record.key_times, files, info)


def sft_row(sample: Sample) -> dict[str, Any]:
    """TRL prompt-completion row with images (conversational)."""
    assert sample.target is not None
    return {
        "prompt": to_hf_messages(sample.prompt),
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": sample.target}]}],
        "images": list(sample.images),
    }


def rl_row(sample: Sample) -> dict[str, Any]:
    """TRL GRPO row: conversational prompt, images, and the reward annotation column."""
    return {
        "prompt": to_hf_messages(sample.prompt),
        "images": list(sample.images),
        "annotation": sample.annotation,
        "task": sample.task,
    }


def iter_samples(
    json_path: str | Path, cfg: DataConfig, kind: RecordKind, *, served: bool = False
) -> Iterator[Sample]:
    """Samples one at a time (frames of one record in memory at once)."""
    records = load_records(json_path, kind=kind, limit=cfg.max_records)
    base_dir = Path(json_path).parent
    return (build_sample(r, cfg, base_dir, kind, served=served) for r in records)


def build_samples(
    json_path: str | Path, cfg: DataConfig, kind: RecordKind
) -> list[Sample]:
    """Every sample, eagerly (small sets and tests; trainers use `training.lazy_dataset`)."""
    return list(iter_samples(json_path, cfg, kind))
