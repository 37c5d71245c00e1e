"""Run the real service under uvicorn on a free port (end-to-end tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def running_server(
    database_url: str,
    *,
    workers: int = 1,
    env: dict | None = None,
    log: Path | None = None,
    ws: str = "websockets",
    command: list[str] | None = None,
) -> AsyncIterator[tuple[str, dict]]:
    """Yields (base URL, environment) of a uvicorn server on `database_url`; its output goes
    to `log` when given (a file, which cannot fill up and block the server like a pipe).
    `command` replaces the uvicorn command line; it must listen on 127.0.0.1:$PORT. A variable
    given as None in `env` is unset."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), **(env or {})}
    environment = {name: value for name, value in environment.items() if value is not None}  # None: unset
    output = log.open("ab") if log is not None else subprocess.PIPE
    process = subprocess.Popen(
        command
        or [
            sys.executable,
            "-m",
            "uvicorn",
            "service.app:app_from_environment",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--ws",
            ws,
            "--no-proxy-headers",  # as the image runs it
        ],
        cwd=ROOT,
        env=environment,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(base + "/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                printed = log.read_text() if log is not None else process.stdout.read().decode()
                raise AssertionError(f"server did not start: {printed[-3000:]}")
            await asyncio.sleep(0.2)
    try:
        yield base, environment
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log is not None:
            output.close()


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """An app whose lifespan already runs (the `app` fixture) under uvicorn on this event
    loop, so a test can look inside it; yields its WebSocket URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ws="websockets")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
