"""Writing a sample data set as JSON Lines in the API's schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from tastemaker.catalog.sample.generator import SampleData

FILES = ("items.jsonl", "users.jsonl", "events.jsonl", "segments.jsonl")


def _write(path: Path, lines: Iterable[str]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
            n += 1
    return n


def _models(rows: Iterable[BaseModel]) -> Iterable[str]:
    return (row.model_dump_json(exclude_none=True) for row in rows)


def write_jsonl(data: SampleData, directory: Path) -> dict[str, int]:
    """Write ``items.jsonl``, ``users.jsonl``, ``events.jsonl`` and ``segments.jsonl``.

    Each line of the first three is one object exactly as the REST API accepts it;
    ``segments.jsonl`` holds ``{"user_id": …, "segment": …}`` per user. The directory is
    created if needed and existing files are replaced.

    Returns
    -------
    dict[str, int]
        Lines written per file name.

    Examples
    --------
    >>> import tempfile
    >>> from tastemaker.catalog.sample import SampleConfig, generate_sample
    >>> data = generate_sample(SampleConfig(n_items=100, n_users=10))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     counts = write_jsonl(data, Path(tmp))
    >>> counts["items.jsonl"], counts["segments.jsonl"]
    (100, 10)
    """
    directory.mkdir(parents=True, exist_ok=True)
    segments = (
        json.dumps({"user_id": user_id, "segment": segment}, ensure_ascii=False)
        for user_id, segment in data.segments.items()
    )
    items, users, events, segs = FILES
    return {
        items: _write(directory / items, _models(data.items)),
        users: _write(directory / users, _models(data.users)),
        events: _write(directory / events, _models(data.events)),
        segs: _write(directory / segs, segments),
    }
