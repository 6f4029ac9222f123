"""HTTP routes of `/v1/videos`: translate only; the work is in `VideosService`."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response

from service.api.multipart import StreamingForm
from service.api.openapi import ERRORS, UPLOAD_BODY
from service.api.videos.protocol import Video
from service.api.videos.service import VideosService
from service.security.auth import ApiKeyRoute, principal

router = APIRouter(prefix="/v1/videos", tags=["videos"], route_class=ApiKeyRoute)
VideoId = Path(description="the id an upload returned", pattern=r"^[0-9a-f]{64}$")


def _svc(request: Request) -> VideosService:
    svc: VideosService = request.app.state.services.videos
    return svc


@router.post("", response_model=Video, status_code=201, responses=ERRORS,
             openapi_extra=UPLOAD_BODY,
             summary="Upload a video (multipart field `file`, streamed to disk)",
             description="201 when new, 200 when the same bytes were already stored. The "
             "size cap is enforced while streaming; the id is scoped to the key's tenant.")
async def upload(request: Request, response: Response) -> Video:
    form = StreamingForm(request)
    video, created = await _svc(request).upload(form.file_chunks(), principal(request))
    response.status_code = 201 if created else 200
    return video


@router.get("/{video_id}", response_model=Video, responses=ERRORS,
            summary="Describe a stored video (probe metadata)")
async def describe(request: Request, video_id: str = VideoId) -> Video:
    return await _svc(request).describe(video_id, principal(request))


@router.delete("/{video_id}", status_code=204, responses=ERRORS, summary="Delete a stored video")
async def delete(request: Request, video_id: str = VideoId) -> Response:
    await _svc(request).delete(video_id, principal(request))
    return Response(status_code=204)
