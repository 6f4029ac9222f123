"""Confidence voting vs majority voting when traces hallucinate (the perceptive double).

    python -m bench.voting_bench                   # 6 videos x 20 seeds x 7 shares
    python -m bench.voting_bench --videos 2 --seeds 5   # a quick run

Short needle videos (`service.video.needle`, 40 s; the red circle visible 3-5 s), 16
uniform frames each (decoded once), two questions ("When does the red circle
appear?", "Where is the red circle?"). For each hallucination share, each double seed
(a different set of hallucinating traces and phantom), N traces are sampled ONCE and
voted both ways on the same traces: majority (every votable trace weighs 1) and
confidence (weights from the verifier: the double rates the cited crops, SPEC 4.3-4.4).
An answer is right when its time lies in the event (+- 1 s) / its position is the
truth box's position. Accuracy is over videos x seeds x questions.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path

from service.grounding.geometry import original_to_fed
from service.grounding.voting import VotingMode
from service.inference.perceptive.double import PerceptiveDouble, position
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions, Verdict
from service.video.frameset import FrameSet
from service.video.needle import QUESTION, NeedleSpec, NeedleTruth, write_needle_video
from service.video.policy import FramePolicy
from service.video.sampler import sample_video

WHERE = "Where is the red circle?"
SHARES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8)


def right(v: Verdict, question: str, truth: NeedleTruth, frames: FrameSet) -> bool:
    if question == QUESTION:
        m = re.search(r"at (\d+(?:\.\d+)?)s", v.answer or "")
        return m is not None and truth.contains(float(m.group(1)), slack=1.0)
    fed = original_to_fed(truth.box, frames.meta)
    where = position(fed, frames.meta.fed_size)
    return v.answer == f"The red circle is at the {where} of the frame."




async def both_ways(frames: FrameSet, question: str, share: float, seed: int, n: int
                    ) -> tuple[Verdict, Verdict]:
    double = PerceptiveDouble(hallucination=share, seed=seed)
    maj = await Pipeline(double).run(frames, question,
                                     opts=PipelineOptions(n=n, voting=VotingMode.MAJORITY))
    conf = await Pipeline(double).run(frames, question, opts=PipelineOptions(n=n))
    return maj, conf  # the double is seeded by the prompt: both calls get the same traces


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.voting_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--n", type=int, default=8)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="o3-voting-"))
    videos = []
    for i in range(args.videos):
        path = work / f"v{i}.mp4"
        truth = write_needle_video(path, NeedleSpec(duration=40.0, seed=i, max_len=5.0))
        frames = sample_video(path, FramePolicy(num_frames=16)).frameset  # 2.7 s apart
        videos.append((truth, frames))
    print(f"{'halluc.':>7} {'majority':>9} {'confidence':>10}   (accuracy over "
          f"{args.videos} videos x {args.seeds} seeds x 2 questions, N={args.n})")
    for share in SHARES:
        maj_ok = conf_ok = total = 0
        for truth, frames in videos:
            for seed in range(args.seeds):
                for q in (QUESTION, WHERE):
                    maj, conf = asyncio.run(both_ways(frames, q, share, seed, args.n))
                    maj_ok += right(maj, q, truth, frames)
                    conf_ok += right(conf, q, truth, frames)
                    total += 1
        print(f"{share:>7.1f} {maj_ok / total:>9.3f} {conf_ok / total:>10.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
