"""Request bodies documented for routes that read their body by hand (strict JSON, their own error answers)."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

__all__ = ["json_request_body"]


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inlined(copy.deepcopy(definitions[reference.removeprefix("#/$defs/")]), definitions)
        return {key: _inlined(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    return schema


def json_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra for a required JSON body of `model`, its nested models inlined.

    Inline because FastAPI never sees these models (so never adds them to the components), and a `#/$defs/...`
    reference inside a path's schema would resolve against the OpenAPI document's root, where nothing is.
    """
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})
    body = {"schema": _inlined(schema, definitions)}
    return {"requestBody": {"required": True, "content": {"application/json": body}}}
