"""HTTP route of `POST /v1/reason`: parse JSON or streaming multipart, then delegate."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from service.api.body import buffered_body, parsing
from service.api.deps import request_id
from service.api.errors import invalid_request
from service.api.guard import guarded
from service.api.multipart import StreamingForm
from service.api.openapi import ERRORS
from service.api.reason.protocol import JobAccepted, ReasonFields, ReasonRequest, ReasonResponse
from service.api.reason.service import ReasonService
from service.errors import ApiError
from service.security.auth import ApiKeyRoute, principal
from service.security.urlfetch import stream_video_url

router = APIRouter(prefix="/v1", tags=["reason"], route_class=ApiKeyRoute)
JSON_FIELDS = ("sampling", "frames", "search")

REASON_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ReasonRequest"}},
    "multipart/form-data": {"schema": {"$ref": "#/components/schemas/ReasonMultipart"}},
}}}


def _json_field(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"{key}: not valid JSON ({exc})",
                       param=key) from exc


def form_to_fields(form: dict[str, list[str]]) -> ReasonFields:
    data: dict[str, Any] = {k: v[-1] for k, v in form.items() if k != "options"}
    for key in JSON_FIELDS:
        if key in data:
            data[key] = _json_field(key, data[key])
    if "options" in form:
        opts = form["options"]
        one_json = len(opts) == 1 and opts[0].lstrip().startswith("[")
        data["options"] = _json_field("options", opts[0]) if one_json else opts
    try:
        return ReasonFields.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(exc) from exc


async def _json_request(request: Request, svc: ReasonService) -> tuple[ReasonRequest, str | None]:
    """The validated JSON body and its cache key when known (`ReasonService.parse_json`).
    The body's size was capped (1 MiB) before it was read (`service.api.body`)."""
    budget = request.app.state.body_budget
    async with buffered_body(request, budget) as body:
        try:
            with parsing(budget, len(body)):
                return svc.parse_json(body)
        except ValidationError as exc:
            raise invalid_request(exc) from exc


async def _source(request: Request) -> tuple[ReasonFields, str, str | None]:
    """The request's fields, the id of its (stored) video, and its cache key if known."""
    svc = request.app.state.services
    who = principal(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/"):
        form = StreamingForm(request, text_files=("subtitles",))
        video, _ = await svc.videos.upload(form.file_chunks(), who)
        return form_to_fields(form.fields), video.id, None
    if not ctype.startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send application/json or multipart")
    req, key = await _json_request(request, svc.reason)
    if req.image is not None:  # a still image: no video at all
        return req, "", None
    if req.video_url is not None:
        fetch = stream_video_url(req.video_url, svc.settings)
        video, _ = await guarded(request, svc.videos.upload(fetch, who),
                                 svc.settings.video_url_deadline_s + 5.0)
        return req, video.id, None
    assert req.video_id is not None
    svc.media.owned_path(who, req.video_id)  # 404 (absent or another tenant's) first
    return req, req.video_id, key


@router.post("/reason", response_model=ReasonResponse, responses={
    **ERRORS, 202: {"model": JobAccepted, "description": "queued as a job"}},
    openapi_extra=REASON_BODY, summary="Answer a question about a video, with evidence",
    description="JSON with `video_id` or `video_url`, or multipart with a `file` part and "
    "the same fields as form fields (`subtitles` may be a file part: SRT or WebVTT). "
    "Long videos and `async=true` answer 202 with a job.")
async def reason(request: Request) -> Response:
    rid = request_id(request)
    svc: ReasonService = request.app.state.services.reason
    fields, video_id, key = await _source(request)
    if isinstance(fields, ReasonRequest) and fields.image is not None:
        who = principal(request)
        async with request.app.state.quotas.inference(who.tenant, exempt=who.admin):
            resp = await guarded(request, svc.answer_image(fields, fields.image, rid, who),
                                 svc.settings.request_timeout_s)
        return JSONResponse(resp.model_dump(mode="json"))
    if fields.async_:  # asked for a job: a job it gets, even when the answer is cached
        return await _enqueue(request, fields, video_id, rid)
    hit = await svc.cached_body(fields, video_id, rid, key)
    if hit is not None:
        return Response(hit, media_type="application/json")
    if await svc.must_defer(fields, video_id):
        return await _enqueue(request, fields, video_id, rid)
    who = principal(request)
    async with request.app.state.quotas.inference(who.tenant, exempt=who.admin):
        resp = await guarded(request, svc.run(fields, video_id, rid),
                             svc.settings.request_timeout_s)
    return JSONResponse(resp.model_dump(mode="json"))


async def _enqueue(request: Request, fields: ReasonFields, video_id: str, rid: str
                   ) -> Response:
    jobs = request.app.state.services.jobs
    payload = {"fields": fields.model_dump(mode="json", by_alias=True,
                                           include=set(ReasonFields.model_fields)),
               "video_id": video_id, "request_id": rid, "tenant": principal(request).tenant,
               "admin": principal(request).admin}
    rec = await jobs.submit(payload)
    body = JobAccepted(job_id=rec.id).model_dump()
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/jobs/{rec.id}"})
