"""What cbe prints, and how its errors become one line.

Everything cbe prints passes ``echo``, ``echo_data`` or ``error`` (CSV cells are neutralised one by
one in ``cli.reports``): what a sender wrote (a value, an email, a field path) must never reach the
terminal as a command. Errors a person can act on are printed as one line (``Error: ...``) with
exit status 1, never a traceback; set ``CBE_DEBUG=1`` to see the traceback of an unexpected failure.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from core.errors import CbeError, ValidationFailed, Violation
from core.text import neutralise, neutralise_json

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def echo(text: str, err: bool = False, nl: bool = True, **style: Any) -> None:
    """A line (or lines) for a person: control characters as visible escapes, then styled."""
    safe = neutralise(text, keep="\n")
    click.echo(click.style(safe, **style) if style else safe, err=err, nl=nl)


def echo_data(text: str, nl: bool = True) -> None:
    """JSON (or code) for a program: exact data, yet nothing a terminal obeys.

    ``json.dumps`` with its default ``ensure_ascii`` writes every control, C1 and bidirectional
    character as ``\\uXXXX`` already; text written with ``ensure_ascii=False`` (a plan) gets
    the same escapes for those characters only, so it still parses to the very same values.
    """
    click.echo(neutralise_json(text), nl=nl)


def error(message: str) -> click.ClickException:
    """An error line; cbe's errors quote what a sender wrote (a field path, a value)."""
    return click.ClickException(neutralise(message, keep="\n"))


def report_lines(where: str, violations: Sequence[Violation]) -> list[str]:
    """One line per violation, after ``where`` (a file line, a request) when there is one."""
    at = f"{where}: " if where else ""
    return [f"{at}{v.field + ': ' if v.field else ''}{v.message} [{v.rule}]" for v in violations]


def write_or_echo(text: str, output: Path | None, done: str, err: bool = False) -> None:
    """``text`` to ``output``, saying ``done``; to stdout when there is no file."""
    if output is None:
        echo_data(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")  # a file keeps every character as it is
        echo(done, err=err)


def friendly_errors(command: F) -> F:
    """Turn cbe's errors (and file errors) into one clear line."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException as failure:  # its message may quote what a sender wrote
            if neutralise(failure.message, keep="\n") is failure.message:
                raise
            raise error(failure.message) from failure
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # the reader stopped listening (| head): not an error; keep Python from complaining
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return None
        except ValidationFailed as failure:
            raise error("; ".join(str(v) for v in failure.violations) or str(failure)) from failure
        except CbeError as failure:
            raise error(str(failure)) from failure
        except OSError as failure:
            where = f" ({failure.filename})" if failure.filename else ""
            raise error(f"{failure.strerror or failure}{where}") from failure
        except Exception as failure:
            if os.environ.get("CBE_DEBUG"):
                raise
            raise error(
                f"unexpected {type(failure).__name__}: {failure} (set CBE_DEBUG=1 for details)"
            ) from failure

    return wrapper  # type: ignore[return-value]
