"""The gateway's one settings class: every knob, read from `O3_*` environment variables.

Nothing else in the project reads `os.environ` for configuration. `Settings()` reads
the environment (and an optional `.env` file); tests build `Settings(...)` directly.

Invariants, checked when the object is built (errors say which variable to change):
- `O3_BACKEND=vllm` needs `O3_VLLM_URL`; `auto` means vllm when `O3_VLLM_URL` is set,
  else the local transformers backend.
- Placeholder API keys ("changeme", "secret", ...) are refused unless `O3_ENV=dev`.
- Limits are positive; the sync duration limit is not above the duration cap.
- An empty `O3_CHECKPOINT` means: build the random tiny checkpoint under
  `O3_DATA_DIR/tiny-checkpoint` on first start (labelled as such in every response).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.video.policy import DEFAULT_NUM_FRAMES, MAX_PIXELS, MIN_PIXELS

"""Qwen2.5-VL's smallest image (its processor's `min_pixels`, 3,136 = 4 patches of 28x28)."""

PLACEHOLDER_KEYS = frozenset(
    {"changeme", "change-me", "secret", "password", "test", "apikey", "api-key", "xxx",
     "replace-me", "your-api-key", "sk-xxx", "example"}
)


def _csv(value: str) -> tuple[str, ...]:
    """Split a comma-separated setting into stripped, non-empty items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


class Settings(BaseSettings):
    """All gateway settings. Environment variable = `O3_` + field name in upper case."""

    model_config = SettingsConfigDict(
        env_prefix="O3_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # ---- deployment ---------------------------------------------------------------
    env: Literal["dev", "prod"] = Field("prod", description="dev relaxes secret checks")
    host: str = Field("127.0.0.1", description="address uvicorn binds")
    port: int = Field(8000, ge=1, le=65535, description="port uvicorn binds")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace_s: int = Field(
        20, ge=1, description="on SIGTERM, requests still running after this are cancelled")
    data_dir: Path = Field(Path("data"), description="videos, tiny checkpoint, metrics dir")
    cors_origins: str = Field("", description="comma-separated CORS origins; empty = none")

    # ---- backend ------------------------------------------------------------------
    backend: Literal["auto", "local", "vllm"] = Field(
        "auto", description="auto = vllm when O3_VLLM_URL is set, else local"
    )
    vllm_url: str = Field("", description="base URL of `vllm serve`, e.g. http://vllm:8000")
    vllm_model: str = Field(
        "marinero4972/Open-o3-Video", description="model name vLLM serves (--served-model-name)"
    )
    vllm_api_key: str = Field("", description="API key vLLM was started with, if any")
    checkpoint: str = Field(
        "", description="local checkpoint dir; empty = build the random tiny checkpoint"
    )
    backend_timeout_s: float = Field(120.0, gt=0, description="one backend call's deadline")
    threads_per_process: int = Field(
        0, ge=0, le=1024, description="CPU threads per gateway process for torch (local "
        "backend: intra- and inter-op pools); 0 = (cores available - 1) / O3_WORKERS, at "
        "least 1"
    )
    max_images: int = Field(
        64, ge=10, le=1024, description="images one model prompt may hold (frames or "
        "image_url parts; 400 beyond): vLLM's --limit-mm-per-prompt image count "
        "(compose: VLLM_MAX_IMAGES feeds both)")
    vllm_frame_format: Literal["png", "jpeg"] = Field(
        "png", description="how frames travel to vLLM: png = lossless (what the model "
        "was trained on), jpeg = smaller bodies (bench/frame_encoding.py)")
    vllm_jpeg_quality: int = Field(95, ge=50, le=100, description="JPEG quality when "
                                   "O3_VLLM_FRAME_FORMAT=jpeg")
    model_revision: str = Field(
        "", description="vLLM backend: the weights' revision in cache keys and responses "
        "(set it when weights change under one name); empty = vLLM's model root. A local "
        "checkpoint's revision is always a hash of its config and weights")

    # ---- state --------------------------------------------------------------------
    redis_url: str = Field("", description="redis://...; empty = in-process cache and jobs")
    cache_ttl_s: int = Field(86400, ge=0, description="result cache TTL; 0 disables the cache")
    job_ttl_s: int = Field(7 * 86400, gt=0, description="how long job records are kept")
    job_claim_idle_s: float = Field(
        300.0, gt=0, description="a job pending this long on a dead worker is reclaimed"
    )
    job_workers: int = Field(1, ge=0, le=64, description="job consumers per gateway process")
    job_max_attempts: int = Field(
        3, ge=1, le=100, description="runs of a job whose worker keeps dying before it fails"
    )
    job_timeout_s: float = Field(
        3600.0, gt=0, description="a job running longer fails with a timeout error (504)"
    )

    # ---- security -----------------------------------------------------------------
    api_keys: str = Field("", description="comma-separated bearer keys, each its own tenant; "
                          "empty (and no tenant or admin keys) = auth off")
    api_key_tenants: str = Field(
        "", description="comma-separated key=tenant pairs: keys that share a tenant's videos, "
        "jobs and results (also accepted as keys)")
    admin_keys: str = Field("", description="comma-separated keys that see every tenant's data")
    id_secret: str = Field(
        "", description="HMAC key of video ids; empty = a random one kept in O3_DATA_DIR "
        "(set the same value on every replica that shares a data dir or Redis)")
    tenant_rpm: int = Field(0, ge=0, description="requests per minute per tenant; 0 = no limit")
    tenant_max_concurrency: int = Field(
        0, ge=0, description="inferences one tenant may run at once; 0 = no limit")
    tenant_max_stored_bytes: int = Field(
        0, ge=0, description="bytes of videos one tenant may keep stored; 0 = no limit")
    video_url_enabled: bool = Field(False, description="allow `video_url` fetching")
    video_url_allowlist: str = Field(
        "", description="comma-separated host names video_url may fetch from"
    )
    video_url_max_bytes: int = Field(500 * 1024 * 1024, gt=0)
    video_url_timeout_s: float = Field(60.0, gt=0, description="one read of a video_url fetch")
    video_url_deadline_s: float = Field(
        300.0, gt=0, description="a whole video_url fetch (connect to last byte) -> 504")
    video_url_min_rate_bps: int = Field(
        16384, ge=0, description="slowest average bytes/s a video_url fetch may run at after "
        "its first 10 s -> 504; 0 = no minimum")

    # ---- limits -------------------------------------------------------------------
    max_upload_bytes: int = Field(2 * 1024**3, gt=0, description="upload cap (bytes)")
    max_chat_body_bytes: int = Field(
        128 * 1024**2, gt=0, description="largest /v1/chat/completions body (bytes) -> 413")
    max_buffered_body_bytes: int = Field(
        256 * 1024**2, gt=0, description="JSON body bytes held for parsing at once, all "
        "requests together; beyond -> 503 + Retry-After")
    max_duration_s: float = Field(3600.0, gt=0, description="longest video accepted")
    max_pixels: int = Field(
        3840 * 2160, gt=0, description="largest video frame (width*height) accepted"
    )
    sync_max_duration_s: float = Field(
        600.0, gt=0, description="longer videos are answered as a 202 job"
    )
    max_concurrency: int = Field(4, ge=1, description="inferences running at once")
    max_queue: int = Field(16, ge=0, description="inferences waiting; beyond -> 429")
    request_timeout_s: float = Field(300.0, gt=0, description="sync request deadline -> 504")
    max_n: int = Field(16, ge=1, le=64, description="largest N a request may ask for")
    video_hwaccel: str = Field(
        "", pattern=r"^[a-z0-9_]*$", description="decode videos on this PyAV hardware "
        "device type (cuda, vaapi, videotoolbox, ...); empty = software; unavailable -> "
        "software with a log line"
    )

    # ---- defaults of a request ----------------------------------------------------
    default_n: int = Field(8, ge=1, le=64)
    default_num_frames: int = Field(DEFAULT_NUM_FRAMES, ge=1, le=512)
    default_fps: float | None = Field(None, gt=0, description="fixed fps instead of count")
    default_min_pixels: int = Field(
        MIN_PIXELS, ge=MIN_PIXELS,
        description="smallest frame (pixels) fed to the model; >= 3136 (Qwen2.5-VL's floor)"
    )
    default_max_pixels: int = Field(MAX_PIXELS, ge=MIN_PIXELS)
    default_max_tokens: int = Field(1024, ge=1)

    # ---- long videos: grounded search (docs/SEARCH.md) -----------------------------
    search_auto_min_duration_s: float = Field(
        600.0, gt=0, description="strategy=auto searches videos longer than this"
    )
    search_chunk_s: float = Field(32.0, ge=2.0, le=600.0, description="seconds per scan chunk")
    search_frames_per_chunk: int = Field(16, ge=1, le=64, description="frames per scan chunk")
    search_windows: int = Field(2, ge=1, le=8, description="windows the zoom looks at")
    search_window_s: float = Field(
        12.0, ge=1.0, le=300.0, description="seconds around cited evidence per window"
    )
    search_zoom_frames: int = Field(32, ge=1, le=128, description="dense frames in the windows")
    search_context_frames: int = Field(
        4, ge=0, le=32, description="frames from the whole video added to the zoom"
    )
    search_concurrency: int = Field(
        8, ge=1, le=64, description="chunk requests in flight at once (and a request's cap)"
    )
    search_scan_samples: int = Field(3, ge=1, le=8, description="traces sampled per chunk")
    search_keyframes_only: bool = Field(True, description="scan frames snap to keyframes")
    search_max_chunks: int = Field(
        512, ge=1, le=10000, description="a search needing more chunks is refused (400)"
    )
    frame_cache_bytes: int = Field(
        256 * 1024**2, ge=0, description="decoded-frame cache per process (bytes); 0 = off"
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.backend == "vllm" and not self.vllm_url:
            raise ValueError("O3_BACKEND=vllm needs O3_VLLM_URL (e.g. http://vllm:8000)")
        if self.vllm_url and not self.vllm_url.startswith(("http://", "https://")):
            raise ValueError("O3_VLLM_URL must start with http:// or https://")
        if self.env != "dev":
            bad = [k for k in self.api_key_list if k.lower() in PLACEHOLDER_KEYS]
            if bad:
                raise ValueError(
                    "O3_API_KEYS contains a placeholder key; set real keys "
                    "(or O3_ENV=dev for local experiments)"
                )
        for item in _csv(self.api_key_tenants):
            key, sep, tenant = item.partition("=")
            if not sep or not key.strip() or not tenant.strip():
                raise ValueError("O3_API_KEY_TENANTS must be comma-separated key=tenant pairs")
        if self.sync_max_duration_s > self.max_duration_s:
            raise ValueError("O3_SYNC_MAX_DURATION_S must not exceed O3_MAX_DURATION_S")
        if self.default_min_pixels > self.default_max_pixels:
            raise ValueError("O3_DEFAULT_MIN_PIXELS must not exceed O3_DEFAULT_MAX_PIXELS")
        if self.default_n > self.max_n:
            raise ValueError("O3_DEFAULT_N must not exceed O3_MAX_N")
        if self.default_num_frames > self.max_images:
            raise ValueError("O3_DEFAULT_NUM_FRAMES must not exceed O3_MAX_IMAGES "
                             "(the backend's image limit)")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("O3_REDIS_URL must start with redis://, rediss:// or unix://")
        return self

    # ---- derived ------------------------------------------------------------------
    @property
    def resolved_backend(self) -> Literal["local", "vllm"]:
        if self.backend == "auto":
            return "vllm" if self.vllm_url else "local"
        return self.backend

    @property
    def api_key_list(self) -> tuple[str, ...]:
        """Every accepted key: O3_API_KEYS, the keys of O3_API_KEY_TENANTS, O3_ADMIN_KEYS."""
        keys = (*_csv(self.api_keys), *self.key_tenant_map, *_csv(self.admin_keys))
        return tuple(dict.fromkeys(keys))

    @property
    def key_tenant_map(self) -> dict[str, str]:
        """O3_API_KEY_TENANTS as {key: tenant}."""
        pairs = (item.partition("=") for item in _csv(self.api_key_tenants))
        return {k.strip(): t.strip() for k, _, t in pairs}

    @property
    def admin_key_set(self) -> frozenset[str]:
        return frozenset(_csv(self.admin_keys))

    @property
    def allowlist(self) -> tuple[str, ...]:
        return tuple(h.lower() for h in _csv(self.video_url_allowlist))

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return _csv(self.cors_origins)

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def tiny_checkpoint_dir(self) -> Path:
        return self.data_dir / "tiny-checkpoint"

    @property
    def torch_threads(self) -> int:
        """`threads_per_process`, or (0) the cores available but one, shared by the workers."""
        from service.inference.cpu_budget import resolve_threads

        return resolve_threads(self.threads_per_process, self.workers)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_key_list)
