"""The values ingestion takes without parsing are exactly what parsing would give."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.errors import Violation
from core.ingestion import Mode, SendRequest, _Lookups, _plain_values
from core.models import Cut, EnumerationOption, PropertyDefinition, PropertyType, Source
from core.rules import max_value_length
from core.services import Services
from core.values import ParsedValue, parse_value, value_text
from tests.conftest import NOW

OPTIONS = ["new", "used", " padded ", "Ünï"]  # ";" cannot be in an option value

values = st.one_of(
    # Storable text: no NUL, as no lone surrogate (both refused: tests/core/test_ingestion.py)
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=300),
    st.sampled_from([*OPTIONS, "new;used", "new ", "NEW", "", "x" * 256, "x" * 257]),
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


def _expected(prop: PropertyDefinition, raw: Any) -> tuple[Any, list[str]] | None:
    """What the general (lenient) path makes of ``raw``: the stored value and the unusable
    values, or None when the value is dropped. Too long is cut to the limit first."""
    text = value_text(raw)
    limit = max_value_length(prop.name)
    if text is not None and len(text) > limit:
        raw = text[:limit]
    outcome = parse_value(prop, raw, "x")
    if not isinstance(outcome, ParsedValue):
        return None
    return outcome.value, list(outcome.unusable)


_services: list[Services] = []


def _shared(tmp_path_factory: Any) -> Services:
    if not _services:
        services = open_services(
            tmp_path_factory.mktemp("fast") / "db", clock=FixedClock(NOW), portal_id=1
        )
        services.definitions.create(
            {
                "label": "Typed",
                "propertyDefinitions": [
                    {"label": "Text", "type": "string"},
                    {"label": "Count", "type": "number"},
                    {
                        "label": "Choice",
                        "type": "enumeration",
                        "options": [{"label": f"o{i}", "value": v} for i, v in enumerate(OPTIONS)],
                    },
                ],
            }
        )
        _services.append(services)
    return _services[0]


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(name=st.sampled_from(["text", "count", "choice"]), raw=values)
def test_every_value_is_stored_as_parsing_would_store_it(
    tmp_path_factory: Any, name: str, raw: Any
) -> None:
    services = _shared(tmp_path_factory)
    definition = services.definitions.get("typed")
    prop = next(p for p in definition.properties if p.name == name)
    body = {
        "eventName": definition.fully_qualified_name,
        "utk": "visitor",
        "properties": {name: raw},
    }
    result = services.ingestion.ingest([body], Mode.LENIENT, Source.JS)
    [stored] = result.stored
    expected = _expected(prop, raw)
    if expected is None:
        assert name not in stored.properties
    else:
        value, unusable = expected
        assert stored.properties[name] == value and type(stored.properties[name]) is type(value)
        assert stored.unusable.get(name, []) == unusable


def test_the_options_include_ones_that_need_parsing() -> None:
    prop = PropertyDefinition(
        name="c",
        label="C",
        type=PropertyType.ENUMERATION,
        options=[EnumerationOption(label="p", value=" padded ")],
    )
    assert _expected(prop, " padded ") == ("padded", ["padded"])  # stripped: no longer an option


sent_names = st.sampled_from(
    ["text", "count", "choice", "Text", "COUNT", "hs_page_url", "hs_city", "nope", "t" * 51]
)


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(
    sent=st.dictionaries(sent_names, st.one_of(values, st.none()), max_size=6),
    mode=st.sampled_from(list(Mode)),
)
def test_plain_properties_are_taken_as_judging_each_would_take_them(
    tmp_path_factory: Any, sent: dict[str, Any], mode: Mode
) -> None:
    services = _shared(tmp_path_factory)
    definition = services.definitions.get("typed")
    ingestor, records = services.ingestion, services.db.records
    request = SendRequest(event_name=definition.fully_qualified_name, properties=sent)
    lookups = _Lookups(records)
    plain = _plain_values(request.properties, lookups.exact(definition))
    violations: list[Violation] = []
    cuts: list[Cut] = []
    read = ingestor._read_properties(request, definition, mode, violations, cuts, lookups)
    if plain is not None:
        assert (plain, {}) == read and not violations and not cuts
        assert list(plain) == list(read[0])
        assert [type(v) for v in plain.values()] == [type(v) for v in read[0].values()]
    again: tuple[list[Violation], list[Cut]] = ([], [])
    assert ingestor._properties(request, definition, mode, *again, lookups) == read
    assert again == (violations, cuts)


def test_properties_as_senders_send_them_are_plain(tmp_path_factory: Any) -> None:
    services = _shared(tmp_path_factory)
    definition = services.definitions.get("typed")
    sent = {"text": "a", "count": 3, "choice": "new", "hs_page_url": "https://example.com/"}
    assert _plain_values(sent, _Lookups(services.db.records).exact(definition)) == sent
