"""Search end to end on generated long videos: real PyAV decoding, the frame cache, the
perceptive double as the model. The answers depend on what the frames show."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from service.grounding.geometry import box_iou
from service.grounding.voting import VotingMode
from service.inference.perceptive.double import PerceptiveDouble
from service.inference.pipeline import Pipeline
from service.inference.search.runner import run_search
from service.inference.search.types import SearchOptions, SearchProgress
from service.inference.types import PipelineOptions
from service.video.framecache import CachedVideoFrames, FrameCache
from service.video.index import decode_floor, scan_packets
from service.video.needle import NEEDLE, QUESTION, NeedleSpec, NeedleTruth, write_needle_video
from service.video.policy import FramePolicy, fit_size
from service.video.probe import probe_video
from service.video.sampler import sample_video

OPTS = PipelineOptions(n=8)


@pytest.fixture(scope="module")
def needle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NeedleTruth]:
    path = tmp_path_factory.mktemp("needle") / "needle.mp4"
    return path, write_needle_video(path, NeedleSpec(duration=320.0, seed=7))


def source(path: Path, cache: FrameCache | None = None) -> CachedVideoFrames:
    info = probe_video(path)
    fed = fit_size(*info.display_size, 4 * 784, 128 * 784)
    cache = FrameCache(64 << 20) if cache is None else cache
    return CachedVideoFrames(path, info, fed, cache, "needle")


def answer_time(answer: str | None) -> float | None:
    import re
    m = re.search(r"at (\d+(?:\.\d+)?)s", answer or "")
    return float(m.group(1)) if m else None


def test_search_finds_the_event_that_uniform_misses(needle):
    path, truth = needle
    double = PerceptiveDouble(hallucination=0.2)
    uniform = asyncio.run(Pipeline(double).run(
        sample_video(path, FramePolicy(num_frames=16)).frameset, QUESTION, opts=OPTS))
    # 16 frames over 320 s: one every 21 s, the 3-5 s event falls between them
    assert answer_time(uniform.answer) is None and "does not appear" in (uniform.answer or "")

    out = asyncio.run(run_search(Pipeline(double), source(path), QUESTION, opts=OPTS))
    t = answer_time(out.verdict.answer)
    assert t is not None and truth.contains(t, slack=1.0), (out.verdict.answer, truth)
    ev = [e for e in out.verdict.evidence if e.name == NEEDLE]
    assert ev and all(truth.contains(e.time) for e in ev)
    # absolute boxes: original (coded) pixels of the video, on the true circle
    assert box_iou(ev[0].box_orig, truth.box) >= 0.7
    rec = out.record
    assert rec.windows and rec.windows[0].start <= truth.start <= rec.windows[0].end
    assert len(rec.chunks) == 10 and max(rec.chunks, key=lambda c: c.score).start <= truth.start


def test_second_question_decodes_nothing_already_decoded(needle):
    path, _ = needle
    cache = FrameCache(64 << 20)
    double = PerceptiveDouble()
    first = asyncio.run(run_search(Pipeline(double), source(path, cache), QUESTION, opts=OPTS))
    assert first.record.frames_decoded > 0
    # the zoom reuses the scan's frames (context frames, window frames on the grid)
    assert first.record.frames_reused >= 1
    second = asyncio.run(run_search(Pipeline(double), source(path, cache),
                                    "Where is the red circle?", opts=OPTS))
    assert second.record.frames_decoded == 0
    assert second.record.frames_reused == second.record.scan_frames + second.record.zoom_frames


def test_decoding_stays_at_the_keyframe_floor(needle):
    path, _ = needle
    src = source(path)
    out = asyncio.run(run_search(Pipeline(PerceptiveDouble()), src, QUESTION, opts=OPTS))
    fed_times = sorted({*src.fed_times()})
    floor = decode_floor(scan_packets(path), fed_times)
    assert out.record.frames_decoded <= 1.2 * floor
    # keyframes only: every scan frame is a keyframe, one decoded frame each
    keys = set(src.keyframe_times)
    assert sum(1 for t in fed_times if t in keys) >= out.record.scan_frames - len(out.record.chunks)


class CountingDouble(PerceptiveDouble):
    in_flight: int = 0
    most: int = 0

    async def sample(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return await super().sample(*args, **kwargs)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("concurrency", [1, 4])
def test_chunk_requests_are_in_flight_together_up_to_the_limit(needle, concurrency):
    path, _ = needle
    double = CountingDouble()
    progress: list[SearchProgress] = []
    asyncio.run(run_search(Pipeline(double), source(path), QUESTION,
                           opts=PipelineOptions(n=2, voting=VotingMode.MAJORITY),
                           search=SearchOptions(concurrency=concurrency),
                           on_progress=progress.append))
    assert double.most == concurrency
    scans = [p.chunks_scanned for p in progress if p.stage == "scan"]
    assert scans == list(range(11)) and progress[-1].stage == "done"


class FlakyDouble(PerceptiveDouble):
    """Refuses every chunk request whose frames start in `bad` (seconds)."""

    bad: tuple[float, float] = (0.0, 0.0)

    async def sample(self, prompt, images, n, sampling):  # type: ignore[no-untyped-def]
        from service.inference.backend import BackendUnavailable

        times, _ = self._read(prompt)
        if times and self.bad[0] <= times[0] < self.bad[1]:
            raise BackendUnavailable("engine restarting")
        return await super().sample(prompt, images, n, sampling)


def test_a_failed_chunk_scores_zero_and_the_rest_still_count(needle):
    path, truth = needle
    double = FlakyDouble()
    double.bad = (128.0, 192.0)               # two chunks away from the event fail
    out = asyncio.run(run_search(Pipeline(double), source(path), QUESTION, opts=OPTS))
    failed = [c for c in out.record.chunks if c.failed]
    assert [c.start for c in failed] == [128.0, 160.0] and all(c.score == 0 for c in failed)
    assert truth.contains(answer_time(out.verdict.answer) or -1.0, slack=1.0)


def test_every_chunk_failing_raises_the_backend_error_itself(needle):
    from service.inference.backend import BackendUnavailable

    path, _ = needle
    double = FlakyDouble()
    double.bad = (0.0, 1e9)
    with pytest.raises(BackendUnavailable):
        asyncio.run(run_search(Pipeline(double), source(path), QUESTION, opts=OPTS))


def test_keyframe_snapping_is_what_keeps_the_scan_at_one_decoded_frame_each(needle):
    """Scan frames centred between keyframes cost a GOP prefix each; snapped, one frame."""
    path, truth = needle
    runs = {}
    for snap in (True, False):
        src = source(path)
        out = asyncio.run(run_search(Pipeline(PerceptiveDouble()), src, QUESTION, opts=OPTS,
                                     search=SearchOptions(keyframes_only=snap)))
        assert truth.contains(answer_time(out.verdict.answer) or -1.0, slack=1.0)
        floor = decode_floor(scan_packets(path), list(src.fed_times()))
        assert out.record.frames_decoded <= 1.2 * floor   # at the floor either way
        runs[snap] = out.record.frames_decoded
    assert runs[False] > 2 * runs[True]
