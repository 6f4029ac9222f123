"""Open a media file for reading, with the options every reader in the service shares.

Owns `open_input`, the one call to `av.open(..., mode="r")` in `service/`. Invariant:
container and stream metadata (titles, comments, handler names) is decoded as UTF-8
with undecodable bytes replaced. PyAV's default is strict, and a real file tagged in
Latin-1 by an old camera or a Windows tool (`title=caf\\xe9`) made every reader raise
`UnicodeDecodeError` before a frame was touched; the service never uses the metadata.
"""

from __future__ import annotations

from pathlib import Path

import av
from av.codec.hwaccel import HWAccel
from av.container import InputContainer


def open_input(path: str | Path, hwaccel: HWAccel | None = None) -> InputContainer:
    """`av.open` for reading; metadata that is not UTF-8 is read with U+FFFD in place."""
    return av.open(str(path), mode="r", metadata_errors="replace", hwaccel=hwaccel)


__all__ = ["open_input"]
