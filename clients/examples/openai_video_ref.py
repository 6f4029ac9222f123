"""The official `openai` client with a video reference: upload once, then `video://<id>`.

    python clients/examples/openai_video_ref.py clip.mp4 "What is the man holding?"

The gateway samples the frames itself (the same sampler the model was trained with).
`n` is the number of traces voted over; one choice (the verdict) comes back, with the
evidence in the extra top-level `grounding` field.
"""

from __future__ import annotations

import os
import sys

from openai import OpenAI

from clients.sdk import Client


def main(video: str, question: str) -> int:
    server = os.environ.get("O3_SERVER", "http://127.0.0.1:8000")
    key = os.environ.get("O3_API_KEY") or "unused"  # the openai client insists on a key
    with Client(server, os.environ.get("O3_API_KEY")) as sdk:
        video_id = sdk.upload_video(video).id
    client = OpenAI(base_url=f"{server}/v1", api_key=key)
    model = client.models.list().data[0].id
    completion = client.chat.completions.create(
        model=model,
        n=8,
        temperature=1.0,
        max_tokens=1024,
        messages=[{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": f"video://{video_id}"}},  # type: ignore[list-item, misc]
            {"type": "text", "text": question},
        ]}],
        extra_body={"voting": "confidence"},
    )
    message = completion.choices[0].message
    grounding = (completion.model_extra or {}).get("grounding", {})
    print("answer:", message.content)
    print("confidence:", grounding.get("confidence"))
    for ev in grounding.get("evidence", []):
        print(f"  {ev['time']:.1f}s {ev['object']} {ev['box']}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: openai_video_ref.py VIDEO QUESTION")
    sys.exit(main(sys.argv[1], sys.argv[2]))
