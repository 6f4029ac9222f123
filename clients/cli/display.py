"""Readable terminal output of a result with rich: answer, evidence table, vote table.

Pure rendering: functions take an SDK `ReasonResult` and return rich renderables,
so the CLI prints them and tests can render them to plain text.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from clients.sdk.models import ReasonResult, SearchInfo, Trace


def _box(box: list[float] | None) -> str:
    return "-" if not box else "[" + ", ".join(f"{v:.0f}" for v in box) + "]"


def answer_panel(result: ReasonResult) -> Panel:
    answer = result.answer if result.answer is not None else "(no answer)"
    style = "yellow" if result.abstained else "bold green"
    text = Text.assemble(("Answer: ", "bold"), (answer, style))
    text.append(f"\nConfidence: {result.confidence:.2f}")
    if result.abstained:
        text.append("  (abstained: below the threshold)", style="yellow")
    if result.span:
        text.append(f"\nSpan: {result.span[0]:.1f}s - {result.span[1]:.1f}s")
    text.append(f"\ntask {result.task} · model {result.model or '?'}", style="dim")
    if result.random_tiny_model:
        text.append("\nRANDOM TINY MODEL (answers are noise)", style="bold yellow")
    if result.greedy_repeated:
        text.append("\ntemperature 0: ONE greedy trace, counted once per requested sample",
                    style="yellow")
    return Panel(text, title="o3-reason", title_align="left", expand=False)


def evidence_table(result: ReasonResult) -> Table:
    table = Table(title="Evidence", title_justify="left")
    for col in ("time", "object", "box (original px)", "box (normalized)", "support"):
        table.add_column(col, justify="right" if col in ("time", "support") else "left")
    for e in sorted(result.evidence, key=lambda e: e.time):
        norm = "[" + ", ".join(f"{v:.2f}" for v in e.box_normalized) + "]"
        table.add_row(f"{e.time:.1f}s", e.object, _box(e.box), norm, str(e.support))
    return table


def vote_table(result: ReasonResult) -> Table:
    table = Table(title="Votes", title_justify="left")
    for col in ("answer", "weight", "votes", "traces"):
        table.add_column(col, justify="left" if col in ("answer", "traces") else "right")
    for row in result.votes:
        winner = row.answer == result.answer
        table.add_row(
            row.answer,
            f"{row.weight:.2f}",
            str(row.votes),
            ", ".join(map(str, row.traces)),
            style="bold" if winner else None,
        )
    return table


_BARS = " ▁▂▃▄▅▆▇█"


def relevance_strip(search: SearchInfo, width: int = 60) -> str:
    """One character per slice of the video: the best chunk score in it, as a bar."""
    chunks = search.chunks
    if not chunks:
        return ""
    cols = min(width, len(chunks))
    out = []
    for i in range(cols):
        part = chunks[i * len(chunks) // cols:(i + 1) * len(chunks) // cols] or chunks[-1:]
        best = max(c.score for c in part)
        out.append(_BARS[min(8, round(best * 8))] if best > 0 else "·")
    return "".join(out)


def search_panel(search: SearchInfo) -> Panel:
    """The search record: relevance strip over the video, windows zoomed, costs."""
    end = search.chunks[-1].end if search.chunks else 0.0
    text = Text(f"0s {relevance_strip(search)} {end:.0f}s\n")
    for w in search.windows:
        text.append(f"window {w.start:.1f}s - {w.end:.1f}s  score {w.score:.2f}\n")
    if not search.windows:
        text.append("no chunk scored: the zoom used frames spread over the video\n",
                    style="yellow")
    text.append(f"{len(search.chunks)} chunks of {search.chunk_s:g}s scanned · "
                f"{search.scan_calls} scan calls · {search.scan_frames} scan + "
                f"{search.zoom_frames} zoom frames · {search.frames_decoded} decoded, "
                f"{search.frames_reused} reused", style="dim")
    return Panel(text, title="Search", title_align="left", expand=False)


def trace_panel(trace: Trace) -> Panel:
    score = "-" if trace.verifier_score is None else f"{trace.verifier_score:.1f}"
    title = (
        f"trace {trace.index} · answer {trace.answer!r} · weight {trace.weight:.2f}"
        f" · verifier {score}"
    )
    body = Text(trace.text)
    if trace.defects:
        body.append("\ndefects: " + ", ".join(trace.defects), style="yellow")
    return Panel(body, title=title, title_align="left")


def render_result(result: ReasonResult, *, traces: bool = False) -> RenderableType:
    parts: list[RenderableType] = [answer_panel(result)]
    parts.append(evidence_table(result) if result.evidence else Text("No evidence cited."))
    if result.votes:
        parts.append(vote_table(result))
    if result.search is not None:
        parts.append(search_panel(result.search))
    if traces:
        parts.extend(trace_panel(t) for t in result.traces or [])
    timing = result.timings.get("total")
    if timing is not None:
        parts.append(
            Text(
                f"{timing:.2f}s · {result.usage.total_tokens} tokens"
                f"{' · cached' if result.cached else ''}",
                style="dim",
            )
        )
    return Group(*parts)
