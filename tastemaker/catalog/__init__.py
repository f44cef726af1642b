"""Items, users and events: schemas, validation and import."""

from tastemaker.catalog.events import Event, EventBatch, EventContext
from tastemaker.catalog.exposures import ExposedItem, Exposure
from tastemaker.catalog.items import Item, ItemBatch
from tastemaker.catalog.tags import normalize_tag, tag_ancestors
from tastemaker.catalog.users import Consent, Preferences, User, UserBatch, UserTraits

__all__ = [
    "Consent",
    "Event",
    "EventBatch",
    "EventContext",
    "ExposedItem",
    "Exposure",
    "Item",
    "ItemBatch",
    "Preferences",
    "User",
    "UserBatch",
    "UserTraits",
    "normalize_tag",
    "tag_ancestors",
]
