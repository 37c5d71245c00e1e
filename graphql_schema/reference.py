"""Reference taxonomies in the API (themes, SDGs, DAC sectors, IATI codelists)."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReferenceQuery:
    pass
