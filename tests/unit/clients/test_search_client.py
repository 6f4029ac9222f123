"""The SDK and CLI sides of `strategy=search`: what is sent, what is shown."""

from __future__ import annotations

import json

import httpx
from rich.console import Console

from clients.cli.args import build_parser, reason_kwargs
from clients.cli.display import relevance_strip, render_result
from clients.cli.progress import Progressor
from clients.sdk import Client, Job, ReasonResult, SearchInfo

VID = "a" * 64


def test_cli_flags_become_strategy_and_search_knobs():
    ns = build_parser().parse_args([VID, "q", "--strategy", "search", "--chunk-s", "20",
                                    "--windows", "3"])
    kw = reason_kwargs(ns)
    assert kw["strategy"] == "search"
    assert kw["search"] == {"chunk_s": 20.0, "windows": 3}
    plain = reason_kwargs(build_parser().parse_args([VID, "q"]))
    assert plain["strategy"] is None and plain["search"] is None  # the server decides


def test_sdk_sends_strategy_and_waits_for_the_search_job():
    sent: list[dict] = []
    job = {"id": "job_1", "object": "job", "status": "running",
           "progress": {"stage": "scan", "chunks_scanned": 3, "chunks_total": 10}}
    done = {**job, "status": "done", "progress": None, "result": RESULT}
    answers = iter([job, done])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/reason":
            sent.append(json.loads(request.content))
            return httpx.Response(202, json={"job_id": "job_1", "status": "queued",
                                             "object": "job"})
        return httpx.Response(200, json=next(answers))

    seen: list[Job] = []
    with Client("http://gw", transport=httpx.MockTransport(handler)) as c:
        res = c.reason(VID, "q", strategy="search", search={"windows": 1}, poll=0.0,
                       job_progress=lambda j, _w: seen.append(j))
    assert sent[0]["strategy"] == "search" and sent[0]["search"] == {"windows": 1}
    assert seen[0].progress is not None and seen[0].progress.chunks_scanned == 3
    assert res.search is not None and res.search.windows[0].start == 40.0


RESULT = {
    "id": "rsn_1", "answer": "The red circle appears at 42.5s.", "confidence": 1.0,
    "timings": {"total": 1.0},
    "search": {"chunk_s": 32.0, "frames_per_chunk": 16, "scan_calls": 4, "scan_frames": 64,
               "zoom_frames": 36, "frames_decoded": 90, "frames_reused": 10,
               "keyframes_only": True,
               "windows": [{"start": 40.0, "end": 52.0, "score": 1.0}],
               "chunks": [{"start": 32.0 * i, "end": 32.0 * (i + 1),
                           "score": 1.0 if i == 1 else 0.0, "cited": []} for i in range(4)]},
}


def test_relevance_strip_marks_the_scoring_chunk():
    search = ReasonResult.model_validate(RESULT).search
    assert isinstance(search, SearchInfo)
    assert relevance_strip(search) == "·█··"


def test_the_cli_prints_the_search_record():
    console = Console(width=120, record=True)
    console.print(render_result(ReasonResult.model_validate(RESULT)))
    out = console.export_text()
    assert "window 40.0s - 52.0s" in out and "4 chunks of 32s scanned" in out
    assert "90 decoded, 10 reused" in out


def test_progress_line_shows_the_scan():
    console = Console(width=120, record=True)
    with Progressor(console) as p:
        p.job(Job.model_validate({"id": "job_1", "status": "running", "progress": {
            "stage": "scan", "chunks_scanned": 3, "chunks_total": 10}}), 1.0)
    assert "scan 3/10 chunks" in console.export_text()


SSE = (": keepalive\n\n"
       'event: status\ndata: {"id":"job_1","object":"job","status":"running",'
       '"progress":{"stage":"scan","chunks_scanned":2,"chunks_total":4}}\n\n'
       'event: done\ndata: {"id":"job_1","object":"job","status":"done","result":'
       + json.dumps(RESULT) + "}\n\n")


def sse_handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/events") and "job_1" in request.url.path:
        return httpx.Response(200, text=SSE, headers={"content-type": "text/event-stream"})
    return httpx.Response(404, json={"error": {"message": "no job", "type":
                                               "invalid_request_error", "param": "job_id",
                                               "code": "job_not_found"}})


def test_sdk_follows_a_job_over_sse():
    with Client("http://gw", transport=httpx.MockTransport(sse_handler)) as c:
        jobs = list(c.job_events("job_1"))
    assert [j.status for j in jobs] == ["running", "done"]
    assert jobs[0].progress is not None and jobs[0].progress.chunks_scanned == 2
    assert jobs[-1].result is not None and jobs[-1].result.search is not None


def test_async_sdk_follows_a_job_over_sse():
    import asyncio

    from clients.sdk import AsyncClient, NotFoundError

    async def run() -> list[str]:
        async with AsyncClient("http://gw", transport=httpx.MockTransport(sse_handler)) as c:
            got = [j.status async for j in c.job_events("job_1")]
            try:
                [j async for j in c.job_events("job_2")]
            except NotFoundError:
                got.append("404")
            return got

    assert asyncio.run(run()) == ["running", "done", "404"]
