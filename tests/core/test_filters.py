"""Every filter operator, by property type, on real completions (usable values only)."""

from __future__ import annotations

import pytest

from core.filters import OPERATORS, Operator, PropertyFilter, check_filter, matches
from core.models import CrmRecord, EventDefinition, PropertyType
from core.services import Services
from tests.sending import send_one

CASES = [
    # property, operator, values, sent value, expected
    ("make", Operator.IS_EQUAL_TO, ["ford", "kia"], "Ford", True),
    ("make", Operator.IS_EQUAL_TO, ["kia"], "Ford", False),
    ("make", Operator.IS_NOT_EQUAL_TO, ["kia"], "Ford", True),
    ("make", Operator.IS_NOT_EQUAL_TO, ["ford"], "Ford", False),
    ("make", Operator.CONTAINS, ["or"], "Ford", True),
    ("make", Operator.DOES_NOT_CONTAIN, ["or"], "Ford", False),
    ("make", Operator.STARTS_WITH, ["fo"], "Ford", True),
    ("make", Operator.ENDS_WITH, ["rd"], "Ford", True),
    ("make", Operator.ENDS_WITH, ["fo"], "Ford", False),
    ("year", Operator.IS_EQUAL_TO, ["2020"], 2020, True),
    ("year", Operator.IS_NOT_EQUAL_TO, ["2020"], 2020, False),
    ("year", Operator.IS_GREATER_THAN, ["2020"], 2020, False),
    ("year", Operator.IS_GREATER_THAN_OR_EQUAL_TO, ["2020"], 2020, True),
    ("year", Operator.IS_LESS_THAN, ["2021"], 2020, True),
    ("year", Operator.IS_LESS_THAN_OR_EQUAL_TO, ["2019"], 2020, False),
    ("year", Operator.IS_BETWEEN, ["2020", "2010"], 2020, True),
    ("year", Operator.IS_NOT_BETWEEN, ["2010", "2020"], 2020, False),
    ("condition", Operator.IS_ANY_OF, ["used"], "new;used", True),
    ("condition", Operator.IS_NONE_OF, ["used"], "new", True),
    ("condition", Operator.IS_NONE_OF, ["used"], "used", False),
    ("condition", Operator.CONTAINS_ALL, ["new", "used"], "new;used", True),
    ("condition", Operator.CONTAINS_ALL, ["new", "used"], "new", False),
    ("condition", Operator.IS_ANY_OF, ["new"], "NEW", False),  # values are exact codes
    ("condition", Operator.IS_KNOWN, [], "bogus", False),  # an unusable value is not known
    ("listed_at", Operator.IS_BEFORE, ["2026-06-01"], "2026-05-31T23:59:59Z", True),
    ("listed_at", Operator.IS_AFTER, ["2026-06-01"], "2026-05-31T23:59:59Z", False),
    ("listed_at", Operator.IS_BETWEEN, ["2026-01-01", "2026-12-31"], 1780000000000, True),
    ("make", Operator.IS_UNKNOWN, [], None, True),
    ("make", Operator.IS_NOT_EQUAL_TO, ["kia"], None, False),  # no value: negations fail too
]


@pytest.mark.parametrize(
    ("name", "operator", "values", "sent", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1].value}-{c[4]}" for c in CASES],
)
def test_operator(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    name: str,
    operator: Operator,
    values: list[str],
    sent: object,
    expected: bool,
) -> None:
    props = {} if sent is None else {name: sent}
    completion = send_one(
        services.ingestion,
        {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id, "properties": props},
    )
    assert completion is not None
    prop = viewed_car.custom_property(name)
    f = PropertyFilter(property=name, operator=operator, values=values)
    assert check_filter(f, prop) == []
    assert matches(completion, prop, f) is expected


@pytest.mark.parametrize(
    ("prop_type", "operator", "values", "message"),
    [
        (PropertyType.NUMBER, Operator.CONTAINS, ["1"], "does not apply to a number property"),
        (PropertyType.NUMBER, Operator.IS_BETWEEN, ["1"], "needs two values"),
        (PropertyType.NUMBER, Operator.IS_GREATER_THAN, ["x"], "'x' is not a number"),
        (PropertyType.STRING, Operator.IS_EQUAL_TO, [], "needs at least one value"),
        (PropertyType.STRING, Operator.IS_KNOWN, ["x"], "needs no value"),
        (PropertyType.DATETIME, Operator.IS_BEFORE, ["soon"], "'soon' is not a date"),
        (PropertyType.ENUMERATION, Operator.IS_ANY_OF, ["demo"], "'demo' is not an option"),
    ],
)
def test_check_filter_explains(
    viewed_car: EventDefinition,
    prop_type: PropertyType,
    operator: Operator,
    values: list[str],
    message: str,
) -> None:
    prop = next(p for p in viewed_car.properties if p.type is prop_type)
    (violation,) = check_filter(
        PropertyFilter(property=prop.name, operator=operator, values=values), prop
    )
    assert message in violation.message


def test_every_type_offers_known_and_unknown() -> None:
    for operators in OPERATORS.values():
        assert Operator.IS_KNOWN in operators and Operator.IS_UNKNOWN in operators


def test_describe_uses_option_labels(viewed_car: EventDefinition) -> None:
    prop = viewed_car.custom_property("condition")
    f = PropertyFilter(property="condition", operator=Operator.IS_ANY_OF, values=["new", "used"])
    assert f.describe(prop) == "Condition is any of New, Used"
    between = PropertyFilter(property="year", operator=Operator.IS_BETWEEN, values=["1", "2"])
    assert between.describe(viewed_car.custom_property("year")) == "Year is between 1 and 2"
