"""Programmes, capabilities and organizations: what donors and agencies offer."""

from __future__ import annotations

import strawberry


@strawberry.type
class OfferQuery:
    pass


@strawberry.type
class OfferMutation:
    pass
