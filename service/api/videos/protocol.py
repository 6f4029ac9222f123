"""Wire models of the videos surface (`/v1/videos`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Video(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "object": "video", "bytes": 1048576, "duration": 12.0, "fps": 30.0,
        "variable_frame_rate": False, "width": 1280, "height": 720, "rotation": 0,
        "codec": "h264", "frame_count": 360, "has_audio": False}]})

    id: str = Field(description="64 hex; scoped to the tenant (an HMAC of tenant and sha256)")
    object: Literal["video"] = "video"
    bytes: int
    duration: float = Field(description="seconds")
    fps: float
    variable_frame_rate: bool
    width: int = Field(description="coded width in pixels (before rotation)")
    height: int
    rotation: int = Field(description="degrees clockwise a player rotates the frame")
    codec: str
    frame_count: int
    has_audio: bool
