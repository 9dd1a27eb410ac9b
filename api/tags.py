"""Test isolation: a test run tags what it sends (``X-Cbe-Tag`` or ``?tag=``), then lists,
waits for and deletes only its own completions (``/cbe/v1/completions``)."""

from __future__ import annotations

from fastapi import Request

from core.errors import ValidationFailed
from core.rules import check_tag as tag_violations

TAG_HEADER = "x-cbe-tag"


def check_tag(tag: str) -> str:
    """``tag``, or :class:`ValidationFailed` when it breaks core's rule for tags."""
    violations = tag_violations(tag)
    if violations:
        raise ValidationFailed(violations)
    return tag


def run_tag(request: Request) -> str | None:
    """The tag of the test run that sent this request, if it said one."""
    tag = request.headers.get(TAG_HEADER) or request.query_params.get("tag")
    return None if tag is None else check_tag(tag)
