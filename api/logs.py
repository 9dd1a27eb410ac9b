"""What ``cbe serve`` logs reaches the operator's terminal neutralised.

A log line can quote what a sender wrote: a request path (uvicorn decodes ``%1b`` to a raw
escape), an exception's message, a traceback. Every formatter of the server's logging writes
the message, its arguments and any traceback through :func:`core.text.neutralise`, so no
sender can clear the operator's screen, set its title or fill its clipboard. The colours that
uvicorn itself adds to the level name are applied after, and stay.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter, DefaultFormatter

from core.text import neutralise

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def _safe(value: object) -> object:
    return neutralise(value, keep="\n") if isinstance(value, str) else value


class _Neutralising(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)
        if isinstance(record.msg, str):
            record.msg = neutralise(record.msg, keep="\n")
        if isinstance(record.args, tuple):
            record.args = tuple(_safe(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _safe(v) for k, v in record.args.items()}
        return super().format(record)

    def formatException(self, ei: _ExcInfo) -> str:
        return neutralise(super().formatException(ei), keep="\n")

    def formatStack(self, stack_info: str) -> str:
        return neutralise(super().formatStack(stack_info), keep="\n")


class SafeFormatter(_Neutralising, DefaultFormatter):
    """uvicorn's formatter for its own and cbe's messages, neutralised."""


class SafeAccessFormatter(_Neutralising, AccessFormatter):
    """uvicorn's access-log formatter (the request line), neutralised."""


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with neutralising formatters, and cbe's own loggers
    (``cbe.*``) written the same way."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["default"]["()"] = f"{__name__}.SafeFormatter"
    config["formatters"]["access"]["()"] = f"{__name__}.SafeAccessFormatter"
    config["loggers"]["cbe"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
