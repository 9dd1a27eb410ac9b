"""Opaque offset cursors for lists that HubSpot pages with ``after``."""

from __future__ import annotations

import base64
import binascii

from core.errors import Rule, ValidationFailed, Violation


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def decode_offset(after: str | None) -> int:
    if not after:
        return 0
    try:
        text = base64.urlsafe_b64decode((after + "=" * (-len(after) % 4)).encode()).decode()
        offset = int(text)
        if offset < 0:
            raise ValueError(text)
        return offset
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise ValidationFailed(
            [
                Violation(
                    field="after",
                    rule=Rule.INVALID_VALUE,
                    message=f"{after!r} is not a paging cursor from a previous page.",
                    actual=after,
                )
            ]
        ) from error


def next_link(base: str, after: str) -> str:
    return cursor_link(base, "after", after)


def cursor_link(base: str, name: str, cursor: str) -> str:
    """``base`` (a URL without its cursor) with ``name=cursor`` added."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{name}={cursor}"
