"""Video: the only package that imports PyAV.

Modules (import them directly; this file imports nothing, so that importing
`service.video.frameset` never pulls in PyAV):

- errors:   typed `VideoError`s with HTTP status and stable codes
- probe:    `probe_video` -> `VideoInfo`; `VideoLimits` refused before decoding
- index:    keyframe layout from the container index or a demux-only scan
- policy:   `FramePolicy`, `choose_times`, `fit_size` (pure, SPEC section 1)
- decode:   `decode_at` (seek only when it saves work) and the decode-all reference
- sampler:  `sample_video` -> `SampledVideo(frameset, info, stats)`
- store:    `VideoStore`, ids = keyed HMAC of tenant + sha256, size cap while streaming
- synth:    generated videos with known truth, and bad files, for tests and benches
- needle:   long cheap videos with one short event at a seeded time (search tests, bench)
- framecache: decoded frames by time through a byte-bounded LRU (the search's frames)
- frameset: `FrameSet` (frames + `FrameSetMeta`), free of PyAV
"""
