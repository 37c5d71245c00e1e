"""Item 10 reports: numbers on constructed engagements (dated through their history), the
consent rule on every aggregate, bad input, and the GraphQL shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from service.access.principals import ANONYMOUS, SYSTEM, Principal, Role
from service.errors import InvalidInput
from service.item10 import Stage, item10_report
from service.matching import lifecycle
from service.models import AssistanceNeed, CurrencyRate, Match, MatchTransition
from service.models.enums import OrganizationCategory, Visibility
from service.models.matching import MatchStatus

pytestmark = pytest.mark.asyncio

PATH = [MatchStatus.PROPOSED, MatchStatus.ENDORSED, MatchStatus.AGREED, MatchStatus.ACTIVE, MatchStatus.COMPLETED]
PERIOD = (date(2026, 1, 1), date(2026, 12, 31))


class Engagements:
    """Moves suggestions through the lifecycle as the parties would, then dates each move."""

    def __init__(self, sessionmaker):
        self.sessionmaker = sessionmaker

    async def engage(
        self,
        need: int,
        organization: int,
        state: str,
        *,
        until: MatchStatus,
        dates: dict[MatchStatus, str],
        amount: str | None = None,
        currency: str = "USD",
        lessons: str | None = None,
        withdraw_on: str | None = None,
    ) -> int:
        proposer = Principal(role=Role.AGENCY, organization_id=organization)
        focal = Principal(role=Role.STATE_FOCAL_POINT, state_iso3=state)
        async with self.sessionmaker() as session, session.begin():
            match_id = (
                await session.execute(
                    sa.select(Match.id).where(Match.need_id == need, Match.organization_id == organization)
                )
            ).scalar_one()
            for step in PATH[: PATH.index(until) + 1]:
                await lifecycle.transition(
                    session=session,
                    principal=focal if step is MatchStatus.ENDORSED else proposer,
                    match_id=match_id,
                    to=step,
                    message="We can help." if step is MatchStatus.PROPOSED else None,
                    amount=Decimal(amount) if amount and step is MatchStatus.PROPOSED else None,
                    currency=currency if amount and step is MatchStatus.PROPOSED else None,
                )
            if withdraw_on:
                await lifecycle.transition(
                    session=session, principal=proposer, match_id=match_id, to=MatchStatus.WITHDRAWN
                )
                dates = {**dates, MatchStatus.WITHDRAWN: withdraw_on}
            if lessons:
                await lifecycle.record_lessons(session=session, principal=proposer, match_id=match_id, lessons=lessons)
            for status, day in dates.items():
                await session.execute(
                    sa.update(MatchTransition)
                    .where(MatchTransition.match_id == match_id, MatchTransition.to_status == status)
                    .values(occurred_at=datetime.fromisoformat(day).replace(tzinfo=UTC))
                )
        return match_id


@pytest.fixture
async def scene(world, sessionmaker):
    """KEN and UGA, UNODC and Norad; JUSTICE engagements in, before and after 2026, one out
    of the theme, one withdrawn after agreement, one on a PRIVATE need."""
    unodc = await world.organization("UNODC", OrganizationCategory.UN_AGENCY)
    norad = await world.organization("Norad", OrganizationCategory.DONOR_GOVERNMENT)
    await world.programme(unodc, iati_identifier="XM-UNODC-JUSTICE", recipients=("KEN", "UGA"))
    await world.programme(
        norad, iati_identifier="NO-JUSTICE", recipients=("KEN", "UGA"), themes=("JUSTICE", "WOMENS_RIGHTS")
    )
    money = {"estimated_cost": Decimal("500000"), "currency": "USD"}
    n = {
        "completed": await world.need("KEN", title="Court e-filing", **money),
        "private_active": await world.need(
            "KEN",
            title="Judicial training",
            visibility=Visibility.PARTNERS,
            estimated_cost=Decimal("300000"),
            currency="USD",
        ),
        "private_completed": await world.need("KEN", title="Judicial ethics code", visibility=Visibility.PARTNERS),
        "agreed_eur": await world.need("UGA", title="Legal aid", estimated_cost=Decimal("100000"), currency="EUR"),
        "before": await world.need("UGA", title="Case backlog"),
        "after": await world.need("KEN", title="Prison registry"),
        "other_theme": await world.need("KEN", title="Shelters", themes=["WOMENS_RIGHTS"]),
        "withdrawn": await world.need("UGA", title="Bail reform", estimated_cost=Decimal("80000"), currency="USD"),
        "open": await world.need("UGA", title="Court interpreters", estimated_cost=Decimal("25000"), currency="USD"),
    }
    e = Engagements(sessionmaker)
    ids = {
        "completed": await e.engage(
            n["completed"],
            unodc,
            "KEN",
            until=MatchStatus.COMPLETED,
            amount="200000",
            lessons="Pilot in two courts first.",
            dates={
                MatchStatus.AGREED: "2026-01-10",
                MatchStatus.ACTIVE: "2026-02-01",
                MatchStatus.COMPLETED: "2026-06-30",
            },
        ),
        "private_active": await e.engage(
            n["private_active"],
            norad,
            "KEN",
            until=MatchStatus.ACTIVE,
            amount="1000000",
            currency="NOK",
            dates={MatchStatus.AGREED: "2026-03-01", MatchStatus.ACTIVE: "2026-04-01"},
        ),
        "private_completed": await e.engage(
            n["private_completed"],
            norad,
            "KEN",
            until=MatchStatus.COMPLETED,
            lessons="A confidential lesson.",
            dates={
                MatchStatus.AGREED: "2026-02-01",
                MatchStatus.ACTIVE: "2026-02-02",
                MatchStatus.COMPLETED: "2026-09-01",
            },
        ),
        "agreed_eur": await e.engage(
            n["agreed_eur"],
            unodc,
            "UGA",
            until=MatchStatus.AGREED,
            amount="40000",
            currency="EUR",
            dates={MatchStatus.AGREED: "2026-05-05"},
        ),
        # Completed before the period: not in it. Its lessons are not this period's either.
        "before": await e.engage(
            n["before"],
            unodc,
            "UGA",
            until=MatchStatus.COMPLETED,
            amount="999",
            lessons="Old lesson.",
            dates={
                MatchStatus.AGREED: "2025-01-01",
                MatchStatus.ACTIVE: "2025-02-01",
                MatchStatus.COMPLETED: "2025-06-01",
            },
        ),
        # Agreed after the period: not in it.
        "after": await e.engage(
            n["after"], unodc, "KEN", until=MatchStatus.AGREED, amount="777", dates={MatchStatus.AGREED: "2027-01-02"}
        ),
        "other_theme": await e.engage(
            n["other_theme"],
            norad,
            "KEN",
            until=MatchStatus.AGREED,
            amount="555",
            dates={MatchStatus.AGREED: "2026-03-03"},
        ),
        "withdrawn": await e.engage(
            n["withdrawn"],
            unodc,
            "UGA",
            until=MatchStatus.AGREED,
            amount="30000",
            withdraw_on="2026-03-01",
            dates={MatchStatus.AGREED: "2026-02-01"},
        ),
    }
    # The State made these two PRIVATE after the engagements (a proposer never sees a PRIVATE need).
    async with sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(AssistanceNeed)
            .where(AssistanceNeed.id.in_([n["private_active"], n["private_completed"]]))
            .values(visibility=Visibility.PRIVATE)
        )
    async with sessionmaker() as session:
        rates = {r.currency: r.usd_per_unit for r in (await session.execute(sa.select(CurrencyRate))).scalars()}
    return {"needs": n, "matches": ids, "unodc": unodc, "norad": norad, "rates": rates}


def amounts(a) -> dict[str, Decimal]:
    return {x.currency: x.amount for x in a.by_currency}


async def report(sessionmaker, principal, theme="JUSTICE", period=PERIOD, region=None):
    async with sessionmaker() as session:
        return await item10_report(
            session=session,
            principal=principal,
            theme=theme,
            period_start=period[0],
            period_end=period[1],
            region=region,
        )


async def test_administrator_sees_every_engagement_counted_by_stage_and_currency(scene, sessionmaker):
    r = await report(sessionmaker, SYSTEM)
    c = r.engagements
    assert (c.agreed, c.active, c.completed, c.withdrawn, c.total) == (1, 1, 2, 1, 5)
    # The withdrawn engagement's amount is not committed; currencies are never added together.
    assert amounts(r.committed) == {
        "USD": Decimal("200000.00"),
        "NOK": Decimal("1000000.00"),
        "EUR": Decimal("40000.00"),
    }
    rates = scene["rates"]
    expected_usd = (200000 * rates["USD"] + 1000000 * rates["NOK"] + 40000 * rates["EUR"]).quantize(Decimal("0.01"))
    assert r.committed.usd_equivalent == expected_usd
    assert {x.currency for x in r.exchange_rates} == {"USD", "NOK", "EUR"}

    orgs = {o.name: o for o in r.by_organization}
    assert set(orgs) == {"UNODC", "Norad"}
    u = orgs["UNODC"].engagements
    assert (u.agreed, u.active, u.completed, u.withdrawn) == (1, 0, 1, 1)
    assert amounts(orgs["UNODC"].committed) == {"USD": Decimal("200000.00"), "EUR": Decimal("40000.00")}
    assert orgs["UNODC"].states == ("KEN", "UGA") and orgs["UNODC"].category == "UN_AGENCY"
    assert (orgs["Norad"].engagements.active, orgs["Norad"].engagements.completed) == (1, 1)

    states = {s.state_iso3: s for s in r.by_state}
    assert (states["KEN"].engagements.total, states["UGA"].engagements.total) == (3, 2)
    assert states["KEN"].name == "Kenya" and states["KEN"].organizations == ("Norad", "UNODC")

    assert [lesson.text for lesson in r.lessons] == ["A confidential lesson.", "Pilot in two courts first."]
    assert r.lessons[1].completed_on == date(2026, 6, 30) and r.lessons[1].organization_name == "UNODC"


async def test_open_needs_and_funding_gaps(scene, sessionmaker):
    r = await report(sessionmaker, SYSTEM)
    n = scene["needs"]
    by_id = {row.need_id: row for row in r.open_needs}
    # Needs whose engagements are agreed/active stay open (MATCHED / IN_PROGRESS); the need of
    # the other theme is not in the report.
    assert n["other_theme"] not in by_id
    assert {n["completed"], n["private_active"], n["agreed_eur"], n["withdrawn"], n["open"]} <= set(by_id)
    assert by_id[n["completed"]].gap.amount == Decimal("300000.00")
    assert (by_id[n["agreed_eur"]].gap.amount, by_id[n["agreed_eur"]].gap.currency) == (Decimal("60000.00"), "EUR")
    # Committed in NOK against a USD cost: converted through the published rates.
    nok_in_usd = Decimal(1000000) * scene["rates"]["NOK"] / scene["rates"]["USD"]
    assert by_id[n["private_active"]].gap.amount == (Decimal(300000) - nok_in_usd).quantize(Decimal("0.01"))
    # A withdrawn engagement commits nothing.
    assert by_id[n["withdrawn"]].gap.amount == Decimal("80000.00")
    g = r.funding_gap
    assert g.open_needs == len(r.open_needs)
    assert amounts(g.requested)["EUR"] == Decimal("100000.00")
    assert g.needs_without_cost == sum(1 for row in r.open_needs if row.requested is None)
    assert r.open_needs[0].need_id == n["completed"]  # largest gap first


async def test_anonymous_counts_leave_out_private_needs_and_their_engagements(scene, sessionmaker):
    r = await report(sessionmaker, ANONYMOUS)
    c = r.engagements
    assert (c.agreed, c.active, c.completed, c.withdrawn) == (1, 0, 1, 1)
    assert amounts(r.committed) == {"USD": Decimal("200000.00"), "EUR": Decimal("40000.00")}
    assert [o.name for o in r.by_organization] == ["UNODC"]  # Norad's only JUSTICE engagements are private
    assert {s.state_iso3: s.engagements.total for s in r.by_state} == {"KEN": 1, "UGA": 2}
    assert [lesson.text for lesson in r.lessons] == ["Pilot in two courts first."]
    hidden = {scene["needs"]["private_active"], scene["needs"]["private_completed"]}
    assert not hidden & {row.need_id for row in r.open_needs}
    assert "NOK" not in amounts(r.funding_gap.committed)
    assert {x.currency for x in r.exchange_rates} == {"USD", "EUR"}
    # The KEN focal point sees its own private needs; a partner does not.
    own = await report(sessionmaker, Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN"))
    assert own.engagements.total == 5
    partner = await report(sessionmaker, Principal(role=Role.DONOR, organization_id=scene["unodc"]))
    assert partner.engagements.total == 3


async def test_theme_cluster_region_and_periods(scene, sessionmaker):
    cluster = await report(sessionmaker, SYSTEM, theme="administration_of_justice")
    assert cluster.theme_code == "ADMINISTRATION_OF_JUSTICE" and "JUSTICE" in cluster.theme_codes
    assert cluster.engagements.total == 5
    uga = await report(sessionmaker, SYSTEM, region="014")  # Eastern Africa: KEN and UGA
    assert uga.region_name == "Eastern Africa" and uga.engagements.total == 5
    asia = await report(sessionmaker, SYSTEM, region="ASIA_PACIFIC")
    assert asia.engagements.total == 0 and asia.open_needs == () and asia.region_name == "Asia-Pacific Group"
    african = await report(sessionmaker, SYSTEM, region="african")
    assert african.engagements.total == 5 and african.region_name == "African Group"
    # 2025: only the engagement completed then, with its lesson.
    old = await report(sessionmaker, SYSTEM, period=(date(2025, 1, 1), date(2025, 12, 31)))
    assert (old.engagements.completed, old.engagements.total) == (1, 1)
    assert [lesson.text for lesson in old.lessons] == ["Old lesson."]
    # A one-day period: what stood engaged on 2026-03-01 (withdrawn that day counts as withdrawn).
    day = await report(sessionmaker, SYSTEM, period=(date(2026, 3, 1), date(2026, 3, 1)))
    stages = day.engagements
    assert (stages.agreed, stages.active, stages.completed, stages.withdrawn) == (1, 2, 0, 1)
    assert Stage.WITHDRAWN.value == "WITHDRAWN"


async def test_currencies_are_never_added_together_and_usd_only_with_every_rate():
    from service.item10 import _in_currency, _Sums

    rates = {
        c: CurrencyRate(currency=c, usd_per_unit=Decimal(r), as_of=date(2026, 11, 1))
        for c, r in (("USD", "1"), ("EUR", "1.2"))
    }
    sums = _Sums()
    sums.add(Decimal("100"), "USD")
    sums.add(Decimal("50"), "EUR")
    sums.add(Decimal("1"), "USD")
    converted = sums.amounts(rates)
    assert [(a.currency, a.amount) for a in converted.by_currency] == [
        ("EUR", Decimal("50.00")),
        ("USD", Decimal("101.00")),
    ]
    assert converted.usd_equivalent == Decimal("161.00") and converted.currencies_without_rate == ()
    assert _in_currency(sums, "EUR", rates) == Decimal("50") + Decimal("101") / Decimal("1.2")
    sums.add(Decimal("7"), "ISK")  # no rate: no USD equivalent, no conversion, and it says why
    sums.add(Decimal("3"), None)  # recorded without a currency
    unconverted = sums.amounts(rates)
    assert unconverted.usd_equivalent is None and unconverted.currencies_without_rate == ("ISK", "XXX")
    assert _in_currency(sums, "USD", rates) is None


BAD_INPUT = [
    ("NO_SUCH_THEME", PERIOD, None, "theme"),
    ("", PERIOD, None, "theme"),
    ("JUSTICE", (date(2026, 12, 31), date(2026, 1, 1)), None, "period"),
    ("JUSTICE", PERIOD, "999", "region"),
    ("JUSTICE", PERIOD, "NOWHERE", "region"),
]


async def test_bad_input_is_refused_with_the_field(sessionmaker):
    for theme, period, region, field in BAD_INPUT:
        with pytest.raises(InvalidInput) as refused:
            await report(sessionmaker, SYSTEM, theme=theme, period=period, region=region)
        assert (refused.value.field, refused.value.code) == (field, "BAD_USER_INPUT"), (theme, period, region)


# -- GraphQL ---------------------------------------------------------------------------------------

REPORT = """
query($theme: String!, $from: Date!, $to: Date!, $region: String, $n: Int = 50) {
  item10Report(theme: $theme, period: {from: $from, to: $to}, region: $region) {
    theme themeName themes periodFrom periodTo region regionName generatedAt
    engagements { agreed active completed withdrawn total }
    committed { amounts { amount currency } usdEquivalent { amount currency } currenciesWithoutRate }
    organizations(first: $n) { name acronym category organization { name } states
      engagements { total completed } committed { amounts { amount currency } } }
    organizationCount
    states(first: $n) { code name state { code } organizations engagements { total } }
    stateCount
    lessons { needTitle stateCode organizationName completedOn lessons engagement { id status } }
    lessonCount
    openNeeds(first: $n) { title stateCode stateName status requested { amount currency } gap { amount currency }
      committed { amounts { amount currency } } need { id } }
    fundingGap { openNeeds requested { amounts { amount currency } usdEquivalent { amount } }
      gap { amounts { amount currency } } needsWithoutCost needsWithoutGap }
    exchangeRates { currency usdPerUnit asOf }
  }
}
"""
VARS = {"theme": "JUSTICE", "from": "2026-01-01", "to": "2026-12-31"}


async def test_graphql_report_as_administrator_and_anonymous(scene, world, app_client, gql):
    admin = await world.key(Role.ADMINISTRATOR)
    full = await gql(app_client, REPORT, VARS, token=admin)
    assert "errors" not in full, full
    r = full["data"]["item10Report"]
    assert r["engagements"] == {"agreed": 1, "active": 1, "completed": 2, "withdrawn": 1, "total": 5}
    assert {a["currency"]: a["amount"] for a in r["committed"]["amounts"]} == {
        "EUR": "40000.00",
        "NOK": "1000000.00",
        "USD": "200000.00",
    }
    assert r["committed"]["usdEquivalent"]["currency"] == "USD" and r["committed"]["currenciesWithoutRate"] == []
    assert r["organizationCount"] == 2 and r["stateCount"] == 2 and r["lessonCount"] == 2
    assert r["organizations"][0]["name"] == "UNODC" and r["organizations"][0]["organization"] == {"name": "UNODC"}
    assert r["organizations"][0]["category"] == "UN_AGENCY"
    assert all(lesson["engagement"]["status"] == "COMPLETED" for lesson in r["lessons"])

    anonymous = (await gql(app_client, REPORT, VARS))["data"]["item10Report"]
    assert anonymous["engagements"]["total"] == 3 and anonymous["lessonCount"] == 1
    assert [o["name"] for o in anonymous["organizations"]] == ["UNODC"]
    assert "Judicial training" not in {n["title"] for n in anonymous["openNeeds"]}
    assert "Judicial training" in {n["title"] for n in r["openNeeds"]}
    # Every linked object resolves for the caller (none is hidden behind a visible row).
    assert all(n["need"] is not None for n in anonymous["openNeeds"])
    assert all(lesson["engagement"] is not None for lesson in anonymous["lessons"])


async def test_graphql_lists_are_bounded_and_priced_by_first(scene, world, app_client, gql):
    admin = await world.key(Role.ADMINISTRATOR)
    small = await gql(app_client, REPORT, {**VARS, "n": 1}, token=admin)
    large = await gql(app_client, REPORT, {**VARS, "n": 101}, token=admin)
    assert len(small["data"]["item10Report"]["states"]) == 1
    assert small["data"]["item10Report"]["stateCount"] == 2
    # Three lists take $n: each of their 100 more rows is priced (at least one object per row).
    assert (
        large["extensions"]["cost"]["requestedQueryCost"] >= small["extensions"]["cost"]["requestedQueryCost"] + 3 * 100
    )
    # What was returned is what is charged after the fact.
    assert large["extensions"]["cost"]["actualQueryCost"] < large["extensions"]["cost"]["requestedQueryCost"]
    refused = await gql(app_client, REPORT, {**VARS, "n": 501}, token=admin)
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_graphql_bad_input_is_bad_user_input(app_client, gql):
    for variables, needle in [
        ({**VARS, "theme": "JUSTICE_FOR_ALL"}, "Unknown theme"),
        ({**VARS, "from": "2026-12-31", "to": "2026-01-01"}, "starts after it ends"),
        ({**VARS, "region": "999"}, "Unknown region"),
        ({**VARS, "from": "2026-13-01"}, "Date"),
        ({**VARS, "theme": "J" * 65}, "65"),
    ]:
        body = await gql(app_client, REPORT, variables)
        assert body.get("data") is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert needle in error["message"], (needle, error)


# -- CLI: tcgraph report item10 --------------------------------------------------------------------


@pytest.fixture
def cli_on_test_database(database_url, monkeypatch):
    """`tcgraph` on this test's database; it runs its own event loop, so off this one."""
    import asyncio

    from service import cli
    from service.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TCGRAPH_API_KEY", raising=False)
    get_settings.cache_clear()

    async def run(*argv: str) -> int:
        return await asyncio.to_thread(cli.main, ["report", "item10", *argv])

    yield run
    get_settings.cache_clear()


ARGS = ("--theme", "JUSTICE", "--from", "2026-01-01", "--to", "2026-12-31")


async def test_cli_markdown_has_the_report_headings_and_tables(scene, world, cli_on_test_database, tmp_path, capsys):
    path = tmp_path / "report.md"
    assert await cli_on_test_database(*ARGS, "--format", "markdown", "-o", str(path)) == 0
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# Item 10 report: Administration of justice and fair trial (JUSTICE)"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Engagements by agency, fund or donor",
        "## Engagements by State",
        "## Lessons learned and good practices",
        "## Open needs and funding gaps",
        "## Exchange rates",
    ]
    # Anonymous: the private needs' engagements are not counted.
    assert "| Engagements | 1 | 0 | 1 | 1 | 3 |" in lines
    assert "| Organization | Category | Agreed | Active | Completed | Withdrawn | Total | Committed | States |" in lines
    assert any(
        line.startswith("| UNODC | un agency | 1 | 0 | 1 | 1 | 3 | EUR 40,000.00; USD 200,000.00 | KEN, UGA |")
        for line in lines
    )
    assert "> Pilot in two courts first." in lines and "confidential" not in text and "Judicial training" not in text
    assert "visible to: anonymous" in text
    assert "item 10 report: engagements 3, lessons 1" in capsys.readouterr().err

    admin = await world.key(Role.ADMINISTRATOR)
    full = tmp_path / "admin.md"
    assert await cli_on_test_database(*ARGS, "--api-key", admin, "-o", str(full)) == 0
    admin_text = full.read_text(encoding="utf-8")
    assert "| Engagements | 1 | 1 | 2 | 1 | 5 |" in admin_text.splitlines()
    assert "> A confidential lesson." in admin_text and "Judicial training" in admin_text


async def test_cli_csv_is_one_long_table_and_json_the_graphql_shape(scene, cli_on_test_database, tmp_path):
    import csv

    path = tmp_path / "report.csv"
    assert await cli_on_test_database(*ARGS, "--format", "csv", "-o", str(path)) == 0
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["section", "id", "code", "name", "measure", "currency", "value"]
    assert all(len(row) == 7 for row in rows)
    values = {(r[0], r[2], r[4], r[5]): r[6] for r in rows[1:]}
    assert values[("total", "JUSTICE", "engagements_total", "")] == "3"
    assert values[("total", "JUSTICE", "committed", "EUR")] == "40000.00"
    assert values[("state", "UGA", "engagements_withdrawn", "")] == "1"
    assert {r[0] for r in rows[1:]} >= {
        "report",
        "total",
        "organization",
        "state",
        "lesson",
        "open_need",
        "funding_gap",
        "exchange_rate",
    }
    lessons = [r for r in rows if r[0] == "lesson" and r[4] == "lessons"]
    assert [r[6] for r in lessons] == ["Pilot in two courts first."] and lessons[0][
        1
    ]  # with the engagement's global ID

    import json

    path = tmp_path / "report.json"
    assert await cli_on_test_database(*ARGS, "--format", "json", "-o", str(path)) == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["engagements"] == {"agreed": 1, "active": 0, "completed": 1, "withdrawn": 1, "total": 3}
    assert data["organizations"][0]["name"] == "UNODC"
    assert {"theme", "periodFrom", "states", "lessons", "openNeeds", "fundingGap", "exchangeRates"} <= set(data)


async def test_cli_bad_input_exits_2_with_the_reason(cli_on_test_database, tmp_path, capsys):
    path = tmp_path / "never.md"
    for argv, reason in [
        (("--theme", "NOPE", "--from", "2026-01-01", "--to", "2026-12-31"), "Unknown theme"),
        (("--theme", "JUSTICE", "--from", "2026-12-31", "--to", "2026-01-01"), "starts after it ends"),
        (("--theme", "JUSTICE", "--from", "31/12/2026", "--to", "2026-12-31"), "ISO 8601"),
        (("--theme", "JUSTICE", "--from", "2026-01-01", "--to", "2026-12-31", "--api-key", "tcg_nope"), "error:"),
    ]:
        assert await cli_on_test_database(*argv, "-o", str(path)) == 2, argv
        assert reason in capsys.readouterr().err
        assert not path.exists()


# -- demo data ---------------------------------------------------------------------------------------


async def test_demo_data_gives_a_justice_report_and_loads_once(database_url, sessionmaker):
    """`make run`'s data: engagements with dated histories and lessons, so the report for
    administration of justice is not empty, for anonymous callers too; loading twice adds nothing."""
    import asyncio

    from tests.support.demo import load_demo_world

    await asyncio.to_thread(load_demo_world, database_url)
    async with sessionmaker() as session, session.begin():
        from service.demo.load import load_demo

        again = await load_demo(session)
    assert again["engagements"] == 0 and again["needs"] == 0
    period = (date(2025, 1, 1), date(2026, 12, 31))
    public = await report(sessionmaker, ANONYMOUS, theme="ADMINISTRATION_OF_JUSTICE", period=period)
    full = await report(sessionmaker, SYSTEM, theme="ADMINISTRATION_OF_JUSTICE", period=period)
    assert public.engagements.total >= 3 and public.lessons and public.open_needs
    assert full.engagements.total == 6 and len(full.lessons) == 2
    assert full.engagements.total > public.engagements.total  # MDA's and JOR's needs are for partners only
    assert {o.name for o in full.by_organization} >= {"United Nations Office on Drugs and Crime"}
    assert public.committed.usd_equivalent is not None
