"""The web page's 202 path and its accessibility, in headless Debian Chromium.

A gateway process whose sync limit (3 s) is below the video's length (5 s), so
`POST /v1/reason` answers 202 `{job_id}`: the page must poll `v1/jobs/{job_id}`, show
the job's progress in a live region, and render the result. The video is ROTATED
(display matrix 90 degrees): the evidence box must sit over the square as the player
shows it. Then the accessibility checks: names and roles in the accessibility tree,
`aria-live` progress, `hidden` respected, and WCAG contrast >= 4.5:1 measured on the
rendered page (computed colours, effective background).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from service.grounding.types import Prompt
from service.inference.backend import SamplingParams
from service.inference.doubles import ScriptedBackend
from service.video.policy import fit_size
from service.video.synth import MovingSquareTruth
from tests.e2e.clients.support import ANSWER, EVIDENCE_TIMES, cited_trace
from tests.e2e.clients.test_web_page import ARTIFACTS, CHROMIUM, browser  # noqa: F401
from tests.integration.clients.videos import display_size, square_video
from tests.support.gateway import GatewayProcess, running_gateway
from tests.support.vllm_standin import start_standin

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium; scripts/test.sh installs it)"),
]
ROTATION = 90
SYNC_LIMIT_S = 3.0


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MovingSquareTruth]:
    path = tmp_path_factory.mktemp("videos") / "rotated-long.mp4"
    return path, square_video(path, seconds=5.0, rotation=ROTATION)


@pytest.fixture(scope="module")
def job_gateway(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
                rotated: tuple[Path, MovingSquareTruth]) -> Iterator[GatewayProcess]:
    _, truth = rotated
    fed = fit_size(*display_size(ROTATION), 4 * 28 * 28, 128 * 28 * 28)
    trace = cited_trace(truth, fed)

    def completions(prompt: Prompt, n: int, sampling: SamplingParams) -> Sequence[str]:
        return ["2"] if "single digit" in prompt.system else [trace]

    backend = ScriptedBackend(completions, scores=("2",), name="scripted-double")
    with start_standin(backend) as standin_url:
        env = {"O3_BACKEND": "vllm", "O3_VLLM_URL": standin_url,
               "O3_VLLM_MODEL": "scripted-double", "O3_REDIS_URL": redis_url,
               "O3_DEFAULT_N": "2", "O3_CACHE_TTL_S": "0", "O3_JOB_WORKERS": "1",
               "O3_SYNC_MAX_DURATION_S": str(SYNC_LIMIT_S)}
        data = tmp_path_factory.mktemp("gw-jobs")
        with running_gateway(data, env, wait_for="/ready", startup_s=180.0) as gw:
            yield gw


# WCAG 2 contrast of each element's text against its effective background (the first
# ancestor with an opaque background colour), computed in the page.
CONTRAST_JS = """(selectors) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const sel of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = null; continue; }
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    out[sel] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return out;
}"""
TEXT = ["#ask", "h1", ".tagline", "label[for=question]", "#progress-text", "#server-status",
        "#answer", "#answer-meta", "#confidence", "#evidence-title", "th", "td", "summary",
        "#file-name", ".label", "#progress-elapsed"]


def test_long_rotated_video_goes_through_a_job(
        browser: object, job_gateway: GatewayProcess,  # noqa: F811
        rotated: tuple[Path, MovingSquareTruth]) -> None:
    path, truth = rotated
    page = browser.new_page(viewport={"width": 1280, "height": 1500})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    polled: list[str] = []
    page.on("request", lambda r: polled.append(r.url) if "/v1/jobs/" in r.url else None)
    page.goto(job_gateway.url + "/")
    assert page.locator("#progress").is_hidden()  # `hidden` wins over display:flex
    page.set_input_files("#file", str(path))
    page.fill("#question", "Where is the white square?")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_function("document.getElementById('progress-text').textContent"
                           ".includes('job')", timeout=30_000)
    page.wait_for_selector("#result:not([hidden])", timeout=90_000)

    assert polled and all("undefined" not in u for u in polled)
    assert page.text_content("#answer") == ANSWER
    assert "Done: answer" in (page.text_content("#progress-text") or "")
    elapsed = page.text_content("#progress-elapsed") or ""
    assert elapsed.endswith("s") and elapsed[:-1].isdigit()  # the wait's clock, kept at the end
    markers = page.query_selector_all(".marker")
    assert sorted(float(m.get_attribute("data-time")) for m in markers) == list(EVIDENCE_TIMES)
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=20_000)
    target = max(EVIDENCE_TIMES)
    page.click(f".marker[data-time='{target}']")
    page.wait_for_selector("#overlay .box", timeout=10_000)
    _box_over_square(page, truth, target)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page_job_rotated.png"), full_page=True)
    _accessibility(page)
    assert errors == []


def _box_over_square(page: object, truth: MovingSquareTruth, t: float) -> None:
    """In DISPLAY orientation: the player shows the rotated video upright."""
    video = page.locator("#video").bounding_box()  # type: ignore[attr-defined]
    box = page.locator("#overlay .box").first.bounding_box()  # type: ignore[attr-defined]
    w, h = display_size(ROTATION)
    scale = min(video["width"] / w, video["height"] / h)
    left = video["x"] + (video["width"] - w * scale) / 2
    top = video["y"] + (video["height"] - h * scale) / 2
    x1, y1, x2, y2 = truth.display_box_at(t)
    tol = 0.03 * video["width"]
    assert abs(box["x"] - (left + x1 * scale)) < tol
    assert abs(box["y"] - (top + y1 * scale)) < tol
    assert abs(box["width"] - (x2 - x1) * scale) < tol
    assert abs(box["height"] - (y2 - y1) * scale) < tol


def _accessibility(page: object) -> None:
    p = page
    # names and roles, looked up through the accessibility tree
    assert p.get_by_role("button", name="Choose a video file").count() == 1  # type: ignore[attr-defined]
    assert p.get_by_label("Video file", exact=True).count() == 1  # type: ignore[attr-defined]
    assert p.get_by_label("Question", exact=True).count() == 1  # type: ignore[attr-defined]
    assert p.get_by_label("API key", exact=True).count() == 1  # type: ignore[attr-defined]
    assert p.get_by_role("progressbar", name="Progress").count() == 1  # type: ignore[attr-defined]
    assert p.get_by_role("group", name="Evidence timeline").count() == 1  # type: ignore[attr-defined]
    assert p.get_by_role("table", name="Votes").count() == 1  # type: ignore[attr-defined]
    assert p.get_by_role("button", name=f"square at {max(EVIDENCE_TIMES):.1f}s").count() == 1  # type: ignore[attr-defined]
    # progress and results are announced
    assert p.get_attribute("#progress-text", "aria-live") == "polite"  # type: ignore[attr-defined]
    assert p.get_attribute("#progress-text", "role") == "status"  # type: ignore[attr-defined]
    assert p.get_attribute(".answer-row", "aria-live") == "polite"  # type: ignore[attr-defined]
    snapshot = p.locator("main").aria_snapshot()  # type: ignore[attr-defined]
    assert 'button "Choose a video file' in snapshot and 'progressbar "Progress"' in snapshot
    # contrast of every kind of text on the page
    ratios = p.evaluate(CONTRAST_JS, TEXT)  # type: ignore[attr-defined]
    low = {sel: round(r, 2) for sel, r in ratios.items() if r is None or r < 4.5}
    assert low == {}, f"contrast below 4.5:1: {low}"
    # negative control: the old Ask button (white on #4f8cff) measures 3.2:1 here
    p.add_style_tag(content="#ask { background: #4f8cff !important; }")  # type: ignore[attr-defined]
    old = p.evaluate(CONTRAST_JS, ["#ask"])["#ask"]  # type: ignore[attr-defined]
    assert 3.1 < old < 3.3
