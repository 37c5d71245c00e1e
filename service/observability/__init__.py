"""Operations: Prometheus metrics (metrics.py), JSON logs with a request ID (logs.py,
requests.py), optional OpenTelemetry traces (tracing.py) and the SQLAlchemy listeners that
feed all three (sql.py). The request path pays for a few counter updates and one log line per
request; nothing here creates per-field work."""
