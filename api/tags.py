"""Test isolation: a test run tags what it sends (``X-Cbe-Tag`` or ``?tag=``), then lists,
waits for and deletes only its own completions (``/cbe/v1/completions``)."""

from __future__ import annotations

import re

from fastapi import Request

from core.errors import Rule, ValidationFailed, Violation

TAG_HEADER = "x-cbe-tag"
_TAG = re.compile(r"[A-Za-z0-9._:/@+-]{1,100}")


def check_tag(tag: str) -> str:
    """A tag is 1 to 100 letters, digits and ``. _ : / @ + -``."""
    if not _TAG.fullmatch(tag):
        raise ValidationFailed(
            [
                Violation(
                    field="tag",
                    rule=Rule.INVALID_VALUE,
                    message="A tag is 1 to 100 letters, digits and . _ : / @ + -",
                    actual=tag[:100],
                )
            ]
        )
    return tag


def run_tag(request: Request) -> str | None:
    """The tag of the test run that sent this request, if it said one."""
    tag = request.headers.get(TAG_HEADER) or request.query_params.get("tag")
    return None if tag is None else check_tag(tag)
