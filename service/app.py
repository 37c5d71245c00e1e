"""The ASGI application: GraphQL at /graphql, the reference dashboard at /dashboard, /healthz and /readyz."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from graphql_schema.context import Context
from graphql_schema.credentials import CredentialWatch
from graphql_schema.events import SHARED_RESULTS
from graphql_schema.http import BodySizeLimit, GraphQLOverHTTP
from graphql_schema.live import LiveOperationHandler
from graphql_schema.ready import ReadyReadsMiddleware
from graphql_schema.ready import enabled as ready_reads_enabled
from graphql_schema.schema import build_schema
from graphql_schema.wire import NextMessageEncoder, encode_response
from service.access.keys import authenticate_api_key
from service.access.principals import ANONYMOUS, Principal
from service.access.rate_lease import Leases
from service.access.tokens import authenticate_jwt, looks_like_jwt
from service.dashboard import mount_dashboard
from service.db.driver import DriverPool
from service.db.engine import is_database_unavailable, make_engine, make_read_sessionmaker, make_sessionmaker
from service.db.url import normalise_url
from service.errors import ServiceUnavailable, TcgraphError, Unauthenticated
from service.events.broker import Broker
from service.events.feed import VisibilityCache
from service.events.singleflight import SingleFlight
from service.events.transport import ExposeTransport
from service.graphiql import graphiql_html, mount_graphiql_assets
from service.observability import logs, metrics, tracing
from service.observability.requests import RequestTracking, current_request_id
from service.observability.sql import engine_disposed, instrument_engine
from service.settings import Settings, get_settings

log = logging.getLogger("tcgraph")


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send credentials as `Authorization: Bearer <key>`.")
    return token.strip()


async def resolve_principal(app: FastAPI, authorization: str | None) -> Principal:
    """Anonymous without credentials; otherwise an API key or (if configured) a JWT.
    Bad credentials are refused, never downgraded to anonymous."""
    token = bearer_token(authorization)
    if token is None:
        return ANONYMOUS
    for attempt in (1, 2):
        try:
            async with app.state.sessionmaker() as session:
                if looks_like_jwt(token):
                    return await authenticate_jwt(session, token, app.state.settings)
                return await authenticate_api_key(session, token)
        except Exception as error:
            # A connection the database dropped (a restart, a failover) fails its first
            # statement and the pool discards its other old connections: one retry on a fresh
            # connection; if the database is really gone, the caller gets SERVICE_UNAVAILABLE.
            if not is_database_unavailable(error):
                raise
            if attempt == 2:
                raise ServiceUnavailable() from error
    raise AssertionError("unreachable")


class TcgraphRouter(GraphQLOverHTTP, GraphQLRouter):
    """GraphQL over HTTP (media types and status codes: graphql_schema/http.py) and
    graphql-transport-ws; WebSocket clients authenticate with
    `connectionParams: {"Authorization": "Bearer <key>"}` (or the handshake header)."""

    # Live events whose result is shared are sent straight from the event stream (graphql_schema/live.py).
    graphql_transport_ws_handler_class = LiveOperationHandler

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.next_messages = NextMessageEncoder()

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()  # its scripts from this service, not a CDN (service/graphiql.py)

    def encode_json(self, data: object) -> str | bytes:
        # A live event's shared data is encoded once for all its subscribers (graphql_schema/wire.py).
        if isinstance(data, dict) and (encoded := self.next_messages.encode(data)) is not None:
            return encoded
        return encode_response(data)

    async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_operation(*args, **kwargs)
        finally:
            # The request's connection goes back to the pool once the result is computed, before
            # the response is written: released only after it, the client's next request could
            # lease another meanwhile, and under load the pool overflowed (connections opened
            # and closed per request).
            context = kwargs.get("context")
            if isinstance(context, Context):
                await context.release()

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with a persisted query's hash and no `query` is an operation, not a visit.
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    async def on_ws_connect(self, context: Context):  # type: ignore[override]
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("Authorization") or params.get("authorization")
        websocket = context.request
        if authorization is None and websocket is not None:
            authorization = websocket.headers.get("authorization")
        try:
            context.principal = await resolve_principal(websocket.app, authorization)
        except TcgraphError as exc:
            raise ConnectionRejectionError({"message": exc.message, "code": exc.code}) from None
        return {"role": context.principal.role.value}


async def _prune_periodically(app: FastAPI, settings: Settings) -> None:
    from service.events.broker import prune

    while True:
        try:
            async with app.state.sessionmaker() as session, session.begin():
                removed = await prune(session, older_than_days=settings.event_retention_days)
            if removed:
                log.info("pruned %d events older than %s days", removed, settings.event_retention_days)
        except Exception as exc:  # noqa: BLE001 — retention must not take the service down
            log.warning("event pruning failed: %s", exc)
        await asyncio.sleep(3600)


_startup_frozen = False


def _freeze_startup_objects() -> None:
    """Start-up objects live for the process: keep them out of the GC's generations, and
    collect less often (the per-request garbage is short-lived). Once per process: a full
    collection of a big heap takes most of a second, and tests start many apps."""
    global _startup_frozen
    if _startup_frozen:
        return
    _startup_frozen = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def create_app(*, database_url: str, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.install_record_factory()
    tracing.configure_from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
        instrument_engine(engine, pool_limit=settings.db_pool_size + settings.db_max_overflow)
        app.state.engine = engine
        app.state.settings = settings
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.read_sessionmaker = make_read_sessionmaker(engine)
        # Ready reads' own connections (service/db/driver.py), opened as they are needed.
        app.state.driver_pool = None
        if ready_reads_enabled(settings):
            app.state.driver_pool = DriverPool(database_url, max_size=settings.ready_reads_pool_size)
            await app.state.driver_pool.open()
        # Optional streaming replica for HTTP reads (graphql_schema/context.py: charge_session,
        # read-your-writes); WebSocket operations stay on the primary, because an event may be
        # ahead of the replica's copy of what it is about.
        app.state.replica_engine = None
        app.state.replica_read_sessionmaker = None
        if settings.database_read_url:
            app.state.replica_engine = make_engine(
                normalise_url(settings.database_read_url),
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
            )
            app.state.replica_read_sessionmaker = make_read_sessionmaker(app.state.replica_engine)
            # Its statements count like the primary's; the pool gauges then cover both pools.
            instrument_engine(
                app.state.replica_engine, pool_limit=2 * (settings.db_pool_size + settings.db_max_overflow)
            )
        # One LISTEN task per worker process fans committed events out to its subscribers.
        app.state.broker = Broker(database_url, max_queue=settings.subscriber_queue_size)
        app.state.visibility_cache = VisibilityCache(app.state.sessionmaker)
        # Closes WebSockets whose key is revoked or expired, or whose token expired.
        app.state.credential_watch = CredentialWatch(app.state.sessionmaker, settings.ws_credential_check_seconds)
        # Live events executed once per (event, operation, authorization class) in this process.
        app.state.event_results = SingleFlight(SHARED_RESULTS)
        await app.state.broker.start()
        pruner = asyncio.create_task(_prune_periodically(app, settings))
        _freeze_startup_objects()
        try:
            yield
        finally:
            pruner.cancel()
            await app.state.credential_watch.stop()
            await app.state.broker.stop()
            if app.state.driver_pool is not None:
                await app.state.driver_pool.close()
            await engine.dispose()
            engine_disposed(engine)
            if app.state.replica_engine is not None:
                await app.state.replica_engine.dispose()
                engine_disposed(app.state.replica_engine)
            metrics.worker_exited()

    app = FastAPI(title="tcgraph", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    schema = build_schema(settings)
    app.state.ready_reads = schema.ready_reads
    app.state.rate_leases = Leases()  # this process's prepaid rate-limit points (ready reads)
    # Innermost: a query answered before is answered again here, behind the other middlewares.
    app.add_middleware(
        ReadyReadsMiddleware,
        reads=schema.ready_reads,
        operation_names=schema.operation_names,
        settings=settings,
        resolve_principal=resolve_principal,
        leases=app.state.rate_leases,
    )
    if settings.trusted_proxies:
        # The app decides whom to believe, not the server: `tcgraph serve` and the image run
        # uvicorn without its own proxy-header handling, which would trust 127.0.0.1 by default.
        # The client is the rightmost X-Forwarded-For hop that is not a trusted proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    # Inside CORS, so that a browser can read the 413.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    # Every response (a 413 or a CORS refusal too) carries the request ID.
    app.add_middleware(RequestTracking)
    # So that a subscriber whose client stopped reading can be cut off (graphql_schema/events.py).
    # Outermost: it finds the transport through the server's own `send`, which RequestTracking wraps.
    app.add_middleware(ExposeTransport)

    async def get_context(request: Request = None, websocket: WebSocket = None) -> AsyncIterator[Context]:  # type: ignore[assignment]
        connection = request or websocket
        assert connection is not None
        # WebSocket: anonymous until `connection_init` authenticates (TcgraphRouter.on_ws_connect).
        principal = (
            ANONYMOUS
            if websocket is not None
            else await resolve_principal(connection.app, connection.headers.get("authorization"))
        )
        client = connection.client.host if connection.client else None
        state = connection.app.state
        # An HTTP request reads through one pooled connection, given back when its result is
        # computed (TcgraphRouter.execute_operation), at the latest when the request ends.
        replica = state.replica_read_sessionmaker if websocket is None else None
        context = Context(
            sessionmaker=state.sessionmaker,
            principal=principal,
            client_address=client,
            lease_connection=websocket is None,
            read_sessionmaker=replica or state.read_sessionmaker,
            primary_read_sessionmaker=state.read_sessionmaker if replica is not None else None,
            replica_max_wait_seconds=settings.replica_max_wait_seconds,
        )
        try:
            yield context
        finally:
            await context.release()

    from datetime import timedelta

    router = TcgraphRouter(
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        # graphql-transport-ws only: the legacy graphql-ws protocol stays off.
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )
    app.include_router(router, prefix="/graphql")
    if settings.graphiql_enabled:
        mount_graphiql_assets(app)
    if settings.dashboard:
        mount_dashboard(app)

    @app.exception_handler(TcgraphError)
    async def domain_error(_: Request, exc: TcgraphError) -> JSONResponse:
        if isinstance(exc, ServiceUnavailable):
            return JSONResponse(
                {
                    "data": None,
                    "errors": [
                        {
                            "message": exc.message,
                            "extensions": {
                                "code": exc.code,
                                "retryAfterSeconds": exc.retry_after_seconds,
                                "requestId": current_request_id(),
                            },
                        }
                    ],
                },
                status_code=503,
                headers={"Retry-After": str(exc.retry_after_seconds)},
            )
        status = 401 if isinstance(exc, Unauthenticated) else 400
        extensions = {"code": exc.code, "requestId": current_request_id()}
        return JSONResponse(
            {"data": None, "errors": [{"message": exc.message, "extensions": extensions}]},
            status_code=status,
            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        """Outside GraphQL execution (credentials, the context): a lost database is
        SERVICE_UNAVAILABLE (503, retry), anything else a masked INTERNAL_SERVER_ERROR — a
        JSON GraphQL error either way, never plain text."""
        if is_database_unavailable(exc):
            log.warning("database unavailable for %s: %s", request.url.path, exc)
            return await domain_error(request, ServiceUnavailable())
        log.error("unexpected error for %s", request.url.path, exc_info=exc)
        extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": current_request_id()}
        return JSONResponse(
            {"data": None, "errors": [{"message": "Internal server error.", "extensions": extensions}]},
            status_code=500,
        )

    if settings.metrics:

        @app.get("/metrics", include_in_schema=False)
        async def metrics_endpoint(request: Request) -> Response:
            """Prometheus text format; behind METRICS_TOKEN when set (README: Operations)."""
            refusal = metrics_refusal(settings, request.headers.get("authorization"))
            if refusal is not None:
                return refusal
            body, media_type = metrics.exposition()
            return Response(body, media_type=media_type)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        from service.db.migrate import head_revision

        try:
            async with app.state.engine.connect() as conn:
                current = (await conn.execute(sa.text("select version_num from alembic_version"))).scalar()
        except Exception as exc:  # noqa: BLE001 — any failure means not ready
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        head = head_revision()
        if current != head:
            return JSONResponse(
                {"status": "unavailable", "database": "reachable", "migration": current, "expected": head},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "migration": current})

    return app


def metrics_refusal(settings: Settings, authorization: str | None) -> Response | None:
    """None when /metrics may be served: with METRICS_TOKEN, to its bearer only; without it,
    outside production only (the counts say who is busy with what, if not about whom)."""
    import hmac

    if settings.metrics_token is None:
        if settings.is_production:
            return Response(
                "Set METRICS_TOKEN to serve /metrics in production.\n", status_code=403, media_type="text/plain"
            )
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.metrics_token.encode()):
        return None
    return Response(
        "Send `Authorization: Bearer <METRICS_TOKEN>`.\n",
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": "Bearer"},
    )


def app_from_environment() -> Any:
    """For `uvicorn service.app:app_from_environment --factory` (Docker, several workers)."""
    from service.db.url import resolve_database

    settings = get_settings()
    # uvicorn's loggers too: JSON lines (LOG_FORMAT), and its access log gives way to ours. The
    # level is LOG_LEVEL when set, else the one uvicorn was given (`--log-level warning`
    # silences the access log as it silenced uvicorn's).
    level = settings.log_level
    if "log_level" not in settings.model_fields_set:
        level = logging.getLevelName(logging.getLogger("uvicorn.error").getEffectiveLevel()).lower()
    logs.configure(level=level, json=settings.log_format == "json")
    return create_app(database_url=resolve_database(settings).url, settings=settings)
