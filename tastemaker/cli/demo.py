"""``tastemaker demo-data``: generate the built-in sample data set, load it or write it out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tastemaker.catalog.sample import (
    DEFAULT_END,
    EVENT_ID_PREFIX,
    SampleConfig,
    SampleData,
    generate_sample,
    write_jsonl,
)
from tastemaker.cli.context import console, fail, state
from tastemaker.errors import EventConflict, TastemakerError
from tastemaker.storage import DataStore

T = TypeVar("T")

EVENT_BATCH = 5000
RECORD_BATCH = 1000
# The sample is generated in memory (about 70 events per user): keep it to a few GB at most.
MAX_USERS = 20_000
MAX_ITEMS = 50_000

Advance = Callable[[str, int], None]
"""Progress callback: (what — "items", "users" or "events", how many were just written)."""


@dataclass(frozen=True)
class LoadReport:
    """What loading a sample did to the store."""

    items_created: int = 0
    items_updated: int = 0
    users_created: int = 0
    users_updated: int = 0
    events_stored: int = 0
    events_duplicate: int = 0


def _batches(rows: Sequence[T], size: int) -> list[Sequence[T]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def load_sample(
    store: DataStore,
    data: SampleData,
    now: datetime,
    event_batch: int = EVENT_BATCH,
    advance: Advance | None = None,
) -> LoadReport:
    """Upsert the sample's items and users, then append its events in batches.

    Loading is idempotent: event ids are stable, so a second load stores no event twice, and
    items and users are replaced by equal copies.

    Parameters
    ----------
    store
        The durable store to write to.
    data
        The generated sample.
    now
        The store's clock (``created_at``, ``received_at``).
    event_batch
        Events per ``store.events.append`` call; each call is one transaction.
    advance
        Called after every batch with what was written and how many.
    """
    done: Counter[str] = Counter()
    for item_part in _batches(data.items, RECORD_BATCH):
        upserted = store.items.upsert(item_part, now)
        done.update(items_created=upserted.created, items_updated=upserted.updated)
        if advance:
            advance("items", len(item_part))
    for user_part in _batches(data.users, RECORD_BATCH):
        upserted = store.users.upsert(user_part, now)
        done.update(users_created=upserted.created, users_updated=upserted.updated)
        if advance:
            advance("users", len(user_part))
    for event_part in _batches(data.events, event_batch):
        appended = store.events.append(event_part, now)
        done.update(events_stored=appended.stored, events_duplicate=appended.duplicates)
        if advance:
            advance("events", len(event_part))
    return LoadReport(**done)


def holds_other_sample(store: DataStore, data: SampleData) -> bool:
    """Whether the store holds a sample made with other options under the same event ids.

    Loading it would replace the items and users and then fail on the first event batch. Every
    sample has the same user ids, so a few users' stored ``demo-…`` events tell.
    """
    users = {data.users[0].id, *(e.user_id for e in data.events[:1])}
    ours = {e.event_id: (e.type, e.item_id, e.timestamp) for e in data.events if e.user_id in users}
    for user_id in users:
        for record in store.events.for_user(user_id, limit=100_000):
            if record.event_id.startswith(EVENT_ID_PREFIX) and ours.get(record.event_id) != (
                record.type,
                record.item_id,
                record.timestamp,
            ):
                return True
    return False


def _load(ctx: typer.Context, data: SampleData) -> None:
    try:
        store = state(ctx).store()
    except TastemakerError as exc:
        raise fail(exc) from exc
    other = (
        "the store holds sample events made with other options (--seed, --users, --items, "
        "--end); load into an empty database or repeat the options used before"
    )
    try:
        if holds_other_sample(store, data):
            raise fail(other)
        with Progress(
            TextColumn("{task.description:<7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            tasks = {
                "items": progress.add_task("items", total=len(data.items)),
                "users": progress.add_task("users", total=len(data.users)),
                "events": progress.add_task("events", total=len(data.events)),
            }
            report = load_sample(
                store,
                data,
                datetime.now(UTC),
                advance=lambda what, n: progress.advance(tasks[what], n),
            )
        totals = (store.items.count(), store.users.count(), store.events.count())
    except EventConflict as exc:
        raise fail(other) from exc
    except TastemakerError as exc:
        raise fail(exc) from exc
    finally:
        store.close()
    console.print(
        f"items: {report.items_created} created, {report.items_updated} updated\n"
        f"users: {report.users_created} created, {report.users_updated} updated\n"
        f"events: {report.events_stored} stored, {report.events_duplicate} already stored\n"
        f"the store now holds {totals[0]} items, {totals[1]} users and {totals[2]} events"
    )


def demo_data(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            file_okay=False,
            help="Write items.jsonl, users.jsonl, events.jsonl and segments.jsonl here",
            show_default=False,
        ),
    ] = None,
    load: Annotated[
        bool | None,
        typer.Option(
            "--load/--no-load",
            help="Load into the configured store (the default unless --out is given)",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; equal seeds give equal data")] = 42,
    users: Annotated[
        int, typer.Option(min=1, max=MAX_USERS, help="Number of users (about 70 events each)")
    ] = 1200,
    items: Annotated[int, typer.Option(min=54, max=MAX_ITEMS, help="Number of items")] = 3000,
    end: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
            help=f"End of the sample's 120 days, UTC (default {DEFAULT_END:%Y-%m-%d})",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate the built-in sample data set (a news site with a shop) and load or write it.

    The data are deterministic: the same options always give the same items, users and events
    with the same ids, so loading twice stores nothing twice.
    """
    if load is None:
        load = out is None
    if not load and out is None:
        raise fail("nothing to do: give --out DIR to write files, or --load to fill the store")
    try:
        config = SampleConfig(
            seed=seed,
            n_items=items,
            n_users=users,
            end=end or DEFAULT_END,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    with console.status("generating the sample data set"):
        data = generate_sample(config)
    console.print(
        f"generated {len(data.items)} items, {len(data.users)} users and "
        f"{len(data.events)} events (seed {seed})"
    )
    if out is not None:
        try:
            counts = write_jsonl(data, out)
        except OSError as exc:
            raise fail(f"cannot write to {out}: {exc.strerror or exc}") from exc
        for name, n in counts.items():
            console.print(f"wrote {n} lines to {out / name}")
    if load:
        _load(ctx, data)
