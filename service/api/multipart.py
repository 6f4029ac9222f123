"""Streaming multipart/form-data reading: the file part flows through, never buffered.

`StreamingForm(request)` parses the body with python-multipart's streaming parser as
it arrives (`request.stream()`), so memory stays at one network chunk whatever the
upload size (Starlette's `request.form()` would spool the whole file first).
`file_chunks()` yields the bytes of the one file part named `file`; text fields,
wherever they sit in the body, are collected into `fields` (capped in size) once the
iterator is exhausted. File parts named in `text_files` (a subtitle file) are small
text: they are collected like text fields, under the same cap.

Every way a body can be broken is a 4xx: a content type without a boundary is 415; a
body the parser refuses (wrong boundary, garbage, truncated) is 400
`invalid_multipart`; a part's headers over `MAX_PART_HEADER_BYTES` are 400
`part_headers_too_large`; text fields over `MAX_FIELDS_BYTES` 413; a second file part
400. The whole body's size was capped before it was read (`service.api.body`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from service.errors import ApiError

MAX_FIELDS_BYTES = 256 * 1024
MAX_PART_HEADER_BYTES = 16 * 1024


def boundary_of(content_type: str) -> bytes:
    ctype, params = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(415, "unsupported_media_type",
                       "send multipart/form-data with a boundary, or JSON", param="file")
    return params[b"boundary"]


def _broken(why: str) -> ApiError:
    return ApiError(400, "invalid_multipart", f"malformed multipart body: {why}",
                    param="file")


class StreamingForm:
    def __init__(self, request: Request, file_field: str = "file",
                 text_files: tuple[str, ...] = ()) -> None:
        self.request = request
        self.file_field = file_field
        self.text_files = text_files
        self.fields: dict[str, list[str]] = {}
        self.saw_file = False
        self._pending: list[bytes] = []
        self._header_name = b""
        self._headers: dict[bytes, bytes] = {}
        self._part: tuple[str, bool] | None = None  # (name, is_file)
        self._text = bytearray()
        self._field_bytes = 0
        self._header_bytes = 0
        self._done = False
        self._parser = MultipartParser(boundary_of(request.headers.get("content-type", "")), {
            "on_part_begin": self._begin, "on_header_field": self._hfield,
            "on_header_value": self._hvalue, "on_header_end": self._hend,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_part_end": self._end, "on_end": self._finished,
        })

    # ---- python-multipart callbacks ----------------------------------------------
    def _begin(self) -> None:
        self._headers, self._header_name, self._text = {}, b"", bytearray()
        self._header_bytes = 0

    def _count_header(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise ApiError(400, "part_headers_too_large",
                           f"a multipart part's headers exceed {MAX_PART_HEADER_BYTES} bytes")

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_name = self._header_name + data[start:end].lower()

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        name = self._header_name
        self._headers[name] = self._headers.get(name, b"") + data[start:end]

    def _hend(self) -> None:
        self._header_name = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        is_file = b"filename" in params and name not in self.text_files
        if is_file and (name != self.file_field or self.saw_file):
            raise ApiError(400, "unexpected_file", f"one file part named {self.file_field!r} "
                           "is accepted", param=name or "file")
        self.saw_file |= is_file
        self._part = (name, is_file)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part is None:
            raise _broken("part data before the part's headers")
        if self._part[1]:
            self._pending.append(bytes(data[start:end]))
            return
        self._field_bytes += end - start
        if self._field_bytes > MAX_FIELDS_BYTES:
            raise ApiError(413, "fields_too_large", "form fields exceed 256 KiB")
        self._text += data[start:end]

    def _end(self) -> None:
        if self._part is not None and not self._part[1]:
            value = self._text.decode("utf-8", "replace")
            self.fields.setdefault(self._part[0], []).append(value)
        self._part = None

    def _finished(self) -> None:
        self._done = True

    def _feed(self, chunk: bytes | None) -> None:
        """Write a chunk (None: the end) to the parser; its errors become 400s."""
        try:
            if chunk is None:
                self._parser.finalize()
            else:
                self._parser.write(chunk)
        except MultipartParseError as exc:
            raise _broken(str(exc) or type(exc).__name__) from exc

    # ---- the stream -----------------------------------------------------------------
    async def file_chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.request.stream():
            self._feed(chunk)
            while self._pending:
                yield self._pending.pop(0)
        self._feed(None)
        if not self._done:
            raise _broken("the body ended before the closing boundary")
        if not self.saw_file:
            raise ApiError(400, "missing_file", f"multipart body has no {self.file_field!r} "
                           "file part", param=self.file_field)
