"""Benchmark harness: V-STAR (mAM, mLGM), video multiple choice with test-time
scaling (VideoMME, WorldSense, VideoMMMU) and TVGBench, run against a deployed
gateway through its HTTP API (`python -m clients.bench vstar|mcq|tvg ...`).

Layout: `metrics` (pure scoring), `judges` (what-answer judges), `datasets` (the
benchmarks' public file formats), `service` (the gateway seam, over the SDK),
`runner` (resume, bounded concurrency, progress, per-sample failures), one module per
benchmark (`vstar`, `mcq`, `tvg`), `report` (tables, markdown, plots), `cli`.
See docs/BENCHMARKS.md.
"""
