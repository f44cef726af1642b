"""Content-based recommendations: a user's profile against every item's features."""

from tastemaker.models.content.model import ContentBased, ContentConfig
from tastemaker.models.content.space import ItemSpace

__all__ = ["ContentBased", "ContentConfig", "ItemSpace"]
