# One image for every Revue service; compose picks the service by its command.
# The uv workspace recipe: the pinned dependencies first (a layer that changes
# only with requirements-production.lock), then the workspace members on top.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_SYSTEM_PYTHON=1

RUN pip install --no-cache-dir uv \
    && useradd --system --create-home --uid 10001 revue

WORKDIR /app

# 1. Dependencies: the production set only (no dev group: no revue-devkit, pytest or
#    embedded servers), pinned and hash-checked.
COPY requirements-production.lock ./
RUN uv pip install --no-cache --require-hashes -r requirements-production.lock

# 2. The workspace members (no dependency resolution: layer 1 has them all); not libs/devkit.
COPY libs/common ./libs/common
COPY services ./services
RUN uv pip install --no-cache --no-deps \
        ./libs/common ./services/gateway ./services/analysis ./services/cache \
        ./services/query-optimizer ./services/cdn

USER revue
ENV HTTP_HOST=0.0.0.0
CMD ["python", "-m", "revue.gateway"]
