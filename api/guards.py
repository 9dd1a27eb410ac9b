"""Who may talk to the server: which web pages may write to the collector (origins) and which
names the server answers to (hosts).

One :class:`OriginPolicy` decides both what CORS lets a page read and what the collector lets a
page write, so the two cannot disagree. :class:`HostPolicy` refuses requests whose ``Host`` is a
name the server does not serve, so a page that re-points its own DNS name at this machine (DNS
rebinding) cannot read ``/tracking.js`` or the collector's answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response

LOCAL_ORIGIN = re.compile(r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?")
"""Pages the collector takes completions from when no ``--allow-origin`` is given."""

LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class OriginPolicy:
    """The web origins whose pages may send to the collector (and read its answers).

    With no ``allowed`` origins: pages on localhost, 127.0.0.1 or [::1] on any port. Otherwise
    exactly the origins given (``*`` allows any page).
    """

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        self.allowed = tuple(allowed)
        self._any = "*" in self.allowed
        self._exact = frozenset(_normal_origin(o) for o in self.allowed if o != "*")

    def allows(self, origin: str) -> bool:
        """Whether a page on ``origin`` (``scheme://host[:port]``) may send."""
        if self._any:
            return True
        normal = _normal_origin(origin)
        if not self.allowed:
            return LOCAL_ORIGIN.fullmatch(normal) is not None
        return normal in self._exact

    def describe(self) -> str:
        """Who may send, in words (for errors and the startup banner)."""
        if self._any:
            return "pages on any origin"
        if not self.allowed:
            return "pages on localhost, 127.0.0.1 or [::1] (any port)"
        return "pages on " + ", ".join(self.allowed)


def page_origin(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The origin of the page that made a request: its ``Origin``, else the origin of its
    ``Referer``; None when it names neither (a server, curl, a script).

    A browser request from another site that hides both (an ``<img>`` beacon from a page with
    ``Referrer-Policy: no-referrer``) still says ``Sec-Fetch-Site: cross-site``: its origin is
    ``"null"``, which no policy allows."""
    origin = referer = fetch_site = None
    for name, value in headers:
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"referer":
            referer = value.decode("latin-1")
        elif name == b"sec-fetch-site":
            fetch_site = value.decode("latin-1").strip().lower()
    if origin is not None:
        return origin  # "null" (a sandboxed frame, a file:// page) is an origin nobody allows
    if referer is None:
        return "null" if fetch_site in ("cross-site", "same-site") else None
    parts = urlsplit(referer.strip())
    if not parts.scheme or not parts.netloc:
        return "null"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}"


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without port and brackets, lowercased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """The ``Host`` names the server answers to.

    Always: an IP address (a DNS-rebinding page's requests carry the attacker's *name*, never
    an address) and ``localhost``. Also: the host of ``--public-url``, each ``--allow-host``,
    and the host the server is bound to when that is a name.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = frozenset(host_name(n) for n in names if n) | LOOPBACK_NAMES

    @classmethod
    def serving(
        cls,
        bound: str | None = None,
        public_url: str | None = None,
        extra: Iterable[str] = (),
    ) -> HostPolicy:
        names = list(extra)
        if public_url:
            names.append(urlsplit(public_url).hostname or "")
        if bound and bound not in WILDCARD_HOSTS:
            names.append(bound)
        return cls(names)

    def allows(self, host: str) -> bool:
        name = host_name(host)
        return name in self.names or _is_address(name)


def bearer_matches(authorization: bytes, token: bytes) -> bool:
    """Whether an ``Authorization`` header's value is ``Bearer <token>`` (compared in constant
    time; the scheme in any case)."""
    scheme, _, given = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)


class RequireHost:
    """Answer 421 in HubSpot's error shape when the ``Host`` is not one the server serves."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
                break
        if host is None or self.policy.allows(host):  # no Host: HTTP/1.0, never a browser
            await self.app(scope, receive, send)
            return
        response = error_response(
            421,
            f"This server does not serve the host {host_name(host)!r}: use its address, "
            "localhost, or the name given to `cbe serve --public-url` or `--allow-host`.",
            "MISDIRECTED_REQUEST",
        )
        await response(scope, receive, send)
