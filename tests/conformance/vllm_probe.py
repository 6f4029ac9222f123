"""vLLM's own request and argument code, run as a child process for the conformance tier.

Owns: one JSON line in -> one JSON line out, over stdin/stdout, answered by vLLM's
code (the version docker-compose.yml pins, installed by scripts/vllm_protocol.sh into
`.cache/vllm-protocol/<version>`, never into the project's venv: TRL imports vLLM
whenever it is importable). Nothing here re-implements a vLLM check:

- `{"op": "chat", "body": {...}, "prompt_tokens": P, "max_model_len": L,
  "image_limit": I}` -> what vLLM's chat server does before it schedules a request:
  `ChatCompletionRequest.model_validate` (pydantic validators included), the engine's
  `get_max_tokens` (prompt length against the context, `max_completion_tokens` before
  `max_tokens`), `ChatCompletionRequest.to_sampling_params` (greedy `n`, ranges), and
  the image-count limit of `--limit-mm-per-prompt` (vLLM's `MultiModalConfig`) with its
  own message. Answer: `{"ok": true, "sampling": {...}, "ignored": [...]}` or
  `{"ok": false, "error": "..."}`; `ignored` lists body fields vLLM drops silently.
- `{"op": "args", "argv": [...]}` -> `vllm serve ARGV` parsed by vLLM's serve
  sub-command parser and `validate_parsed_serve_args`, then `AsyncEngineArgs.from_cli_args`.
  Answer: `{"ok": true, "image_limit": I, "max_model_len": L, ...}` or an error.
- `{"op": "too_long", "prompt_tokens": P, "max_model_len": L}` -> the messages vLLM's
  three length checks raise for that prompt: the renderer's token check
  (`TokenizeParams._token_len_check`), the server's `get_max_tokens`, and the engine's
  `InputProcessor._validate_prompt_len` (with P == L too): `{"ok": true, "messages": [...]}`.
- `{"op": "fields"}` -> `{"ok": true, "fields": [...]}`: the request fields vLLM knows.
- `{"op": "response", "texts": [...], "finish": [...], "usage": [P, C]}` -> the JSON of
  vLLM's own `ChatCompletionResponse` with those choices (what our parser must read).
- `{"op": "validate", "kind": "response"|"models", "body": {...}}` -> whether vLLM's
  `ChatCompletionResponse` / `ModelList` accepts a body (the stand-in's answers).
- `{"op": "version"}` -> `{"ok": true, "version": "0.32.0"}`.

Invariants: never imported by the test process (run with `python -m`, with vLLM's
directory on PYTHONPATH and VLLM_TARGET_DEVICE=cpu); one answer line per request line;
an exception in vLLM's code is an answer, never a crash.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from types import SimpleNamespace
from typing import Any

from vllm.config.multimodal import MultiModalConfig
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.cli.serve import ServeSubcommand
from vllm.entrypoints.launchers.cli_args import validate_parsed_serve_args
from vllm.entrypoints.openai.chat_completion.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatCompletionResponseChoice,
    ChatMessage,
)
from vllm.entrypoints.serve.engine.protocol import ModelList, UsageInfo
from vllm.entrypoints.serve.utils.api_utils import get_max_tokens
from vllm.renderers.params import TokenizeParams
from vllm.utils.argparse_utils import FlexibleArgumentParser
from vllm.v1.engine.input_processor import InputProcessor


def _images(body: dict[str, Any]) -> int:
    count = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            count += sum(1 for p in content if isinstance(p, dict)
                         and p.get("type") == "image_url")
    return count


def chat(req: dict[str, Any]) -> dict[str, Any]:
    body = req["body"]
    request = ChatCompletionRequest.model_validate(body)
    limit = MultiModalConfig(limit_per_prompt={"image": req["image_limit"]}
                             ).get_limit_per_prompt("image")
    if _images(body) > limit:  # vLLM's message (BaseProcessingInfo.validate_num_items)
        raise ValueError(f"At most {limit} image(s) may be provided in one prompt.")
    asked = (request.max_completion_tokens if request.max_completion_tokens is not None
             else request.max_tokens)
    max_tokens = get_max_tokens(req["max_model_len"], asked, req["prompt_tokens"], {})
    params = request.to_sampling_params(max_tokens, {})
    fields = set(ChatCompletionRequest.model_fields)
    return {"ok": True, "ignored": sorted(set(body) - fields), "sampling": {
        "n": params.n, "temperature": params.temperature, "top_p": params.top_p,
        "top_k": params.top_k, "max_tokens": params.max_tokens, "seed": params.seed,
        "repetition_penalty": params.repetition_penalty, "greedy": params.temperature < 1e-5,
        "stream": bool(request.stream),
        "include_usage": bool(request.stream_options and request.stream_options.include_usage),
    }}


def args(req: dict[str, Any]) -> dict[str, Any]:
    top = FlexibleArgumentParser(prog="vllm")
    ServeSubcommand().subparser_init(top.add_subparsers(dest="subparser"))
    ns = top.parse_args(["serve", *req["argv"]])
    if getattr(ns, "model_tag", None):  # what `vllm serve`'s cmd() does before anything
        ns.model = ns.model_tag
    validate_parsed_serve_args(ns)
    engine = AsyncEngineArgs.from_cli_args(ns)
    limits = engine.limit_mm_per_prompt or {}
    image = MultiModalConfig(limit_per_prompt=dict(limits)).get_limit_per_prompt("image")
    return {"ok": True, "image_limit": image, "max_model_len": engine.max_model_len,
            "generation_config": engine.generation_config,
            "served_model_name": engine.served_model_name, "model": engine.model,
            "tensor_parallel_size": engine.tensor_parallel_size,
            "api_key": bool(getattr(ns, "api_key", None))}


def _message(call: Any) -> str:
    try:
        call()
    except Exception as exc:  # the message is the answer
        return str(exc)
    return ""


def too_long(req: dict[str, Any]) -> dict[str, Any]:
    p, limit = req["prompt_tokens"], req["max_model_len"]
    tokens = TokenizeParams(max_total_tokens=limit, max_output_tokens=16)
    engine = SimpleNamespace(  # the attributes _validate_prompt_len reads
        skip_prompt_length_check=False, supports_mm_inputs=True,
        model_config=SimpleNamespace(max_model_len=limit, runner_type="generate"))
    messages = [
        _message(lambda: tokens._token_len_check(None, list(range(p)))),
        _message(lambda: get_max_tokens(limit, 16, p, {})),
        _message(lambda: InputProcessor._validate_prompt_len(engine, p, "decoder")),
        _message(lambda: InputProcessor._validate_prompt_len(engine, limit, "decoder")),
    ]
    return {"ok": True, "messages": messages}


def response(req: dict[str, Any]) -> dict[str, Any]:
    choices = [ChatCompletionResponseChoice(index=i, message=ChatMessage(role="assistant",
                                                                         content=text),
                                            finish_reason=finish)
               for i, (text, finish) in enumerate(zip(req["texts"], req["finish"], strict=True))]
    prompt, completion = req["usage"]
    usage = UsageInfo(prompt_tokens=prompt, completion_tokens=completion,
                      total_tokens=prompt + completion)
    body = ChatCompletionResponse(model="m", choices=choices, usage=usage)
    return {"ok": True, "body": json.loads(body.model_dump_json())}


def validate(req: dict[str, Any]) -> dict[str, Any]:
    model = ChatCompletionResponse if req["kind"] == "response" else ModelList
    model.model_validate(req["body"])
    return {"ok": True}


def answer(line: str) -> dict[str, Any]:
    req = json.loads(line)
    try:
        if req["op"] == "version":
            return {"ok": True, "version": importlib.metadata.version("vllm")}
        if req["op"] == "fields":
            return {"ok": True, "fields": sorted(ChatCompletionRequest.model_fields)}
        ops = {"chat": chat, "args": args, "too_long": too_long, "response": response,
               "validate": validate}
        return ops[req["op"]](req)
    except SystemExit as exc:  # argparse refuses by exiting
        return {"ok": False, "error": f"argument parser exited ({exc.code})"}
    except Exception as exc:  # every refusal of vLLM's is an answer
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    argparse.ArgumentParser(description=__doc__).parse_args([])
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(answer(line)) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
