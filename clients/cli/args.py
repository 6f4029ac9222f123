"""Command-line arguments of `o3-reason` and their translation into SDK keywords.

Invariants: every request option is optional (the server's defaults apply when a
flag is absent); the server URL and API key come from flags, else O3_SERVER /
O3_API_KEY, else the SDK's default URL and no key.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

EPILOG = """examples:
  o3-reason clip.mp4 "What is the man holding?"
  o3-reason clip.mp4 "Which color is the car?" -o "A. red" -o "B. blue" -n 8
  o3-reason clip.mp4 "When does the dog jump?" --task temporal --json
  o3-reason clip.mp4 "Where is the ball?" --annotate evidence.png --traces
  o3-reason hour.mp4 "When does the red circle appear?" --strategy search
environment: O3_SERVER (server URL), O3_API_KEY (API key)"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="o3-reason",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask a grounded question about a video and show where and when the "
        "evidence is.",
    )
    p.add_argument("video", help="a video file, or the id (64 hex) of a stored video")
    p.add_argument("question", help="the question to answer")
    _request_args(p.add_argument_group("request"))
    _output_args(p.add_argument_group("output"))
    conn = p.add_argument_group("connection")
    conn.add_argument(
        "--server",
        default=os.environ.get("O3_SERVER"),
        help="gateway URL (default: $O3_SERVER or http://127.0.0.1:8000)",
    )
    conn.add_argument(
        "--api-key", default=os.environ.get("O3_API_KEY"), help="API key (default: $O3_API_KEY)"
    )
    conn.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for an answer or a job (default 600)",
    )
    return p


def _request_args(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        metavar="TEXT",
        help="a multiple-choice option (repeat: -o 'A. red' -o 'B. blue')",
    )
    g.add_argument("--task", choices=["free-form", "mcq", "temporal"])
    g.add_argument("-n", type=int, help="number of reasoning traces to sample and vote over")
    g.add_argument("--voting", choices=["single", "majority", "confidence"])
    g.add_argument("--weight-mode", choices=["code", "paper", "released"])
    g.add_argument("--abstain-below", type=float, metavar="CONF")
    g.add_argument("--num-frames", type=int, help="frames fed to the model")
    g.add_argument("--fps", type=float, help="sample frames at this rate instead")
    g.add_argument("--max-pixels", type=int, help="pixel budget per frame")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-p", type=float)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument(
        "--async", dest="async_", action="store_true", help="submit as a job and poll it"
    )
    g.add_argument("--strategy", choices=["auto", "uniform", "search"],
                   help="uniform frames, or search a long video (scan, then zoom)")
    g.add_argument("--chunk-s", type=float, help="search: seconds per scan chunk")
    g.add_argument("--windows", type=int, help="search: windows to zoom into")
    g.add_argument("--zoom-frames", type=int, help="search: dense frames in the windows")


def _output_args(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--json", action="store_true", help="print the result as JSON only")
    g.add_argument("--traces", action="store_true", help="also print each reasoning trace")
    g.add_argument("--annotate", metavar="OUT", help="write an evidence picture (.png or .gif)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _pick(ns: argparse.Namespace, names: dict[str, str]) -> dict[str, Any] | None:
    picked = {wire: getattr(ns, attr) for attr, wire in names.items()}
    picked = {k: v for k, v in picked.items() if v is not None}
    return picked or None


def reason_kwargs(ns: argparse.Namespace) -> dict[str, Any]:
    """SDK `reason` keywords from parsed flags (None where the server decides)."""
    return {
        "options": ns.options,
        "task": ns.task,
        "n": ns.n,
        "voting": ns.voting,
        "weight_mode": ns.weight_mode,
        "abstain_below": ns.abstain_below,
        "sampling": _pick(
            ns,
            {
                "temperature": "temperature",
                "top_p": "top_p",
                "max_tokens": "max_tokens",
                "seed": "seed",
            },
        ),
        "frames": _pick(ns, {"num_frames": "num_frames", "fps": "fps", "max_pixels": "max_pixels"}),
        "return_traces": bool(ns.traces),
        "async_": bool(ns.async_),
        "strategy": ns.strategy,
        "search": _pick(ns, {"chunk_s": "chunk_s", "windows": "windows",
                             "zoom_frames": "zoom_frames"}),
    }
