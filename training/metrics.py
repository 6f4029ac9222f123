"""Training metrics to a JSON-lines file, one object per trainer log event.

Owns `JsonlMetrics`, a transformers `TrainerCallback` (built lazily so importing this
module does not import transformers). Each line holds the step and every logged
value: loss, each reward's mean (`rewards/<name>/mean`), KL (`kl`, when beta > 0),
clip fractions (`clip_ratio/*`) and completion lengths (`completions/*`), exactly as
TRL names them.

Invariant: in a multi-process run (torchrun / accelerate, N ranks) only the world
process zero writes: one stream, not N interleaved copies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def jsonl_metrics_callback(path: Path) -> Any:
    """A TrainerCallback appending every `on_log` event to `path`."""
    from transformers import TrainerCallback

    class JsonlMetrics(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            if logs and state.is_world_process_zero:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as fh:
                    fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    return JsonlMetrics()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
