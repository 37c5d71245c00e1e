"""The compiled read path: a query's compilable root fields as one SQL statement building
the response JSON in PostgreSQL (issue 12). `COMPILED_READS=false` turns it off."""

from graphql_schema.compiled.execution import CompiledExecution

__all__ = ["CompiledExecution"]
