"""The official `openai` client with frames you send yourself (`image_url` data URLs).

    python clients/examples/openai_frames.py clip.mp4 "What is the man holding?"

Frames are chosen and decoded here with the project's own sampler
(`service.video.sampler`), so they are exactly what the gateway would have fed the
model; `frame_times` (an extra field) tells the gateway each frame's time, so the
"Frame i at t s:" labels and the evidence times are right. Boxes in the answer are then
in the pixels of these frames (`grounding.frames.fed_size`).
"""

from __future__ import annotations

import base64
import io
import os
import sys

from openai import OpenAI
from PIL import Image

from service.video.sampler import sample_video


def data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def main(video: str, question: str) -> int:
    server = os.environ.get("O3_SERVER", "http://127.0.0.1:8000")
    client = OpenAI(base_url=f"{server}/v1", api_key=os.environ.get("O3_API_KEY") or "unused")
    sampled = sample_video(video)
    frames, meta = sampled.frameset.frames, sampled.frameset.meta
    content = [{"type": "image_url", "image_url": {"url": data_url(f)}} for f in frames]
    content.append({"type": "text", "text": question})
    completion = client.chat.completions.create(
        model=client.models.list().data[0].id,
        n=8,
        temperature=1.0,
        max_tokens=1024,
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item, misc]
        extra_body={"frame_times": list(meta.times), "duration": meta.duration},
    )
    grounding = (completion.model_extra or {}).get("grounding", {})
    print("answer:", completion.choices[0].message.content)
    extra = completion.choices[0].message.model_extra or {}
    print("reasoning:", extra.get("reasoning_content"))
    print("confidence:", grounding.get("confidence"))
    for ev in grounding.get("evidence", []):
        print(f"  {ev['time']:.1f}s {ev['object']} box in fed frame {ev.get('box_fed')}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: openai_frames.py VIDEO QUESTION")
    sys.exit(main(sys.argv[1], sys.argv[2]))
