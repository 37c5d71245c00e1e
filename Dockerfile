# syntax=docker/dockerfile:1
#
# tcgraph: the GraphQL service, served by uvicorn (uvloop + httptools, WEB_CONCURRENCY workers).
#
#   docker build -t tcgraph .
#   docker run --rm -p 8000:8000 \
#     -e DATABASE_URL=postgresql+asyncpg://tcgraph:secret@db.example:5432/tcgraph tcgraph
#
# The container REQUIRES DATABASE_URL (postgres://, postgresql:// or postgresql+asyncpg://).
# The embedded PostgreSQL that `make run` / `make test` use is for development only: its
# wheel is in requirements.lock, so it is installed here too (~40 MB), but the container
# never starts it — scripts/prestart.sh refuses to run without DATABASE_URL.
#
# On start, scripts/prestart.sh applies the Alembic migrations and loads the reference data
# (both idempotent), then execs the command (uvicorn by default). When several replicas
# start at once, migrate first as a release step: `docker run --rm -e DATABASE_URL=… tcgraph true`.
# PROFILE=production turns GraphiQL, introspection and "did you mean" hints off; pass
# -e PROFILE=development to have them.

# The Python base image: the official one by default; any image with Python 3.11 at the same
# path in both stages will do (scripts/offline-images.sh builds one from Debian packages).
ARG PYTHON_IMAGE=python:3.11-slim

############################ builder: the virtualenv with the pinned dependencies
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, so this layer is reused until requirements.lock or pyproject.toml change:
# the runtime dependencies of pyproject.toml only, at the versions pinned in requirements.lock
# (which also pins the test tools — pytest, schemathesis, playwright — that stay out of the image).
COPY requirements.lock pyproject.toml /src/
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" > /src/runtime.txt \
 && pip install -c /src/requirements.lock -r /src/runtime.txt

# Then the project itself (registers the `tcgraph` console script in the venv).
COPY . /src
RUN pip install --no-deps /src

############################ runtime
FROM ${PYTHON_IMAGE} AS runtime

# PYTHONPATH=/app: service.db.migrate looks for alembic.ini and migrations/ next to the
# `service` package it is imported from, so the app runs from its source tree in /app
# (the copy pip installed in the venv only provides the `tcgraph` console script).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PROFILE=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/tcgraph-metrics

RUN groupadd --system --gid 10001 tcgraph \
 && useradd --system --uid 10001 --gid tcgraph --no-create-home --home-dir /app \
      --shell /usr/sbin/nologin tcgraph

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY graphql_schema ./graphql_schema
COPY service ./service
COPY scripts/prestart.sh ./scripts/prestart.sh

# Byte-compile as root (the app tree stays read-only for the service user).
RUN chmod 0755 /app/scripts/prestart.sh \
 && python -m compileall -q /app/service /app/graphql_schema /app/migrations

USER tcgraph:tcgraph

EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["/app/scripts/prestart.sh"]
# A shell, only to expand WEB_CONCURRENCY; `exec` makes uvicorn PID 1 (it gets SIGTERM).
# --no-proxy-headers: the app believes X-Forwarded-For only from FORWARDED_ALLOW_IPS (none by
# default); uvicorn's own handling would trust any local peer's.
CMD ["sh", "-c", "exec uvicorn service.app:app_from_environment --factory --host 0.0.0.0 --port 8000 --no-proxy-headers --loop uvloop --http httptools --ws-per-message-deflate false --workers ${WEB_CONCURRENCY:-2}"]
