"""Matching through the API: explainable suggestions, geography, freshness, visibility,
the lifecycle and the consent rule, opportunities, funding gaps and lessons."""

from __future__ import annotations

import base64

import pytest

from service.access.principals import Role
from service.models.enums import OrganizationCategory, Visibility
from tests.support import gql

pytestmark = pytest.mark.asyncio


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


MATCHES = """query($id: ID!, $min: Float) { node(id: $id) { ... on Need {
  matches(first: 10, minScore: $min) { totalCount edges { node {
    id score status criteriaVersion offerKind programme { iatiIdentifier } capability { title }
    breakdown { criterion weight score explanation } } } } } } }"""


@pytest.fixture
async def scene(world):
    donor_org = await world.organization("Norad")
    agency_org = await world.organization("OHCHR", OrganizationCategory.UN_AGENCY)
    kenya = await world.programme(donor_org, iati_identifier="NO-1-KEN-JUSTICE", recipients=("KEN",))
    uganda = await world.programme(donor_org, iati_identifier="NO-1-UGA-JUSTICE", recipients=("UGA",))
    capability = await world.capability(
        agency_org, regions=("002",), themes=("JUSTICE",), title="Judicial integrity advice"
    )
    need = await world.need(
        "KEN",
        visibility=Visibility.PARTNERS,
        title="Court case management",
        estimated_cost=__import__("decimal").Decimal("600000"),
        currency="USD",
    )
    return {
        "donor_org": donor_org,
        "agency_org": agency_org,
        "kenya": kenya,
        "uganda": uganda,
        "capability": capability,
        "need": need,
        "donor": await world.key(Role.DONOR, organization=donor_org),
        "other_donor": await world.key(Role.DONOR, organization=await world.organization("Sida")),
        "agency": await world.key(Role.AGENCY, organization=agency_org),
        "focal": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
    }


async def test_suggestions_are_explained_and_filtered_by_geography(app_client, scene):
    body = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"])}, token=scene["donor"])
    matches = body["data"]["node"]["matches"]
    offers = {
        (
            e["node"]["offerKind"],
            (e["node"]["programme"] or {}).get("iatiIdentifier") or e["node"]["capability"]["title"],
        )
        for e in matches["edges"]
    }
    assert offers == {("PROGRAMME", "NO-1-KEN-JUSTICE"), ("CAPABILITY", "Judicial integrity advice")}  # not Uganda's
    scores = [e["node"]["score"] for e in matches["edges"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    top = matches["edges"][0]["node"]
    assert top["status"] == "SUGGESTED" and top["criteriaVersion"] == 1
    assert [b["criterion"] for b in top["breakdown"]] == [
        "thematic",
        "sector",
        "sdg",
        "modality",
        "budget",
        "timeframe",
        "language",
        "text",
    ]
    thematic = top["breakdown"][0]
    assert thematic["score"] > 0 and thematic["explanation"].startswith("shares themes: administration of justice")
    assert any(b["score"] == 0 and b["explanation"] for b in top["breakdown"])  # zeros are listed too
    criteria = await gql(app_client, "{ matchingCriteria { version criteria { key weight } } }")
    weights = {c["key"]: c["weight"] for c in criteria["data"]["matchingCriteria"]["criteria"]}
    assert weights == {b["criterion"]: b["weight"] for b in top["breakdown"]}
    filtered = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"]), "min": 0.99}, token=scene["donor"])
    assert filtered["data"]["node"]["matches"]["totalCount"] == 0


async def test_matches_follow_the_needs_visibility(app_client, scene):
    query = "query($id: ID!) { node(id: $id) { ... on Programme { matches { totalCount } } } }"
    programme = gid("Programme", scene["kenya"])
    assert (await gql(app_client, query, {"id": programme}, token=scene["donor"]))["data"]["node"]["matches"][
        "totalCount"
    ] == 1
    assert (await gql(app_client, query, {"id": programme}))["data"]["node"]["matches"][
        "totalCount"
    ] == 0  # PARTNERS need


async def test_a_change_recomputes_only_its_matches(app_client, world, scene, sessionmaker):
    from service import programmes

    async with sessionmaker() as session, session.begin():
        from service.access.principals import Principal

        await programmes.update_programme(
            session=session,
            principal=Principal(role=Role.DONOR, organization_id=scene["donor_org"]),
            programme_id=scene["kenya"],
            values=programmes.ProgrammeFields(
                themes=["RIGHT_TO_HEALTH"], sectors=["12110"], description="Primary health care clinics"
            ),
        )
    body = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"])}, token=scene["donor"])
    kinds = [e["node"]["offerKind"] for e in body["data"]["node"]["matches"]["edges"]]
    assert kinds == ["CAPABILITY"]  # the programme no longer fits, within the same transaction
    withdraw = "mutation($id: ID!) { withdrawNeed(input: {id: $id}) { need { status } } }"
    await gql(app_client, withdraw, {"id": gid("Need", scene["need"])}, token=scene["focal"])
    body = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"])}, token=scene["focal"])
    assert body["data"]["node"]["matches"]["totalCount"] == 0


def _move(name: str, extra: str = "") -> str:
    return f"mutation($id: ID!) {{ {name}(input: {{id: $id{extra}}}) {{ match {{ status amountOffered {{ amount currency }} agreedAmount {{ amount }} history {{ fromStatus toStatus actorRole }} }} userErrors {{ field code message }} }} }}"


async def test_lifecycle_and_consent(app_client, scene):
    body = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"])}, token=scene["donor"])
    match_id = next(
        e["node"]["id"] for e in body["data"]["node"]["matches"]["edges"] if e["node"]["offerKind"] == "PROGRAMME"
    )
    need_id = gid("Need", scene["need"])
    propose = _move(
        "proposeMatch", ', message: "We can fund the roll-out.", amountOffered: {amount: "400000", currency: "USD"}'
    )

    for token, code in ((scene["other_donor"], "FORBIDDEN"), (scene["focal"], "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        refused = await gql(app_client, propose, {"id": match_id}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == code
    endorse_first = await gql(app_client, _move("endorseMatch"), {"id": match_id}, token=scene["focal"])
    assert endorse_first["data"]["endorseMatch"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    missing_message = await gql(
        app_client, _move("proposeMatch", ', message: " "'), {"id": match_id}, token=scene["donor"]
    )
    assert missing_message["data"]["proposeMatch"]["userErrors"][0]["code"] == "REQUIRED"

    proposed = (await gql(app_client, propose, {"id": match_id}, token=scene["donor"]))["data"]["proposeMatch"]["match"]
    assert proposed["status"] == "PROPOSED" and proposed["amountOffered"] == {"amount": "400000.00", "currency": "USD"}
    # Only the State's endorsement turns a proposal into an engagement.
    self_endorse = await gql(app_client, _move("endorseMatch"), {"id": match_id}, token=scene["donor"])
    assert self_endorse["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    agree_early = await gql(app_client, _move("agreeMatch"), {"id": match_id}, token=scene["donor"])
    assert agree_early["data"]["agreeMatch"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await gql(app_client, _move("endorseMatch"), {"id": match_id}, token=scene["focal"]))["data"][
        "endorseMatch"
    ]["match"]["status"] == "ENDORSED"
    agreed = (await gql(app_client, _move("agreeMatch"), {"id": match_id}, token=scene["donor"]))["data"]["agreeMatch"][
        "match"
    ]
    assert agreed["status"] == "AGREED" and agreed["agreedAmount"] == {"amount": "400000.00"}

    funding = await gql(
        app_client,
        "query($id: ID!) { node(id: $id) { ... on Need { status funding { agreed { amount } gap { amount } } } } }",
        {"id": need_id},
        token=scene["focal"],
    )
    assert funding["data"]["node"] == {
        "status": "MATCHED",
        "funding": {"agreed": {"amount": "400000.00"}, "gap": {"amount": "200000.00"}},
    }

    assert (await gql(app_client, _move("activateMatch"), {"id": match_id}, token=scene["focal"]))["data"][
        "activateMatch"
    ]["match"]["status"] == "ACTIVE"
    completed = (await gql(app_client, _move("completeMatch"), {"id": match_id}, token=scene["donor"]))["data"][
        "completeMatch"
    ]["match"]
    assert [h["toStatus"] for h in completed["history"]] == ["PROPOSED", "ENDORSED", "AGREED", "ACTIVE", "COMPLETED"]
    assert [h["actorRole"] for h in completed["history"]][:2] == ["DONOR", "STATE_FOCAL_POINT"]
    final = await gql(app_client, _move("withdrawMatch"), {"id": match_id}, token=scene["donor"])
    assert final["data"]["withdrawMatch"]["userErrors"][0]["code"] == "INVALID_TRANSITION"

    lessons = 'mutation($id: ID!) { recordLessons(input: {id: $id, lessons: "Registrars trained first made e-filing stick."}) { match { lessonsLearned } } }'
    assert (await gql(app_client, lessons, {"id": match_id}, token=scene["focal"]))["data"]["recordLessons"]["match"][
        "lessonsLearned"
    ]
    found = await gql(
        app_client,
        '{ lessons(search: "registrars e-filing") { totalCount edges { node { lessonsLearned } } } }',
        token=scene["agency"],
    )
    assert found["data"]["lessons"]["totalCount"] == 1


async def test_opportunities_rank_needs_for_a_donors_own_offers(app_client, world, scene):
    await world.need(
        "KEN", title="Prison reform", themes=["DETENTION"], sectors=["15130"], visibility=Visibility.PUBLIC
    )
    await world.need("KEN", title="Private draft", visibility=Visibility.PRIVATE)
    query = "query($min: Float) { opportunities(filter: {minScore: $min}) { totalCount edges { node { score need { title } bestMatch { programme { iatiIdentifier } } } } } }"
    body = await gql(app_client, query, {"min": 0.0}, token=scene["donor"])
    edges = body["data"]["opportunities"]["edges"]
    titles = [e["node"]["need"]["title"] for e in edges]
    assert "Private draft" not in titles and "Court case management" in titles
    assert [e["node"]["score"] for e in edges] == sorted((e["node"]["score"] for e in edges), reverse=True)
    assert edges[0]["node"]["bestMatch"]["programme"]["iatiIdentifier"] == "NO-1-KEN-JUSTICE"
    for token, code in ((None, "UNAUTHENTICATED"), (scene["focal"], "FORBIDDEN")):
        assert (await gql(app_client, query, {"min": 0.0}, token=token))["errors"][0]["extensions"]["code"] == code


async def test_funding_gaps_by_state_and_theme(app_client, world):
    from decimal import Decimal

    await world.need("KEN", title="A", estimated_cost=Decimal("100000"), currency="USD", themes=["JUSTICE"])
    await world.need("UGA", title="B", estimated_cost=Decimal("50000"), currency="USD", themes=["JUSTICE", "DETENTION"])
    await world.need(
        "UGA", title="hidden", estimated_cost=Decimal("999999"), currency="USD", visibility=Visibility.PRIVATE
    )
    body = await gql(
        app_client,
        "{ byState: fundingGaps(groupBy: STATE) { key needs gap { amount currency } } byTheme: fundingGaps(groupBy: THEME) { key needs cost { amount } } }",
    )
    by_state = {r["key"]: r for r in body["data"]["byState"]}
    assert by_state["KEN"]["gap"] == {"amount": "100000.00", "currency": "USD"}
    assert by_state["UGA"]["needs"] == 1  # the private need stays hidden, even in aggregates
    by_theme = {r["key"]: r for r in body["data"]["byTheme"]}
    assert by_theme["JUSTICE"]["needs"] == 2 and by_theme["JUSTICE"]["cost"]["amount"] == "150000.00"


async def test_a_new_or_changed_offer_is_merged_into_existing_suggestions(app_client, world):
    need = await world.need(
        "SEN", title="Legal aid clinics", visibility=Visibility.PUBLIC, sectors=["15130"], themes=["JUSTICE"]
    )
    donor = await world.organization("GIZ")
    query = "query($id: ID!) { node(id: $id) { ... on Need { matches { edges { node { programme { iatiIdentifier } score } } } } } }"
    assert (await gql(app_client, query, {"id": gid("Need", need)}))["data"]["node"]["matches"]["edges"] == []
    await world.programme(
        donor, iati_identifier="DE-1-SEN-LEGAL", recipients=("SEN",), description="Legal aid clinics and paralegals"
    )
    await world.programme(
        donor, iati_identifier="DE-1-GLOBAL", is_global=True, themes=("DETENTION",), sectors=("15137",)
    )
    await world.programme(donor, iati_identifier="DE-1-MLI", recipients=("MLI",))
    edges = (await gql(app_client, query, {"id": gid("Need", need)}))["data"]["node"]["matches"]["edges"]
    found = [e["node"]["programme"]["iatiIdentifier"] for e in edges]
    assert found[0] == "DE-1-SEN-LEGAL" and "DE-1-GLOBAL" in found and "DE-1-MLI" not in found


@pytest.mark.parametrize(
    "kind, agreed",
    [("PROGRAMME", False), ("PROGRAMME", True), ("CAPABILITY", False)],
    ids=["programme-proposed", "programme-agreed", "capability-proposed"],
)
async def test_changing_an_offer_keeps_and_rescores_its_engaged_matches(app_client, scene, kind, agreed):
    """An engaged match is not re-inserted as a suggestion when its offer changes (that was a
    unique violation): it keeps its status and gets the new score."""
    owner = scene["donor"] if kind == "PROGRAMME" else scene["agency"]
    body = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"])}, token=owner)
    match = next(e["node"] for e in body["data"]["node"]["matches"]["edges"] if e["node"]["offerKind"] == kind)
    propose = _move("proposeMatch", ', message: "We can support the roll-out."')
    assert (await gql(app_client, propose, {"id": match["id"]}, token=owner))["data"]["proposeMatch"][
        "userErrors"
    ] == []
    status = "PROPOSED"
    if agreed:
        await gql(app_client, _move("endorseMatch"), {"id": match["id"]}, token=scene["focal"])
        await gql(app_client, _move("agreeMatch"), {"id": match["id"]}, token=owner)
        status = "AGREED"
    name = "Programme" if kind == "PROGRAMME" else "Capability"
    update = f"mutation($input: Update{name}Input!) {{ update{name}(input: $input) {{ userErrors {{ code }} }} }}"
    offer = scene["kenya"] if kind == "PROGRAMME" else scene["capability"]
    changed = {"id": gid(name, offer), "description": "Court case management and e-filing for the judiciary"}
    body = await gql(app_client, update, {"input": changed}, token=owner)
    assert "errors" not in body, body
    assert body["data"][f"update{name}"]["userErrors"] == []
    after = await gql(app_client, MATCHES, {"id": gid("Need", scene["need"])}, token=owner)
    offer_matches = [e["node"] for e in after["data"]["node"]["matches"]["edges"] if e["node"]["offerKind"] == kind]
    assert [(m["id"], m["status"]) for m in offer_matches] == [(match["id"], status)]  # kept, not duplicated
    assert offer_matches[0]["score"] > match["score"]  # re-scored: the text now matches the need's title
