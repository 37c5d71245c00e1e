"""OpenTelemetry traces, off by default: one span per GraphQL operation
(graphql_schema/observability.py) with a child span per SQL statement (sql.py).

On when the standard environment asks for it: OTEL_TRACES_EXPORTER (`otlp`, `console`, or
both comma-separated), or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and not OTEL_SDK_DISABLED=true. The OTLP exporter speaks
HTTP/protobuf (port 4318); the SDK reads the rest of OTEL_* itself (service name, resource
attributes, headers, sampler, batch sizes). Off, the request path only checks that `TRACER`
is None: no span objects, no context changes."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("tcgraph.tracing")

TRACER: Any = None  # an opentelemetry Tracer while tracing is on
_provider: Any = None


def wanted() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters == "none":
        return False
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(exporters or endpoint)


def configure_from_environment() -> bool:
    """Start tracing as OTEL_* says (once per process); True when it is on."""
    global _provider
    if TRACER is not None:
        return True
    if not wanted():
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "tcgraph"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in filter(
        None, (e.strip().lower() for e in (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(","))
    ):
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL"
            )
            if protocol and protocol != "http/protobuf":
                log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; exporting over http/protobuf", protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r ignored (otlp, console)", name)
    trace.set_tracer_provider(provider)
    _provider = provider
    use(provider)
    log.info("tracing on")
    return True


def use(provider: Any) -> None:
    """Trace with `provider` (tests give one with an in-memory exporter)."""
    global TRACER
    TRACER = provider.get_tracer("tcgraph")


def stop() -> None:
    """Stop tracing; spans not yet exported are flushed when the provider was ours."""
    global TRACER, _provider
    TRACER = None
    if _provider is not None:
        _provider.shutdown()
        _provider = None
