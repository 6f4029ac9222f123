"""FastAPI dependencies shared by routers: the app's services and the request id."""

from __future__ import annotations

from typing import Any

from fastapi import Request


def services(request: Request) -> Any:
    """The `AppServices` bundle built by the lifespan (see `service.app`)."""
    return request.app.state.services


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))
