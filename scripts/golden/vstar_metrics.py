"""Golden tables from V-STaR's OWN evaluation code (never copied here).

    python scripts/golden/vstar_metrics.py /path/to/V-STaR [--open-o3 /path/to/Open-o3-Video]
        [--out tests/golden]

Runs `evaluate_json` of the benchmark's `eval.py` (and, with --open-o3, of the Open-o3
release's `eval/test/eval_vstar.py`, which re-reads empty ranges from the raw answer
and needs box predictions to be a dict) on generated result files: per-sample judge
scores (its `qwen2_5_evaluation` with the judge model replaced by a scripted reply),
temporal IoU (`calculate_temporal_iou`), visual IoU and AP (`calculate_spatial_metrics`,
boxes looked up by `str(timestamp)`), and the printed overall Acc / mIoU / AM / LGM.
The judge model and tokenizer (`transformers`) are replaced by `_stubs`-style fakes;
`json.load` inside the module is pointed at the generated list, so the per-sample
fields their loop writes into each item are read back directly.
Writes `vstar_eval_metrics.jsonl` (and `open_o3_eval_vstar_metrics.jsonl`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import io
import json
import os
import random
import re
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

REPLIES = ["0", "1", "2", "3", " 2", "2\n", "3.", "two", "", "5", "-1", "-3", "2.0", "+2"]
STATE: dict[str, Any] = {"replies": {}, "text": ""}


class _Inputs(dict):  # type: ignore[type-arg]
    def to(self, device: Any) -> _Inputs:
        return self

    @property
    def input_ids(self) -> list[list[int]]:
        return [[0]]


class _Tokenizer:
    def apply_chat_template(self, messages: Any, **kwargs: Any) -> str:
        STATE["text"] = messages[-1]["content"]
        return str(STATE["text"])

    def __call__(self, texts: Any, **kwargs: Any) -> _Inputs:
        return _Inputs(input_ids=[[0]])

    def batch_decode(self, ids: Any, **kwargs: Any) -> list[str]:
        cand = re.search(r"Candidate answer: (.*)\nYour response: $", STATE["text"], re.S)
        return [STATE["replies"][cand.group(1) if cand else ""]]


class _Model:
    device = "cpu"

    def generate(self, **kwargs: Any) -> list[list[int]]:
        return [[0, 1]]


def install_stubs() -> None:
    transformers = types.ModuleType("transformers")
    transformers.AutoModelForCausalLM = types.SimpleNamespace(  # type: ignore[attr-defined]
        from_pretrained=lambda *a, **k: _Model())
    transformers.AutoTokenizer = types.SimpleNamespace(  # type: ignore[attr-defined]
        from_pretrained=lambda *a, **k: _Tokenizer())
    sys.modules["transformers"] = transformers


def load(path: Path, name: str, workdir: Path) -> types.ModuleType:
    """Import their script; its import-time `evaluate_json(...)` runs on a dummy file."""
    dummy = [sample(random.Random(0), 0, "d")]
    dummy[0]["answer_vqa"] = "dummy"
    STATE["replies"]["dummy"] = "0"  # Acc 1 would raise in their LGM (log 0)
    for rel in ("results/qwen2_5/qwen2-5-32B_answer_update.json", "none.json"):
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(json.dumps(dummy))
    (workdir / "metrics").mkdir(exist_ok=True)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    argv = sys.argv
    sys.argv = [str(path)]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            spec.loader.exec_module(mod)
    finally:
        sys.argv = argv
    return mod


def _gt(rng: random.Random) -> tuple[list[float], list[dict[str, Any]], int, int]:
    w, h = rng.choice([(1280, 720), (640, 360), (1920, 1080)])
    s = round(rng.uniform(0, 50), rng.choice([0, 1, 2]))
    e = round(s + rng.uniform(1, 30), rng.choice([0, 1, 2]))
    boxes = []
    for t in range(int(s), int(s) + rng.randint(1, 5)):
        x1, y1 = rng.randint(0, w - 100), rng.randint(0, h - 100)
        stamp: Any = t if rng.random() < 0.8 else float(t)
        boxes.append({"timestamp": stamp, "frame_index": t * 30, "xmin": x1, "ymin": y1,
                      "xmax": x1 + rng.randint(10, 99), "ymax": y1 + rng.randint(10, 99)})
    return [s, e], boxes, w, h


def _pred_span(rng: random.Random, gt: list[float]) -> Any:
    s, e = gt
    forms: list[Any] = [
        [s + rng.uniform(-5, 5), e + rng.uniform(-5, 5)], [round(s), round(e)], [],
        str([s, e + 2]), "not a list", [s], [s, e, e + 1], [e, s], [s, "9"], [True, e],
        [e + 10, e + 20], None, "[1, 2", [float(s), float(s)], 0]
    return rng.choice(forms)


def _pred_boxes(rng: random.Random, boxes: list[dict[str, Any]]) -> Any:
    kind = rng.random()
    if kind < 0.1:
        return rng.choice([None, {}, []])
    out: dict[str, Any] = {}
    for b in boxes:
        if rng.random() < 0.2:
            continue  # a missing frame
        key = str(b["timestamp"]) if rng.random() < 0.85 else str(int(b["timestamp"])) + ".0"
        j = rng.randint(-30, 30)
        box = [b["xmin"] + j, b["ymin"] - j, b["xmax"] + j, b["ymax"] + 2 * j]
        r = rng.random()
        if r < 0.6:
            out[key] = box
        elif r < 0.7:
            out[key] = [box, [0, 0, 10, 10]]
        elif r < 0.78:
            out[key] = [box[2], box[3], box[0], box[1]]  # inverted corners
        elif r < 0.84:
            out[key] = box[:3]
        elif r < 0.9:
            out[key] = [str(v) for v in box]
        elif r < 0.95:
            out[key] = [[box]]
        else:
            out[key] = []
    if kind < 0.15:
        return [[k, v] for k, v in out.items()]  # a list, not a dict
    return out


def sample(rng: random.Random, i: int, domain: str) -> dict[str, Any]:
    gt, boxes, w, h = _gt(rng)
    fps = rng.choice([24.0, 25.0, 30.0])
    item: dict[str, Any] = {
        "vid": f"v{i}", "domain": domain, "fps": fps, "frame_count": int(fps * rng.choice(
            [30, 90, 200])), "width": w, "height": h, "question": f"What is in clip {i}?",
        "answer": "a dog", "timestamps": gt, "bboxes": boxes,
        "answer_temporal": _pred_span(rng, gt), "answer_temporal_2": _pred_span(rng, gt),
        "answer_spatial": _pred_boxes(rng, boxes), "answer_spatial_2": _pred_boxes(rng, boxes),
        "answer_temporal_pre": f"<answer>From <t>{gt[0]}</t>s to <t>{gt[1] + 1}</t>s</answer>",
        "answer_temporal_pre_2": rng.choice(["From 0:04 to 0:09", "none", "[3, 8]"]),
    }
    if rng.random() < 0.1:
        item.pop("answer_vqa", None)
    else:
        cand = f"candidate {i}"
        item["answer_vqa"] = cand if rng.random() < 0.95 else ""
        STATE["replies"][cand] = rng.choice(REPLIES)
    return item


_SUMMARY = {
    "accuracy": r"Accuracy: ([0-9.]+)",
    "am": r"AM1:([0-9.]+), AM2:([0-9.]+), mAM:([0-9.]+)",
    "lgm": r"LGM1:([-0-9.]+), LGM2:([-0-9.]+), mLGM:([-0-9.]+)",
    "tiou": r"Temporal Answer:.*?Mean IoU: ([0-9.]+)",
    "viou": r"Spatial Answer:.*?Mean mIoU: ([0-9.]+)",
}
FIELDS = ["VQA_score", "temporal_IoU", "temporal_IoU_2", "spatial_mIoU", "spatial_mIoU_2",
          "AP1@0.1:0.9", "AP2@0.1:0.9"]


def overall(printed: str) -> dict[str, Any]:
    block = printed.split("Overall Statistics:", 1)[1].split("Video Length:", 1)[0]
    out: dict[str, Any] = {}
    for key, pattern in _SUMMARY.items():
        found = re.findall(pattern, block)
        out[key] = [float(x) for m in found for x in (m if isinstance(m, tuple) else (m,))]
    return out


def evaluate(mod: types.ModuleType, data: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-sample fields and the printed overall block; where their code raised (ln 0 in
    a per-group LGM, say), the error too, with what it had finished before."""
    items = copy.deepcopy(data)
    mod.json = types.SimpleNamespace(load=lambda f: items, dump=lambda *a, **k: None)
    out = io.StringIO()
    result: dict[str, Any] = {}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            mod.evaluate_json("none.json")
    except Exception as exc:  # the benchmark's code raising is a recorded outcome
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["per_sample"] = [{k: _plain(it[k]) for k in FIELDS if k in it} for it in items]
    printed = out.getvalue()
    if "Overall Statistics:" in printed and "Video Length:" in printed:
        result["overall"] = overall(printed)
    return result


def _plain(v: Any) -> Any:
    if isinstance(v, list):
        return [float(x) for x in v]
    return float(v) if not isinstance(v, int) else v


def rows(mod: types.ModuleType, n_sets: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for k in range(n_sets):
        data = [sample(rng, 100 * k + i, rng.choice(["sports", "cooking"]))
                for i in range(rng.randint(8, 25))]
        replies = {it["answer_vqa"]: STATE["replies"][it["answer_vqa"]]
                   for it in data if it.get("answer_vqa")}
        out.append({"id": f"set-{k}", "data": data, "judge_replies": replies,
                    "result": evaluate(mod, data)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("vstar", type=Path, help="local checkout of V-STaR-Bench/V-STaR")
    ap.add_argument("--open-o3", type=Path, default=None, help="checkout of Open-o3-Video")
    ap.add_argument("--out", type=Path, default=Path("tests/golden"))
    ap.add_argument("--sets", type=int, default=40)
    a = ap.parse_args()
    install_stubs()
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    targets = [("vstar_eval_metrics.jsonl", a.vstar / "eval.py", "vstar_eval", 21)]
    if a.open_o3:
        targets.append(("open_o3_eval_vstar_metrics.jsonl",
                        a.open_o3 / "eval" / "test" / "eval_vstar.py", "open_o3_eval", 22))
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        try:
            for fname, path, name, seed in targets:
                mod = load(path, name, Path(work))
                table = rows(mod, a.sets, seed)
                with (out / fname).open("w") as f:
                    for r in table:
                        f.write(json.dumps(r, sort_keys=True) + "\n")
                errors = sum("error" in r["result"] for r in table)
                whole = sum("overall" in r["result"] for r in table)
                print(f"{out / fname}: {len(table)} sets, {errors} raised in their code, "
                      f"{whole} with the overall block printed")
        finally:
            os.chdir(cwd)


if __name__ == "__main__":
    main()
