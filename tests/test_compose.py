"""compose.yaml is what the README says: PostgreSQL 16, the service built from the Dockerfile
with WEB_CONCURRENCY workers on one port, pointed at the compose database, an optional
replica that streams from it. (Not started by the tests: CI has no container engine; README,
"Without Docker Hub", starts it with podman and checks it with scripts/compose_check.py.)"""

from __future__ import annotations

import yaml
from sqlalchemy.engine import make_url

from tests.support.servers import ROOT


def test_compose_runs_the_service_on_postgresql_16_with_workers_behind_one_port():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    # PostgreSQL 16 and the official Python image unless POSTGRES_IMAGE / PYTHON_IMAGE say
    # otherwise (the offline route, compose.offline.env).
    assert services["db"]["image"] == services["db-replica"]["image"] == "${POSTGRES_IMAGE:-postgres:16}"
    api = services["api"]
    assert api["build"] == {"context": ".", "args": {"PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim}"}}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert dockerfile.count("FROM ${PYTHON_IMAGE} AS") == 2
    assert api["ports"] == ["${PORT:-8000}:8000"]
    assert "WEB_CONCURRENCY" in api["environment"]
    assert "--workers ${WEB_CONCURRENCY" in (ROOT / "Dockerfile").read_text()  # the image uses it
    url = make_url(api["environment"]["DATABASE_URL"])
    db_env = services["db"]["environment"]
    assert (url.host, url.username, url.password, url.database) == (
        "db",
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    replica = services["db-replica"]
    assert (
        replica["profiles"] == ["replica"] and "pg_basebackup -h db -U " + db_env["POSTGRES_USER"] in replica["command"]
    )
    mounted = [volume.split(":")[0] for volume in services["db"]["volumes"]]
    assert all((ROOT / path).exists() for path in mounted if path.startswith("./"))
