"""The error a request is answered with on purpose, below every layer that raises it.

Owns `ApiError`: status, stable code, message, optional param and headers. Guards in
`service.security` and the HTTP surfaces in `service.api` raise it; `service.api.errors`
maps it (and every other exception) onto the one error shape.

Invariants:
- Imports nothing from the project and no web framework: any layer may raise it.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error the gateway answers with on purpose: status, stable code, message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers or {}
