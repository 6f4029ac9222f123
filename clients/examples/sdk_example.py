"""The Python SDK: ask a question, print the answer and where/when the evidence is.

    python clients/examples/sdk_example.py clip.mp4 "What is the man holding?"

Server and key come from O3_SERVER / O3_API_KEY (or pass them to `Client`).
"""

from __future__ import annotations

import sys

from clients.sdk import Client, O3Error, RateLimitError


def main(video: str, question: str) -> int:
    with Client(max_retries=5) as client:  # 429/503 are retried, honouring Retry-After
        try:
            result = client.reason(
                video, question, n=8, voting="confidence",
                upload_progress=lambda sent, total: print(f"\rupload {sent}/{total}", end=""),
                job_progress=lambda job, waited: print(f"\rjob {job.status} {waited:.0f}s", end=""),
            )
        except RateLimitError as exc:
            print(f"\nstill busy after retries: {exc}", file=sys.stderr)
            return 1
        except O3Error as exc:
            print(f"\nfailed: {exc}", file=sys.stderr)
            return 1
    print(f"\nanswer: {result.answer}  (confidence {result.confidence:.2f})")
    for ev in result.evidence:
        box = [round(v) for v in ev.box]
        print(f"  {ev.time:6.1f}s  {ev.object:<20} box {box}  seen in {ev.support} traces")
    for row in result.votes:
        print(f"  vote {row.answer!r}: weight {row.weight:.2f} from {row.votes} traces")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sdk_example.py VIDEO QUESTION")
    sys.exit(main(sys.argv[1], sys.argv[2]))
