"""Print the app's OpenAPI document (make openapi writes it to openapi/openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from app.config import Settings
from app.main import create_app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document; independent of runtime settings (no lifespan is run)."""
    return create_app(Settings()).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
