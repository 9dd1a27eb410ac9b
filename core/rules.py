"""The rules of custom behavioral events, one function each, with the seed article's limits.

Each ``check_*`` function returns the violations it finds (an empty list when all is well), so
that callers can collect every problem of a request at once. The wizard calls the same functions
live as the user types; the HTTP API returns their violations in HubSpot's error shape.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence

from core.defaults import DEFAULT_PROPERTY_NAMES
from core.errors import Conflict, Rule, Violation
from core.models import EnumerationOption, PropertyType

MAX_NAME_LENGTH = 50
"""Internal names of events and properties, and property names sent with a completion."""
MAX_PROPERTY_LABEL_LENGTH = 50
MAX_EVENT_LABEL_LENGTH = 100
MAX_CUSTOM_PROPERTIES = 50
"""Custom properties per event definition (the 32 defaults come on top)."""
MAX_PROPERTIES_PER_COMPLETION = 50
MAX_VALUE_LENGTH = 256
MAX_URL_VALUE_LENGTH = 1024
"""For URL and referrer properties (see :func:`is_url_like`)."""
MAX_DEFINITIONS = 500
"""Event definitions per portal."""
MAX_BATCH_SIZE = 500

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
URL_WORDS = frozenset({"url", "href", "link", "referrer", "referer"})
"""The last word of a URL or referrer property's name (``referer`` is HTTP's spelling)."""


def check_internal_name(name: str, field: str = "name") -> list[Violation]:
    """An internal name starts with a letter, holds only a-z, 0-9 and ``_``, and is at most 50."""
    if not name:
        return [Violation(field=field, rule=Rule.REQUIRED, message="An internal name is required.")]
    found: list[Violation] = []
    if len(name) > MAX_NAME_LENGTH:
        found.append(
            Violation(
                field=field,
                rule=Rule.NAME_TOO_LONG,
                message=(
                    f"Internal name {name!r} is {len(name)} characters; "
                    f"at most {MAX_NAME_LENGTH} are allowed."
                ),
                limit=MAX_NAME_LENGTH,
                actual=len(name),
            )
        )
    if not _NAME_RE.fullmatch(name):
        found.append(
            Violation(
                field=field,
                rule=Rule.NAME_FORMAT,
                message=f"Internal name {name!r} is not allowed: {_name_format_problem(name)}.",
                limit="starts with a letter; a-z, 0-9 and _ only",
                actual=name,
            )
        )
    return found


def _name_format_problem(name: str) -> str:
    if not ("a" <= name[0] <= "z"):
        return f"it starts with {name[0]!r}, but must start with a lowercase letter a-z"
    bad = next(
        ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch == "_")) or ch.isupper()
    )
    return f"{bad!r} is not allowed; use only lowercase letters a-z, digits 0-9 and underscores"


def check_label(label: str, limit: int, field: str = "label") -> list[Violation]:
    """A label is required and at most ``limit`` characters."""
    if not label or not label.strip():
        return [Violation(field=field, rule=Rule.REQUIRED, message="A label is required.")]
    if len(label) > limit:
        return [
            Violation(
                field=field,
                rule=Rule.LABEL_TOO_LONG,
                message=f"Label is {len(label)} characters; at most {limit} are allowed.",
                limit=limit,
                actual=len(label),
            )
        ]
    return []


def generate_name(label: str, taken: Collection[str] = (), fallback: str = "event") -> str:
    """An internal name made from a label, unique among ``taken``.

    ``"Viewed Car"`` becomes ``viewed_car``; accents are dropped, anything else that is not
    a-z or 0-9 becomes one underscore. A label without letters gets ``fallback`` in front, and
    a taken name gets ``_2``, ``_3``, ... The same label and ``taken`` always give the same name.
    """
    ascii_text = (
        unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii").lower()
    )
    base = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")
    if not base or not base[0].isalpha():
        base = f"{fallback}_{base}".strip("_")
    base = base[:MAX_NAME_LENGTH].rstrip("_")
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = base[: MAX_NAME_LENGTH - len(suffix)].rstrip("_") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def fully_qualified_name(portal_id: int, name: str) -> str:
    """The name completions are sent with: ``pe{portalId}_{name}``."""
    return f"pe{portal_id}_{name}"


def internal_name_from(portal_id: int, event_name: str) -> str:
    """Accept an internal or a fully qualified name; give the internal one."""
    prefix = f"pe{portal_id}_"
    return event_name[len(prefix) :] if event_name.startswith(prefix) else event_name


def qualified_internal_name(portal_id: int, event_name: str) -> str | None:
    """The internal name inside a fully qualified name ``pe{portalId}_{name}`` of this portal;
    None for anything else (an internal name alone included), as ``eventName`` must be when
    completions are sent (HubSpot's send spec: "The event's fully qualified name")."""
    prefix = f"pe{portal_id}_"
    return event_name[len(prefix) :] if event_name.startswith(prefix) else None


def name_taken(name: str, field: str = "name") -> Violation:
    """An event definition named ``name`` exists already (what a store refuses, too)."""
    return Violation(
        field=field,
        rule=Rule.NAME_TAKEN,
        message=f"An event named {name!r} already exists.",
        actual=name,
    )


def uuid_taken(event_name: str, uuid: str) -> Violation:
    """A completion of ``event_name`` with ``uuid`` was received before: a uuid is stored once
    per event (what a store refuses, too)."""
    return Violation(
        field="uuid",
        rule=Rule.DUPLICATE_UUID,
        message=f"A completion of {event_name} with uuid {uuid!r} was already received; "
        "the first is kept.",
        actual=uuid,
    )


def uuids_taken(keys: Collection[tuple[str, str]]) -> Conflict:
    """The error a store raises for completions whose ``(event_name, uuid)`` is taken."""
    return Conflict(
        "Completions with these uuids were already received.",
        [uuid_taken(event, uuid) for event, uuid in sorted(keys)],
    )


def check_name_available(
    name: str, existing: Collection[str], deleted: Collection[str], field: str = "name"
) -> list[Violation]:
    """A definition name is unique, and a deleted definition's name is never used again."""
    if name in existing:
        return [name_taken(name, field)]
    if name in deleted:
        return [
            Violation(
                field=field,
                rule=Rule.NAME_DELETED,
                message=(
                    f"{name!r} belonged to a deleted event; deleted names are never used again."
                ),
                actual=name,
            )
        ]
    return []


def check_definition_count(count_after: int) -> list[Violation]:
    """A portal holds at most 500 event definitions."""
    if count_after > MAX_DEFINITIONS:
        return [
            Violation(
                field="",
                rule=Rule.TOO_MANY_DEFINITIONS,
                message=f"A portal can hold at most {MAX_DEFINITIONS} event definitions.",
                limit=MAX_DEFINITIONS,
                actual=count_after,
            )
        ]
    return []


def check_custom_property_count(count: int, field: str = "propertyDefinitions") -> list[Violation]:
    """An event has at most 50 custom properties."""
    if count > MAX_CUSTOM_PROPERTIES:
        return [
            Violation(
                field=field,
                rule=Rule.TOO_MANY_CUSTOM_PROPERTIES,
                message=(
                    f"An event can have at most {MAX_CUSTOM_PROPERTIES} custom properties; "
                    f"this one would have {count}."
                ),
                limit=MAX_CUSTOM_PROPERTIES,
                actual=count,
            )
        ]
    return []


def check_property_names_unique(
    names: Sequence[str | None], field: str = "propertyDefinitions"
) -> list[Violation]:
    """Custom property names are unique (after lowercasing) and never a default's ``hs_*`` name.

    A ``None`` stands for a property that has no name yet (it broke another rule); it is skipped,
    so that the fields reported keep the positions of the request.
    """
    found: list[Violation] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name is None:
            continue
        key = name.lower()
        if key in DEFAULT_PROPERTY_NAMES:
            found.append(
                Violation(
                    field=f"{field}[{i}].name",
                    rule=Rule.RESERVED_PROPERTY_NAME,
                    message=f"{name!r} is a HubSpot default property; choose another name.",
                    actual=name,
                )
            )
        elif key in seen:
            found.append(
                Violation(
                    field=f"{field}[{i}].name",
                    rule=Rule.DUPLICATE_PROPERTY_NAME,
                    message=f"The event already has a property named {name!r}.",
                    actual=name,
                )
            )
        seen.add(key)
    return found


def check_options(
    type_: PropertyType, options: Sequence[EnumerationOption], field: str = "options"
) -> list[Violation]:
    """An enumeration has at least one option, each with a label and a value, values unique;
    other types have no options."""
    if type_ is not PropertyType.ENUMERATION:
        if options:
            return [
                Violation(
                    field=field,
                    rule=Rule.OPTIONS_NOT_ALLOWED,
                    message=f"Only enumerations have options; this property is a {type_.value}.",
                )
            ]
        return []
    if not options:
        return [
            Violation(
                field=field,
                rule=Rule.OPTIONS_REQUIRED,
                message="An enumeration needs at least one option.",
                limit=1,
                actual=0,
            )
        ]
    found: list[Violation] = []
    seen: set[str] = set()
    for i, option in enumerate(options):
        for part in ("label", "value"):
            if not getattr(option, part).strip():
                found.append(
                    Violation(
                        field=f"{field}[{i}].{part}",
                        rule=Rule.EMPTY_OPTION,
                        message=f"Option {i + 1} needs a {part}.",
                    )
                )
        if ";" in option.value:
            found.append(
                Violation(
                    field=f"{field}[{i}].value",
                    rule=Rule.INVALID_VALUE,
                    message=(
                        f"Option value {option.value!r} contains ';', which separates "
                        "several values when data is sent."
                    ),
                    actual=option.value,
                )
            )
        if option.value in seen:
            found.append(
                Violation(
                    field=f"{field}[{i}].value",
                    rule=Rule.DUPLICATE_OPTION_VALUE,
                    message=f"Two options have the value {option.value!r}; values must be unique.",
                    actual=option.value,
                )
            )
        seen.add(option.value)
    return found


def is_url_like(property_name: str) -> bool:
    """A URL or referrer property, which may hold up to 1,024 characters (the seed article:
    "URL- en referrereigenschappen"): the last ``_``-separated word of its name, in any case,
    is ``url``, ``href``, ``link``, ``referrer`` or ``referer``.

    So ``hs_page_url``, ``hs_referrer``, ``hs_link_href``, ``listing_url``, ``download_link``
    and ``url`` are; ``surly_mood``, ``blinker``, ``purl``, ``url_count`` and ``referrer_type``
    are not (a word inside another word, or a name about a URL rather than one holding it).
    The wizard's examples, ingestion's limits and codegen's placeholders all ask this.
    """
    return property_name.rpartition("_")[2].lower() in URL_WORDS


@functools.lru_cache(maxsize=4096)
def max_value_length(property_name: str) -> int:
    """1024 characters for URL and referrer properties (:func:`is_url_like`); 256 for others."""
    return MAX_URL_VALUE_LENGTH if is_url_like(property_name) else MAX_VALUE_LENGTH


def check_value_length(property_name: str, text: str, field: str) -> list[Violation]:
    """A value is at most 256 characters, or 1024 for URL and referrer properties."""
    limit = max_value_length(property_name)
    if len(text) > limit:
        return [
            Violation(
                field=field,
                rule=Rule.VALUE_TOO_LONG,
                message=(
                    f"Value of {property_name!r} is {len(text)} characters; "
                    f"at most {limit} are allowed."
                ),
                limit=limit,
                actual=len(text),
            )
        ]
    return []


def check_property_name_length(property_name: str, field: str) -> list[Violation]:
    """A property name sent with a completion is at most 50 characters."""
    if len(property_name) > MAX_NAME_LENGTH:
        return [
            Violation(
                field=field,
                rule=Rule.PROPERTY_NAME_TOO_LONG,
                message=(
                    f"Property name {property_name[:20]!r}... is {len(property_name)} characters; "
                    f"at most {MAX_NAME_LENGTH} are allowed."
                ),
                limit=MAX_NAME_LENGTH,
                actual=len(property_name),
            )
        ]
    return []


def check_property_count(count: int, field: str = "properties") -> list[Violation]:
    """A completion carries at most 50 properties."""
    if count > MAX_PROPERTIES_PER_COMPLETION:
        return [
            Violation(
                field=field,
                rule=Rule.TOO_MANY_PROPERTIES,
                message=(
                    f"A completion can carry at most {MAX_PROPERTIES_PER_COMPLETION} properties; "
                    f"this one has {count}."
                ),
                limit=MAX_PROPERTIES_PER_COMPLETION,
                actual=count,
            )
        ]
    return []


def check_batch_size(count: int, field: str = "inputs") -> list[Violation]:
    """A batch holds 1 to 500 inputs."""
    if count == 0:
        return [
            Violation(
                field=field, rule=Rule.BATCH_EMPTY, message="A batch needs at least one input."
            )
        ]
    if count > MAX_BATCH_SIZE:
        return [
            Violation(
                field=field,
                rule=Rule.BATCH_TOO_LARGE,
                message=f"A batch holds at most {MAX_BATCH_SIZE} inputs; this one has {count}.",
                limit=MAX_BATCH_SIZE,
                actual=count,
            )
        ]
    return []


def resolve_case_duplicates(names: Collection[str]) -> tuple[dict[str, str], list[str]]:
    """Names equal after lowercasing are one property; keep one, deterministically.

    As HubSpot does: sort the variants ascending and keep the last. Returns the kept name for
    each lowercased key (in the order keys first appear) and the names that were set aside.
    """
    lowered = {name.lower(): name for name in names}
    if len(lowered) == len(names):  # the usual case: no two names collide
        return lowered, []
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.lower(), []).append(name)
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for key, variants in groups.items():
        ordered = sorted(variants)
        kept[key] = ordered[-1]
        dropped.extend(ordered[:-1])
    return kept, dropped


_TAG = re.compile(r"[A-Za-z0-9._:/@+-]{1,100}")


def check_tag(tag: str, field: str = "tag") -> list[Violation]:
    """A test run's tag (``X-Cbe-Tag``) is 1 to 100 letters, digits and ``. _ : / @ + -``."""
    if _TAG.fullmatch(tag):
        return []
    return [
        Violation(
            field=field,
            rule=Rule.INVALID_VALUE,
            message="A tag is 1 to 100 letters, digits and . _ : / @ + -",
            actual=tag[:100],
        )
    ]


_SURROGATE = re.compile("[\ud800-\udfff]")
_SEND_TEXT_FIELDS = ("eventName", "objectId", "email", "utk", "uuid", "occurredAt")


def _lone_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def storable(text: str) -> bool:
    """Whether :func:`check_text` finds nothing wrong with ``text`` (no NUL, no lone
    surrogate), without making its answer."""
    return "\x00" not in text and not _lone_surrogate(text)


def check_text(text: str, field: str) -> list[Violation]:
    """Text is Unicode that can be stored and shown: no lone surrogate (``"\\ud800"`` in JSON,
    which JSON readers accept but no UTF-8 file or terminal can hold) and no NUL (``"\\u0000"``,
    which PostgreSQL's text cannot hold: every store refuses it alike)."""
    found: list[Violation] = []
    if "\x00" in text:
        found.append(
            Violation(
                field=field,
                rule=Rule.INVALID_VALUE,
                message=f"{field} holds a NUL character (\\u0000), which cannot be stored; "
                "send text without it.",
            )
        )
    if not text.isascii() and _lone_surrogate(text):
        found.append(
            Violation(
                field=field,
                rule=Rule.INVALID_VALUE,
                message=(
                    f"{field} holds a lone surrogate (a \\uD800-\\uDFFF escape without its "
                    "pair), which is not a character; send valid Unicode."
                ),
            )
        )
    return found


def check_send_text(body: object, prefix: str = "") -> list[Violation]:
    """Every text of a send body (its fields, property names and values, nested ones too)
    passes :func:`check_text`."""
    # dict first, here and below: every input of a batch comes here, and the Mapping ABC's
    # check alone costs twice both (a dict is found first)
    if not isinstance(body, (dict, Mapping)):
        return []
    found: list[Violation] = []
    for name in _SEND_TEXT_FIELDS:
        value = body.get(name)
        if type(value) is str:
            found.extend(check_text(value, prefix + name))
    properties = body.get("properties")
    if isinstance(properties, (dict, Mapping)):
        for key, value in properties.items():
            plain_key = key.isascii() and "\x00" not in key
            if type(value) is str:
                if plain_key and value.isascii() and "\x00" not in value:
                    continue
            elif plain_key and (value is None or type(value) in (int, float, bool)):
                continue
            where = f"{prefix}properties.{key}"
            if bad_key := check_text(key, f"{prefix}properties"):
                found.extend(bad_key)
                where = f"{prefix}properties.<name>"
            found.extend(_nested_text(value, where))
    return found


def _nested_text(value: object, field: str, depth: int = 0) -> list[Violation]:
    if isinstance(value, str):
        return check_text(value, field)
    if depth > 20:
        return []
    if isinstance(value, list):
        return [v for item in value for v in _nested_text(item, field, depth + 1)]
    if isinstance(value, dict):
        return [
            v
            for key, item in value.items()
            for v in [*_nested_text(key, field, depth + 1), *_nested_text(item, field, depth + 1)]
        ]
    return []


def check_text_tree(value: object, field: str) -> list[Violation]:
    """Every text in ``value`` (a mapping's keys and values, a list's items, nested) passes
    :func:`check_text`, each named by its path under ``field``: a definition, a record's
    properties. What cannot be stored is refused with a 400, never failed as a write."""
    if isinstance(value, str):
        return check_text(value, field)
    found: list[Violation] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{field}.{key}" if field else str(key)
            if isinstance(key, str) and (bad_key := check_text(key, field or "name")):
                found.extend(bad_key)
                where = f"{field}.<name>" if field else "<name>"
            found.extend(check_text_tree(item, where))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(check_text_tree(item, f"{field}[{index}]"))
    return found
