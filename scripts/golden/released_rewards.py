"""Golden table for `rl.rewards.mode: released`: THEIR reward functions on generated data.

    python scripts/golden/released_rewards.py /path/to/Open-o3-Video [--n-per-case 3]

Loads `src/r1-v/src/open_r1/reward_func.py` from the given checkout of the release
(github marinero4972/Open-o3-Video), generates annotations of all six STGR tasks and, for
each, a well-formed completion with exactly one perturbation applied (clean included),
runs the release's seven reward functions on it exactly as its GRPO trainer calls them
(one prompt's completions per call, `kwargs` lists), and writes input -> output rows to
`tests/golden/released_rewards.jsonl`. Nothing of the release's code is copied: the table
holds only our generated inputs and their outputs. `tests/unit/training/
test_released_rewards_golden.py` asserts `training.rewards_released` equals every row.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from training.records import TASKS  # noqa: E402  (the one task table)

OUT = ROOT / "tests" / "golden" / "released_rewards.jsonl"
NAMES = (
    "ans_acc",
    "ans_tiou",
    "ans_viou",
    "thk_temporal_point",
    "thk_temporal_segment",
    "thk_spatial",
    "format",
)
OBJECTS = ("man", "dog", "red car", "ball", "woman in blue", "cup")
SENTENCES = (
    "the man picks up the red cup",
    "a dog runs across the yard",
    "she opens the door and walks out",
    "two people are talking near a car",
)


def load_release(root: Path) -> ModuleType:
    path = root / "src" / "r1-v" / "src" / "open_r1" / "reward_func.py"
    spec = importlib.util.spec_from_file_location("released_reward_func", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- annotations ------------------------------------------------------------------------


def _box_px(rng: random.Random, w: int, h: int) -> list[int]:
    x1, y1 = rng.randint(0, w // 2), rng.randint(0, h // 2)
    return [x1, y1, rng.randint(x1 + 5, w), rng.randint(y1 + 5, h)]


def _compact(box: list[int]) -> str:
    return json.dumps(box).replace(" ", "")


def _norm(box: list[int], w: int, h: int) -> list[float]:
    return [round(box[0] / w, 4), round(box[1] / h, 4), round(box[2] / w, 4), round(box[3] / h, 4)]


def annotation(rng: random.Random, task: str) -> dict[str, Any]:
    fed = rng.choice([(420, 224), (336, 252), (448, 224), (252, 448)])
    ann: dict[str, Any] = {
        "task": task,
        "key_frames": [],
        "key_items": {},
        "image_size": list(fed),
        "image_size_refine": list(fed),
    }
    if task == "visual QA":
        size = rng.choice([(640, 480), (1024, 768), (500, 375), (800, 1200)])
        ann["image_size_refine"] = list(rng.choice([(448, 336), (420, 308), (252, 336)]))
        name = rng.choice(OBJECTS)
        ann.update(
            image_size=list(size),
            answer=f"<obj>{name}</obj><box>{_compact(_box_px(rng, *size))}</box>",
            obj=name,
        )
    elif task == "temporal-spatial free-form QA":
        n = rng.randint(1, 3)
        times = sorted(round(rng.uniform(0, 30), rng.choice([0, 1, 2])) for _ in range(n))
        for i, t in enumerate(times):
            idx = int(t * 30) + i
            ann["key_frames"].append({"idx": idx, "time": t, "path": f"kf_{idx}.jpg"})
            names = rng.sample(OBJECTS, rng.randint(1, 2))
            ann["key_items"][str(idx)] = {
                nm: [_norm(_box_px(rng, *fed), *fed) for _ in range(rng.choice([1, 1, 2]))]
                for nm in names
            }
        ann["answer"] = rng.choice(SENTENCES)
    elif task in ("temporal QA", "temporal QA (MCQ)"):
        s = round(rng.uniform(0, 40), rng.choice([1, 2]))
        e = round(s + rng.uniform(0.5, 20), rng.choice([1, 2]))
        span = f"[{s}, {e}]"
        ann["answer"] = span if task == "temporal QA" else f"{rng.choice('ABCD')}\n{span}"
    elif task == "General video QA MCQ":
        ann["answer"] = rng.choice("ABCDE")
    else:
        ann["answer"] = rng.choice(SENTENCES)
    return ann


# ---- clean completions ------------------------------------------------------------------


def _mention(rng: random.Random, ann: dict[str, Any]) -> str:
    kf = rng.choice(ann["key_frames"])
    items = ann["key_items"][str(kf["idx"])]
    name = rng.choice(sorted(items))
    w, h = ann["image_size"]
    box = items[name][0]
    px = [
        round(box[0] * w + rng.uniform(-8, 8)),
        round(box[1] * h + rng.uniform(-8, 8)),
        round(box[2] * w + rng.uniform(-8, 8)),
        round(box[3] * h + rng.uniform(-8, 8)),
    ]
    t = round(kf["time"] + rng.choice([0, 0, 0.4, -0.6, 1.5, -2.5]), 1)
    return f"<obj>{name}</obj><box>[{px[0]},{px[1]},{px[2]},{px[3]}]</box>at<t>{t}</t>s"


def _span(ann: dict[str, Any]) -> tuple[float, float]:
    s, e = json.loads(ann["answer"].split("\n")[-1])
    return float(s), float(e)


def clean(rng: random.Random, ann: dict[str, Any]) -> str:
    task = ann["task"]
    if task == "visual QA":
        box = _near_answer_box(rng, ann)
        ev = f"<obj>{ann['obj']}</obj><box>[{box[0]},{box[1]},{box[2]},{box[3]}]</box>"
        return f"<think>I look for the {ann['obj']}: {ev} is there.</think>\n<answer>{ev}</answer>"
    if task == "temporal-spatial free-form QA":
        think = " then ".join(_mention(rng, ann) for _ in range(rng.randint(1, 3)))
        return f"<think>First {think}.</think>\n<answer>{_paraphrase(rng, ann)}</answer>"
    if task in ("temporal QA", "temporal QA (MCQ)"):
        s, e = _span(ann)
        s, e = round(s + rng.uniform(-2, 2), 1), round(e + rng.uniform(-2, 2), 1)
        s = max(0.0, s)
        think = f"The action starts near <t>{s}</t>s and ends by <t>{e}</t>s."
        answer = f"From <t>{s}</t>s to <t>{e}</t>s"
        if task == "temporal QA (MCQ)":
            letter = rng.choice([ann["answer"][0], rng.choice("ABCD")])
            answer += f".\nCorrect Option: {letter}"
        return f"<think>{think}</think>\n<answer>{answer}</answer>"
    evidence = (
        f"<obj>man</obj><box>[{rng.randint(0, 50)},{rng.randint(0, 50)},"
        f"{rng.randint(60, 200)},{rng.randint(60, 200)}]</box>at<t>{rng.randint(0, 20)}.0</t>s"
    )
    if task == "General video QA MCQ":
        letter = rng.choice([ann["answer"], rng.choice("ABCDE")])
        return f"<think>I see {evidence} so the answer follows.</think>\n<answer>{letter}</answer>"
    return f"<think>I see {evidence} in the clip.</think>\n<answer>{_paraphrase(rng, ann)}</answer>"


def _near_answer_box(rng: random.Random, ann: dict[str, Any]) -> list[int]:
    """The answer box in fed pixels, jittered (so IoUs spread over (0, 1])."""
    gt = json.loads(ann["answer"].split("<box>")[1].split("</box>")[0])
    (w, h), (fw, fh) = ann["image_size"], ann["image_size_refine"]
    scaled = [gt[0] * fw / w, gt[1] * fh / h, gt[2] * fw / w, gt[3] * fh / h]
    return [round(v + rng.uniform(-15, 15)) for v in scaled]


def _paraphrase(rng: random.Random, ann: dict[str, Any]) -> str:
    """Some of the reference's words, shuffled a little, plus some other words."""
    words = ann["answer"].split()
    kept = [w for w in words if rng.random() < 0.7]
    if rng.random() < 0.5:
        rng.shuffle(kept)
    extra = rng.choice(SENTENCES).split()[: rng.randint(0, 4)]
    return " ".join(kept + extra) or "nothing"


# ---- perturbations (one per row) ----------------------------------------------------------


def _sub_first(text: str, old: str, new: str) -> str:
    return text.replace(old, new, 1)


def _box_edit(edit: Callable[[list[str]], str]) -> Callable[[str, random.Random], str]:
    def apply(text: str, rng: random.Random) -> str:
        start = text.find("<box>[")
        end = text.find("]</box>", start)
        if start < 0 or end < 0:
            return text
        nums = text[start + 6 : end].split(",")
        return text[: start + 5] + edit(nums) + text[end + 1 :]

    return apply


def _letter_form(text: str, rng: random.Random) -> str:
    form = rng.choice(
        ["({})", "{}.", "[{}]", "Answer: {}", "{}. the second one", " {} ", "{})", "option {}"]
    )
    for tag in ("<answer>", "Correct Option: "):
        i = text.rfind(tag)
        if i >= 0 and i + len(tag) < len(text) and text[i + len(tag)].isalpha():
            j = i + len(tag)
            letter = text[j]
            lower = rng.random() < 0.2
            return text[:j] + form.format(letter.lower() if lower else letter) + text[j + 1 :]
    return text


PERTURB: dict[str, Callable[[str, random.Random], str]] = {
    "clean": lambda t, r: t,
    "tag_case": lambda t, r: t.replace("<think>", "<Think>").replace("</think>", "</Think>"),
    "answer_case": lambda t, r: t.replace("<answer>", "<ANSWER>"),
    "evidence_spacing": lambda t, r: t.replace("</box>at<t>", "</box> at <t>"),
    "obj_spacing": lambda t, r: t.replace("<obj>", "<obj> "),
    "box_spaces": _box_edit(lambda n: "[" + ", ".join(n) + "]"),
    "box_float": _box_edit(
        lambda n: (
            "[" + ",".join(f"{float(x) + 0.5}" for x in n) + "]"
            if all(x.strip().lstrip("-").isdigit() for x in n)
            else "[" + ",".join(n) + "]"
        )
    ),
    "box_swapped": _box_edit(
        lambda n: "[" + ",".join([n[2], n[3], n[0], n[1]] if len(n) == 4 else n) + "]"
    ),
    "box_normalized": _box_edit(lambda n: "[0.12,0.2,0.55,0.9]"),
    "box_outside": _box_edit(lambda n: "[-30,-10,9000,8000]"),
    "box_three": _box_edit(lambda n: "[" + ",".join(n[:3]) + "]"),
    "box_text": _box_edit(lambda n: "[" + ",".join(n[:3]) + ",a]"),
    "box_newline": _box_edit(lambda n: "[" + n[0] + ",\n" + ",".join(n[1:]) + "]"),
    "box_strings": _box_edit(lambda n: "[" + ",".join(f'"{x}"' for x in n) + "]"),
    "box_null": _box_edit(lambda n: "[null,1,2,3]"),
    "box_empty": _box_edit(lambda n: "[]"),
    "box_unclosed": lambda t, r: _sub_first(t, "]</box>", "]"),
    "two_boxes": lambda t, r: _sub_first(t, "</box>at", "</box><box>[5,5,60,60]</box>at"),
    "time_clock": lambda t, r: _sub_first(t, "<t>", "<t>0:0"),
    "time_malformed": lambda t, r: _sub_first(t, "</t>s", ".3.1</t>s"),
    "time_dot": lambda t, r: t.replace("<t>", "<t>.", 1) if "<t>" in t else t,
    "time_spaces": lambda t, r: _sub_first(t, "<t>", "<t> "),
    "time_no_s": lambda t, r: t.replace("</t>s", "</t>"),
    "time_unit_inside": lambda t, r: _sub_first(t, "</t>s", " s</t>s"),
    "time_negative": lambda t, r: _sub_first(t, "<t>", "<t>-"),
    "time_far": lambda t, r: _sub_first(t, "<t>", "<t>9"),
    "time_integer": lambda t, r: t.replace(".0</t>", "</t>").replace(".5</t>", "</t>"),
    "span_reversed": lambda t, r: _reverse_span(t),
    "span_untagged": lambda t, r: (
        t.replace("From <t>", "From ")
        .replace("</t>s to <t>", "s to ")
        .replace("</t>s.", "s.")
        .replace("</t>s</answer>", "s</answer>")
    ),
    "span_spaced": lambda t, r: t.replace("</t>s to <t>", "</t>s  to <t>"),
    "letter_form": _letter_form,
    "letter_wrong": lambda t, r: _wrong_letter(t),
    "option_lower": lambda t, r: t.replace("Correct Option:", "correct option:"),
    "option_missing": lambda t, r: t.replace("Correct Option: ", ""),
    "two_think": lambda t, r: t.replace("</think>", "</think><think>again <t>3.0</t>s</think>", 1),
    "two_answers": lambda t, r: t + "\n<answer>B</answer>",
    "answer_empty": lambda t, r: (
        t[: t.find("<answer>")] + "<answer></answer>" if "<answer>" in t else t
    ),
    "think_unclosed": lambda t, r: t.replace("</think>", ""),
    "answer_unclosed": lambda t, r: t.replace("</answer>", ""),
    "answer_unopened": lambda t, r: t.replace("<answer>", ""),
    "no_think": lambda t, r: t.replace("<think>", "").replace("</think>", ""),
    "plain_think": lambda t, r: _plain_think(t),
    "mention_no_box": lambda t, r: _strip_first_box(t),
    "noise_prefix": lambda t, r: "Sure! Let me reason.\n" + t,
    "answer_newlines": lambda t, r: t.replace("<answer>", "<answer>\n\n").replace(
        "</answer>", "\n</answer>"
    ),
    "evidence_in_answer": lambda t, r: t.replace(
        "</answer>", " <obj>cup</obj><box>[1,2,30,40]</box></answer>"
    ),
    "nested_tags": lambda t, r: t.replace("<think>", "<think><think>", 1),
}


def _reverse_span(text: str) -> str:
    i = text.find("From <t>")
    if i < 0:
        return text
    a_end = text.find("</t>", i)
    b_start = text.find("<t>", a_end) + 3
    b_end = text.find("</t>", b_start)
    a, b = text[i + 8 : a_end], text[b_start:b_end]
    return text[: i + 8] + b + text[a_end:b_start] + a + text[b_end:]


def _wrong_letter(text: str) -> str:
    for tag in ("Correct Option: ", "<answer>"):
        j = text.rfind(tag)
        if j >= 0 and j + len(tag) < len(text) and text[j + len(tag)] in "ABCDE":
            k = j + len(tag)
            return text[:k] + ("A" if text[k] != "A" else "E") + text[k + 1 :]
    return text


def _plain_think(text: str) -> str:
    i, j = text.find("<think>"), text.find("</think>")
    if i < 0 or j < 0:
        return text
    return text[: i + 7] + "I watched the whole video carefully." + text[j:]


def _strip_first_box(text: str) -> str:
    i = text.find("<box>")
    j = text.find("</box>", i)
    return text if i < 0 or j < 0 else text[:i] + text[j + 6 :]


# ---- running THEIR functions ----------------------------------------------------------------


def run_release(
    module: ModuleType, text: str, ann: dict[str, Any], step: float
) -> dict[str, float]:
    """One completion through each released function, kwargs as their trainer builds them
    (`image_size` a (W, H) tuple for videos, the record's list for images)."""
    out = {}
    for name in NAMES:
        size = ann["image_size"] if ann["task"] == "visual QA" else tuple(ann["image_size"])
        kwargs = {
            "prompts": [None],
            "completions": [[{"role": "assistant", "content": text}]],
            "answer": [ann["answer"]],
            "task": [ann["task"]],
            "key_frames": [copy.deepcopy(ann["key_frames"])],
            "key_items": [copy.deepcopy(ann["key_items"])],
            "image_size": [size],
            "image_size_refine": [tuple(ann["image_size_refine"])],
            "step_percent": [step],
        }
        out[name] = float(getattr(module, f"{name}_reward")(**kwargs)[0])
    return out


def rows(module: ModuleType, n_per_case: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for task in TASKS:
        for case, perturb in PERTURB.items():
            for _ in range(n_per_case):
                ann = annotation(rng, task)
                text = perturb(clean(rng, ann), rng)
                step = rng.choice([0.001, 0.2, 0.5, 0.74, 0.75, 0.9, 1.0])
                fields = {
                    k: ann[k]
                    for k in (
                        "answer",
                        "key_frames",
                        "key_items",
                        "image_size",
                        "image_size_refine",
                    )
                }
                fields["key_frames"] = [
                    {"idx": k["idx"], "time": k["time"]} for k in ann["key_frames"]
                ]
                out.append(
                    {
                        "case": case,
                        "task": task,
                        "completion": text,
                        "fields": fields,
                        "step_percent": step,
                        "expected": run_release(module, text, ann, step),
                    }
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help="checkout of marinero4972/Open-o3-Video")
    parser.add_argument("--n-per-case", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    module = load_release(args.release)
    table = rows(module, args.n_per_case, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in table))
    print(json.dumps({"rows": len(table), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
