"""One import, all or nothing: the rule the CLI and the API share.

The import runs in one transaction; it is committed only when nothing was rejected (or
rejections were explicitly allowed) and it is not a dry run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.principals import Principal
from service.errors import Forbidden, InvalidInput, Unauthenticated
from service.imports.report import ImportReport
from service.observability.metrics import record_import

SOURCES = ("upr-info", "iati", "uhri")


def importer(source: str):
    if source == "upr-info":
        from service.imports.upr_info import import_upr_info

        return import_upr_info
    if source == "iati":
        from service.imports.iati import import_iati

        return import_iati
    if source == "uhri":
        from service.imports.uhri import import_uhri

        return import_uhri
    raise InvalidInput(f"Unknown import source {source!r}; one of: {', '.join(SOURCES)}.", field="source")


async def run_import(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    source: str,
    files: Sequence[Path],
    dry_run: bool = False,
    allow_rejects: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ImportReport, bool]:
    """(report, committed)."""
    run = importer(source)
    async with sessionmaker() as session:
        transaction = await session.begin()
        try:
            report = await run(
                session=session, principal=principal, files=list(files), dry_run=dry_run, progress=progress
            )
        except BaseException:
            await transaction.rollback()
            raise
        keep = not dry_run and (report.rejected == 0 or allow_rejects)
        if keep:
            await transaction.commit()
        else:
            await transaction.rollback()
        record_import(report, committed=keep)
        return report, keep


def resolve_import_path(import_dir: Path | None, relative: str, *, principal: Principal) -> Path:
    """A file inside the configured import folder; anything else is refused."""
    if principal.is_anonymous:
        raise Unauthenticated("Imports are for administrators; sign in with an administrator key.")
    if not principal.is_admin:
        raise Forbidden("Only administrators import data.")
    if import_dir is None:
        raise InvalidInput("Server-side imports are off: the service has no IMPORT_DIR.", field="path")
    base = Path(import_dir).resolve()
    candidate = (base / relative).resolve()
    if base != candidate and base not in candidate.parents:
        raise InvalidInput(f"`path` must name a file inside the import folder; {relative!r} does not.", field="path")
    if not candidate.is_file():
        raise InvalidInput(f"No file {relative!r} in the import folder.", field="path")
    return candidate
