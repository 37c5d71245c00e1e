"""Every pair of match statuses, tried by each party: allowed exactly as the transition table
says, by exactly the party it names; anything else refused with a specific code and nothing
written."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
import sqlalchemy as sa

from service.access.principals import Principal, Role
from service.errors import Forbidden, ValidationFailed
from service.matching import lifecycle
from service.matching.lifecycle import TRANSITIONS, Party
from service.models.enums import NeedStatus, Visibility
from service.models.matching import Match, MatchStatus, MatchTransition

pytestmark = pytest.mark.asyncio

PAIRS = list(itertools.product(MatchStatus, [s for s in MatchStatus if s is not MatchStatus.SUGGESTED]))


@pytest.fixture
async def suggestion(world, sessionmaker):
    donor = await world.organization("Norad")
    await world.programme(donor, iati_identifier="NO-1-KEN-TRANSITIONS", recipients=("KEN",))
    need = await world.need("KEN", visibility=Visibility.PARTNERS, title="Court case management")
    async with sessionmaker() as session:
        match_id = (
            await session.execute(sa.select(Match.id).where(Match.need_id == need, Match.offer_kind == "PROGRAMME"))
        ).scalar_one()
    return {
        "match": match_id,
        Party.PROPOSER: Principal(role=Role.DONOR, organization_id=donor),
        Party.STATE: Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN"),
        "stranger": Principal(role=Role.DONOR, organization_id=await world.organization("Sida")),
        "other_state": Principal(role=Role.STATE_FOCAL_POINT, state_iso3="UGA"),
    }


@pytest.mark.parametrize(("start", "to"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
async def test_each_transition_by_each_party(sessionmaker, suggestion, start, to):
    step = next((s for s in TRANSITIONS[start] if s.to is to), None)
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.update(Match).where(Match.id == suggestion["match"]).values(status=start))

    async def attempt(principal: Principal):
        async with sessionmaker() as session, session.begin():
            return await lifecycle.transition(
                session=session,
                principal=principal,
                match_id=suggestion["match"],
                to=to,
                reason="test",
                message="We can fund it." if to is MatchStatus.PROPOSED else None,
                amount=Decimal("1000") if to is MatchStatus.PROPOSED else None,
                currency="USD" if to is MatchStatus.PROPOSED else None,
            )

    # Outsiders never act, whatever the step: a partner of another organization is refused,
    # and a focal point of another State does not even see the PARTNERS need.
    with pytest.raises(Forbidden):
        await attempt(suggestion["stranger"])
    with pytest.raises(Exception) as hidden:
        await attempt(suggestion["other_state"])
    assert getattr(hidden.value, "code", None) == "NOT_FOUND"

    for party in (Party.PROPOSER, Party.STATE):
        allowed = step is not None and step.by in (party, Party.EITHER)
        if not allowed:
            expected = ValidationFailed if step is None else Forbidden
            with pytest.raises(expected) as refused:
                await attempt(suggestion[party])
            if step is None:
                assert refused.value.errors[0].code == "INVALID_TRANSITION"
            continue
        match = await attempt(suggestion[party])
        assert match.status is to
        async with sessionmaker() as session:
            last = (
                await session.execute(
                    sa.select(MatchTransition)
                    .where(MatchTransition.match_id == match.id)
                    .order_by(MatchTransition.id.desc())
                    .limit(1)
                )
            ).scalar_one()
        assert (last.from_status, last.to_status, last.actor_role, last.reason) == (
            start,
            to,
            suggestion[party].role.value,
            "test",
        )
        break  # the match has moved on; the other party's attempt is a different test
    async with sessionmaker() as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(MatchTransition))).scalar_one()
    assert count == (1 if step is not None else 0)  # refusals wrote nothing


async def test_only_agreed_engagements_fund_the_need(sessionmaker, suggestion):
    proposer, state = suggestion[Party.PROPOSER], suggestion[Party.STATE]
    for to, who in ((MatchStatus.PROPOSED, proposer), (MatchStatus.ENDORSED, state)):
        async with sessionmaker() as session, session.begin():
            await lifecycle.transition(
                session=session,
                principal=who,
                match_id=suggestion["match"],
                to=to,
                message="Offer" if to is MatchStatus.PROPOSED else None,
                amount=Decimal("5000") if to is MatchStatus.PROPOSED else None,
                currency="USD" if to is MatchStatus.PROPOSED else None,
            )
    async with sessionmaker() as session:
        need_status = (
            await session.execute(
                sa.text(
                    "select n.status from assistance_need n join match m on m.need_id = n.id where m.id = :id"
                ).bindparams(id=suggestion["match"])
            )
        ).scalar_one()
    assert need_status == NeedStatus.SUBMITTED.value  # an endorsement alone is not yet funding
    async with sessionmaker() as session, session.begin():
        match = await lifecycle.transition(
            session=session, principal=proposer, match_id=suggestion["match"], to=MatchStatus.AGREED
        )
    assert match.agreed_amount == Decimal("5000")


def test_the_table_is_the_published_lifecycle():
    S = MatchStatus
    table = {start: {(s.to, s.by) for s in steps} for start, steps in TRANSITIONS.items()}
    withdraw = (S.WITHDRAWN, Party.EITHER)
    assert table == {
        S.SUGGESTED: {(S.PROPOSED, Party.PROPOSER)},
        S.PROPOSED: {(S.ENDORSED, Party.STATE), (S.DECLINED, Party.STATE), withdraw},
        S.ENDORSED: {(S.AGREED, Party.PROPOSER), withdraw},
        S.AGREED: {(S.ACTIVE, Party.EITHER), withdraw},
        S.ACTIVE: {(S.COMPLETED, Party.EITHER), withdraw},
        S.DECLINED: set(),
        S.COMPLETED: set(),
        S.WITHDRAWN: set(),
    }
