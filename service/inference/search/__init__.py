"""Grounded search over long videos: scan cheaply, zoom where the evidence points.

Modules (import them directly):

- types:   `SearchOptions` (every knob), `ChunkScore`, `Window`, `SearchRecord`,
           `SearchProgress`, the `FrameSource` protocol the runner reads frames from
- windows: pure planning: chunk plan, keyframe snapping, window selection and merging,
           zoom and context frame times (table-tested)
- score:   pure: a chunk's relevance from its parsed traces (and verifier weights)
- scan:    every chunk asked once, concurrently, scored
- runner:  scan -> windows -> zoom frame set -> the normal N-sample pipeline -> verdict

Nothing here imports PyAV: frames come through `FrameSource` (the gateway and the
benchmark give one backed by `service.video.framecache`).
"""
