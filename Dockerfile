# syntax=docker/dockerfile:1.7
# One image per service, each a named target:
#   docker build --target catalog-sync -t saleschannel/catalog-sync .
# Targets: catalog-sync, repricer, order-import, reporting, amazon-gateway, commerce-gateway, tools.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# Build stages: uv installs each service, non-editable, into /app/.venv.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Only the workspace's pyproject.toml files, so the dependency layer below is rebuilt when a
# dependency changes, not when source code does.
FROM build AS manifests
COPY libs libs
COPY services services
RUN find libs services -type f ! -name pyproject.toml -delete

# Third-party dependencies shared by every service (those of servicekit).
FROM build AS deps
COPY pyproject.toml uv.lock ./
COPY --from=manifests /src/libs libs
COPY --from=manifests /src/services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package servicekit

FROM deps AS source
COPY libs libs
COPY services services

FROM source AS build-catalog-sync
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package catalog-sync

FROM source AS build-repricer
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package repricer

FROM source AS build-order-import
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package order-import

FROM source AS build-reporting
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package reporting

FROM source AS build-amazon-gateway
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package amazon-gateway

FROM source AS build-commerce-gateway
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package commerce-gateway

FROM source AS build-tools
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package servicekit

# ---------------------------------------------------------------------------------------------
# Runtime: the same Python base, no uv, no sources, an unprivileged user.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HTTP_HOST=0.0.0.0 \
    LOG_LEVEL=INFO
WORKDIR /app
USER 10001:10001

FROM runtime AS catalog-sync
COPY --from=build-catalog-sync /app/.venv /app/.venv
ENV HTTP_PORT=8101
EXPOSE 8101
CMD ["python", "-m", "catalog_sync"]

FROM runtime AS repricer
COPY --from=build-repricer /app/.venv /app/.venv
ENV HTTP_PORT=8102
EXPOSE 8102
CMD ["python", "-m", "repricer"]

FROM runtime AS order-import
COPY --from=build-order-import /app/.venv /app/.venv
ENV HTTP_PORT=8103
EXPOSE 8103
CMD ["python", "-m", "order_import"]

FROM runtime AS reporting
COPY --from=build-reporting /app/.venv /app/.venv
ENV HTTP_PORT=8104
EXPOSE 8104
CMD ["python", "-m", "reporting"]

FROM runtime AS amazon-gateway
COPY --from=build-amazon-gateway /app/.venv /app/.venv
ENV HTTP_PORT=8105
EXPOSE 8105
CMD ["python", "-m", "amazon_gateway"]

FROM runtime AS commerce-gateway
COPY --from=build-commerce-gateway /app/.venv /app/.venv
ENV HTTP_PORT=8106
EXPOSE 8106
CMD ["python", "-m", "commerce_gateway"]

# One-shot operational commands, e.g. `python -m servicekit.topics create --partitions 6`.
FROM runtime AS tools
COPY --from=build-tools /app/.venv /app/.venv
CMD ["python", "-m", "servicekit.topics", "create", "--partitions", "6"]
