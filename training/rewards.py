"""RL rewards of SPEC section 5, as TRL reward functions: r = r_acc + r_format + r_time + r_space.

Owns: the four reward terms, the sigma schedule and the temporal-gating rule, plus
`make_reward_funcs`, which binds a `RewardConfig` into named TRL reward functions.

TRL calling convention (TRL 1.16 `GRPOTrainer._calculate_rewards`): each function gets
`prompts`, `completions` (a string, or `[{"role": "assistant", "content": str}]` for
conversational data), `completion_ids`, every other dataset column as a list keyed by
its name, and `trainer_state` (a `transformers.TrainerState`). Our datasets carry one
JSON column, `annotation` (built by `training.data.annotation_json`):

    {"task", "answer", "letter", "span", "key_frames": [{"time", "boxes": {name: [box]}}],
     "gt_box", "fed_size", "duration", "n_options"}

with every box already in fed-frame pixels (what the model sees and writes).

Invariants:
- Every term is in [0, 1] for every completion, whatever the text (the parser never
  raises; these functions add no exception handling of their own on model text).
- Training progress p = global_step / max_steps from `trainer_state`; without a trainer
  state (evaluation) p = 1, i.e. the final sigma.
- Gating (paper): a mention counts only if |t_pred - t_gt| <= tau for its matched key
  frame, else it scores 0 (it still counts in the mean): a box at the wrong time is
  never rewarded. Gating (code): the released `gt - pred < 1` one-sided test.
- Temporal MCQ accuracy is the mean of the letter match and the span's temporal IoU
  (the released code adds them as two rewards; we keep each term within [0, 1]); an
  unreadable letter scores 0 for the letter, the span still counts.
- Spatial (paper): every `<obj>` the think section opens is a mention; one the parser
  drops (no usable box, no readable time, past the end) scores 0 in the mean.
- Think times are read like the parser reads evidence times (`0:02` is 2 s); a `<t>`
  that holds no readable time counts as a miss (0) in the temporal mean.
- `mode: released` replaces all of this by the released reward functions, case for
  case (`training.rewards_released`), summed into the same four logged terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from service.grounding import grammar
from service.grounding.geometry import box_iou, temporal_iou
from service.grounding.parser import normalize_mcq_letter, parse_trace
from service.grounding.types import Box, ParsedTrace
from training.annotation import Annotation, parse_annotation
from training.config import RewardConfig
from training.records import GROUNDED_TASKS, MCQ_TASKS, TEMPORAL_TASKS
from training.rewards_released import released_terms, rouge_mean

RewardFunc = Callable[..., list[float]]



# ---- reading completions and annotations ------------------------------------------


def completion_text(completion: Any) -> str:
    """The assistant text of one TRL completion (plain or conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # structured content blocks
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    return str(completion)


@lru_cache(maxsize=4096)
def _parse_cached(text: str, raw_annotation: str) -> ParsedTrace:
    ann = parse_annotation(raw_annotation)
    n_options = ann.n_options if ann.task in MCQ_TASKS else None
    return parse_trace(text, task=ann.task_type, fed_size=ann.fed_size,
                       duration=ann.duration, n_options=n_options)


def time_value(content: str) -> float | None:
    """A `<t>` content as seconds (the parser's reader: `2.5`, `2.5 s`, `0:02`,
    `1:02:03`); None when unreadable."""
    return grammar.tag_time(content)[0]


def think_times(think: str | None) -> list[float | None]:
    """Every `<t>..</t>` in the think section (evidence or bare time mentions), in
    seconds; None for one that holds no readable time."""
    return [time_value(m.group("time") or "")
            for m in grammar.EVIDENCE_TAG.finditer(think or "") if m.group("t")]


def tagged_boxes(text: str | None) -> list[Box]:
    """Every well-formed `<box>[x1,y1,x2,y2]</box>` in `text` (visual QA answers)."""
    boxes = []
    for match in grammar.EVIDENCE_TAG.finditer(text or ""):
        nums = grammar.NUMBER.findall(match.group("coords") or "")
        if match.group("box") and len(nums) == 4:
            x1, y1, x2, y2 = (float(n) for n in nums)
            boxes.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return [b for b in boxes if all(math.isfinite(v) for v in b)]


# ---- the four terms on one completion -----------------------------------------------


def rouge_f1(reference: str, hypothesis: str) -> float:
    """Mean of ROUGE-1/2/L F1 (stemmed), as the released code computes it."""
    if not reference.strip() or not hypothesis.strip():
        return 0.0
    return min(1.0, max(0.0, rouge_mean(reference, hypothesis)))


def mcq_letter(answer: str | None, n_options: int | None = None) -> str | None:
    """The option letter of an answer: `A`, `A.`, `(A)` all read as `A`."""
    return normalize_mcq_letter(answer or "", n_options)


def temporal_mcq_letter(answer: str | None) -> str | None:
    """The letter after `Correct Option:` in a temporal MCQ answer."""
    match = grammar.CORRECT_OPTION.search(answer or "")
    return normalize_mcq_letter(answer[match.end():].strip()) if answer and match else None


def accuracy_score(parsed: ParsedTrace, ann: Annotation) -> float:
    if ann.task == "temporal QA (MCQ)":  # a span without a readable letter still counts
        return _temporal_mcq_accuracy(parsed, ann)
    if not parsed.has_answer:
        return 0.0
    if ann.task == "visual QA":
        boxes = tagged_boxes(parsed.answer)
        return box_iou(boxes[0], ann.gt_box) if boxes and ann.gt_box else 0.0
    if ann.task in TEMPORAL_TASKS:
        tiou = temporal_iou(parsed.span, ann.span) if parsed.span and ann.span else 0.0
        return tiou
    if ann.task in MCQ_TASKS:
        return float(mcq_letter(parsed.answer, ann.n_options) == ann.letter)
    return rouge_f1(ann.answer, parsed.answer or "")


def _temporal_mcq_accuracy(parsed: ParsedTrace, ann: Annotation) -> float:
    """mean(letter right, tIoU of the span): the parser gives the letter after
    `Correct Option:` as the answer of this form (None when unreadable)."""
    tiou = temporal_iou(parsed.span, ann.span) if parsed.span and ann.span else 0.0
    answer = parsed.answer
    letter = (temporal_mcq_letter(answer) or mcq_letter(answer, ann.n_options)) if answer else None
    return (float(letter is not None and letter == ann.letter) + tiou) / 2


def _balanced(text: str, opener: Any, closer: Any) -> bool:
    return len(opener.findall(text)) == len(closer.findall(text))


def tags_balanced(text: str) -> bool:
    """Each of think/answer appears exactly once, opened and closed."""
    pairs = ((grammar.THINK_OPEN, grammar.THINK_CLOSE), (grammar.ANSWER_OPEN, grammar.ANSWER_CLOSE))
    return all(len(o.findall(text)) == 1 and _balanced(text, o, c) for o, c in pairs)


def evidence_well_formed(parsed: ParsedTrace, ann: Annotation) -> bool:
    """The think section carries the task's evidence in the grammar (SPEC 3)."""
    think = parsed.think or ""
    counts = {"obj": 0, "box": 0, "t": 0}
    for match in grammar.EVIDENCE_TAG.finditer(think):
        counts[str(match.lastgroup)] += 1
    opens = {tag: think.lower().count(f"<{tag}>") for tag in counts}
    if any(opens[tag] != counts[tag] for tag in counts):  # an unclosed or broken tag
        return False
    if ann.task in TEMPORAL_TASKS:
        return counts["t"] >= 2
    if ann.task == "visual QA":
        return counts["box"] >= 1
    return len(parsed.evidence) >= 1


def format_score(text: str, parsed: ParsedTrace, ann: Annotation) -> float:
    """1.0 think+answer with well-formed evidence tags; 0.5 think+answer only; else 0."""
    if parsed.think is None or not parsed.has_answer or not tags_balanced(text):
        return 0.0
    return 1.0 if evidence_well_formed(parsed, ann) else 0.5


def sigma_at(progress: float, cfg: RewardConfig) -> float:
    """sigma = max(end, start * (1 - p)) annealed over `anneal_fraction`; code: max(1, 4(1-p))."""
    if not cfg.adaptive_sigma:
        return cfg.sigma_end
    p = min(1.0, max(0.0, progress))
    if p >= cfg.anneal_fraction:
        return cfg.sigma_end
    # Linear from sigma_start at p=0 to sigma_end at p=anneal_fraction. With the
    # defaults (4, 1, 0.75) this is exactly the released 4*(1-p).
    slope = (cfg.sigma_start - cfg.sigma_end) / cfg.anneal_fraction
    return max(cfg.sigma_end, cfg.sigma_start - slope * p)


def temporal_score(parsed: ParsedTrace, ann: Annotation, sigma: float) -> float:
    times = think_times(parsed.think)
    if parsed.think is None or not times:
        return 0.0
    if ann.task in TEMPORAL_TASKS and ann.span:
        lo, hi = ann.span
        return sum(t is not None and lo <= t <= hi for t in times) / len(times)
    key_times = [t for t, _ in ann.key_frames]
    if ann.task not in GROUNDED_TASKS or not key_times:
        return 0.0
    scores = [0.0 if t is None else
              math.exp(-(min(abs(t - k) for k in key_times) ** 2) / (2 * sigma * sigma))
              for t in times]
    return sum(scores) / len(scores)


def matched_key_frame(
    t_pred: float, key_times: Sequence[float], cfg: RewardConfig
) -> int | None:
    """Index of the key frame a mention at `t_pred` is matched to, or None (gated out)."""
    if cfg.gating == "code":  # released: gt - pred < 1, one-sided (a known bug)
        allowed = [i for i, k in enumerate(key_times) if k - t_pred < 1.0]
    else:
        allowed = [i for i, k in enumerate(key_times) if abs(k - t_pred) <= cfg.tau]
    return min(allowed, key=lambda i: abs(key_times[i] - t_pred)) if allowed else None


def _frame_iou(pred: Sequence[Box], objects: dict[str, tuple[Box, ...]]) -> float:
    """Best object at the frame: mean over its gt boxes of the best predicted box IoU."""
    best = 0.0
    for gt_boxes in objects.values():
        if gt_boxes and pred:
            ious = [max(box_iou(g, p) for p in pred) for g in gt_boxes]
            best = max(best, sum(ious) / len(ious))
    return best


def spatial_score(parsed: ParsedTrace, ann: Annotation, cfg: RewardConfig) -> float:
    if parsed.think is None or not parsed.has_answer:
        return 0.0
    if ann.task == "visual QA":
        boxes = tagged_boxes(parsed.think)
        return max((box_iou(ann.gt_box, b) for b in boxes), default=0.0) if ann.gt_box else 0.0
    if ann.task not in GROUNDED_TASKS or not parsed.evidence or not ann.key_frames:
        return 0.0  # no readable mention at all: every opened one scores 0
    key_times = [t for t, _ in ann.key_frames]
    total = 0.0
    for item in parsed.evidence:
        idx = matched_key_frame(item.time, key_times, cfg)
        if idx is not None:
            total += _frame_iou(item.boxes, ann.key_frames[idx][1])
    return total / mention_count(parsed)


def mention_count(parsed: ParsedTrace) -> int:
    """Mentions the think section opens: each `<obj>` tag, whether or not the parser
    could read it (a dropped one scores 0), and at least the parsed evidence."""
    opened = sum(1 for m in grammar.EVIDENCE_TAG.finditer(parsed.think or "") if m.group("obj"))
    return max(opened, len(parsed.evidence))


# ---- TRL reward functions -----------------------------------------------------------


def training_progress(trainer_state: Any | None) -> float:
    """global_step / max_steps of a transformers TrainerState; 1.0 without one."""
    if trainer_state is None or not getattr(trainer_state, "max_steps", 0):
        return 1.0
    return min(1.0, max(0.0, float(trainer_state.global_step / trainer_state.max_steps)))


def _each(
    completions: Sequence[Any], annotation: Sequence[str], score: Callable[..., float]
) -> list[float]:
    out = []
    for completion, raw in zip(completions, annotation, strict=True):
        text = completion_text(completion)
        out.append(float(score(text, _parse_cached(text, raw), parse_annotation(raw))))
    return out


def released_step_percent(trainer_state: Any | None) -> float:
    """The release's `step_percent`: (global_step + 1) / max_steps; 1.0 without a state."""
    if trainer_state is None or not getattr(trainer_state, "max_steps", 0):
        return 1.0
    return float((trainer_state.global_step + 1) / trainer_state.max_steps)


def _released(text: str, raw: str, step_percent: float) -> dict[str, float]:
    ann = parse_annotation(raw)
    if ann.released is None:
        raise ValueError("rl.rewards.mode=released needs annotations built by "
                         "training.data.annotation_json (they carry the `released` fields)")
    return released_terms(text, ann.task, ann.released, step_percent)


def make_reward_funcs(cfg: RewardConfig) -> list[RewardFunc]:
    """The configured reward functions, named for TRL's per-reward logging."""
    if cfg.mode == "released":
        return _released_funcs(cfg)


    def accuracy(completions: Sequence[Any], annotation: Sequence[str], **_: Any) -> list[float]:
        return _each(completions, annotation, lambda t, p, a: accuracy_score(p, a))

    def format(completions: Sequence[Any], annotation: Sequence[str], **_: Any) -> list[float]:
        return _each(completions, annotation, format_score)

    def temporal(
        completions: Sequence[Any], annotation: Sequence[str],
        trainer_state: Any | None = None, **_: Any,
    ) -> list[float]:
        sigma = sigma_at(training_progress(trainer_state), cfg)
        return _each(completions, annotation, lambda t, p, a: temporal_score(p, a, sigma))

    def spatial(completions: Sequence[Any], annotation: Sequence[str], **_: Any) -> list[float]:
        return _each(completions, annotation, lambda t, p, a: spatial_score(p, a, cfg))

    table: dict[str, RewardFunc] = {
        "accuracy": accuracy, "format": format, "temporal": temporal, "spatial": spatial,
    }
    return [table[name] for name in cfg.names]


def _released_funcs(cfg: RewardConfig) -> list[RewardFunc]:
    """Released mode: each of our four terms is the sum of its released rewards."""

    def term(name: str) -> RewardFunc:
        def reward(completions: Sequence[Any], annotation: Sequence[str],
                   trainer_state: Any | None = None, **_: Any) -> list[float]:
            p = released_step_percent(trainer_state)
            return [_released(completion_text(c), raw, p)[name]
                    for c, raw in zip(completions, annotation, strict=True)]
        reward.__name__ = name
        return reward

    return [term(name) for name in cfg.names]


def score_all(
    text: str, annotation: str, cfg: RewardConfig, progress: float = 1.0
) -> dict[str, float]:
    """Every term for one completion (evaluation and debugging)."""
    if cfg.mode == "released":
        return _released(text, annotation, progress)
    parsed, ann = _parse_cached(text, annotation), parse_annotation(annotation)
    return {
        "accuracy": accuracy_score(parsed, ann),
        "format": format_score(text, parsed, ann),
        "temporal": temporal_score(parsed, ann, sigma_at(progress, cfg)),
        "spatial": spatial_score(parsed, ann, cfg),
    }
