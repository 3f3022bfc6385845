"""The HTTP baseline: a FastAPI app with one `async def` POST route returning a small JSON."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/credentials/verify")
async def verify() -> dict[str, bool]:
    """Answers without reading the body (the client still sends the same body as to the real server)."""
    return {"verified": True}
