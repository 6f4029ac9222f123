"""Start-up time and memory of `lazy_dataset` at the released data's size (31,166 records).

Owns one measurement: write a synthetic STGR-SFT.json of N records (12 generated videos,
records repeated under new ids), then time `lazy_dataset` on it, read its last row, and
print the peak resident memory before and after, as one JSON line.

Usage: `python -m bench.lazy_dataset_bench OUT_DIR [--n 31166]`. The eager path is not run
for comparison on purpose: it would decode every frame of every record up front.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

from training.config import DataConfig
from training.lazy_dataset import lazy_dataset
from training.synth_records import generate


def _write(out: Path, n: int) -> Path:
    path = out / f"STGR-SFT-{n}.json"
    if not path.exists():
        records = generate(out, 12, seed=7)
        full = [{**records[i % len(records)], "id": f"full-{i}"} for i in range(n)]
        path.write_text(json.dumps(full))
    return path


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lazy_dataset_bench")
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=31166)
    args = parser.parse_args(argv)
    path = _write(args.out, args.n)
    cfg = DataConfig(num_frames=4, short_video_s=0.0, max_frames=8, max_pixels=112 * 84)
    before, t0 = _peak_mb(), time.perf_counter()
    dataset = lazy_dataset(path, cfg, "sft")
    t1 = time.perf_counter()
    row = dataset[len(dataset) - 1]
    t2 = time.perf_counter()
    print(json.dumps({
        "records": len(dataset), "json_MB": round(path.stat().st_size / 1e6, 1),
        "build_s": round(t1 - t0, 2), "last_row_s": round(t2 - t1, 3),
        "arrow_MB": round(dataset.data.nbytes / 1e6, 1), "peak_rss_MB_before": before,
        "peak_rss_MB_after": _peak_mb(), "images_in_row": len(row["images"]),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
