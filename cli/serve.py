"""``cbe serve``: HubSpot's events API and the JavaScript collector over HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.bootstrap import database_location, open_sender, token_location, warm_up
from cli.options import db_option, read_only, services
from cli.output import echo, fail, friendly_errors
from core.ratelimit import RateLimits, parse_rate_limit
from core.remote import TOKEN_ENV as REMOTE_TOKEN_ENV
from core.remote import RemoteError

TOKEN_ENV = "CBE_ACCESS_TOKEN"


@click.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    default=None,
    help=f"Access token for this run (default: ${TOKEN_ENV}, else the portal's own).",
)
@click.option(
    "--allow-origin",
    "origins",
    multiple=True,
    help="A web origin (https://shop.example) whose pages may send to the collector; repeat "
    "for more, '*' for any (default: pages on localhost, 127.0.0.1 and [::1]).",
)
@click.option(
    "--public-url",
    default=None,
    help="The address pages reach this server at (http://cbe.example:8765); the tracking code "
    "sends there, and requests may name its host.",
)
@click.option(
    "--allow-host",
    "hosts",
    multiple=True,
    help="Another host name requests may address this server by (IP addresses and localhost "
    "always may); repeat for more.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse everything at once (400): also an objectId, email or utk that names no record "
    "and a uuid already received, which HubSpot (and cbe serve by default) accepts with 204 "
    "and settles later (see `cbe trace`).",
)
@click.option(
    "--rate-limit",
    "rate_limit",
    default=None,
    metavar="TIER",
    help="Enforce HubSpot's limits for private apps: 'hubspot' (Free and Starter: 100 calls "
    "per 10 s, 250,000 a day), 'hubspot-professional' (190, 625,000), 'hubspot-enterprise' "
    "(190, 1,000,000), or a burst of your own such as 5/1s; over a limit the answer is a 429 "
    "with Retry-After, as HubSpot's. Off by default: the X-HubSpot-RateLimit-* headers are "
    "always sent (counted against Free's limits), nothing is refused.",
)
@click.option(
    "--forward",
    "forward",
    default=None,
    metavar="URL",
    help="Relay every completion accepted to a remote portal's send API (HubSpot is "
    "https://api.hubapi.com; any `cbe serve` too), in batches, with its uuid, under the remote's "
    "portal prefix: exactly once, across restarts and outages (GET /cbe/v1/forwarding).",
)
@click.option(
    "--forward-token",
    default=None,
    metavar="TOKEN",
    help=f"The remote portal's access token (default: ${REMOTE_TOKEN_ENV}). Never printed.",
)
@click.pass_context
@friendly_errors
def serve(
    ctx: click.Context,
    db: Path | None,
    host: str,
    port: int,
    token: str | None,
    origins: tuple[str, ...],
    public_url: str | None,
    hosts: tuple[str, ...],
    strict: bool,
    rate_limit: str | None,
    forward: str | None,
    forward_token: str | None,
) -> None:
    """Serve HubSpot's events API and the JavaScript collector on this database.

    The send endpoints answer as HubSpot does: what HubSpot checks at once (an unknown event or
    property, limits, types, names, no objectId/email/utk) is a 400 naming every broken rule,
    nothing stored; what HubSpot settles after accepting is a 204: a record that does not exist
    (the completion is kept unassociated) and a uuid already received (stored once, so a retry
    is safe). With --strict all of it is a 400 at once. `cbe trace UUID` tells what happened.
    """
    limits: RateLimits | None = None
    if rate_limit is not None:
        try:
            limits = parse_rate_limit(rate_limit)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--rate-limit") from None
    if read_only(ctx):
        fail("cbe serve stores what it receives: it needs a writable database, not --read-only.")
    forwarder = None
    if forward is not None:
        remote_token = forward_token or os.environ.get(REMOTE_TOKEN_ENV)
        if not remote_token:
            raise click.BadParameter(
                f"the remote's access token: pass --forward-token or set ${REMOTE_TOKEN_ENV}.",
                param_hint="--forward",
            )
        from core.forwarding import Forwarder

        try:
            sender = open_sender(forward, remote_token)
        except RemoteError as error:
            raise click.BadParameter(str(error), param_hint="--forward") from None
    from api.guards import OriginPolicy
    from api.server import serve as run_server  # FastAPI loads only for this command

    opened = services(ctx)  # folds the records' log in a thread: no request waits for one
    if forward is not None:
        forwarder = Forwarder(opened.db, sender)
    access_token = token or os.environ.get(TOKEN_ENV) or opened.db.portal.access_token
    where = (
        "--token"
        if token
        else f"${TOKEN_ENV}"
        if os.environ.get(TOKEN_ENV)
        else f"{token_location(opened)} (`cbe portal --json` prints it)"
    )
    shown = f"[{host}]" if ":" in host else host
    echo(f"cbe serves portal {opened.db.portal.portal_id} at http://{shown}:{port}")
    echo(f"  database:      {database_location(opened)}")
    echo(f"  access token:  from {where}")
    script = public_url.rstrip("/") if public_url else f"http://{shown}:{port}"
    echo(f'  tracking code: <script src="{script}/tracking.js"></script>')
    pages = OriginPolicy(origins).describe()
    echo(f"  collector:     takes completions from {pages}, and from programs")
    echo(
        "  sends:         "
        + (
            "strict: an unknown record or a repeated uuid is a 400"
            if strict
            else "as HubSpot: an unknown record or a repeated uuid is a 204 (--strict: 400)"
        )
    )
    if limits is not None:
        echo(
            f"  rate limits:   {limits.burst} calls per {limits.interval_ms / 1000:g} s per token, "
            f"{limits.daily:,} a day, then 429 (HubSpot's limits: {limits.name})"
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(
            "  warning: listening beyond this machine. Anyone who can reach the port can "
            f"write completions to the collector (from {pages}, or from any program: "
            "no token needed) and read the tracking code; the events and CRM APIs need "
            "the access token."
        )
        if host in ("0.0.0.0", "::") and not public_url and not hosts:
            echo(
                "  note: requests may address this server by IP address or localhost; "
                "for a host name, pass --public-url or --allow-host."
            )
    if forwarder is not None:
        counts = opened.db.outbox.counts()
        echo(
            f"  forwards to:   {sender.url} (token from "
            f"{'--forward-token' if forward_token else '$' + REMOTE_TOKEN_ENV}); "
            f"{counts.owed} owed, {counts.refused} refused (GET /cbe/v1/forwarding)"
        )
    echo("Press Ctrl+C to stop.")
    run_server(
        opened,
        host,
        port,
        access_token,
        origins,
        public_url=public_url,
        allowed_hosts=hosts,
        strict=strict,
        rate_limit=limits,
        warm_up=lambda: warm_up(opened),
        forwarder=forwarder,
    )
