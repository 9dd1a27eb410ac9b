"""HubSpot's definitions API over HTTP: the adapter for :class:`core.remote.RemotePortal`.

Standard library only (urllib): one request at a time, a Bearer token that never appears in a
message, and a 429 waited out as the remote says (``Retry-After``, else HubSpot's
``X-HubSpot-RateLimit-*`` headers, else a doubling pause), each wait capped.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

from core.remote import JSON, RemoteError, RemoteRefused, RemoteUnreachable, Waiting

DEFINITIONS = "/events/v3/event-definitions"
SEND = "/events/v3/send"
MAX_WAIT = 60.0
"""The longest one wait for a rate limit; a remote asking for more is an error (HubSpot's daily
limit resets at midnight: nothing to wait out in a command)."""
ATTEMPTS = 6
"""Tries of one request while the remote answers 429."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: following it would carry the token to wherever the
    remote points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def rate_limit_wait(headers: Mapping[str, str], attempt: int, now: float | None = None) -> float:
    """Seconds to wait after a 429, from its headers; ``attempt`` counts earlier 429s (0 first).

    ``Retry-After`` (seconds or an HTTP date) wins; else HubSpot's headers: the secondly window
    used up waits a second, the interval's used up waits its length; else 1, 2, 4, ... seconds.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    retry_after = lower.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = parsedate_to_datetime(retry_after).timestamp()
            except (TypeError, ValueError):
                pass
            else:
                return max(0.0, when - (time.time() if now is None else now))
    if lower.get("x-hubspot-ratelimit-secondly-remaining") == "0":
        return 1.0
    interval = lower.get("x-hubspot-ratelimit-interval-milliseconds")
    if lower.get("x-hubspot-ratelimit-remaining") == "0" and interval and interval.isdigit():
        return int(interval) / 1000
    return float(2**attempt)


class HubSpotRemote:
    """One remote portal's definitions API. ``sleep`` and ``on_wait`` are injectable: tests
    wait without waiting, the CLI says what it waits for."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Waiting | None = None,
        max_wait: float = MAX_WAIT,
        attempts: int = ATTEMPTS,
        timeout: float = 30.0,
        page_size: int = 100,
        unanswered: str = "whether it was made, the next diff shows.",
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.username or parsed.password or parsed.query or parsed.fragment:
            # said without the URL: what is in it may be a secret
            raise RemoteError(
                "A remote is a base URL such as https://api.hubapi.com, without credentials or a "
                "query; the token goes in --token or $HUBSPOT_ACCESS_TOKEN."
            )
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RemoteError(
                f"A remote is an http(s) URL such as https://api.hubapi.com, not {url!r}."
            )
        self.url = url.rstrip("/")
        self._token = token
        self._sleep = sleep
        self._on_wait = on_wait
        self._max_wait = max_wait
        self._attempts = attempts
        self._timeout = timeout
        self._page_size = page_size
        self._unanswered = unanswered
        """What a request left without an answer means, said after the reason."""

    def __repr__(self) -> str:  # never the token
        return f"HubSpotRemote({self.url!r})"

    # -- the port --------------------------------------------------------------------------------

    def definitions_page(self, after: str | None) -> JSON:
        query: dict[str, str] = {"limit": str(self._page_size), "includeProperties": "true"}
        if after:
            query["after"] = after
        return self._json("GET", f"{DEFINITIONS}?{urllib.parse.urlencode(query)}")

    def create_definition(self, body: JSON) -> JSON:
        return self._json("POST", DEFINITIONS, body)

    def update_definition(self, name: str, body: JSON) -> JSON:
        return self._json("PATCH", _path(name), body)

    def delete_definition(self, name: str) -> None:
        self._request("DELETE", _path(name))

    def create_property(self, name: str, body: JSON) -> JSON:
        return self._json("POST", f"{_path(name)}/property", body)

    def update_property(self, name: str, prop: str, body: JSON) -> JSON:
        return self._json("PATCH", f"{_path(name)}/property/{_quote(prop)}", body)

    def delete_property(self, name: str, prop: str) -> None:
        self._request("DELETE", f"{_path(name)}/property/{_quote(prop)}")

    # -- the send API (core.forwarding.RemoteSender) ---------------------------------------------

    def send_batch(self, inputs: Sequence[JSON]) -> None:
        self._request("POST", f"{SEND}/batch", {"inputs": list(inputs)})

    def send_one(self, body: JSON) -> None:
        self._request("POST", SEND, body)

    # -- HTTP ------------------------------------------------------------------------------------

    def _json(self, method: str, path: str, body: JSON | None = None) -> JSON:
        raw = self._request(method, path, body)
        try:
            answer = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise RemoteError(f"{method} {self.url}{_bare(path)} answered no JSON.") from None
        if not isinstance(answer, dict):
            raise RemoteError(f"{method} {self.url}{_bare(path)} answered no JSON object.")
        return answer

    def _request(self, method: str, path: str, body: JSON | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        where = f"{method} {self.url}{_bare(path)}"
        for attempt in range(self._attempts):
            request = urllib.request.Request(
                self.url + path,
                data=data,
                method=method,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "User-Agent": "cbe",
                },
            )
            try:
                with _OPENER.open(request, timeout=self._timeout) as response:
                    content: bytes = response.read()
                    return content
            except urllib.error.HTTPError as answer:
                content = answer.read()
                if answer.code != 429:
                    raise _refused(where, answer.code, content) from None
                wait = rate_limit_wait(dict(answer.headers.items()), attempt)
                if wait > self._max_wait:
                    raise RemoteRefused(
                        f"{where}: rate limited; the remote asks to wait {wait:.0f} s, more than "
                        f"cbe waits ({self._max_wait:.0f} s). Try again later.",
                        429,
                        "RATE_LIMITS",
                    ) from None
                if attempt + 1 < self._attempts:
                    if self._on_wait is not None:
                        self._on_wait(wait, f"{where} was rate limited (429)")
                    self._sleep(wait)
            except (TimeoutError, urllib.error.URLError, OSError) as failure:
                reason = getattr(failure, "reason", None) or failure
                raise RemoteUnreachable(
                    f"{where}: no answer ({reason}); {self._unanswered}"
                ) from None
        raise RemoteRefused(
            f"{where}: still rate limited (429) after {self._attempts} tries.", 429, "RATE_LIMITS"
        )


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _path(name: str) -> str:
    return f"{DEFINITIONS}/{_quote(name)}"


def _bare(path: str) -> str:
    return path.split("?", 1)[0]


def _refused(where: str, status: int, content: bytes) -> RemoteRefused:
    """A remote's error answer in one line: its status, HubSpot's message and category."""
    message, category = "", ""
    try:
        body: Any = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        category = str(body.get("category") or "")
    if not message:
        message = content.decode("utf-8", "replace").strip()[:200] or "no details"
    label = f"{status} {category}".strip()
    return RemoteRefused(f"{where}: the remote refused it ({label}): {message}", status, category)
