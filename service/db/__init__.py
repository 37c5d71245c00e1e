"""Database access: the engine, sessions and the embedded PostgreSQL server."""
