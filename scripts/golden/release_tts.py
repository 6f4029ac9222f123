"""Golden tables from the release's OWN test-time scaling code (never copied here).

    python scripts/golden/release_tts.py /path/to/Open-o3-Video [--out tests/golden]

Runs, from a local checkout of github.com/marinero4972/Open-o3-Video:
- `eval/test/test_videomme.py`, `test_worldsense.py`, `test_videommmu.py`:
  `evaluate_chunk` (their whole per-question loop: N traces, answer and think
  reading, `tts.parse_patterns`, `tts.extract_and_crop`, `tts.build_image_scorer_msgs`,
  `QwenVL_VLLM.run_images_scorer`, `tts.relevance_mapping`, the letter vote) on
  generated 8-trace sets with scripted scorer replies, with their own config files
  (`eval/config/*.yaml`) -> `release_tts_votes.jsonl`;
- `tts.parse_patterns` + `tts.extract_and_crop` on generated think texts ->
  `release_tts_evidence.jsonl`;
- `QwenVL_VLLM.run_images_scorer` + `tts.relevance_mapping` on scorer replies ->
  `release_scorer_replies.jsonl`;
- `eval/test/test_vstar_multi_images.py extract_timestamps` on generated "when"
  answers -> `release_timestamps.jsonl`.
Heavy imports are replaced by `_stubs` (engine, processor, video reader, resize).
Their per-trace weights and votes are read from what their loop prints
(`print(pred_list, score_list)`), the winner from what it returns.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import json
import os
import random
import sys
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _stubs  # noqa: E402
import gen_traces as gen  # noqa: E402

BENCHES = {  # bench -> (test script, config, letters in the vote table)
    "videomme": ("test_videomme.py", "video_mme.yaml", "ABCD"),
    "worldsense": ("test_worldsense.py", "world_sense.yaml", "ABCD"),
    "videommmu": ("test_videommmu.py", "video_mmmu.yaml", "ABCDEFGHIJ"),
}
SIZES = [(448, 252), (252, 448), (336, 336)]


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def config(release: Path, name: str) -> dict[str, Any]:
    import yaml

    text = (release / "eval" / "config" / name).read_text()
    return dict(yaml.safe_load(text))


class _Queue:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


def _doc(bench: str, i: int, question: str, options: list[str]) -> dict[str, Any]:
    base = {"question": question, "answer": "A"}
    if bench == "videomme":
        return base | {"options": options, "videoID": f"v{i}", "domain": "d",
                       "sub_category": "s", "task_type": "t", "question_id": f"q{i}",
                       "duration": "short"}
    if bench == "worldsense":
        return base | {"candidates": repr(options), "video": f"v{i}"}
    return base | {"options": options, "id": f"validation_Art_{i}", "category": "c",
                   "question_type": "multiple-choice"}


def _options(rng: random.Random, letters: str, lettered: bool) -> list[str]:
    words = ["a red car", "a dog", "the man", "a cup", "two people", "a ball", "rain",
             "night", "a kitchen", "a bridge"]
    return [f"{x}. {words[k]}" if lettered else words[k] for k, x in enumerate(letters)]


def vote_rows(release: Path, n_rows: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    mods = {b: load(release / "eval" / "test" / f, f"release_{b}")
            for b, (f, _, _) in BENCHES.items()}
    rows = []
    for i in range(n_rows):
        bench = rng.choice(["videomme", "videomme", "worldsense", "videommmu"])
        rows.append(_vote_row(release, mods[bench], bench, i, rng))
    return rows


def _vote_row(release: Path, mod: types.ModuleType, bench: str, i: int,
              rng: random.Random) -> dict[str, Any]:
    letters = BENCHES[bench][2]
    cfg = config(release, BENCHES[bench][1])
    size, n_frames = rng.choice(SIZES), rng.choice([4, 8, 16])
    duration = rng.choice([4.0, 10.0, 33.3, 61.5])
    fps = n_frames / duration
    favourite = rng.choice(letters[:4])
    clean = rng.random() < 0.3  # canonical traces and exact scorer replies only
    traces = [gen.mcq_trace(rng, letters[:4], size, duration, favourite, clean)
              for _ in range(8)]
    replies = gen.scorer_replies(rng, 8, messy=0.0 if clean else rng.choice([0.0, 0.3, 0.7]))
    vote = "majority_voting" if rng.random() < 0.2 else "confidence_voting"
    question = f"What happens in clip {i}?"
    options = _options(rng, letters, lettered=bench != "videommmu" or rng.random() < 0.5)
    doc = _doc(bench, i, question, options)
    s = _stubs.SCRIPT
    s.reset()
    s.traces, s.replies = [t.text for t in traces], list(replies)
    s.frames, s.fps = _stubs.make_frames(n_frames, *size), fps
    args = argparse.Namespace(model_path="m", model_kwargs=dict(cfg), N=8, vote=vote,
                              think_mode=True)
    queue, out = _Queue(), io.StringIO()
    with contextlib.redirect_stdout(out):
        mod.evaluate_chunk(["v.mp4"], [None], ["prompt"], [doc], 0, args, queue)
    preds, weights, winner = _read_loop(out.getvalue())
    texts = {c.pop("question") for c in s.scorer_calls}  # one question per row
    if len(texts) > 1:
        raise RuntimeError(f"row {i}: scorer questions differ between calls")
    return {
        "id": f"vote-{i}", "clean": clean, "bench": bench, "vote": vote, "letters": letters,
        "question": question, "options": options,
        "frames": {"n": n_frames, "width": size[0], "height": size[1],
                   "duration": duration, "fps": fps},
        "sampling": {"temperature": cfg["temperature"], "max_tokens": cfg["max_tokens"]},
        "traces": [t.text for t in traces], "trace_tags": [sorted(t.tags) for t in traces],
        "replies": replies,
        "release": {"preds": preds, "weights": weights, "winner": winner,
                    "scorer_calls": list(s.scorer_calls),
                    "scorer_text": texts.pop() if texts else None,
                    "scorer_sampling": s.sampling[0] if s.sampling else None},
    }


def _read_loop(printed: str) -> tuple[list[str], list[float], str]:
    preds: list[str] = []
    weights: list[float] = []
    winner = ""
    for line in printed.splitlines():
        if line.startswith("[") and "] [" in line:
            left, right = line.split("] [", 1)
            preds, weights = ast.literal_eval(left + "]"), ast.literal_eval("[" + right)
        if " Pred: " in line:
            winner = line.rsplit(" Pred: ", 1)[1].strip()
    if not winner:
        raise RuntimeError(f"the release's loop printed no winner:\n{printed[-2000:]}")
    return preds, weights, winner


def evidence_rows(release: Path, n_rows: int, seed: int) -> list[dict[str, Any]]:
    tts = sys.modules.get("tts") or load(release / "eval" / "tts.py", "tts")
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        size, n_frames = rng.choice(SIZES), rng.choice([4, 8, 16])
        duration = rng.choice([4.0, 10.0, 33.3])
        tags: set[str] = set()
        think = gen.think_body(rng, size, duration, tags, max_mentions=rng.choice([3, 11, 14]))
        s = _stubs.SCRIPT
        s.reset()
        frames = _stubs.make_frames(n_frames, *size)
        info = tts.parse_patterns(think)
        crops = tts.extract_and_crop(frames, n_frames / duration, info)
        kept = [list(s.resized[int(c.flat[0])]) for c in crops]
        rows.append({
            "id": f"evidence-{i}", "think": think, "tags": sorted(tags),
            "frames": {"n": n_frames, "width": size[0], "height": size[1],
                       "duration": duration, "fps": n_frames / duration},
            "release": {"mentions": [[m["obj"], m["box_xyxy"], m["t_sec"]] for m in info],
                        "crops": kept},
        })
    return rows


def scorer_rows(release: Path) -> list[dict[str, Any]]:
    model_vllm = sys.modules["models.model_vllm"]
    tts = sys.modules["tts"]
    replies = sorted(set(gen.SCORER_REPLIES_CLEAN + gen.SCORER_REPLIES_MESSY + [
        "0\n", "1\n", " 0", "2 ", "02", "1.0", "\u0662", "\uff12", "2\t", "\n2",
        "Two", "2/2", "I'd say 1", "0.", "None"]))
    model = model_vllm.QwenVL_VLLM("m", temperature=0.0, max_tokens=8192)
    rows = []
    for reply in replies:
        _stubs.SCRIPT.replies = [reply]
        value = model.run_images_scorer([{"role": "user", "content": []}], [])
        rows.append({"reply": reply, "value": value, "weight": tts.relevance_mapping(value)})
    return rows


def timestamp_rows(release: Path, n_rows: int, seed: int) -> list[dict[str, Any]]:
    mod = load(release / "eval" / "test" / "test_vstar_multi_images.py", "release_vstar")
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        text, cls = gen.temporal_answer(rng)
        rows.append({"id": f"ts-{i}", "text": text, "class": cls,
                     "release": mod.extract_timestamps(text)})
    return rows


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("release", type=Path, help="local checkout of Open-o3-Video")
    ap.add_argument("--out", type=Path, default=Path("tests/golden"))
    ap.add_argument("--votes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    _stubs.install()
    sys.path.insert(0, str(a.release / "eval"))
    cwd = os.getcwd()
    env = dict(os.environ)
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out.resolve()
    try:
        write(out / "release_tts_votes.jsonl", vote_rows(a.release, a.votes, a.seed))
        write(out / "release_tts_evidence.jsonl", evidence_rows(a.release, 400, a.seed + 1))
        write(out / "release_scorer_replies.jsonl", scorer_rows(a.release))
        write(out / "release_timestamps.jsonl", timestamp_rows(a.release, 400, a.seed + 2))
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)


if __name__ == "__main__":
    main()
