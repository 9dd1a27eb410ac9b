"""A plain send body is read at once (read_plain_send) exactly as the general path reads it.

Bodies are what JSON can give: objects with text names (the text check fails on others).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingestion import (
    PlainSend,
    SendRequest,
    parse_send_body,
    read_plain_send,
    read_send_body,
)

# Text of every kind: plain, non-ASCII, with a NUL, with a lone surrogate (the last two are
# refused by the text check, so such a body is never plain).
texts = st.one_of(
    st.sampled_from(["", "pe1_viewed", "12", "ann@example.com", "é", "a\x00b", "x\ud800y"]),
    st.text(st.characters(codec=None, categories=None), max_size=8),
)
scalars = st.one_of(
    texts,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(texts, scalars, max_size=2),
)
properties = st.one_of(
    st.dictionaries(texts, scalars, max_size=5),
    st.dictionaries(texts, values, max_size=3),
    values,
)
# Mostly the body's own names, now and then another (snake_case names, unknown keys).
keys = st.one_of(
    st.sampled_from(
        ["eventName", "properties", "objectId", "email", "utk", "occurredAt", "uuid"] * 4
        + ["event_name", "object_id", "other"]
    ),
)
bodies = st.dictionaries(keys, st.one_of(scalars, properties), max_size=8)
storable = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
plain_bodies = st.fixed_dictionaries(
    {"eventName": st.sampled_from(["pe1_viewed", "é"])},
    optional={
        "properties": st.dictionaries(storable, st.one_of(storable, st.integers(), st.floats())),
        "objectId": st.one_of(storable, st.none(), st.integers(0, 2**62)),
        "email": st.one_of(storable, st.none()),
        "utk": st.one_of(storable, st.none()),
        "uuid": st.one_of(storable, st.none()),
        "occurredAt": st.one_of(storable, st.none(), st.integers(0, 2**62)),
    },
)


def _same(plain: PlainSend, general: SendRequest) -> None:
    assert PlainSend._fields == tuple(SendRequest.model_fields)
    read = tuple(general.__dict__.values())
    assert plain == read
    assert [type(v) for v in plain] == [type(v) for v in read]


def _check(body: dict[str, Any], hubspot_body: bool) -> PlainSend | None:
    plain = read_plain_send(body, hubspot_body)
    general = read_send_body(body, hubspot_body)
    answer = parse_send_body(body, hubspot_body)
    if plain is None:
        assert repr(answer) == repr(general)
        return None
    assert isinstance(general, SendRequest)
    _same(plain, general)
    assert answer == plain
    if isinstance(body.get("properties"), dict):
        assert plain.properties is not body["properties"]  # the model's own copy, as pydantic's
    return plain


@settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
@given(body=bodies, hubspot_body=st.booleans())
def test_any_body_read_at_once_is_read_as_the_general_path_reads_it(
    body: dict[str, Any], hubspot_body: bool
) -> None:
    _check(body, hubspot_body)


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(body=plain_bodies, hubspot_body=st.booleans())
def test_plain_bodies_are_read_at_once(body: dict[str, Any], hubspot_body: bool) -> None:
    plain = _check(body, hubspot_body)
    assert (plain is None) == (hubspot_body and "properties" not in body)


def test_a_batch_input_as_senders_write_it_is_plain() -> None:
    body = {
        "eventName": "pe1_clicked_buy_button",
        "objectId": "51",
        "uuid": "0b5e3b3a-6a4e-4c1e-9d7b-2f1f5d1c8e11",
        "occurredAt": 1767225600000,
        "properties": {"plan": "starter", "price": 29, "ratio": 0.5, "on": True, "gone": None},
    }
    plain = _check(body, hubspot_body=True)
    assert plain is not None
    assert plain.object_id == "51" and plain.properties == body["properties"]
    assert read_plain_send({**body, "objectId": 51}) == plain
    for odd in ({"event_name": "x"}, {**body, "extra": 1}, {**body, "properties": None}):
        assert read_plain_send(odd) is None
        _check(odd, hubspot_body=False)
