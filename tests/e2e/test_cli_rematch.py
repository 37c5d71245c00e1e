"""`tcgraph rematch --weights FILE`: a bad file is refused with file and reason, nothing published."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from service import cli
from service.settings import get_settings

pytestmark = pytest.mark.asyncio


async def test_bad_weights_file_is_refused_and_nothing_is_published(
    database_url, sessionmaker, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        bad = tmp_path / "weights.json"
        bad.write_text(json.dumps({"weights": {"thematic": -1}}))
        broken = tmp_path / "broken.json"
        broken.write_text("{not json")
        for path, reason in ((bad, "missing:"), (broken, "cannot read the weights")):
            # The CLI runs its own event loop: call it off this one.
            import asyncio

            code = await asyncio.to_thread(cli.main, ["rematch", "--weights", str(path)])
            err = capsys.readouterr().err
            assert code == 2 and str(path) in err and reason in err
    finally:
        get_settings.cache_clear()
    async with sessionmaker() as session:
        assert (await session.execute(sa.text("select count(*) from criteria_version where version > 1"))).scalar() == 0
