"""Rule codes, violations and the errors use cases raise.

A violation says which field broke which rule, the limit and the value found, and carries a
sentence a person can act on. The TUI shows the sentence; the HTTP API returns all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Rule(StrEnum):
    """Every rule cbe enforces, by a stable code."""

    # request bodies
    INVALID_JSON = "INVALID_JSON"
    # names and labels
    REQUIRED = "REQUIRED"
    INVALID_TYPE = "INVALID_TYPE"
    NAME_FORMAT = "NAME_FORMAT"
    NAME_TOO_LONG = "NAME_TOO_LONG"
    LABEL_TOO_LONG = "LABEL_TOO_LONG"
    NAME_TAKEN = "NAME_TAKEN"
    NAME_DELETED = "NAME_DELETED"
    IMMUTABLE = "IMMUTABLE"
    BREAKING_CHANGE = "BREAKING_CHANGE"
    # definitions
    TOO_MANY_DEFINITIONS = "TOO_MANY_DEFINITIONS"
    TOO_MANY_CUSTOM_PROPERTIES = "TOO_MANY_CUSTOM_PROPERTIES"
    DUPLICATE_PROPERTY_NAME = "DUPLICATE_PROPERTY_NAME"
    RESERVED_PROPERTY_NAME = "RESERVED_PROPERTY_NAME"
    OPTIONS_REQUIRED = "OPTIONS_REQUIRED"
    OPTIONS_NOT_ALLOWED = "OPTIONS_NOT_ALLOWED"
    DUPLICATE_OPTION_VALUE = "DUPLICATE_OPTION_VALUE"
    EMPTY_OPTION = "EMPTY_OPTION"
    # completions
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    EVENT_ARCHIVED = "EVENT_ARCHIVED"
    PROPERTY_NAME_TOO_LONG = "PROPERTY_NAME_TOO_LONG"
    UNKNOWN_PROPERTY = "UNKNOWN_PROPERTY"
    DUPLICATE_AFTER_LOWERCASE = "DUPLICATE_AFTER_LOWERCASE"
    TOO_MANY_PROPERTIES = "TOO_MANY_PROPERTIES"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_DATETIME = "INVALID_DATETIME"
    INVALID_VALUE = "INVALID_VALUE"
    UNUSABLE_OPTION = "UNUSABLE_OPTION"
    MISSING_IDENTITY = "MISSING_IDENTITY"
    UNKNOWN_OBJECT = "UNKNOWN_OBJECT"
    UNKNOWN_EMAIL = "UNKNOWN_EMAIL"
    UNKNOWN_UTK = "UNKNOWN_UTK"
    IDENTITY_NOT_FOR_OBJECT = "IDENTITY_NOT_FOR_OBJECT"
    DUPLICATE_UUID = "DUPLICATE_UUID"
    INVALID_OCCURRED_AT = "INVALID_OCCURRED_AT"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    BATCH_EMPTY = "BATCH_EMPTY"
    # reading completions
    UNKNOWN_PARAMETER = "UNKNOWN_PARAMETER"
    # records
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    INVALID_EMAIL = "INVALID_EMAIL"
    UTK_IN_USE = "UTK_IN_USE"


class Violation(BaseModel):
    """One broken rule: where, which, the limit, the value found, and what to do."""

    model_config = ConfigDict(frozen=True)

    field: str
    rule: Rule
    message: str
    limit: Any = None
    actual: Any = None

    def prefixed(self, prefix: str) -> Violation:
        """The same violation with its field placed under ``prefix`` (e.g. ``inputs[3]``)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return self.model_copy(update={"field": field})

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class CbeError(Exception):
    """Base of the errors use cases raise; the message is fit to show a person."""


class WritesRefused(CbeError):
    """The database takes no writes now: a read-only copy, or damage found in it (until
    ``cbe doctor`` has run). Reads go on."""


class ValidationFailed(CbeError):
    """A request broke one or more rules; nothing of it was stored."""

    def __init__(self, violations: Sequence[Violation], reference: str | None = None) -> None:
        self.violations: tuple[Violation, ...] = tuple(violations)
        self.reference = reference
        """The id the quarantine keeps the refused request under, when it kept it: the API
        answers it as ``correlationId``, and ``cbe trace`` finds the request by it."""
        count = len(self.violations)
        head = str(self.violations[0]) if self.violations else "invalid input"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(head + more)


class NotFound(CbeError):
    """The thing asked for does not exist."""


class Conflict(CbeError):
    """The change collides with what is stored (a taken name, a duplicate uuid, ...)."""

    def __init__(self, message: str, violations: Iterable[Violation] = ()) -> None:
        super().__init__(message)
        self.violations: tuple[Violation, ...] = tuple(violations)


class StorageUnavailable(CbeError):
    """The database could not write what a request asked (a disk error): nothing of the request
    was stored, and the database is as it was before it. Sending again may succeed."""

    def __init__(self, message: str, folder: str = "") -> None:
        super().__init__(message)
        self.folder = folder


class StorageFull(StorageUnavailable):
    """The disk (or the user's quota) holding the database is full: nothing of the request was
    stored. Writes resume once space is freed."""


def fail_if(violations: Sequence[Violation]) -> None:
    """Raise :class:`ValidationFailed` when there is anything to report."""
    if violations:
        raise ValidationFailed(violations)


def violations_from_pydantic(error: Any, prefix: str = "") -> list[Violation]:
    """Turn a pydantic ``ValidationError`` about a request body into violations."""
    found: list[Violation] = []
    for detail in error.errors():
        loc = ".".join(str(part) for part in detail["loc"])
        if prefix:
            loc = f"{prefix}.{loc}" if loc else prefix
        if detail["type"] == "missing":
            found.append(Violation(field=loc, rule=Rule.REQUIRED, message=f"{loc} is required."))
        else:
            message = str(detail["msg"])
            found.append(
                Violation(
                    field=loc,
                    rule=Rule.INVALID_TYPE,
                    message=f"{loc}: {message[0].lower()}{message[1:]}." if loc else message,
                    actual=_short(detail.get("input")),
                )
            )
    return found


def _short(value: object) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return type(value).__name__
