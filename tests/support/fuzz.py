"""Seeded byte mutations for the fuzz tests of file inputs (videos, subtitle streams).

`mutate(rng, data)` applies one kind of damage a real file meets: bit flips (1-20),
truncation, a duplicated, zeroed or spliced (8 random bytes) range of up to 4,000
bytes. Same `rng` state, same mutant.
"""

from __future__ import annotations

import random


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "trunc", "dup", "zero", "splice"])
    i = rng.randrange(len(b))
    j = min(len(b), i + rng.randint(1, 4000))
    if kind == "flip":
        for _ in range(rng.randint(1, 20)):
            k = rng.randrange(len(b))
            b[k] ^= 1 << rng.randrange(8)
    elif kind == "trunc":
        b = b[: max(1, i)]
    elif kind == "dup":
        b[i:i] = b[i:j]
    elif kind == "zero":
        b[i:j] = bytes(j - i)
    else:
        b[i:i + 8] = rng.randbytes(8)
    return bytes(b)
