"""What cbe serve logs quotes senders (paths, exception messages): the operator's terminal must
never receive their escape sequences."""

from __future__ import annotations

import io
import logging
import logging.config

from api.logs import SafeAccessFormatter, SafeFormatter, log_config

HOSTILE = "/\x1b]0;pwned\x07\x1b[2J\x9b\u202e"


def _raised() -> BaseException:
    try:
        raise ValueError(f"bad value {HOSTILE}")
    except ValueError as error:
        return error


def test_a_logged_request_path_and_traceback_are_neutralised() -> None:
    error = _raised()
    record = logging.LogRecord(
        "cbe.api",
        logging.ERROR,
        __file__,
        1,
        "%s %s failed",
        ("GET", HOSTILE),
        (type(error), error, error.__traceback__),
    )
    text = SafeFormatter(fmt="%(levelprefix)s %(message)s", use_colors=False).format(record)
    assert "GET /\\x1b]0;pwned\\x07\\x1b[2J\\x9b\\u202e failed" in text
    assert "ValueError: bad value /\\x1b]0;pwned" in text  # the traceback too
    assert not any(c in text for c in "\x1b\x07\x9b\u202e")
    assert record.args == ("GET", HOSTILE)  # the record itself is left for other handlers


def test_the_access_log_request_line_is_neutralised() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", HOSTILE, "1.1", 404),
        None,
    )
    formatter = SafeAccessFormatter(
        fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
    )
    text = formatter.format(record)
    assert text == (
        '127.0.0.1:5000 - "GET /\\x1b]0;pwned\\x07\\x1b[2J\\x9b\\u202e HTTP/1.1" 404 Not Found'
    )


def test_the_servers_logging_writes_cbe_messages_neutralised() -> None:
    config = log_config()
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream
    previous = logging.getLogger("cbe").handlers[:]
    logging.config.dictConfig(config)
    try:
        logging.getLogger("cbe.api").error("%s %s failed", "POST", HOSTILE)
    finally:
        cbe = logging.getLogger("cbe")
        cbe.handlers[:] = previous
        cbe.propagate = True
    written = stream.getvalue()
    assert "POST /\\x1b]0;pwned" in written
    assert "\x1b" not in written
