"""Throwaway embedded clusters for tests that restart or replicate their own PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """Not under pytest's tmp_path: another pytest run starting meanwhile resets its root to
    0700, and a cluster's system user could no longer reach its data folder."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def migrated_with_focal_key(url: str, state_iso3: str = "KEN") -> str:
    """Create, migrate and load reference data into the database at `url`; returns the
    secret of a new focal point key for `state_iso3`."""
    from service.access.keys import create_api_key
    from service.access.principals import SYSTEM, Role
    from service.db import migrate
    from service.db.admin import ensure_database
    from service.db.engine import make_engine, make_sessionmaker
    from service.reference.load import load_reference

    await ensure_database(url)
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await load_reference(session)
            key = await create_api_key(
                session=session, actor=SYSTEM, role=Role.STATE_FOCAL_POINT, label="focal", state_iso3=state_iso3
            )
            return key.key
    finally:
        await engine.dispose()
