"""Structured logs: one JSON object per line (LOG_FORMAT=json, the default) or plain text,
every record carrying the request ID of the request it was written in.

The ID is put on each record by a log record factory (so any handler, and pytest's caplog,
sees `record.request_id`); `tcgraph serve` configures uvicorn's loggers with the same
formatter and turns uvicorn's access log off: `tcgraph.access` (requests.py) writes one line
per request instead, with the request ID and what the request did."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson

from service.observability.requests import current_request

_installed = False


def install_record_factory() -> None:
    """Every log record gets `request_id` (None outside a request). Once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request = current_request.get()
        record.request_id = request.request_id if request is not None else None
        return record

    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", …fields, "exception"}` on one line;
    `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def log_config(*, level: str = "info", json: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the service and uvicorn (`uvicorn.run(log_config=…)`),
    applied in every worker process."""
    formatter = {"()": JsonFormatter} if json else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's own loggers write through the root handler (no handlers of their own).
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def configure(*, level: str = "info", json: bool = True) -> None:
    import logging.config

    install_record_factory()
    logging.config.dictConfig(log_config(level=level, json=json))
