"""`tcgraph` command line: run the service, migrate, load data, manage API keys.

Works from any directory with no environment set: without DATABASE_URL it attaches to the
checkout's embedded PostgreSQL (starting it if nobody runs it, and stopping it afterwards
only if it was this command that started it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from service.settings import get_settings


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr)


@contextmanager
def database(*, keep_embedded_running: bool = False) -> Iterator[str]:
    """The database URL, with the embedded server up (and its database created)."""
    from service.db.admin import ensure_database
    from service.db.embedded import EmbeddedPostgres
    from service.db.url import normalise_url

    settings = get_settings()
    if settings.database_url:
        yield normalise_url(settings.database_url)
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    server = embedded.ensure_running()
    url = server.url("tcgraph")
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        if server.started_here and not keep_embedded_running:
            embedded.stop()


async def _with_session(url: str, work):
    from service.db.engine import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=2, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            async with session.begin():
                return await work(session)
    finally:
        await engine.dispose()


def _migrate(url: str) -> None:
    from service.db.migrate import upgrade

    upgrade(url)
    eprint("migrations: at head")


def _load_reference(url: str) -> None:
    from service.reference.load import load_reference

    counts = asyncio.run(_with_session(url, load_reference))
    eprint("reference data: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _load_demo(url: str) -> None:
    from service.demo.load import load_demo

    counts = asyncio.run(_with_session(url, load_demo))
    eprint("demo data created: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _serve(url: str, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    os.environ["TCGRAPH_RESOLVED_DATABASE_URL"] = url
    _prepare_metrics_dir(workers)  # before prometheus_client is imported
    from service.observability.logs import log_config

    eprint(f"tcgraph: GraphQL at http://{host}:{port}/graphql")
    settings = get_settings()
    uvicorn.run(
        "service.cli:_app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        # JSON lines (LOG_FORMAT); the service writes its own access line per request, with its ID.
        log_config=log_config(level=settings.log_level, json=settings.log_format == "json"),
        access_log=False,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        proxy_headers=False,  # X-Forwarded-For is the app's call (FORWARDED_ALLOW_IPS, service/app.py)
        # Compressing every event for every subscriber costs more CPU than it saves bandwidth
        # (the messages are small), and ~40 KiB of memory per connection.
        ws_per_message_deflate=False,
        ws_ping_interval=get_settings().ws_ping_interval_seconds,  # keep-alive for subscriptions
        ws_ping_timeout=get_settings().ws_ping_interval_seconds,
    )


def _prepare_metrics_dir(workers: int) -> None:
    """Several workers share their metrics through files (prometheus-client's multi-process
    mode): in PROMETHEUS_MULTIPROC_DIR, emptied now (its files are per process id), or in a
    new temporary folder when it is unset."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    elif workers > 1:
        path = Path(tempfile.mkdtemp(prefix="tcgraph-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        import atexit

        atexit.register(shutil.rmtree, path, True)


def _app_factory():
    from service.app import create_app
    from service.observability import logs

    settings = get_settings()
    logs.configure(level=settings.log_level, json=settings.log_format == "json")
    return create_app(database_url=os.environ["TCGRAPH_RESOLVED_DATABASE_URL"], settings=settings)


def _rematch(url: str) -> None:
    from service.matching.engine import rematch_needs

    stats = asyncio.run(_with_session(url, lambda session: rematch_needs(session)))
    eprint(
        f"matching: {stats.suggestions} suggestions for {stats.needs} needs from {stats.offers} offers "
        f"({stats.pairs_scored} pairs scored) in {stats.seconds:.2f} s"
    )


def cmd_rematch(args: argparse.Namespace) -> int:
    """Recompute every suggestion (e.g. after publishing new weights)."""
    with database() as url:
        if args.weights:
            import json
            from pathlib import Path

            from service.errors import TcgraphError
            from service.matching.engine import check_weights, publish_weights

            try:
                data = json.loads(Path(args.weights).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                eprint(f"error: {args.weights}: cannot read the weights: {exc}")
                return 2
            try:
                weights = check_weights(data.get("weights", data) if isinstance(data, dict) else data)
            except TcgraphError as exc:
                eprint(f"error: {args.weights}: {exc.message}")
                return 2
            note = data.get("note", args.weights) if isinstance(data, dict) else args.weights
            version = asyncio.run(_with_session(url, lambda s: publish_weights(s, weights, str(note))))
            eprint(f"published criteria version {version.version}")
        _rematch(url)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    settings = get_settings()
    with database() as url:
        _migrate(url)
        _load_reference(url)
        _load_demo(url)
        _rematch(url)
        _serve(url, host=settings.host, port=int(os.environ.get("PORT", settings.port)), workers=args.workers)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    with database() as url:
        _serve(url, host=settings.host, port=int(os.environ.get("PORT", settings.port)), workers=args.workers)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    with database() as url:
        if args.revision and args.down:
            from service.db.migrate import downgrade

            downgrade(url, args.revision)
        else:
            from service.db.migrate import upgrade

            upgrade(url, args.revision or "head")
        eprint("migrations: done")
    return 0


def cmd_load_reference(args: argparse.Namespace) -> int:
    with database() as url:
        _load_reference(url)
    return 0


def cmd_load_demo(args: argparse.Namespace) -> int:
    with database() as url:
        _load_demo(url)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from graphql_schema.schema import schema

    sys.stdout.write(str(schema) + "\n")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from service.db.embedded import EmbeddedPostgres

    settings = get_settings()
    embedded = EmbeddedPostgres(settings.data_dir)
    if args.action == "start":
        server = embedded.ensure_running()
        print(server.url("tcgraph"))
    elif args.action == "stop":
        embedded.stop()
    elif args.action == "status":
        port = embedded.running_port()
        print(f"running on 127.0.0.1:{port}" if port else "stopped")
    elif args.action == "url":
        port = embedded.running_port()
        if port is None:
            eprint("the embedded PostgreSQL is not running (tcgraph db start)")
            return 1
        print(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/tcgraph")
    elif args.action == "destroy":
        embedded.destroy()
        eprint(f"removed {embedded.pgdata}")
    return 0


def _parse_expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_apikey(args: argparse.Namespace) -> int:
    from service.access.keys import ROLE_ALIASES, create_api_key, list_api_keys, revoke_api_key
    from service.access.principals import SYSTEM
    from service.errors import TcgraphError, ValidationFailed

    with database() as url:
        try:
            if args.action == "create":
                role = ROLE_ALIASES.get(args.role.lower())
                if role is None:
                    eprint(f"unknown role {args.role!r}; one of: {', '.join(ROLE_ALIASES)}")
                    return 2
                try:
                    expires = _parse_expiry(args.expires)
                except ValueError:
                    eprint(f"--expires must be an ISO date such as 2027-12-31; got {args.expires!r}")
                    return 2

                async def work(session):
                    org_id = await _organization_id(session, args.organization) if args.organization else None
                    return await create_api_key(
                        session=session,
                        actor=SYSTEM,
                        role=role,
                        label=args.label,
                        state_iso3=args.state,
                        organization_id=org_id,
                        expires_at=expires,
                    )

                created = asyncio.run(_with_session(url, work))
                eprint(f"created API key {created.row.id} ({created.row.role}, {created.row.label})")
                print(created.key)
            elif args.action == "revoke":

                async def revoke(session):
                    return await revoke_api_key(session=session, actor=SYSTEM, key_id=args.key_id)

                row = asyncio.run(_with_session(url, revoke))
                eprint(f"revoked API key {row.id}")
            elif args.action == "list":
                rows = asyncio.run(_with_session(url, lambda s: list_api_keys(session=s)))
                print(f"{'id':>4}  {'role':<18} {'bound to':<10} {'label':<30} {'last used':<25} status")
                for r in rows:
                    bound = r.state_iso3 or (f"org {r.organization_id}" if r.organization_id else "-")
                    status = (
                        "revoked"
                        if r.revoked_at
                        else ("expired" if r.expires_at and r.expires_at <= datetime.now(UTC) else "active")
                    )
                    last = r.last_used_at.isoformat(timespec="seconds") if r.last_used_at else "never"
                    print(f"{r.id:>4}  {r.role:<18} {bound:<10} {r.label[:30]:<30} {last:<25} {status}")
        except ValidationFailed as failure:
            for e in failure.errors:
                eprint(f"error: --{e.field}: {e.message}")
            return 2
        except TcgraphError as exc:
            eprint(f"error: {exc.message}")
            return 2
    return 0


async def _organization_id(session, value: str) -> int:
    """An organization by numeric id, IATI identifier, acronym or exact name."""
    import sqlalchemy as sa

    from service.errors import FieldError, ValidationFailed
    from service.models import Organization

    if value.isdigit():
        return int(value)
    stmt = sa.select(Organization.id).where(
        sa.or_(Organization.iati_identifier == value, Organization.acronym == value, Organization.name == value)
    )
    ids = list((await session.execute(stmt)).scalars().all())
    if len(ids) != 1:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "organization",
                    f"{'No' if not ids else 'More than one'} organization matches {value!r}.",
                    "NOT_FOUND",
                )
            ]
        )
    return ids[0]


class Progress:
    """A one-line progress bar on a terminal (stderr); silent otherwise."""

    def __init__(self, label: str):
        self.label = label
        self.enabled = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        import time

        if not self.enabled or (time.monotonic() - self._last < 0.1 and done != total):
            return
        self._last = time.monotonic()
        if total:
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        else:
            sys.stderr.write(f"\r{self.label} {done}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def print_report(report) -> None:
    for problem in report.rejections:
        eprint(f"rejected: {problem.file}: {problem.position}: {problem.reason}")
    for problem in report.skips[:200]:
        eprint(f"skipped: {problem.file}: {problem.position}: {problem.reason}")
    if len(report.skips) > 200:
        eprint(f"skipped: … and {len(report.skips) - 200} more skipped records")
    for problem in report.warnings[:200]:
        eprint(f"warning: {problem.file}: {problem.position}: {problem.reason}")
    if len(report.warnings) > 200:
        eprint(f"warning: … and {len(report.warnings) - 200} more warnings")
    for name, times in sorted(report.unresolved_names.items()):
        eprint(f"unresolved name: {name!r} ({times}×)")
    eprint(report.summary())


def cmd_import(args: argparse.Namespace) -> int:
    """Import files in one transaction: all of it, or (with rejections and no
    --allow-rejects, or with --dry-run) nothing."""
    from pathlib import Path

    from service.access.principals import SYSTEM
    from service.imports.report import ImportRefused
    from service.imports.run import run_import

    files = [Path(f) for f in args.files]
    for f in files:
        if not f.is_file():
            eprint(f"error: {f}: no such file")
            return 2
    with database() as url:
        from service.db.engine import make_engine, make_sessionmaker

        async def work():
            engine = make_engine(url, pool_size=2, max_overflow=0)
            progress = Progress(f"import {args.source}")
            try:
                return await run_import(
                    sessionmaker=make_sessionmaker(engine),
                    principal=SYSTEM,
                    source=args.source,
                    files=files,
                    dry_run=args.dry_run,
                    allow_rejects=args.allow_rejects,
                    progress=progress,
                )
            finally:
                progress.close()
                await engine.dispose()

        try:
            report, kept = asyncio.run(work())
        except ImportRefused as refused:
            eprint(f"error: {refused.file}: {refused.reason}")
            eprint("nothing was imported")
            return 1
    print_report(report)
    if report.rejected and not args.allow_rejects:
        eprint(f"nothing was written: {report.rejected} rejected; fix them, or import the rest with --allow-rejects")
        return 1
    if not kept and not args.dry_run:
        return 1
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Stream needs, recommendations or programmes as CSV or JSON, or write a State's
    mid-term report for a cycle, under the visibility of the principal given by --api-key
    (anonymous, i.e. public only, without one)."""
    from service.exports import export_entities

    if args.entity == "midterm" and (not args.state or args.cycle is None):
        eprint("error: `export midterm` needs --state ISO3 and --cycle N (e.g. --state KEN --cycle 4)")
        return 2
    if args.entity != "midterm" and (args.state or args.cycle is not None):
        eprint("error: --state and --cycle are for `export midterm`; filter other exports with --filter")
        return 2

    api_key = args.api_key or os.environ.get("TCGRAPH_API_KEY")
    with database() as url:
        from service.db.engine import make_engine, make_sessionmaker

        async def work() -> int:
            from service.access.keys import authenticate_api_key
            from service.access.principals import ANONYMOUS
            from service.errors import TcgraphError

            engine = make_engine(url, pool_size=2, max_overflow=0)
            try:
                sessionmaker = make_sessionmaker(engine)
                principal = ANONYMOUS
                if api_key:
                    async with sessionmaker() as session:
                        try:
                            principal = await authenticate_api_key(session, api_key)
                        except TcgraphError as exc:
                            eprint(f"error: {exc.message}")
                            return 2
                out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8", newline="")
                try:
                    async with sessionmaker() as session:
                        if args.entity == "midterm":
                            from service.exports import export_midterm

                            count = await export_midterm(
                                session=session,
                                principal=principal,
                                state_iso3=args.state,
                                cycle=args.cycle,
                                fmt=args.format,
                                out=out,
                            )
                        else:
                            count = await export_entities(
                                session=session,
                                principal=principal,
                                entity=args.entity,
                                fmt=args.format,
                                filters=args.filter or [],
                                out=out,
                            )
                finally:
                    if out is not sys.stdout:
                        out.close()
                eprint(f"exported {count} {'mid-term report rows' if args.entity == 'midterm' else args.entity}")
                return 0
            except TcgraphError as exc:
                eprint(f"error: {exc.message}")
                return 2
            finally:
                await engine.dispose()

        return asyncio.run(work())


def _principal_label(principal) -> str:
    """Whose view a report shows, in words (the Markdown report says it)."""
    if principal.is_anonymous:
        return "anonymous (public needs only)"
    bound = principal.state_iso3 or (f"organization {principal.organization_id}" if principal.organization_id else None)
    return principal.role.value.lower().replace("_", " ") + (f" ({bound})" if bound else "")


def cmd_report(args: argparse.Namespace) -> int:
    """Write the Item 10 report for a theme and period, under the visibility of the principal
    given by --api-key (anonymous, i.e. public needs only, without one)."""
    from datetime import date

    from service import item10, item10_formats

    try:
        period = [date.fromisoformat(value) for value in (args.date_from, args.date_to)]
    except ValueError as exc:
        eprint(f"error: dates are ISO 8601 days such as 2026-01-31 ({exc})")
        return 2
    api_key = args.api_key or os.environ.get("TCGRAPH_API_KEY")
    with database() as url:
        from service.db.engine import make_engine, make_sessionmaker

        async def work() -> int:
            from service.access.keys import authenticate_api_key
            from service.access.principals import ANONYMOUS
            from service.errors import TcgraphError

            engine = make_engine(url, pool_size=2, max_overflow=0)
            try:
                async with make_sessionmaker(engine)() as session:
                    principal = ANONYMOUS
                    if api_key:
                        principal = await authenticate_api_key(session, api_key)
                    report = await item10.item10_report(
                        session=session,
                        principal=principal,
                        theme=args.theme,
                        period_start=period[0],
                        period_end=period[1],
                        region=args.region,
                    )
            except TcgraphError as exc:
                eprint(f"error: {exc.message}")
                return 2
            finally:
                await engine.dispose()
            out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8", newline="")
            try:
                item10_formats.write(report, args.format, out, audience=_principal_label(principal))
            finally:
                if out is not sys.stdout:
                    out.close()
            eprint(
                f"item 10 report: engagements {report.engagements.total}, lessons {len(report.lessons)}, "
                f"open needs {report.funding_gap.open_needs}"
            )
            return 0

        return asyncio.run(work())


def cmd_fund(args: argparse.Namespace) -> int:
    """`tcgraph fund report ROUND`: the public decision report of a round (by ID or name) as
    Markdown, JSON or CSV, under the visibility of --api-key (anonymous without one: only an
    allocated round's report is public)."""
    api_key = args.api_key or os.environ.get("TCGRAPH_API_KEY")
    with database() as url:
        from service.db.engine import make_engine, make_sessionmaker

        async def work() -> int:
            from service.access.keys import authenticate_api_key
            from service.access.principals import ANONYMOUS
            from service.errors import TcgraphError
            from service.fund import report as fund_report
            from service.fund import rounds

            engine = make_engine(url, pool_size=2, max_overflow=0)
            try:
                async with make_sessionmaker(engine)() as session:
                    principal = await authenticate_api_key(session, api_key) if api_key else ANONYMOUS
                    found = await rounds.find_round(session=session, principal=principal, key=args.round)
                    report = await rounds.decision_report(session=session, principal=principal, fund_round=found)
                render = {
                    "markdown": fund_report.report_markdown,
                    "json": fund_report.report_json,
                    "csv": fund_report.report_csv,
                }[args.format]
                text = render(report)
                if args.output in (None, "-"):
                    sys.stdout.write(text)
                else:
                    with open(args.output, "w", encoding="utf-8", newline="") as out:
                        out.write(text)
                return 0
            except TcgraphError as exc:
                eprint(f"error: {exc.message}")
                return 2
            finally:
                await engine.dispose()

        return asyncio.run(work())


def _graphql_documents(paths: list[str]) -> list[tuple[str, list[str]]] | str:
    """(file, [its exact text, and its text as printed when that differs]) for every .graphql
    file given or under a directory given, each checked against the schema; or what is wrong."""
    from pathlib import Path

    from graphql import GraphQLSyntaxError, parse, print_ast, validate

    from graphql_schema.schema import build_schema

    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(path.rglob("*.graphql"))
        elif path.is_file():
            files.append(path)
        else:
            return f"{raw}: no such file or directory"
    if not files:
        return f"no .graphql files in {', '.join(paths)}"
    schema = build_schema(get_settings())._schema
    documents = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            document = parse(text)
        except (OSError, UnicodeDecodeError) as exc:
            return f"{path}: cannot read it: {exc}"
        except GraphQLSyntaxError as exc:
            return f"{path}: {exc.message} (line {exc.locations[0].line if exc.locations else '?'})"
        errors = validate(schema, document)
        if errors:
            return f"{path}: not valid against the schema: " + "; ".join(e.message for e in errors)
        # Apollo clients hash the document as graphql-js prints it; curl and scripts send the file.
        printed = print_ast(document)
        documents.append((str(path), [text] if printed == text else [text, printed]))
    return documents


def cmd_operations(args: argparse.Namespace) -> int:
    from service.persisted_queries import register

    documents = _graphql_documents(args.paths)
    if isinstance(documents, str):
        eprint(f"nothing registered: {documents}")
        return 2
    texts = [text for _, forms in documents for text in forms]
    with database() as url:
        registered = iter(asyncio.run(_with_session(url, lambda session: register(session, texts))))
    for path, forms in documents:
        for form in ("as written", "as printed")[: len(forms)]:
            sha256, new = next(registered)
            print(f"{sha256}  {path}{'' if len(forms) == 1 else f' ({form})'}{'' if new else '  (already registered)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcgraph", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="migrate, load reference and demo data, then serve (what `make run` does)")
    up.add_argument("--workers", type=int, default=1)
    up.set_defaults(func=cmd_up)
    serve = sub.add_parser("serve", help="serve GraphQL (no migrations or data loading)")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="apply Alembic migrations (to head by default)")
    migrate.add_argument("revision", nargs="?")
    migrate.add_argument("--down", action="store_true", help="downgrade to REVISION instead")
    migrate.set_defaults(func=cmd_migrate)
    sub.add_parser("load-reference", help="load States, themes, SDGs, DAC sectors, IATI codelists").set_defaults(
        func=cmd_load_reference
    )
    sub.add_parser("load-demo", help="load the demo needs, programmes and capabilities").set_defaults(
        func=cmd_load_demo
    )
    rematch = sub.add_parser("rematch", help="recompute every match suggestion (all needs × all offers)")
    rematch.add_argument(
        "--weights", help="JSON file of new criteria weights to publish first (a new criteria version)"
    )
    rematch.set_defaults(func=cmd_rematch)
    sub.add_parser("export-schema", help="print the GraphQL schema (SDL)").set_defaults(func=cmd_export_schema)
    db = sub.add_parser("db", help="the embedded PostgreSQL of this checkout")
    db.add_argument("action", choices=["start", "stop", "status", "url", "destroy"])
    db.set_defaults(func=cmd_db)

    importer = sub.add_parser(
        "import", help="import UPR Info recommendation exports, IATI activity files or the UHRI JSON export"
    )
    importer.add_argument("source", choices=["upr-info", "iati", "uhri"])
    importer.add_argument("files", nargs="+", metavar="FILE")
    importer.add_argument("--dry-run", action="store_true", help="read and check everything, write nothing")
    importer.add_argument(
        "--allow-rejects", action="store_true", help="import the valid rows even if some are rejected"
    )
    importer.set_defaults(func=cmd_import)

    export = sub.add_parser(
        "export", help="export needs, recommendations or programmes (CSV or JSON), streaming; or a mid-term report"
    )
    export.add_argument("entity", choices=["needs", "recommendations", "programmes", "midterm"])
    export.add_argument("--state", help="midterm: ISO 3166 alpha-3 code of the State, e.g. KEN")
    export.add_argument("--cycle", type=int, help="midterm: UPR cycle number (1-4)")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument(
        "--api-key", help="run as this principal (default: anonymous, public data only; env TCGRAPH_API_KEY)"
    )
    export.add_argument(
        "--filter",
        action="append",
        metavar="FIELD=VALUE[,VALUE]",
        help="the API's filters, e.g. states=KEN,UGA themes=JUSTICE",
    )
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(func=cmd_export)

    report = sub.add_parser("report", help="write a report (Markdown, CSV or JSON)")
    reports = report.add_subparsers(dest="report", required=True)
    item10_parser = reports.add_parser(
        "item10",
        help="Item 10 report: engagements by agency and State, amounts, lessons, open needs and gaps for a theme and period",
    )
    item10_parser.add_argument(
        "--theme", required=True, help="theme code (JUSTICE) or theme cluster (ADMINISTRATION_OF_JUSTICE)"
    )
    item10_parser.add_argument(
        "--from", dest="date_from", required=True, metavar="DATE", help="first day, e.g. 2026-01-01"
    )
    item10_parser.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day, e.g. 2026-12-31")
    item10_parser.add_argument("--region", help="UN M49 region code (e.g. 202) or UN regional group (e.g. AFRICAN)")
    item10_parser.add_argument("--format", choices=["markdown", "csv", "json"], default="markdown")
    item10_parser.add_argument(
        "--api-key", help="run as this principal (default: anonymous, public data only; env TCGRAPH_API_KEY)"
    )
    item10_parser.add_argument("--output", "-o", help="file to write (default: stdout)")
    item10_parser.set_defaults(func=cmd_report)

    fund = sub.add_parser("fund", help="the UPR Voluntary Fund")
    fund_actions = fund.add_subparsers(dest="action", required=True)
    fund_report = fund_actions.add_parser(
        "report", help="the decision report of a round: every decision with its scores"
    )
    fund_report.add_argument("round", metavar="ROUND", help="the round's ID number or exact name")
    fund_report.add_argument("--format", choices=["markdown", "json", "csv"], default="markdown")
    fund_report.add_argument(
        "--api-key", help="run as this principal (default: anonymous: allocated rounds only; env TCGRAPH_API_KEY)"
    )
    fund_report.add_argument("--output", "-o", help="file to write (default: stdout)")
    fund.set_defaults(func=cmd_fund)

    apikey = sub.add_parser("apikey", help="create, revoke and list API keys")
    keys = apikey.add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key; prints only the key on stdout")
    create.add_argument(
        "--role",
        required=True,
        help="administrator|admin|fund-administrator|state-focal-point|donor|agency|nhri|civil-society",
    )
    create.add_argument("--state", help="ISO3 code (state-focal-point)")
    create.add_argument("--organization", help="organization id, IATI identifier, acronym or name")
    create.add_argument("--label", required=True)
    create.add_argument("--expires", help="ISO date or datetime")
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=int)
    keys.add_parser("list", help="list keys with last-used times")
    apikey.set_defaults(func=cmd_apikey)

    operations = sub.add_parser(
        "operations", help="register the GraphQL documents partners may run (persisted queries)"
    )
    actions = operations.add_subparsers(dest="action", required=True)
    register = actions.add_parser(
        "register",
        help="register .graphql files (or directories of them), each checked against the schema; prints their SHA-256",
    )
    register.add_argument("paths", nargs="+", metavar="PATH")
    operations.set_defaults(func=cmd_operations)
    return parser


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `tcgraph export … | head`: the reader left; that's fine
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
