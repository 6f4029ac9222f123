"""How often each weight mode picks the release's winner on the golden vote table.

    PYTHONPATH=. python scripts/golden/voting_agreement.py

Runs the real `Pipeline` (the golden test's helpers: ScriptedBackend replaying each
row's traces and scorer replies) in `released` and `code` mode over
tests/golden/release_tts_votes.jsonl and prints the agreement and, for the default's
disagreements, the documented row classes they carry (docs/VOTING.md).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from service.inference.types import WeightMode
from tests.unit.golden.test_release_tts import DEFAULT_DIFFERS, row_classes, run, table


async def main() -> None:
    rows = table("release_tts_votes.jsonl")
    agree = Counter[str]()
    classes = Counter[str]()
    unclassed = unclassed_agree = 0
    for row in rows:
        want = row["release"]["winner"]
        for mode in (WeightMode.RELEASED, WeightMode.CODE, WeightMode.PAPER):
            verdict, _ = await run(row, mode)
            agree[mode.value] += verdict.answer == want
            if mode is WeightMode.CODE:
                found = row_classes(row) & DEFAULT_DIFFERS.keys()
                unclassed += not found
                unclassed_agree += not found and verdict.answer == want
                if verdict.answer != want:
                    classes.update(found)
    for mode, n in agree.items():
        print(f"weight_mode={mode}: {n}/{len(rows)} winners equal to the release's")
    print(f"rows with no documented class: {unclassed}, default agrees on {unclassed_agree}")
    print("classes of the default's disagreements:", dict(classes.most_common()))


if __name__ == "__main__":
    asyncio.run(main())
