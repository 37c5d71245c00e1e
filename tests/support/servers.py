"""Run the real service under uvicorn on a free port (end-to-end tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def running_server(database_url: str, *, workers: int = 1, env: dict | None = None) -> AsyncIterator[tuple[str, dict]]:
    """Yields (base URL, environment) of a uvicorn server on `database_url`."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.app:app_from_environment", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--ws", "websockets"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
                raise AssertionError(f"server did not start: {process.stdout.read().decode()[-3000:]}")
            await asyncio.sleep(0.2)
    try:
        yield base, environment
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
