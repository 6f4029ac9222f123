"""Python SDK for the Open-o3 Video serving gateway (depends on httpx and pydantic only).

    from clients.sdk import Client
    with Client("http://localhost:8000", api_key="...") as client:
        result = client.reason("clip.mp4", "What is the man holding?")
        print(result.answer, result.confidence, result.evidence[0].box)

`AsyncClient` has the same methods as coroutines. Errors: see `clients.sdk.errors`.
"""

from clients.sdk.async_client import AsyncClient
from clients.sdk.client import Client
from clients.sdk.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    DeadlineExceededError,
    JobCancelledError,
    JobWaitTimeout,
    NotFoundError,
    O3Error,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    UnsupportedMediaError,
)
from clients.sdk.models import (
    Evidence,
    FramesInfo,
    Health,
    Job,
    JobProgressInfo,
    Model,
    ModelList,
    ReasonResult,
    SearchInfo,
    Trace,
    Video,
    VoteRow,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "DeadlineExceededError",
    "Evidence",
    "FramesInfo",
    "Health",
    "Job",
    "JobCancelledError",
    "JobProgressInfo",
    "JobWaitTimeout",
    "Model",
    "ModelList",
    "NotFoundError",
    "O3Error",
    "PayloadTooLargeError",
    "RateLimitError",
    "ReasonResult",
    "SearchInfo",
    "ServerError",
    "ServiceUnavailableError",
    "Trace",
    "UnsupportedMediaError",
    "Video",
    "VoteRow",
]
