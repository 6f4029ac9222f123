# syntax=docker/dockerfile:1
#
# Images of the open-o3-serve gateway. Two targets, one file:
#
#   gateway (default, last stage)  the HTTP gateway only; talks to `vllm serve` over HTTP.
#                                  No torch, no transformers, no vllm in this image.
#   local                          the gateway plus the in-process transformers backend,
#                                  for hosts without vLLM (CPU torch 2.13.0 by default).
#
#   docker build -t open-o3-gateway .                      # gateway
#   docker build --target local -t open-o3-local .         # local transformers backend
#   docker build --target local \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t open-o3-local-gpu .
#
# Both run `python -m service` as an unprivileged user (uid 10001) with settings from
# O3_* environment variables (service/settings.py), data under /data, port 8000.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------
# build: a virtualenv at /opt/venv with the package and its base dependencies only.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY clients ./clients
COPY training ./training
RUN pip install --no-cache-dir .

# ---------------------------------------------------------------------------------------
# build-local: the same virtualenv plus torch (pinned) and the `local` extra.
# torch comes from the PyTorch index named by TORCH_INDEX_URL, installed BEFORE the
# extra so that nothing pulls a different torch build from PyPI.
FROM build AS build-local
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
# DL3013: ".[local]" is this project; its extra pins torch==2.13.0 in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && pip install --no-cache-dir ".[local]"

# ---------------------------------------------------------------------------------------
# runtime: what both images share (user, directories, settings, health check).
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    O3_HOST=0.0.0.0 \
    O3_PORT=8000 \
    O3_DATA_DIR=/data
RUN groupadd --system --gid 10001 o3 \
 && useradd --system --uid 10001 --gid o3 --home-dir /data --no-create-home o3 \
 && mkdir -p /data \
 && chown o3:o3 /data
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('O3_PORT', '8000'), timeout=3)"]
STOPSIGNAL SIGTERM

# ---------------------------------------------------------------------------------------
# local: gateway + in-process transformers backend. The Hugging Face cache lives on /data.
FROM runtime AS local
ENV HF_HOME=/data/hf
COPY --from=build-local /opt/venv /opt/venv
USER 10001:10001
CMD ["python", "-m", "service"]

# ---------------------------------------------------------------------------------------
# gateway (default): the HTTP gateway in front of `vllm serve`.
FROM runtime AS gateway
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
CMD ["python", "-m", "service"]
