#!/usr/bin/env bash
# Container start-up: check DATABASE_URL, wait for the database, apply migrations and load
# the reference data (both idempotent), then exec the command (uvicorn by default).
set -euo pipefail

log() { printf 'prestart: %s\n' "$*" >&2; }

if [[ -z "${DATABASE_URL:-}" ]]; then
    log "ERROR: DATABASE_URL is not set."
    log "The container needs an external PostgreSQL, e.g."
    log "  -e DATABASE_URL=postgresql+asyncpg://USER:PASSWORD@HOST:5432/DBNAME"
    log "(the embedded PostgreSQL of 'make run' is for development only)."
    exit 64
fi

if [[ $# -eq 0 ]]; then
    log "ERROR: no command to run after the start-up steps."
    exit 64
fi

# Wait for the server (compose/k8s may start us first); DB_WAIT_SECONDS=0 disables.
wait_seconds="${DB_WAIT_SECONDS:-30}"
if [[ "$wait_seconds" -gt 0 ]]; then
    deadline=$(( SECONDS + wait_seconds ))
    until python - <<'PY' 2>/dev/null
import asyncio, os
import asyncpg
from sqlalchemy.engine import make_url
from service.db.url import normalise_url

url = make_url(normalise_url(os.environ["DATABASE_URL"])).set(drivername="postgresql")
async def ping() -> None:
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    await conn.close()
asyncio.run(ping())
PY
    do
        if (( SECONDS >= deadline )); then
            log "ERROR: the database in DATABASE_URL did not answer within ${wait_seconds}s."
            break  # let `tcgraph migrate` report the actual error
        fi
        log "waiting for the database…"
        sleep 2
    done
fi

log "applying migrations"
tcgraph migrate
log "loading reference data"
tcgraph load-reference

# Workers share their metrics through files here (prometheus-client's multi-process mode);
# the files of a previous run's processes must go.
if [[ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]]; then
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

log "starting: $*"
exec "$@"
