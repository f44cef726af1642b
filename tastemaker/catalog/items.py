"""The item schema: a piece of content or a product."""

from __future__ import annotations

from pydantic import Field, model_validator

from tastemaker.catalog.common import Bool, ExternalId, JsonObject, Schema, TagPath, UtcDatetime


class Item(Schema):
    """A piece of content or a product that can be recommended.

    >>> Item(id="a1", title="Android 15 review", tags=["Tech>Phones> Android"]).tags
    ['Tech > Phones > Android']
    """

    id: ExternalId
    title: str = Field(min_length=1, max_length=1000)
    summary: str = Field(default="", max_length=10_000)
    text: str = Field(default="", max_length=200_000)
    tags: list[TagPath] = Field(default_factory=list, max_length=100)
    author: str | None = Field(default=None, min_length=1, max_length=256)
    source: str | None = Field(default=None, min_length=1, max_length=256)
    published_at: UtcDatetime | None = None
    expires_at: UtcDatetime | None = None
    properties: JsonObject = Field(default_factory=dict)
    recommendable: Bool = True

    @model_validator(mode="after")
    def _expires_after_published(self) -> Item:
        if self.published_at and self.expires_at and self.expires_at <= self.published_at:
            raise ValueError("expires_at must be later than published_at")
        # Keep the order a client gave but store each tag once.
        self.tags = list(dict.fromkeys(self.tags))
        return self


class ItemBatch(Schema):
    """Several items to upsert in one request."""

    items: list[Item] = Field(min_length=1)
