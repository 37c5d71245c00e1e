"""Resolve the State names that source files spell their own way to ISO 3166 alpha-3 codes.

UPR Info writes "Macedonia FYR", "Democratic Republic of Congo", "Cote d'Ivoire", "Iran",
"DPR Korea" …; other exports write "Korea, Republic of", "Bolivia (Plurinational State of)",
"St Vincent & the Grenadines". A name is resolved, in this order, through:

1. the alias table (``data/state_aliases.csv``: ``alias,iso3``; an empty iso3 marks a known
   non-State such as "European Union", which then never resolves, not even fuzzily);
2. every name of every State we hold: the six UN languages' short names from the ``state``
   table, plus the formal, official and CLDR names from the reference country-codes.csv;
3. the same names without their government-form qualifier ("Bolivia" for "Bolivia
   (Plurinational State of)", "Moldova" for "Republic of Moldova"), where that is unambiguous;
4. a conservative fuzzy match (difflib ratio >= 0.9, and a unique best State).

All comparisons are on a normal form (accents stripped, case folded, punctuation and articles
dropped, "X, Republic of" / "X (Republic of)" turned into "Republic of X", "&" -> "and",
"St" -> "Saint", spaces removed so "Vietnam" meets "Viet Nam"). A key that points at two
States is dropped from its tier: a name is never guessed. Unresolved names return None.
"""

from __future__ import annotations

import csv
import difflib
import html
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.reference.sources import DATA_DIR as REFERENCE_DATA_DIR

ALIASES_FILE = Path(__file__).parent / "data" / "state_aliases.csv"
FUZZY_CUTOFF = 0.9

# Extra names per State from the reference country-codes.csv (the State table holds only the
# short names): formal names in the six languages, official names and CLDR's common name.
EXTRA_NAME_COLUMNS = (
    "UNTERM English Formal", "UNTERM French Formal", "UNTERM Spanish Formal",
    "UNTERM Arabic Formal", "UNTERM Chinese Formal", "UNTERM Russian Formal",
    "official_name_en", "official_name_fr", "official_name_es",
    "official_name_ar", "official_name_cn", "official_name_ru",
    "CLDR display name",
)  # fmt: skip

_ARTICLES = frozenset({"the", "le", "la", "les", "l", "el", "los", "las"})
_TOKEN_SUBSTITUTES = {"st": "saint", "ste": "sainte"}
# Words a government-form qualifier is made of ("Plurinational State of", "United Republic of").
_FORM_WORDS = frozenset(
    {
        "republic", "democratic", "people", "peoples", "s", "islamic", "federal", "federated",
        "state", "states", "plurinational", "bolivarian", "united", "socialist", "arab", "of",
    }
)  # fmt: skip
_FORM_MARKERS = frozenset({"republic", "plurinational", "federated", "bolivarian", "islamic"})
_PARENTHESIS = re.compile(r"^(?P<name>.*?)\s*\((?P<inner>[^()]*)\)\s*(?P<rest>.*)$")
_PUNCTUATION = re.compile(r"[^\w\s]+")
_QUALIFIER_END = re.compile(r"(?:^|\s)(?:of|of the|de|du|del|de la|d)$", re.IGNORECASE)


def _fold(text: str) -> str:
    """Accents stripped (NFKD), case folded, curly quotes straightened, "&" spelled out."""
    text = html.unescape(text).replace("\u2019", "'").replace("&", " and ")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _reorder(text: str) -> str:
    """'Korea, Republic of' and 'Korea (Republic of)' -> 'Republic of Korea'; '(the)' and
    ', The' dropped. Other parentheses/commas are kept as words."""
    match = _PARENTHESIS.match(text)
    if match and match.group("name"):
        name, inner, rest = match.group("name"), match.group("inner").strip(), match.group("rest")
        if inner in _ARTICLES or _QUALIFIER_END.search(inner):
            text = f"{inner} {name} {rest}"
    if "," in text:
        head, _, tail = text.rpartition(",")
        tail = tail.strip()
        if tail in _ARTICLES or _QUALIFIER_END.search(tail):
            text = f"{tail} {head}"
    return text


def _tokens(name: str) -> list[str]:
    text = _PUNCTUATION.sub(" ", _reorder(_fold(name)))
    return [_TOKEN_SUBSTITUTES.get(t, t) for t in text.split() if t not in _ARTICLES]


def normalise_name(name: str) -> str:
    """The comparison key of a name: see the module docstring. Empty for an empty name."""
    return "".join(_tokens(name))


def _without_form(name: str) -> str | None:
    """'Bolivia (Plurinational State of)' / 'Republic of Moldova' -> the key of 'Bolivia' /
    'Moldova'; None when the name has no government-form qualifier."""
    tokens = _tokens(name)
    if "of" not in tokens:
        return None
    cut = len(tokens) - 1 - tokens[::-1].index("of")
    prefix, core = tokens[: cut + 1], tokens[cut + 1 :]
    if core and all(t in _FORM_WORDS for t in prefix) and _FORM_MARKERS & set(prefix):
        return "".join(core)
    return None


@dataclass
class StateNameResolver:
    """Name -> ISO3, built from (iso3, names) of the States we hold plus the alias table.
    Resolutions are cached: a file names the same few hundred spellings over and over."""

    tiers: list[dict[str, str]]  # key -> iso3, most trusted first (ambiguous keys removed)
    non_states: frozenset[str]  # keys of names known not to be States
    _cache: dict[str, str | None] = field(default_factory=dict, repr=False)
    _fuzzy_keys: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @classmethod
    def build(
        cls,
        state_names: Mapping[str, Iterable[str]],
        aliases: Iterable[tuple[str, str]] | None = None,
    ) -> "StateNameResolver":
        """`state_names`: iso3 -> every name we know for it. `aliases`: (alias, iso3 or "")
        pairs, read from ``data/state_aliases.csv`` when None; aliases of States we do not
        hold are ignored."""
        known = set(state_names)
        alias_tier: dict[str, set[str]] = {}
        non_states: set[str] = set()
        for alias, iso3 in read_aliases() if aliases is None else aliases:
            key = normalise_name(alias)
            if not key:
                continue
            if not iso3:
                non_states.add(key)
            elif iso3 in known:
                alias_tier.setdefault(key, set()).add(iso3)
        exact: dict[str, set[str]] = {}
        short: dict[str, set[str]] = {}
        for iso3, names in state_names.items():
            for name in names:
                if not name:
                    continue
                if key := normalise_name(name):
                    exact.setdefault(key, set()).add(iso3)
                if core := _without_form(name):
                    short.setdefault(core, set()).add(iso3)
        tiers = [
            {key: next(iter(codes)) for key, codes in tier.items() if len(codes) == 1}
            for tier in (alias_tier, exact, short)
        ]
        resolver = cls(tiers=tiers, non_states=frozenset(non_states - set(tiers[0])))
        seen: dict[str, str] = {}
        for tier in tiers:
            for key, iso3 in tier.items():
                seen.setdefault(key, iso3)
        resolver._fuzzy_keys = sorted(seen.items())
        return resolver

    def resolve(self, name: str | None) -> str | None:
        """The ISO3 code of a State name, or None (unknown, ambiguous, or not a State)."""
        if not name:
            return None
        if name in self._cache:
            return self._cache[name]
        key = normalise_name(name)
        result = self._lookup(key) if key else None
        self._cache[name] = result
        return result

    def is_known_non_state(self, name: str) -> bool:
        """True for names the alias table marks as not a State ("European Union")."""
        return normalise_name(name) in self.non_states

    def _lookup(self, key: str) -> str | None:
        for tier in self.tiers:
            if key in tier:
                return tier[key]
        if key in self.non_states:
            return None
        return self._fuzzy(key)

    def _fuzzy(self, key: str) -> str | None:
        """Best State with ratio >= FUZZY_CUTOFF, only if no other State comes as close."""
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        best: dict[str, float] = {}
        for candidate, iso3 in self._fuzzy_keys:
            matcher.set_seq1(candidate)
            if matcher.real_quick_ratio() < FUZZY_CUTOFF or matcher.quick_ratio() < FUZZY_CUTOFF:
                continue
            ratio = matcher.ratio()
            if ratio >= FUZZY_CUTOFF and ratio > best.get(iso3, 0.0):
                best[iso3] = ratio
        if not best:
            return None
        ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)
        if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
            return None
        return ranked[0][0]


def read_aliases(path: Path = ALIASES_FILE) -> list[tuple[str, str]]:
    """(alias, iso3) pairs of the alias table; iso3 is "" for a known non-State."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [((row["alias"] or "").strip(), (row["iso3"] or "").strip().upper()) for row in csv.DictReader(f)]


def reference_extra_names(iso3s: Iterable[str]) -> dict[str, list[str]]:
    """Formal/official/CLDR names of these States from the reference country-codes.csv."""
    wanted = set(iso3s)
    names: dict[str, list[str]] = {}
    with (REFERENCE_DATA_DIR / "country-codes.csv").open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            iso3 = (row.get("ISO3166-1-Alpha-3") or "").strip()
            if iso3 in wanted:
                names[iso3] = [v.strip() for c in EXTRA_NAME_COLUMNS if (v := row.get(c) or "").strip()]
    return names


def resolver_from_records(records: Iterable[object]) -> StateNameResolver:
    """A resolver from StateRecord-like objects (iso3, name_en … name_ru), e.g.
    ``service.reference.sources.read_states()``, for use without a database."""
    names: dict[str, list[str]] = {}
    for r in records:
        iso3 = r.iso3
        names[iso3] = [getattr(r, f"name_{lang}") for lang in ("en", "fr", "es", "ar", "zh", "ru")]
    for iso3, extra in reference_extra_names(names).items():
        names[iso3].extend(extra)
    return StateNameResolver.build(names)


async def load_resolver(session: AsyncSession) -> StateNameResolver:
    """A resolver over the States in the database (the codes rows may reference)."""
    from service.models import State

    rows = (
        await session.execute(
            sa.select(
                State.iso3, State.name_en, State.name_fr, State.name_es, State.name_ar, State.name_zh, State.name_ru
            )
        )
    ).all()
    names: dict[str, list[str]] = {row[0]: list(row[1:]) for row in rows}
    for iso3, extra in reference_extra_names(names).items():
        names[iso3].extend(extra)
    return StateNameResolver.build(names)
