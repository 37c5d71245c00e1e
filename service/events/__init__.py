"""Live updates: the ordered event log (outbox) and the per-process LISTEN fan-out."""
