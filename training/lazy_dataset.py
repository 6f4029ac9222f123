"""Lazy trainer datasets: STGR records in, TRL rows built on access (SPEC 5 at full size).

Owns `lazy_dataset(json_path, cfg, kind)`: a `datasets.Dataset` whose one column holds
each validated record as JSON text, with a `with_transform` (`RowTransform`) that
builds the sample (probe, decode, prompt, target, annotation) only when a row is read,
i.e. inside the DataLoader worker that reads it (`dataloader_num_workers` in the
stage config). The full 31k / 37k-record files start in seconds (read + validate the
JSON, one `stat` per media file) and memory holds record text, never frames.

Invariants:
- Row i is exactly `sft_row` / `rl_row` of `training.data.build_sample(record i)`: the
  eager path's output, with the same sampler and prompt builder.
- Building the dataset opens no media: no probe, no decode. A missing media file is
  still reported at build time (by record id), not halfway through a run.
- `RowTransform` is a plain picklable class (DataLoader workers may be spawned).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.config import DataConfig
from training.data import build_sample, resolve_media, rl_row, sft_row
from training.records import RecordKind, STGRRecord, load_records

RECORD_COLUMN = "record"


class RowTransform:
    """`with_transform` function: a batch of record JSON -> a batch of trainer rows."""

    def __init__(self, cfg: DataConfig, base_dir: Path, kind: RecordKind) -> None:
        self.cfg, self.base_dir, self.kind = cfg, base_dir, kind

    def row(self, text: str) -> dict[str, Any]:
        record = STGRRecord.model_validate_json(text)
        sample = build_sample(record, self.cfg, self.base_dir, self.kind)
        return sft_row(sample) if self.kind == "sft" else rl_row(sample)

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [self.row(text) for text in batch[RECORD_COLUMN]]
        return {key: [r[key] for r in rows] for key in rows[0]} if rows else {}


def lazy_dataset(json_path: str | Path, cfg: DataConfig, kind: RecordKind) -> Any:
    """A `datasets.Dataset` of records that turns into trainer rows when read."""
    from datasets import Dataset  # type: ignore[import-untyped]

    records = load_records(json_path, kind=kind, limit=cfg.max_records)
    base_dir = Path(json_path).parent
    for record in records:
        resolve_media(record, cfg, base_dir)  # fail now, naming the record, not mid-run
    texts = [r.model_dump_json() for r in records]
    dataset = Dataset.from_dict({RECORD_COLUMN: texts})
    return dataset.with_transform(RowTransform(cfg, base_dir, kind))
