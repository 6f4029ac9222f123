"""images.py: PIL <-> data: URL, and every way a payload can be refused."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from service.inference.images import ImageDataError, from_data_url, to_data_url


def _gradient(size: tuple[int, int] = (56, 28)) -> Image.Image:
    pixels = bytes(v for y in range(size[1]) for x in range(size[0])
                   for v in (x * 4 % 256, y * 8 % 256, 128))
    return Image.frombytes("RGB", size, pixels)


def _url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def test_png_round_trip_is_lossless() -> None:
    image = _gradient()
    url = to_data_url(image, fmt="PNG")
    assert url.startswith("data:image/png;base64,")
    assert from_data_url(url).tobytes() == image.tobytes()


def test_jpeg_round_trip_keeps_size_and_is_close() -> None:
    image = _gradient()
    back = from_data_url(to_data_url(image, quality=95))
    assert back.size == image.size and back.mode == "RGB"
    diffs = [abs(a - b) for a, b in zip(image.tobytes(), back.tobytes(), strict=True)]
    assert max(diffs) < 40  # lossy, but the same picture


def test_jpeg_quality_changes_size_and_encoding_is_deterministic() -> None:
    image = _gradient((280, 140))
    low, high = to_data_url(image, quality=20), to_data_url(image, quality=95)
    assert len(low) < len(high)
    assert to_data_url(image, quality=20) == low


def test_non_rgb_images_are_converted() -> None:
    rgba = Image.new("RGBA", (28, 28), (10, 20, 30, 40))
    assert from_data_url(to_data_url(rgba)).mode == "RGB"


def test_encoder_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="quality"):
        to_data_url(_gradient(), quality=0)
    with pytest.raises(ValueError, match="format"):
        to_data_url(_gradient(), fmt="TIFF")


def _png_bytes(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format="PNG")
    return buf.getvalue()


REFUSED = [
    # an http URL: the stand-in and the endpoint accept inline data only
    ("https://example.com/a.jpg", {}, "unsupported_image_url"),
    # no comma: not a data URL at all
    ("data:image/png;base64", {}, "invalid_image"),
    # a media type that is not an image
    (_url(b"hello", "text/plain"), {}, "unsupported_media_type"),
    # percent-encoded instead of base64
    ("data:image/png,abc", {}, "invalid_image"),
    # broken base64 alphabet
    ("data:image/png;base64,@@@@", {}, "invalid_image"),
    # valid base64 that is not an image
    (_url(b"definitely not a png"), {}, "invalid_image"),
    # a truncated PNG
    (_url(_png_bytes((64, 64))[:40]), {}, "invalid_image"),
    # too many pixels for the configured limit (checked before decoding pixels)
    (_url(_png_bytes((100, 100))), {"max_pixels": 99 * 100}, "image_too_large"),
    # too many bytes for the configured limit
    (_url(_png_bytes((100, 100))), {"max_bytes": 16}, "image_too_large"),
]


@pytest.mark.parametrize(("url", "limits", "code"), REFUSED)
def test_bad_payloads_raise_one_error_type_with_a_code(
    url: str, limits: dict[str, int], code: str
) -> None:
    with pytest.raises(ImageDataError) as caught:
        from_data_url(url, **limits)
    assert caught.value.code == code
    assert caught.value.status == 400
    assert str(caught.value)


def test_limits_are_inclusive() -> None:
    # exactly at the pixel limit is allowed
    assert from_data_url(_url(_png_bytes((100, 100))), max_pixels=100 * 100).size == (100, 100)
