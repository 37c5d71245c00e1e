"""What the benchmarks share: the machine they ran on and the dev server they use."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def machine_description(*, with_load: bool = False) -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    text = (
        f"machine: {usable} CPU(s) (nproc), {model}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
    if with_load:
        text += f"; load average {os.getloadavg()[0]:.2f} (other work on the machine skews the figures)"
    return text


def dev_database_url(option: str) -> str:
    """The dev embedded server's database (`tcgraph db url`); `option` names the flag that
    would have given it instead, for the error."""
    tcgraph = PROJECT_ROOT / ".venv" / "bin" / "tcgraph"
    result = subprocess.run([str(tcgraph), "db", "url"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    if result.returncode != 0 or not result.stdout.strip():
        raise SystemExit(
            f"{option} not given and `{tcgraph} db url` failed: {result.stderr.strip()}\n"
            "Start the dev server (`make run` or `.venv/bin/tcgraph db start`) or pass " + option + "."
        )
    return result.stdout.strip().splitlines()[-1]


def dev_server_url(option: str = "--server-url") -> str:
    """The dev server, pointed at its maintenance database (to create scratch databases)."""
    from sqlalchemy.engine import make_url

    return make_url(dev_database_url(option)).set(database="postgres").render_as_string(hide_password=False)


async def admin(server_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
    import sqlalchemy as sa

    from service.db.engine import make_engine

    engine = make_engine(server_url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()
