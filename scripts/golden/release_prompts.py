"""Regenerate tests/golden/prompts_*.jsonl by running the RELEASE's own prompt code.

    python scripts/golden/release_prompts.py /work/peers/open-o3-video [tests/golden]

Nothing of the release is copied: its modules are imported from the checkout given and
executed on generated inputs. Heavy dependencies it imports (transformers, trl, vllm,
torchvision, decord, cv2, wandb, qwen_vl_utils, ...) are replaced by permissive stub
modules; only the pieces the prompt path really calls are given behaviour:

- the Qwen2.5-VL chat template is rendered by transformers' own renderer
  (`render_jinja_template`, imported before the stubs) with the base model's template;
- `decord.VideoReader` / `cv2.VideoCapture` report a generated frame count and fps and
  return blank frames, so the release's own frame selection (`smart_nframes`, its
  `linspace`, the V-STAR script's 1 fps / 16 frame rule) and `sample_fps` arithmetic run;
- the processor call / vLLM generate call at the end of each path raises after capturing
  the text it was given: that text is the model's prompt.

Tables (one JSON object per line, inputs and the release's output):
    prompts_rl.jsonl       RL trainer (`Qwen2VLGRPOTrainer.compute_loss`, data_loader)
    prompts_sft.jsonl      SFT (`prepare_dataset` + `collate_fn`)
    prompts_vstar.jsonl    V-STAR script (`get_answer_*` -> `inference`)
    prompts_mcq.jsonl      VideoMME loader + `QwenVL_VLLM.get_batch_messages`
    subtitles_srt.jsonl    VideoMME loader's `load_subtitles` / `extract_subtitles`
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import random
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from transformers.utils.chat_template_utils import render_jinja_template

from service.inference.tiny import QWEN25_VL_CHAT_TEMPLATE
from training.records import TASKS

SEED = 11
STUB_ROOTS = ("transformers", "trl", "datasets", "accelerate", "peft", "wandb", "vllm",
              "torchvision", "qwen_vl_utils", "deepspeed", "loguru", "requests", "yaml",
              "cv2", "decord", "pandas")


class Captured(Exception):
    def __init__(self, text: str, n_images: int, order: list[str]) -> None:
        super().__init__("captured")
        self.text, self.n_images, self.order = text, n_images, order


# ---- stubs ------------------------------------------------------------------------


class _Stub(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (), {"__init__": lambda self, *a, **k: None})
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname.split(".")[0] in STUB_ROOTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        mod = _Stub(spec.name)
        mod.__path__ = []
        return mod

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def render(messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
    out, _ = render_jinja_template([messages], chat_template=QWEN25_VL_CHAT_TEMPLATE,
                                   add_generation_prompt=add_generation_prompt)
    return str(out[0])


VIDEOS: dict[str, tuple[int, float]] = {}  # file name -> (frame count, fps)


class _VideoReader:
    def __init__(self, path: str) -> None:
        self.n, self.fps = VIDEOS[Path(path).name]

    def __len__(self) -> int:
        return self.n

    def get_avg_fps(self) -> float:
        return self.fps

    def get_batch(self, idx: list[int]) -> Any:
        import numpy as np
        arr = np.zeros((len(idx), 28, 56, 3), dtype=np.uint8)
        return types.SimpleNamespace(asnumpy=lambda: arr)


class _Capture:
    """cv2.VideoCapture over a generated (frame count, fps)."""

    def __init__(self, path: str) -> None:
        self.n, self.fps = VIDEOS[Path(path).name]

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return {5: self.fps, 7: float(self.n)}[prop]

    def set(self, prop: int, value: float) -> bool:
        return True

    def read(self) -> tuple[bool, Any]:
        import numpy as np
        return True, np.zeros((24, 32, 3), dtype=np.uint8)

    def release(self) -> None:
        return None


def install_stubs(peer: Path) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in STUB_ROOTS:
            del sys.modules[name]
    sys.meta_path.insert(0, _StubFinder())
    import cv2  # type: ignore[import-not-found]
    import decord  # type: ignore[import-not-found]
    import trl.data_utils  # type: ignore[import-not-found]
    cv2.VideoCapture, cv2.CAP_PROP_FPS, cv2.CAP_PROP_FRAME_COUNT = _Capture, 5, 7
    cv2.CAP_PROP_POS_FRAMES, cv2.COLOR_BGR2RGB = 1, 4
    cv2.cvtColor = lambda frame, code: frame
    decord.VideoReader = _VideoReader
    trl.data_utils.maybe_apply_chat_template = _maybe_apply_chat_template
    sys.path[:0] = [str(peer / "src/r1-v"), str(peer / "src/r1-v/src/open_r1"), str(peer / "eval"),
                    str(peer / "eval/test")]


def _maybe_apply_chat_template(example: dict[str, Any], processing_class: Any) -> dict[str, str]:
    """TRL's: a conversational prompt rendered with the generation prompt."""
    return {"prompt": processing_class.apply_chat_template(
        example["prompt"], tokenize=False, add_generation_prompt=True)}


class _Processor:
    """The processor: the real chat template; its call captures the text and stops."""

    image_token = "<|image_pad|>"
    tokenizer = types.SimpleNamespace(pad_token_id=0, convert_tokens_to_ids=lambda t: 1)

    def apply_chat_template(self, messages: Any, tokenize: bool = False,
                            add_generation_prompt: bool = False) -> str:
        return render(messages, add_generation_prompt)

    def __call__(self, text: list[str], images: Any = None, **_: Any) -> Any:
        raise Captured(text[0], *_image_order(images))


def _image_order(images: Any) -> tuple[int, list[str]]:
    """How many images, and which were key frames (their pixels are 255, uniform 0)."""
    if images is None:
        return 0, []
    batch = images[0]
    if hasattr(batch, "size") and callable(batch.size) and batch.dim() == 4:
        order = ["k" if int(batch[i].max()) == 255 else "u" for i in range(batch.size(0))]
        return len(order), order
    return len(images), ["i"] * len(images)


# ---- generated inputs -----------------------------------------------------------------

WORDS = ("man", "red cup", "dog", "ball", "car", "woman", "door", "bike", "tree", "phone")


def question(rng: random.Random) -> str:
    q = f"What does the {rng.choice(WORDS)} do after the {rng.choice(WORDS)} moves?"
    if rng.random() < 0.2:
        q += "\nExplain briefly."
    return q


def options(rng: random.Random) -> list[str]:
    return [f"{chr(65 + i)}. {rng.choice(WORDS)}" for i in range(rng.choice((2, 4, 5)))]


def video_meta(rng: random.Random) -> tuple[int, float]:
    fps = rng.choice((23.976, 24.0, 25.0, 29.97, 30.0, 59.94, 12.5))
    seconds = rng.choice((2.5, 4.0, 7.9, 8.0, 12.3, 33.4, 61.0, 150.7, 600.0))
    return max(8, int(seconds * fps)), fps


def write_png(path: Path, white: bool) -> None:
    from PIL import Image
    Image.new("RGB", (64, 48), (255, 255, 255) if white else (0, 0, 0)).save(path)


def key_frames(rng: random.Random, seconds: float, tmp: Path, tag: str) -> list[dict[str, Any]]:
    """0-3 sorted key frames: whole or fractional annotated times, each with a JPEG."""
    out = []
    for k in range(rng.choice((0, 1, 2, 3))):
        t: float = rng.randrange(0, max(1, int(seconds)))
        if rng.random() < 0.6:
            t = round(t + rng.random(), rng.choice((1, 2)))
        name = f"{tag}_kf{k}.png"
        write_png(tmp / name, white=True)
        out.append({"idx": k, "time": t, "path": name})
    return sorted(out, key=lambda kf: kf["time"])




def record(rng: random.Random, i: int, task: str, tmp: Path) -> dict[str, Any]:
    q = question(rng)
    if "MCQ" in task:
        q += "\n" + "\n".join(options(rng))
    rec: dict[str, Any] = {"id": i, "task": task, "question": q, "source": "STR_gen",
                           "answer": "A", "reasoning_process": "look <box>[0.1,0.2,0.3,0.4]</box>",
                           "key_frames": [], "image_size": [], "video_path": f"v{i}.mp4"}
    if task == "visual QA":
        rec.update(source="gqa", image_path=f"img{i}.png", image_size=[64, 48],
                   reasoning_process="look <box>[10,20,30,40]</box>")
        write_png(tmp / f"img{i}.png", white=False)
        return rec
    n, fps = video_meta(rng)
    VIDEOS[f"v{i}.mp4"] = (n, fps)
    rec.update(frame_count=n, fps=fps)
    if task == "temporal-spatial free-form QA":
        rec["key_frames"] = key_frames(rng, n / fps, tmp, f"r{i}")
    return rec


def _vision(vp: Any) -> Any:
    """`process_vision_info` made of the release's own pieces (images via `fetch_image`,
    videos via `_read_video_decord` on the stub reader), without torchvision resizing."""
    def process_vision_info(conversations: Any, return_video_kwargs: bool = False) -> Any:
        images, videos, fps = [], [], []
        for info in vp.extract_vision_info(conversations):
            if "image" in info:
                images.append(vp.fetch_image(info))
            else:
                video, sample_fps = vp._read_video_decord(info)
                videos.append(video)
                fps.append(sample_fps)
        return images or None, videos or None, {"fps": fps}
    return process_vision_info


def _row(rec: dict[str, Any], cap: Captured, cut: bool) -> dict[str, Any]:
    text = cap.text
    if cut:  # SFT renders the whole conversation: keep the prompt (up to the reply)
        marker = "<|im_start|>assistant\n"
        text = text[: text.rindex(marker) + len(marker)]
    keep = ("task", "question", "frame_count", "fps", "key_frames", "image_size")
    row = {k: rec[k] for k in keep if k in rec}
    row["key_frames"] = [kf["time"] for kf in rec["key_frames"]]
    return row | {"text": text, "n_images": cap.n_images, "order": cap.order}


def rl_rows(tmp: Path, rng: random.Random, n: int) -> list[dict[str, Any]]:
    import data_loader  # type: ignore[import-not-found]
    from trainer import grpo_trainer as g  # type: ignore[import-not-found]
    vp = sys.modules["src.open_r1.vision_process"]
    g.process_vision_info = _vision(vp)
    g.STR_DATA = g.STR_KF_ROOT = g.GQA_ROOT = str(tmp)
    trainer = g.Qwen2VLGRPOTrainer.__new__(g.Qwen2VLGRPOTrainer)
    trainer.processing_class = _Processor()
    trainer.state = types.SimpleNamespace(global_step=0, max_steps=10)
    rows = []
    for i in range(n):
        rec = data_loader.make_conversation_image_and_video(record(rng, i, TASKS[i % 6], tmp))
        try:
            trainer.compute_loss(None, [rec])
        except Captured as cap:
            rows.append(_row(rec, cap, cut=False) | {"sample_fps": rec.get("video_sample_fps")})
    return rows


def sft_rows(tmp: Path, rng: random.Random, n: int) -> list[dict[str, Any]]:
    import sft_multi_task as s  # type: ignore[import-not-found]
    vp = sys.modules["src.open_r1.vision_process"]
    s.process_vision_info = _vision(vp)
    s.processor = _Processor()
    s.STR_DATA = s.STR_KF_ROOT = s.TREEVGR_ROOT = s.TVG_ROOT = s.GENERAL_VIDEO_ROOT = str(tmp)
    rows = []
    tasks = [t for t in TASKS if t != "temporal QA (MCQ)"]  # the SFT loader raises on it
    for i in range(n):
        rec = record(rng, 10_000 + i, tasks[i % len(tasks)], tmp)
        example = s.prepare_dataset(rec)
        try:
            s.collate_fn([example])
        except Captured as cap:
            fps = None
            if rec["task"] != "visual QA":
                fps = vp._read_video_decord({"video": str(tmp / rec["video_path"])})[1]
            rows.append(_row(rec, cap, cut=True) | {"sample_fps": fps})
    return rows


def vstar_data(rng: random.Random, i: int) -> dict[str, Any]:
    n, fps = video_meta(rng)
    vid = f"vs{i}"
    VIDEOS[vid + ".mp4"] = (n, fps)
    seconds = n / fps
    s = round(rng.uniform(0, seconds * 0.6), 1)
    e = round(min(seconds, s + rng.uniform(0.5, 8.0)), 1)
    w, h = rng.choice(((1280, 720), (640, 360), (1920, 1080), (720, 1280)))
    boxes = [{"timestamp": t, "frame_index": int(t * fps), "xmin": rng.randrange(0, w // 2),
              "ymin": rng.randrange(0, h // 2), "xmax": rng.randrange(w // 2, w),
              "ymax": rng.randrange(h // 2, h)} for t in range(int(s), int(e) + 1)]
    return {"vid": vid, "fps": fps, "frame_count": n, "width": w, "height": h,
            "question": question(rng), "temporal_question": "When does " + question(rng)[5:],
            "spatial_question": "Where is the " + rng.choice(WORDS) + "?",
            "spatial_question_2": "Where is the " + rng.choice(WORDS) + " moving?",
            "timestamps": [s, e], "bboxes": boxes}


def vstar_rows(tmp: Path, rng: random.Random, n: int) -> list[dict[str, Any]]:
    import test_vstar_multi_images as v  # type: ignore[import-not-found]
    seen: dict[str, Any] = {}
    real_extract = v.extract_frames_from_video

    def extract(path: str, fps: float = 1.0, max_frames: int = 16) -> Any:
        seen["frames"] = real_extract(path, fps=fps, max_frames=max_frames)
        return seen["frames"]

    def generate(llm_inputs: list[dict[str, Any]]) -> str:
        images = llm_inputs[0]["multi_modal_data"].get("image") or []
        raise Captured(llm_inputs[0]["prompt"], len(images), [])

    v.extract_frames_from_video = extract
    v.process_vision_info = lambda msgs, return_video_kwargs=False: (
        [c["image"] for c in msgs[0][1]["content"] if c["type"] == "image"], None, {})
    model = types.SimpleNamespace(video_max_frames=16, processor=_Processor(),
                                  inference_wo_process=generate)
    steps = {"what": lambda d, b, t: v.get_answer_vqa(d, "x.mp4", model, t),
             "when": lambda d, b, t: v.get_answer_temporal(d, "x.mp4", model, t),
             "where": lambda d, b, t: v.get_answer_spatial(d, "x.mp4", model, t),
             "where-chain2": lambda d, b, t: v.get_answer_spatial_2(d, "x.mp4", b, model, t),
             "when-chain2": lambda d, b, t: v.get_answer_temporal_2(d, "x.mp4", b, model, t)}
    rows = []
    for i in range(n):
        data = vstar_data(rng, i)
        VIDEOS["x.mp4"] = VIDEOS[data["vid"] + ".mp4"]
        boxes = [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in data["bboxes"]]
        step = list(steps)[i % 5]
        think = (i // 5) % 10 < 7  # both modes for every step
        try:
            steps[step](data, boxes, think)
        except Captured as cap:
            rows.append({"step": step, "think": think, "data": data, "text": cap.text,
                         "frame_times": seen["frames"][1], "n_images": cap.n_images})
    return rows


def mcq_rows(tmp: Path, rng: random.Random, n: int) -> list[dict[str, Any]]:
    import torch
    from dataloader import videomme as vm  # type: ignore[import-not-found]
    from models import model_vllm as mv  # type: ignore[import-not-found]
    mv.process_vision_info = lambda msgs, return_video_kwargs=False: (
        None, [torch.zeros(4, 3, 28, 28)], {"fps": [2.0]})
    (tmp / "data").mkdir(exist_ok=True)
    this = types.SimpleNamespace(video_max_pixels=262144, video_max_frames=64,
                                 processor=_Processor())
    rows = []
    for i in range(n):
        doc = {"videoID": f"m{i}", "question": question(rng), "options": options(rng)[:4]}
        (tmp / "data" / f"m{i}.mp4").write_bytes(b"")
        add_asr = i % 3 != 0
        said = [question(rng) for _ in range(rng.randrange(1, 4))]
        transcript = "" if i % 6 == 1 else "\n".join(said)
        (tmp / f"m{i}.mp4.txt").write_text(transcript, encoding="utf-8")
        bench = vm.VideoMME_Bench(str(tmp), add_asr=add_asr, asr_dir=str(tmp), think_mode=True)
        paths, images, texts = bench.process_data(doc)
        inputs, _ = mv.QwenVL_VLLM.get_batch_messages(this, paths, texts, images)
        rows.append({"doc": doc, "add_asr": add_asr, "transcript": transcript,
                     "text": inputs[0]["prompt"]})
    return rows


def srt_text(rng: random.Random) -> str:
    blocks, t = [], rng.uniform(0, 3)
    for k in range(rng.randrange(1, 8)):
        start, t = t, t + rng.uniform(0.3, 6)
        lines = [question(rng).split("\n")[0] for _ in range(rng.choice((1, 1, 2, 3)))]
        blocks.append(f"{k + 1}\n{_srt_time(start)} --> {_srt_time(t)}\n" + "\n".join(lines))
        t += rng.uniform(0, 2)
    return "\n\n".join(blocks) + rng.choice(("\n", "\n\n", ""))


def _srt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def subtitle_rows(tmp: Path, rng: random.Random, n: int) -> list[dict[str, Any]]:
    from dataloader import videomme as vm
    rows = []
    for i in range(n):
        srt = srt_text(rng)
        path = tmp / f"s{i}.srt"
        path.write_text(srt, encoding="utf-8")
        frames, fps = video_meta(rng)
        VIDEOS[f"s{i}.mp4"] = (frames, fps)
        subs, total = vm.extract_subtitles(str(tmp / f"s{i}.mp4"), str(path))
        rows.append({"srt": srt, "fps": fps, "frame_count": frames, "total": total,
                     "lines": [list(s) for s in subs]})
    return rows


def main(argv: list[str]) -> int:
    peer = Path(argv[1])
    out = Path(argv[2] if len(argv) > 2 else "tests/golden")
    out.mkdir(parents=True, exist_ok=True)
    install_stubs(peer)
    tables = {"prompts_rl": (rl_rows, 300), "prompts_sft": (sft_rows, 250),
              "prompts_vstar": (vstar_rows, 250), "prompts_mcq": (mcq_rows, 120),
              "subtitles_srt": (subtitle_rows, 120)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, n) in tables.items():
            rows = make(Path(tmp), random.Random(f"{SEED}:{name}"), n)
            with (out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            print(f"{name}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
