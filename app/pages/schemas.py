"""Bodies of the share endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class ShareRequest(BaseModel):
    """What the public page shows; every field optional, unknown fields refused, booleans only as JSON booleans."""

    model_config = ConfigDict(extra="forbid", strict=True)

    show_score: bool = Field(default=False, description="Show the score on the page (the downloadable credential "
                                                         "always states it: a signature covers the whole document).")
    show_name: bool = Field(default=True, description="Show the learner's name on the page.")
    indexable: bool = Field(default=False, description="Let search engines index the page (otherwise `noindex`).")


class ShareOut(BaseModel):
    share_id: str = Field(description="The page's unguessable id (192 random bits).")
    url: str = Field(description="The public page: <public URL>/c/{share_id}.")
    show_score: bool
    show_name: bool
    indexable: bool
    created_at: dt.datetime
    updated_at: dt.datetime
