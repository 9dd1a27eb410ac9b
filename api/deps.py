"""What route handlers take from the app."""

from __future__ import annotations

from fastapi import Request

from core.services import Services


def services_of(request: Request) -> Services:
    """The services of the app serving ``request``."""
    services: Services = request.app.state.services
    return services
