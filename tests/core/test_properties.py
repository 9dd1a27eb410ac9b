"""Property-based tests (hypothesis) for names, timestamps, numbers and enumerations."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from core.clock import to_epoch_millis, truncate_to_millis
from core.models import (
    Completion,
    EnumerationOption,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    Source,
)
from core.rules import MAX_NAME_LENGTH, check_internal_name, generate_name
from core.values import ParsedValue, parse_datetime, parse_enumeration, parse_value, usable_values
from tests.conftest import NOW

NUMBER = PropertyDefinition(name="n", label="N", type=PropertyType.NUMBER)

labels = st.text(max_size=120) | st.from_regex(r"[A-Za-z0-9 _\-]{0,80}", fullmatch=True)
names = st.from_regex(r"[a-z][a-z0-9_]{0,49}", fullmatch=True)

# -- generate_name -------------------------------------------------------------------------


@given(label=labels, taken=st.frozensets(names, max_size=10))
def test_generate_name_is_always_a_valid_free_name(label: str, taken: frozenset[str]) -> None:
    name = generate_name(label, taken)
    assert check_internal_name(name) == []
    assert len(name) <= MAX_NAME_LENGTH
    assert name not in taken
    assert generate_name(label, taken) == name


@given(label=labels, count=st.integers(min_value=1, max_value=12))
def test_generate_name_keeps_finding_free_names(label: str, count: int) -> None:
    taken: set[str] = set()
    for _ in range(count):
        name = generate_name(label, taken)
        assert check_internal_name(name) == []
        assert name not in taken
        taken.add(name)
    assert len(taken) == count


@given(label=labels, fallback=st.sampled_from(["event", "property"]))
def test_generate_name_with_either_fallback(label: str, fallback: str) -> None:
    assert check_internal_name(generate_name(label, (), fallback)) == []


# -- parse_datetime ------------------------------------------------------------------------

fixed_offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=fixed_offsets | st.timezones() | st.just(UTC),
)


def _expected(moment: datetime) -> datetime:
    return truncate_to_millis(moment.astimezone(UTC))


@given(moment=aware)
def test_parse_datetime_round_trips_iso_text(moment: datetime) -> None:
    assert parse_datetime(moment.isoformat()) == _expected(moment)


@given(moment=aware)
def test_parse_datetime_round_trips_iso_text_with_z(moment: datetime) -> None:
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    assert parse_datetime(text) == _expected(moment)


@given(moment=aware)
def test_parse_datetime_round_trips_epoch_millis(moment: datetime) -> None:
    millis = to_epoch_millis(moment)
    assert parse_datetime(millis) == _expected(moment)
    assert parse_datetime(str(millis)) == _expected(moment)


@given(moment=aware)
def test_a_stored_datetime_reads_back_as_the_same_moment(moment: datetime) -> None:
    prop = PropertyDefinition(name="at", label="At", type=PropertyType.DATETIME)
    parsed = parse_value(prop, moment.isoformat(), "properties.at")
    assert isinstance(parsed, ParsedValue)
    assert isinstance(parsed.value, str) and parsed.value.endswith("Z")
    assert parse_datetime(parsed.value) == _expected(moment)


# -- numbers -------------------------------------------------------------------------------


def _number(raw: object) -> object:
    parsed = parse_value(NUMBER, raw, "properties.n")
    assert isinstance(parsed, ParsedValue), parsed
    return parsed.value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_64_bit_ints_round_trip(n: int) -> None:
    assert _number(n) == n
    assert _number(str(n)) == n
    assert type(_number(str(n))) is int


@given(
    st.integers(min_value=2**63, max_value=10**30)
    | st.integers(min_value=-(10**30), max_value=-(2**63) - 1)
)
def test_larger_ints_are_read_as_doubles(n: int) -> None:
    """As JavaScript and HubSpot read them; a store of JSON cannot keep them as integers."""
    assert _number(n) == float(n) and type(_number(n)) is float
    assert _number(str(n)) == float(n)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_finite_floats_round_trip(x: float) -> None:
    assert _number(x) == x
    assert _number(repr(x)) == x


# -- enumerations --------------------------------------------------------------------------

parts = st.text(alphabet=st.characters(blacklist_characters=";"), max_size=8)


@given(sent=st.lists(parts, max_size=8), option_values=st.lists(parts, max_size=5))
def test_parse_enumeration_never_loses_a_value(sent: list[str], option_values: list[str]) -> None:
    options = [EnumerationOption(label=v or "empty", value=v) for v in dict.fromkeys(option_values)]
    prop = PropertyDefinition(name="e", label="E", type=PropertyType.ENUMERATION, options=options)
    wanted = [v.strip() for v in sent if v.strip()]

    parsed = parse_enumeration(prop, ";".join(sent))
    # what ingestion passes: the option values, looked up once per batch
    assert parse_enumeration(prop, ";".join(sent), frozenset(option_values)) == parsed

    assert isinstance(parsed.value, str)
    assert [v for v in parsed.value.split(";") if v] == wanted
    completion = Completion(
        id="c1",
        uuid="c1",
        event_name="pe1_e",
        object_type=ObjectType.CONTACT,
        object_id="1",
        occurred_at=NOW,
        received_at=NOW,
        source=Source.API,
        properties={"e": parsed.value},
        unusable={"e": list(parsed.unusable)} if parsed.unusable else {},
    )
    usable = usable_values(completion, prop)
    assert set(usable) | set(parsed.unusable) == set(wanted)
    assert not set(usable) & set(parsed.unusable)
    assert Counter(usable) == Counter(v for v in wanted if v in prop.option_values())
    assert len(parsed.unusable) == len(set(parsed.unusable))
    assert all(v not in prop.option_values() for v in parsed.unusable)
