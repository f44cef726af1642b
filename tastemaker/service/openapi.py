"""OpenAPI helpers for routes that parse their own bodies or query strings."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_REF = "#/components/schemas/{model}"
_documented: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body of ``model``."""
    _documented[model.__name__] = model
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}
            },
        }
    }


def query_params(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting the query parameters of a route that reads its own query
    string: one optional parameter per field of ``model`` (flat: no nested models)."""
    schema = model.model_json_schema(mode="validation")
    if "$defs" in schema:
        raise TypeError(f"{model.__name__}: query parameters cannot be nested models")
    required = set(schema.get("required", ()))
    return {
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": field}
            for name, field in schema["properties"].items()
        ]
    }


def install(app: FastAPI) -> None:
    """Add the models named by :func:`json_body` (and what they use) to the components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _documented.items():
            schema = model.model_json_schema(ref_template=_REF, mode="validation")
            for def_name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(def_name, definition)
            schemas.setdefault(name, schema)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
