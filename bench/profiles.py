"""Online profile updates per second, and the time to rebuild every profile from the store.

Over the built-in sample data (about 86,000 events of 1,200 users on 3,000 items):

* **online**: :meth:`ProfileUpdater.apply` on the sample's events, held in memory as the API
  holds a parsed batch, in time order and in batches of ``--batches`` events; the catalog is
  indexed beforehand, and the store (SQLite, holding no events) is only asked for what a first
  event of a user costs without a rebuild (its stored history and preferences). Reported with
  and without a segment-assignment hook that computes the profile's feature vector on every
  update — the most a segmentation step needs per event.
* **rebuild**: the sample is loaded into a fresh SQLite store, then
  :meth:`ProfileUpdater.rebuild` reads the catalog and the event log and replays every event;
  the replay of the in-memory event frame alone, the feature frame of all profiles, and the
  mean size of a profile serialized as JSON are reported next to it.

The process is pinned to one core (``--core``, Linux only). Goal: ≥ 20,000 events/s online.

Run from the repository root::

    .venv/bin/python bench/profiles.py [--batches 1,100,1000] [--repeat 3] [--core 0]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from tastemaker.catalog.events import Event
from tastemaker.catalog.sample import SampleConfig, SampleData, generate_sample
from tastemaker.cli.demo import load_sample
from tastemaker.config import Settings
from tastemaker.profiles import (
    FeatureSpace,
    ItemIndex,
    Profile,
    ProfileUpdater,
    feature_frame,
    feature_vector,
    rebuild_profiles,
)
from tastemaker.profiles.rebuild import stored_event_frame
from tastemaker.storage import open_store

GOAL_EVENTS_PER_S = 20_000
SECRET = "bench-secret-key-0123456789abcdef-0123456789"
console = Console(width=None if sys.stdout.isatty() else 120)


def settings_for(path: str) -> Settings:
    return Settings(database_url=f"sqlite:///{path}", secret_keys=[SECRET])


def online_rate(
    data: SampleData,
    settings: Settings,
    batch: int,
    assign: Callable[[ProfileUpdater], Callable[[Profile], str | None]] | None,
) -> float:
    """Events per second through :meth:`ProfileUpdater.apply`, from a cold updater."""
    events: Sequence[Event] = data.events
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        store = open_store(settings_for(f"{tmp}/empty.db"))
        try:
            updater = ProfileUpdater(settings, store, ItemIndex.from_items(data.items))
            if assign is not None:
                updater.assign = assign(updater)
            received = datetime.now(UTC)
            gc.collect()
            started = time.perf_counter()
            for lo in range(0, len(events), batch):
                updater.apply(events[lo : lo + batch], received)
            elapsed = time.perf_counter() - started
        finally:
            store.close()
    return len(events) / elapsed


def feature_hook(data: SampleData) -> Callable[[ProfileUpdater], Callable[[Profile], str | None]]:
    """An assignment hook that builds the profile's feature vector (then assigns nothing)."""
    space = FeatureSpace(
        event_types=tuple(
            Settings.model_fields["event_types"].get_default(call_default_factory=True)
        ),
        tags=tuple(sorted({t.split(" > ")[0] for i in data.items for t in i.tags})),
        devices=("desktop", "mobile", "tablet", "unknown"),
        channels=("web", "app", "email", "social"),
    )

    def make(_: ProfileUpdater) -> Callable[[Profile], str | None]:
        def assign(profile: Profile) -> str | None:
            feature_vector(profile, profile.last_ts or 0, space)
            return None

        return assign

    return make


def rebuild_figures(data: SampleData, settings: Settings) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        store = open_store(settings_for(f"{tmp}/sample.db"))
        try:
            load_sample(store, data, datetime.now(UTC))
            updater = ProfileUpdater(settings, store)
            gc.collect()
            started = time.perf_counter()
            profiles = updater.rebuild()
            rebuild = time.perf_counter() - started
            started = time.perf_counter()
            frame = stored_event_frame(store)
            read = time.perf_counter() - started
            started = time.perf_counter()
            replayed = rebuild_profiles(frame, updater.rules, updater.index)
            replay = time.perf_counter() - started
            started = time.perf_counter()
            features = feature_frame(replayed.values(), data.config.end)
            feature_time = time.perf_counter() - started
            size = statistics.mean(len(json.dumps(p.to_dict())) for p in replayed.values())
        finally:
            store.close()
    return {
        "profiles": profiles,
        "events": len(frame),
        "rebuild_s": rebuild,
        "read_s": read,
        "replay_s": replay,
        "replay_rate": len(frame) / replay,
        "features_s": feature_time,
        "feature_columns": features.shape[1],
        "json_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Online profile update and rebuild speed.")
    parser.add_argument("--batches", default="1,100,1000", help="events per apply() call")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (Linux)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the sample data")
    args = parser.parse_args(argv)

    pinned = "not pinned"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
        pinned = f"pinned to core {args.core}"
    started = time.perf_counter()
    data = generate_sample(SampleConfig(seed=args.seed))
    console.print(
        f"sample: {len(data.events):,} events, {len(data.users):,} users, "
        f"{len(data.items):,} items (generated in {time.perf_counter() - started:.1f} s); "
        f"Python {platform.python_version()}, {pinned}, load average {os.getloadavg()[0]:.1f}"
    )
    settings = settings_for(":memory:")

    table = Table(title="Online profile updates (ProfileUpdater.apply, one core)")
    for column in ("events per call", "segment hook", "events/s", "µs/event", "goal"):
        table.add_column(column, justify="right" if column != "segment hook" else "left")
    cases: list[tuple[int, str, Callable[..., Callable[[Profile], str | None]] | None]] = [
        (int(b), "none", None) for b in args.batches.split(",")
    ]
    cases.append((1, "feature vector", feature_hook(data)))  # one hook call per event
    for batch, hook_name, hook in cases:
        rate = max(online_rate(data, settings, batch, hook) for _ in range(args.repeat))
        verdict = "met" if rate >= GOAL_EVENTS_PER_S else "missed"
        table.add_row(
            f"{batch:,}", hook_name, f"{rate:,.0f}", f"{1e6 / rate:.1f}", f"≥ 20,000: {verdict}"
        )
    console.print(table)

    figures = rebuild_figures(data, settings)
    table = Table(title="Rebuild from the store (SQLite)")
    table.add_column("step")
    table.add_column("time", justify="right")
    table.add_column("note")
    table.add_row(
        "rebuild()",
        f"{figures['rebuild_s']:.2f} s",
        f"{figures['profiles']:,.0f} profiles from {figures['events']:,.0f} events: catalog, "
        "event log, replay, preferences",
    )
    table.add_row(
        "  reading the event log",
        f"{figures['read_s']:.2f} s",
        "store.snapshot.events(detail=True)",
    )
    table.add_row(
        "  replay", f"{figures['replay_s']:.2f} s", f"{figures['replay_rate']:,.0f} events/s"
    )
    table.add_row(
        "feature_frame()",
        f"{figures['features_s']:.2f} s",
        f"{figures['feature_columns']:.0f} columns",
    )
    table.add_row("profile as JSON", f"{figures['json_bytes']:,.0f} B", "mean per profile")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
