"""Request body schemas in the OpenAPI document.

The routes take raw JSON so that every malformed body is answered in HubSpot's error shape (not
FastAPI's); these schemas tell readers of ``/docs`` (and the API fuzzer) what the bodies look like.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.routes.crm import SearchBody
from core.definitions import (
    DEFINITION_REQUIRED,
    OPTION_REQUIRED,
    PROPERTY_REQUIRED,
    DefinitionDraft,
    PropertyDraft,
    PropertyUpdate,
)
from core.ingestion import SendRequest

REF = "#/components/schemas/{model}"

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/events/v3/send", "post"): {"$ref": "#/components/schemas/SendRequest"},
    ("/events/v3/send/batch", "post"): {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "inputs": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/SendRequest"},
                "maxItems": 500,
            }
        },
    },
    ("/events/v3/event-definitions", "post"): {"$ref": "#/components/schemas/DefinitionDraft"},
    ("/events/v3/event-definitions/{event_name}", "patch"): {
        "type": "object",
        "properties": {"label": {"type": "string"}, "description": {"type": "string"}},
    },
    ("/events/v3/event-definitions/{event_name}/property", "post"): {
        "$ref": "#/components/schemas/PropertyDraft"
    },
    ("/events/v3/event-definitions/{event_name}/property/{property_name}", "patch"): {
        "$ref": "#/components/schemas/PropertyUpdate"
    },
}
_CRM_INPUT = {
    "type": "object",
    "required": ["properties"],
    "properties": {
        "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        "associations": {"type": "array", "items": {"type": "object"}},
    },
}
BODIES[("/crm/v3/objects/{object_type}", "post")] = _CRM_INPUT
BODIES[("/crm/v3/objects/{object_type}/{record_id}", "patch")] = _CRM_INPUT
BODIES[("/crm/v3/objects/{object_type}/search", "post")] = {
    "$ref": "#/components/schemas/SearchBody"
}

HUBSPOT_REQUIRED: dict[str, list[str]] = {
    "SendRequest": ["eventName", "properties"],
    "DefinitionDraft": list(DEFINITION_REQUIRED),
    "PropertyDraft": list(PROPERTY_REQUIRED),
    "OptionDraft": list(OPTION_REQUIRED),
}
"""What HubSpot's specs require of these bodies, which the API asks for too (the models default
some of them for cbe's own callers); see docs/hubspot-fidelity.md."""

MODELS: tuple[type[BaseModel], ...] = (
    SendRequest,
    DefinitionDraft,
    PropertyDraft,
    PropertyUpdate,
    SearchBody,
)


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe the request bodies."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in MODELS:
            model_schema = model.model_json_schema(by_alias=True, ref_template=REF)
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        for name, required in HUBSPOT_REQUIRED.items():
            components[name]["required"] = required
        for (path, method), body in BODIES.items():
            operation = schema["paths"].get(path, {}).get(method)
            if operation is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
