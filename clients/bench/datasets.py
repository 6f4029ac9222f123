"""The benchmarks' public file formats, read into small typed records.

- V-STaR (`V_STaR_test.json`): a list of `{vid, domain, fps, width, height,
  frame_count, question, answer, temporal_question, timestamps [s, e],
  spatial_question, spatial_question_2, bboxes}`; `bboxes` is the current
  `[{timestamp, frame_index, xmin, ymin, xmax, ymax}]` or the first release's
  `[{"{timestamp}_{frame_index}": {xmin, ymin, xmax, ymax}}]` (both read). Videos are
  `{vid}.mp4` anywhere under the videos folder (a `vid` joined with `&` also tries
  each part, as the Open-o3 evaluation does).
- VideoMME (`videomme/test-*.parquet`, or the same rows as JSON/JSONL): `videoID,
  question_id, duration, domain, sub_category, task_type, question, options
  ["A. ..."], answer "A"`; video `{videoID}.mp4`.
- WorldSense (`worldsense_qa.json`): `{video: {duration, domain, sub_category, ...,
  task1: {question, candidates ["A. ..."], answer, task_domain, task_type}, ...}}`;
  video `{video}.mp4`.
- VideoMMMU (`{Perception,Comprehension,Adaptation}/test-*.parquet` or JSON): `id,
  question, options, answer, question_type` ("multiple-choice" or open); video
  `{id}.mp4`; the track is the folder or file name it was read from.
- TVGBench (`tvgbench.json`): `[{path, question, answer "s-e", duration,
  dataset_name, qsemtype, ...}]`; the video is `path` if it exists (relative to the
  JSON file too), else its file name under the videos folder.

A record the loader cannot read raises `DatasetError` naming the record: a benchmark
file that does not parse is a setup error, not a per-sample failure.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.bench.metrics import GtBox

MCQ_FORMATS = ("videomme", "worldsense", "videommmu")
_LETTERED = re.compile(r"^\s*\(?([A-Z])[.):]\s")


class DatasetError(ValueError):
    """A benchmark file or record that cannot be read."""


class VideoIndex:
    """File name -> path for every file under a folder (one walk)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, Path] = {}
        for folder, _, files in os.walk(root):
            for name in files:
                self._by_name.setdefault(name, Path(folder) / name)

    def find(self, *names: str) -> Path | None:
        return next((self._by_name[n] for n in names if n in self._by_name), None)


# ---- V-STaR ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VStarItem:
    key: str
    vid: str
    video: Path | None
    raw: Mapping[str, Any]
    gt_boxes: tuple[GtBox, ...]

    @property
    def length_s(self) -> float:
        """eval.py's video length: round(frame_count / fps, 2)."""
        fps = float(self.raw.get("fps") or 0.0)
        return round(float(self.raw.get("frame_count") or 0) / fps, 2) if fps else 0.0

    @property
    def span(self) -> tuple[float, float]:
        s, e = self.raw["timestamps"]
        return (float(s), float(e))


def load_vstar(path: Path, videos: Path) -> list[VStarItem]:
    rows = _read_json(path)
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a JSON list of V-STaR records")
    index = VideoIndex(videos)
    return [_vstar_item(i, r, index) for i, r in enumerate(rows)]


def _vstar_item(i: int, r: Any, index: VideoIndex) -> VStarItem:
    try:
        vid = str(r["vid"])
        names = [f"{vid}.mp4", *(f"{p}.mp4" for p in vid.split("&") if "&" in vid)]
        boxes = tuple(_gt_boxes(r.get("bboxes") or []))
        _ = [float(x) for x in r["timestamps"]]
        return VStarItem(f"{i:05d}:{vid}", vid, index.find(*names), r, boxes)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"V-STaR record {i}: {exc!r}") from exc


def _gt_boxes(entries: list[Any]) -> Iterator[GtBox]:
    for e in entries:
        if "xmin" in e:
            yield GtBox(e["timestamp"], _xyxy(e))
            continue
        for name, box in e.items():  # first release: {"{timestamp}_{frame}": box}
            yield GtBox(str(name).split("_")[0], _xyxy(box))


def _xyxy(b: Mapping[str, Any]) -> tuple[float, float, float, float]:
    return (float(b["xmin"]), float(b["ymin"]), float(b["xmax"]), float(b["ymax"]))


# ---- multiple choice -------------------------------------------------------------------


@dataclass(frozen=True)
class McqItem:
    key: str
    video: Path | None
    question: str
    options: tuple[str, ...] | None     # "A. ..." lettered; None for open questions
    answer: str                         # the letter, or the open answer text
    groups: dict[str, str] = field(default_factory=dict)  # breakdown kind -> category


def load_mcq(fmt: str, path: Path, videos: Path) -> list[McqItem]:
    index = VideoIndex(videos)
    if fmt == "videomme":
        return [_videomme(r, index) for r in _read_rows(path)]
    if fmt == "worldsense":
        return list(_worldsense(_read_json(path), index))
    if fmt == "videommmu":
        return [_videommmu(r, index, _track(path)) for r in _read_rows(path)]
    raise DatasetError(f"unknown multiple-choice format {fmt!r}; one of {MCQ_FORMATS}")


def lettered(options: list[Any]) -> tuple[str, ...]:
    """Options as "A. text"; already lettered options are kept as they are."""
    texts = [str(o) for o in options]
    if all(_LETTERED.match(t) for t in texts):
        return tuple(texts)
    return tuple(f"{string.ascii_uppercase[i]}. {t}" for i, t in enumerate(texts))


def _videomme(r: Mapping[str, Any], index: VideoIndex) -> McqItem:
    vid = str(r["videoID"])
    return McqItem(
        key=str(r.get("question_id") or f"{vid}:{r['question']}"),
        video=index.find(f"{vid}.mp4"),
        question=str(r["question"]),
        options=lettered(list(r["options"])),
        answer=str(r["answer"]).strip(),
        groups={k: str(r[k]) for k in ("task_type", "duration", "domain") if k in r},
    )


def _worldsense(data: Any, index: VideoIndex) -> Iterator[McqItem]:
    if not isinstance(data, dict):
        raise DatasetError("WorldSense: expected {video: {..., task1: {...}}}")
    for video, meta in data.items():
        tasks = sorted(k for k in meta if k.startswith("task"))
        for t in tasks:
            q = meta[t]
            yield McqItem(
                key=f"{video}:{t}",
                video=index.find(f"{video}.mp4"),
                question=str(q["question"]),
                options=lettered(list(q["candidates"])),
                answer=str(q["answer"]).strip(),
                groups={"task_domain": str(q.get("task_domain", "unknown")),
                        "domain": str(meta.get("domain", "unknown"))},
            )


def _videommmu(r: Mapping[str, Any], index: VideoIndex, track: str) -> McqItem:
    is_mcq = r.get("question_type", "multiple-choice") == "multiple-choice"
    options = list(r.get("options") or [])
    return McqItem(
        key=str(r["id"]),
        video=index.find(f"{r['id']}.mp4"),
        question=str(r["question"]),
        options=lettered(options) if is_mcq and options else None,
        answer=str(r["answer"]).strip(),
        groups={"track": track},
    )


def _track(path: Path) -> str:
    for part in (*path.parts, path.stem):
        for name in ("Perception", "Comprehension", "Adaptation"):
            if name.lower() in part.lower():
                return name
    return "all"


# ---- TVGBench --------------------------------------------------------------------------


@dataclass(frozen=True)
class TvgItem:
    key: str
    video: Path | None
    query: str
    span: tuple[float, float]
    duration: float
    groups: dict[str, str] = field(default_factory=dict)


def load_tvg(path: Path, videos: Path) -> list[TvgItem]:
    rows = _read_json(path)
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a JSON list of TVGBench records")
    index = VideoIndex(videos)
    return [_tvg_item(i, r, index, path.parent) for i, r in enumerate(rows)]


def _tvg_item(i: int, r: Any, index: VideoIndex, base: Path) -> TvgItem:
    try:
        start, end = (float(x) for x in str(r["answer"]).split("-"))
        given = Path(str(r["path"]))
        video = next((p for p in (given, base / given) if p.is_file()), None)
        return TvgItem(
            key=f"{i:05d}:{given.stem}",
            video=video or index.find(given.name),
            query=str(r["question"]),
            span=(start, end),
            duration=float(r.get("duration") or 0.0),
            groups={k: str(r[k]) for k in ("dataset_name", "qsemtype") if r.get(k)},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"TVGBench record {i}: {exc!r}") from exc


# ---- files -----------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: {exc}") from exc


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a parquet file (or a folder of them), a JSON list or JSONL."""
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if files and all(f.suffix == ".parquet" for f in files):
        try:  # pyarrow comes with the `train` extra (datasets); JSON rows need nothing
            import pyarrow.parquet as pq  # type: ignore[import-untyped]
        except ImportError as exc:
            raise DatasetError(f"{path}: reading parquet needs pyarrow") from exc
        return [row for f in files for row in pq.read_table(f).to_pylist()]
    if path.suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(x) for x in lines if x.strip()]
    rows = _read_json(path)
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a list of records")
    return rows
