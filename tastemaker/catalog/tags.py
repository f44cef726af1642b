"""Hierarchical tags: ``Technology > Smartphones > Android``.

A tag is a path of segments joined by `` > ``. Input may use any spacing around ``>`` or give the
segments as a list; the stored form is always normalized.

>>> normalize_tag("News>Politics >  Elections")
'News > Politics > Elections'
>>> tag_ancestors("News > Politics > Elections")
['News', 'News > Politics', 'News > Politics > Elections']
"""

from __future__ import annotations

SEPARATOR = " > "
MAX_DEPTH = 8
MAX_SEGMENT = 100


def split_tag(tag: str | list[str]) -> list[str]:
    """The segments of a tag path; raise ``ValueError`` if a segment is empty or too long."""
    parts = tag if isinstance(tag, list) else tag.split(">")
    segments = [" ".join(p.split()) for p in parts]
    if not segments or any(not s for s in segments):
        raise ValueError("a tag path has an empty segment; write it as 'Parent > Child'")
    if len(segments) > MAX_DEPTH:
        raise ValueError(f"a tag path may have at most {MAX_DEPTH} levels")
    if any(len(s) > MAX_SEGMENT for s in segments):
        raise ValueError(f"a tag segment may have at most {MAX_SEGMENT} characters")
    if any(">" in s for s in segments):
        raise ValueError("a tag segment may not contain '>'")
    return segments


def normalize_tag(tag: str | list[str]) -> str:
    """The canonical spelling of a tag path."""
    return SEPARATOR.join(split_tag(tag))


def tag_ancestors(tag: str) -> list[str]:
    """The tag and every parent of it, root first."""
    segments = split_tag(tag)
    return [SEPARATOR.join(segments[: i + 1]) for i in range(len(segments))]
