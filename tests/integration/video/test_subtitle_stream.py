"""A video's own subtitle stream, damaged: cues or a typed 422, never an FFmpeg error.

Fuzzing found it: of 1,200 seeded mutants of real MP4 (mov_text), MKV (SRT, ASS) and
WebM (WebVTT) files that still probed as videos, 21 raised `InvalidDataError`,
`DecoderNotFoundError` or `av.error.MemoryError` out of `read_subtitle_stream`, a 500
for `video_subtitles: true`. Now a damaged packet is skipped (logged), a demux error
ends the stream, and a stream with nothing readable is `unreadable_subtitles` (422).
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from pathlib import Path

import av
import pytest

from service.video import synth
from service.video.errors import UnreadableSubtitles, VideoError
from service.video.probe import probe_video
from service.video.subtitles import read_subtitle_stream
from tests.support.fuzz import mutate

SRT = "".join(f"{i + 1}\n00:00:0{i // 2},{i % 2 * 500:03d} --> "
              f"00:00:0{(i + 1) // 2},{(i + 1) % 2 * 500:03d}\n<i>line {i}</i> caf\u00e9\n\n"
              for i in range(4))
# container -> (file suffix, subtitle codec)
KINDS = {"mp4": ("mp4", "mov_text"), "mkv-srt": ("mkv", "srt"), "mkv-ass": ("mkv", "ass"),
         "webm": ("webm", "webvtt")}


@pytest.fixture(scope="module")
def subtitled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("subs")
    synth.write_moving_square(d / "v.webm", codec="vp9", width=64, height=48, duration=2.0)
    synth.write_moving_square(d / "v.mp4", width=64, height=48, duration=2.0)
    (d / "s.srt").write_text(SRT, encoding="utf-8")
    out = {}
    for kind, (suffix, codec) in KINDS.items():
        video = d / ("v.webm" if suffix == "webm" else "v.mp4")
        path = d / f"{kind}.{suffix}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-i", str(d / "s.srt"),
                        "-c:v", "copy", "-c:s", codec, str(path)], check=True)
        out[kind] = path
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_clean_stream_gives_every_cue(subtitled: dict[str, Path], kind: str) -> None:
    cues = read_subtitle_stream(subtitled[kind])
    assert [(c.start, c.end, c.text) for c in cues] == [
        (i * 0.5, i * 0.5 + 0.5, f"line {i} caf\u00e9") for i in range(4)]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_damaged_streams_give_cues_or_a_typed_error(subtitled: dict[str, Path], kind: str,
                                                    tmp_path: Path) -> None:
    data = subtitled[kind].read_bytes()
    outcomes: Counter[str] = Counter()
    av.logging.set_level(None)
    for seed in range(300):
        path = tmp_path / f"m{seed}{subtitled[kind].suffix}"
        path.write_bytes(mutate(random.Random(seed), data))
        try:
            probe_video(path)
            outcomes["cues" if read_subtitle_stream(path) else "none"] += 1
        except VideoError as err:
            assert err.status in (415, 422), (seed, err)
            outcomes[err.code] += 1
        path.unlink()
    assert outcomes["cues"] > 50, outcomes  # not vacuous: many mutants keep their cues


def test_a_stream_no_decoder_reads_is_unreadable_not_a_500(subtitled: dict[str, Path],
                                                           tmp_path: Path) -> None:
    # the MKV's codec id S_TEXT/UTF8 (SRT) renamed to one no decoder has: every packet
    # fails to decode, so nothing is readable
    data = subtitled["mkv-srt"].read_bytes()
    assert data.count(b"S_TEXT/UTF8") == 1
    path = tmp_path / "nodecoder.mkv"
    path.write_bytes(data.replace(b"S_TEXT/UTF8", b"S_TEXT/XYZ8"))
    probe_video(path)  # the video itself is fine
    with pytest.raises(UnreadableSubtitles) as caught:
        read_subtitle_stream(path)
    assert caught.value.status == 422 and caught.value.param == "video_subtitles"
