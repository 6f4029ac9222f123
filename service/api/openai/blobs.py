"""Large `data:` URLs of a chat body, kept as views into the one body buffer.

A chat body may carry a 100 MiB base64 video. Parsed as is, the body bytes and the
parsed string would be two copies. `lift_data_urls(buf)` instead finds every JSON
string value that starts with `data:` and is at least `MIN_LIFT` bytes long (video
and image data URLs alike), replaces
it in a (small) copy of the rest of the document with a placeholder
`o3blob:<token>:<i>` (the token is random per request, so no client text can name
one), and returns memoryviews of the lifted strings into `buf`. The JSON that
pydantic parses is then small; the big strings stay one copy, in `buf`.

Invariants:
- Only unescaped strings are lifted: the candidate must open with an unescaped `"`
  (an even number of backslashes before it) and contain no backslash before its
  closing quote (base64 and a data-URL head never need one). Anything else is left in
  the document and parsed normally: lifting never changes what a request means.
- `Blobs.resolve(url)` gives back the exact bytes of the lifted string (or the url
  itself, encoded, when it is not a placeholder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

MIN_LIFT = 4 * 1024  # image frames too: what pydantic parses stays small
_OPEN = b'"data:'


@dataclass
class Blobs:
    token: str = field(default_factory=lambda: os.urandom(8).hex())
    views: list[memoryview] = field(default_factory=list)

    def placeholder(self, i: int) -> bytes:
        return f"o3blob:{self.token}:{i}".encode()

    def lookup(self, url: str) -> memoryview | None:
        prefix = f"o3blob:{self.token}:"
        if not url.startswith(prefix):
            return None
        index = url[len(prefix):]
        if not index.isdigit() or int(index) >= len(self.views):
            return None
        return self.views[int(index)]

    def resolve(self, url: str) -> bytes | memoryview:
        view = self.lookup(url)
        return url.encode() if view is None else view

    def release(self) -> None:
        for v in self.views:
            v.release()
        self.views.clear()


def _escaped(buf: bytearray, quote: int) -> bool:
    n = 0
    i = quote - 1
    while i >= 0 and buf[i] == 0x5C:  # backslash
        n += 1
        i -= 1
    return n % 2 == 1


def lift_data_urls(buf: bytearray, min_len: int = MIN_LIFT) -> tuple[bytes | bytearray, Blobs]:
    """(the JSON to parse, the lifted strings). Without a big data URL: (buf, empty)."""
    blobs = Blobs()
    parts: list[bytes] = []
    pos = 0
    start = buf.find(_OPEN)
    while start != -1:
        end = buf.find(b'"', start + 1)
        if end == -1:
            break
        content = start + 1
        if (end - content >= min_len and not _escaped(buf, start)
                and buf.find(b"\\", content, end) == -1):
            parts.append(bytes(buf[pos:content]))
            parts.append(blobs.placeholder(len(blobs.views)))
            blobs.views.append(memoryview(buf)[content:end])
            pos = end
        start = buf.find(_OPEN, end + 1)
    if not blobs.views:
        return buf, blobs
    parts.append(bytes(buf[pos:]))
    return b"".join(parts), blobs
