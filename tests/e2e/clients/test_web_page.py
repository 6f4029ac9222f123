"""The web page at / in headless Debian Chromium, driven by Python playwright.

Upload a generated video, ask, wait; the answer, the evidence markers and the vote
table render; clicking a marker seeks the player to that evidence time and shows its
box over the video. A screenshot is saved to artifacts/web_page.png.

Needs /usr/bin/chromium (Debian package `chromium`; scripts/test.sh installs it):
never `playwright install`, which would download a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.video.synth import MovingSquareTruth
from tests.e2e.clients.conftest import REPO, Gateway
from tests.e2e.clients.support import ANSWER, EVIDENCE_TIMES

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium; scripts/test.sh installs it)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def test_page_asks_shows_evidence_and_seeks(
    browser: object, scripted_gateway: Gateway, square: tuple[Path, MovingSquareTruth]
) -> None:
    path, truth = square
    page = browser.new_page(viewport={"width": 1280, "height": 1400})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(scripted_gateway.url + "/")
    page.fill("#api-key", scripted_gateway.api_key or "")
    page.dispatch_event("#api-key", "change")
    page.set_input_files("#file", str(path))
    page.fill("#question", "Where is the white square?")
    page.click("#ask")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)

    assert page.text_content("#answer") == ANSWER
    assert page.text_content("#confidence") == "100%"
    markers = page.query_selector_all(".marker")
    assert sorted(float(m.get_attribute("data-time")) for m in markers) == list(EVIDENCE_TIMES)
    assert page.locator("#vote-table tbody tr").count() == 1
    assert page.locator("#evidence-table tbody tr").count() == len(EVIDENCE_TIMES)
    assert page.evaluate("localStorage.getItem('o3.apiKey')") == scripted_gateway.api_key

    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=20_000)
    target = max(EVIDENCE_TIMES)
    page.click(f".marker[data-time='{target}']")
    page.wait_for_function(
        f"Math.abs(document.getElementById('video').currentTime - {target}) < 0.05",
        timeout=10_000)
    page.wait_for_selector("#overlay .box", timeout=5_000)
    _check_box_over_square(page, truth, target)

    page.wait_for_function("!document.getElementById('video').seeking", timeout=10_000)
    page.wait_for_timeout(800)  # for the screenshot only: let the controls' spinner fade
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page.png"), full_page=True)
    assert errors == []


def _check_box_over_square(page: object, truth: MovingSquareTruth, t: float) -> None:
    """The overlay box sits where the square is in the displayed video (within 3%)."""
    video = page.locator("#video").bounding_box()  # type: ignore[attr-defined]
    box = page.locator("#overlay .box").first.bounding_box()  # type: ignore[attr-defined]
    w, h = truth.scene.width, truth.scene.height
    scale = min(video["width"] / w, video["height"] / h)
    left = video["x"] + (video["width"] - w * scale) / 2
    top = video["y"] + (video["height"] - h * scale) / 2
    x1, y1, x2, y2 = truth.display_box_at(t)
    tol = 0.03 * video["width"]
    assert abs(box["x"] - (left + x1 * scale)) < tol
    assert abs(box["y"] - (top + y1 * scale)) < tol
    assert abs(box["width"] - (x2 - x1) * scale) < tol
    assert abs(box["height"] - (y2 - y1) * scale) < tol
