"""Imports through the API (administrators), from files in the server's import folder.

A server-side folder (setting IMPORT_DIR) rather than a browser upload: no multipart
endpoint to protect against cross-site requests, and large files stay on the server."""

from __future__ import annotations

import enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from service.imports.report import ImportRefused, ImportReport
from service.imports.run import resolve_import_path, run_import


@strawberry.enum(description="Which importer reads the file.")
class ImportSource(enum.Enum):
    UPR_INFO = strawberry.enum_value("upr-info", description="A UPR Info database export (CSV, Mac Roman or UTF-8).")
    IATI = strawberry.enum_value("iati", description="An IATI 2.01–2.03 activity file (XML).")
    UHRI = strawberry.enum_value(
        "uhri",
        description="A Universal Human Rights Index JSON export (recommendations of the UPR, treaty bodies, special procedures).",
    )


@strawberry.type(description="A rejected or skipped row, activity or record, or a warning about one imported anyway.")
class ImportProblem:
    file: str = strawberry.field(description="File name.")
    position: str = strawberry.field(description="Where: row N, activity N (identifier), record N (UHRI AnnotationId).")
    reason: str = strawberry.field(description="What was wrong.")


@strawberry.type(description="A name the importer could not resolve, and how often it occurred.")
class UnresolvedName:
    name: str = strawberry.field(description="The name as written in the file.")
    occurrences: int = strawberry.field(description="How many times.")


@strawberry.type(description="What an import read, created, updated, left unchanged and rejected.")
class ImportResult:
    committed: bool = strawberry.field(
        description="Whether anything was written (false for a dry run, or with rejections not allowed)."
    )
    dry_run: bool = strawberry.field(description="Nothing is written in a dry run.")
    read: int = strawberry.field(description="Rows or activities read.")
    created: int = strawberry.field(description="Entities created.")
    updated: int = strawberry.field(description="Entities updated in place.")
    unchanged: int = strawberry.field(description="Entities already up to date.")
    rejected: int = strawberry.field(description="Rows or activities rejected.")
    rejections: list[ImportProblem] = strawberry.field(description="Each rejection with its position and reason.")
    skipped: int = strawberry.field(
        description="Records read but not for tcgraph (e.g. UHRI observations); they do not stop the import."
    )
    skips: list[ImportProblem] = strawberry.field(
        description="Each skipped record with its position and reason (the first 1,000)."
    )
    warnings: list[ImportProblem] = strawberry.field(description="Problems in rows imported anyway.")
    unresolved_names: list[UnresolvedName] = strawberry.field(description="Names that could not be resolved.")
    seconds: float = strawberry.field(description="Time taken.")


def _result(report: ImportReport, committed: bool) -> ImportResult:
    return ImportResult(
        committed=committed,
        dry_run=report.dry_run,
        read=report.read,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=report.rejected,
        rejections=[ImportProblem(file=p.file, position=p.position, reason=p.reason) for p in report.rejections],
        skipped=report.skipped,
        skips=[ImportProblem(file=p.file, position=p.position, reason=p.reason) for p in report.skips[:1000]],
        warnings=[ImportProblem(file=p.file, position=p.position, reason=p.reason) for p in report.warnings[:1000]],
        unresolved_names=[UnresolvedName(name=n, occurrences=c) for n, c in sorted(report.unresolved_names.items())],
        seconds=round(report.seconds, 3),
    )


@strawberry.input(description="Import a file from the server's import folder (administrators).")
class ImportFileInput:
    source: ImportSource = strawberry.field(description="Which importer.")
    path: str = strawberry.field(description="File name relative to the import folder (IMPORT_DIR).")
    dry_run: bool = strawberry.field(default=False, description="Read and check everything, write nothing.")
    allow_rejects: bool = strawberry.field(default=False, description="Write the valid rows even if some are rejected.")


@strawberry.type(description="The import's report, or why the file was refused as a whole.")
class ImportFilePayload:
    result: ImportResult | None = strawberry.field(description="The report (null when the file was refused).")
    refused: str | None = strawberry.field(
        description="Why the whole file was refused (not IATI, legacy 1.x, wrong columns …)."
    )


@strawberry.type(description="Imports (administrators).")
class ImportMutation:
    @strawberry.mutation(
        description="Import a UPR Info export, an IATI file or a UHRI export from the import folder; one transaction, all or nothing."
    )
    async def import_file(
        self,
        info: Info,
        input: Annotated[ImportFileInput, strawberry.argument(description="The mutation's input object.")],
    ) -> ImportFilePayload:
        ctx = info.context
        settings = ctx.request.app.state.settings
        path = resolve_import_path(settings.import_dir, input.path, principal=ctx.principal)
        try:
            report, committed = await run_import(
                sessionmaker=ctx.sessionmaker,
                principal=ctx.principal,
                source=input.source.value,
                files=[path],
                dry_run=input.dry_run,
                allow_rejects=input.allow_rejects,
            )
        except ImportRefused as refused:
            return ImportFilePayload(result=None, refused=f"{path.name}: {refused.reason}")
        return ImportFilePayload(result=_result(report, committed), refused=None)
