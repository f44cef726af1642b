"""The placement pipeline's stages on their own: configuration, merge, weights, rules, MMR."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tastemaker.catalog import Event
from tastemaker.catalog.items import Item
from tastemaker.config import FeedbackClass
from tastemaker.pipeline.catalog import ServingCatalog
from tastemaker.pipeline.config import PlacementConfig, RankingSpec, RulesSpec, default_placements
from tastemaker.pipeline.diversity import mmr
from tastemaker.pipeline.learned import FeatureBuilders
from tastemaker.pipeline.models import LoadedModel, LoadedRanker
from tastemaker.pipeline.pipeline import issued_at, merge, new_id
from tastemaker.pipeline.ranking import SwitchingHybrid, WeightedHybrid, blend_weights
from tastemaker.pipeline.rules import apply_filters, excluded_as_seen
from tastemaker.pipeline.sources import Proposal
from tastemaker.pipeline.state import HistoryEvent, RecommendationRequest, UserState
from tastemaker.ranking import LearnedRanker, RankerConfig
from tastemaker.storage import open_store
from tastemaker.storage.types import to_micros
from tests.conftest import make_settings

CATALOG = ServingCatalog.from_items(
    [Item(id=f"i{n}", title=f"Item {n}", tags=[f"T{n % 3} > S{n % 2}"]) for n in range(30)]
)


def user(history: list[HistoryEvent] | None = None) -> UserState:
    return UserState("u", "key", None, history or [])


def test_default_placements_are_valid_and_settings_take_more() -> None:
    assert set(default_placements()) == {"homepage", "article-bottom", "email-digest"}
    s = make_settings("sqlite://", placements={"x": {"sources": [{"kind": "popular"}]}})
    assert s.placements["x"].sources[0].model == "popular"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sources": [{"kind": "popular"}, {"kind": "popular"}]}, "unique"),
        ({"sources": [{"kind": "popular"}], "ranking": {"weights": {"als": 1}}}, "unknown"),
        ({"sources": [{"kind": "popular"}], "k": 50, "max_k": 10}, "max_k"),
        ({"sources": [{"kind": "pinned"}]}, "items"),
        ({"sources": [{"kind": "popular"}], "colour": "red"}, "Extra inputs"),
        ({"sources": [{"kind": "magic"}]}, "kind"),
    ],
)
def test_bad_placements_are_rejected_with_the_reason(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        PlacementConfig.model_validate(config)
    with pytest.raises(ValidationError):
        make_settings("sqlite://", placements={"bad": config})


def test_merge_keeps_each_sources_score_and_rank() -> None:
    c = merge(
        ["a", "b"],
        [
            Proposal.of_ids(CATALOG, ["i1", "i2", "zz"], [3.0, 2.0, 1.0]),
            Proposal.of_ids(CATALOG, ["i2", "i3"], [9.0, 8.0]),
        ],
        CATALOG,
    )
    assert list(c.item_ids) == ["i1", "i2", "i3"]  # zz is not in the catalog
    assert np.isnan(c.raw[0, 1])
    assert c.raw[1].tolist() == [2.0, 9.0]
    assert c.rank.tolist() == [[1, 0], [2, 1], [0, 2]]
    assert c.norm[:, 0].tolist() == [1.0, 0.0, 0.0]  # min–max over the items kept


@settings(max_examples=50, deadline=None)
@given(
    activity=st.integers(0, 100),
    threshold=st.integers(1, 50),
    w=st.lists(st.floats(0, 5), min_size=3, max_size=3),
    cold=st.lists(st.floats(0, 5), min_size=3, max_size=3),
)
def test_blended_weights_lie_between_the_two_tables(
    activity: int, threshold: int, w: list[float], cold: list[float]
) -> None:
    names = ["a", "b", "c"]
    spec = RankingSpec(
        weights=dict(zip(names, w, strict=True)),
        newcomer_weights=dict(zip(names, cold, strict=True)),
        history_threshold=threshold,
    )
    got = blend_weights(spec, names, activity)
    lo, hi = np.minimum(w, cold), np.maximum(w, cold)
    assert np.all(got >= lo - 1e-9)
    assert np.all(got <= hi + 1e-9)
    if activity >= threshold:
        np.testing.assert_allclose(got, w)
    if activity == 0:
        np.testing.assert_allclose(got, cold)


def test_hybrids_rank_by_the_chosen_sources() -> None:
    c = merge(
        ["cf", "pop"],
        [
            Proposal.of_ids(CATALOG, ["i1", "i2"], [1.0, 0.0]),
            Proposal.of_ids(CATALOG, ["i2", "i1"], [1.0, 0.0]),
        ],
        CATALOG,
    )
    spec = RankingSpec(kind="switching", cold_sources=["pop"], history_threshold=2)
    SwitchingHybrid(spec).rank(c, user())
    assert c.score.tolist() == [0.0, 1.0]  # newcomer: popular decides
    veteran = user([HistoryEvent("i9", FeedbackClass.POSITIVE, 1.0, 0, 0)] * 3)
    SwitchingHybrid(spec).rank(c, veteran)
    assert c.score.tolist() == [1.0, 0.0]
    WeightedHybrid(RankingSpec(weights={"cf": 1.0, "pop": 3.0})).rank(c, veteran)
    assert c.score.tolist() == [1.0, 3.0]
    assert set(c.contributions) == {"cf", "pop"}


@settings(max_examples=50, deadline=None)
@given(
    proposed=st.lists(st.integers(0, 29), min_size=1, max_size=30, unique=True),
    excluded=st.lists(st.integers(0, 29), max_size=10),
    seen=st.lists(st.integers(0, 29), max_size=10),
    negative=st.lists(st.integers(0, 29), max_size=5),
)
def test_filtered_candidates_never_hold_excluded_seen_or_negative_items(
    proposed: list[int], excluded: list[int], seen: list[int], negative: list[int]
) -> None:
    ids = [f"i{n}" for n in proposed]
    c = merge(["s"], [Proposal.of_ids(CATALOG, ids, [1.0] * len(ids))], CATALOG)
    history = [HistoryEvent(f"i{n}", FeedbackClass.POSITIVE, 1.0, 0, 0) for n in seen]
    history += [HistoryEvent(f"i{n}", FeedbackClass.NEGATIVE, -1.0, 0, 0) for n in negative]
    request = RecommendationRequest("u", "p", exclude=tuple(f"i{n}" for n in excluded))
    kept = apply_filters(
        c, RulesSpec(exclude_seen=["positive"]), request, user(history), CATALOG, 0
    )
    banned = {f"i{n}" for n in excluded + seen + negative}
    assert not set(kept.item_ids) & banned
    assert set(kept.item_ids) == {f"i{n}" for n in proposed} - banned


def test_seen_window_and_classes() -> None:
    day = 86_400 * 1_000_000
    history = [
        HistoryEvent("old", FeedbackClass.POSITIVE, 1.0, 0, 0),
        HistoryEvent("new", FeedbackClass.POSITIVE, 1.0, 9 * day, 0),
        HistoryEvent("shown", FeedbackClass.SEEN, 0.0, 9 * day, 0),
        HistoryEvent("hated", FeedbackClass.NEGATIVE, -1.0, 0, 0),
    ]
    spec = RulesSpec(exclude_seen=["positive", "seen"], seen_days=2)
    assert excluded_as_seen(spec, user(history), 10 * day) == {"new", "shown", "hated"}
    assert excluded_as_seen(RulesSpec(exclude_seen=[]), user(history), 10 * day) == {"hated"}


@settings(max_examples=50, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1), min_size=1, max_size=25),
    strength=st.floats(0, 1),
    n=st.integers(1, 30),
)
def test_mmr_returns_distinct_items_and_starts_with_the_best(
    scores: list[float], strength: float, n: int
) -> None:
    rel = np.array(scores)
    rng = np.random.default_rng(len(scores))
    sim = rng.random((len(scores), len(scores)))
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    got = mmr(rel, sim, strength, n)
    assert len(got) == min(n, len(scores))
    assert len(set(got)) == len(got)
    assert rel[got[0]] == rel.max()
    if strength == 0:
        assert [rel[g] for g in got] == sorted(rel, reverse=True)[: len(got)]


# ---------------------------------------------------------------------------------------------
# Recommendation ids


@given(st.floats(min_value=0, max_value=2**47 / 1000, allow_nan=False))
def test_a_recommendation_id_is_a_uuid7_that_tells_when_it_was_made(now: float) -> None:
    rid = new_id(now)
    parsed = uuid.UUID(rid)
    assert rid == parsed.hex
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert issued_at(rid) == int(now * 1000) / 1000


def test_recommendation_ids_are_unique_and_ordered_by_time() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    made = [issued_at(i) for i in ids]
    assert made == sorted(made)
    assert abs((made[-1] or 0) - time.time()) < 5


@pytest.mark.parametrize(
    "rid",
    [
        uuid.uuid4().hex,  # ids made before they told their time
        "never-issued",
        new_id()[:31],
        new_id().upper(),
        new_id()[:16] + "0" + new_id()[17:],  # not the RFC variant
        " " + new_id()[1:],
    ],
)
def test_ids_new_id_did_not_make_tell_no_time(rid: str) -> None:
    assert issued_at(rid) is None


# ---------------------------------------------------------------------------------------------
# The learned ranker's feature index


def test_a_request_never_waits_for_the_ranker_features_to_be_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after a swap the index is missing: ``ready`` says so at once and builds it in the
    background (the request is answered without the learned ranker meanwhile)."""
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = open_store(settings)
    try:
        store.events.append(
            [Event(event_id="e1", user_id="u1", item_id="a", type="click")], datetime.now(UTC)
        )
        reading = threading.Event()
        release = threading.Event()
        read_events = store.snapshot.events

        def slow_events(*args: Any, **kwargs: Any) -> pd.DataFrame:
            reading.set()
            assert release.wait(10)
            return read_events(*args, **kwargs)

        monkeypatch.setattr(store.snapshot, "events", slow_events)
        builders = FeatureBuilders(store, settings.feedback)
        ranker = LoadedRanker("ranker", 1, LearnedRanker(RankerConfig()))
        source = LoadedModel("popular", 1, "popular", cast(Any, None), 0)
        started = time.monotonic()
        assert builders.ready(ranker, source) is None
        assert reading.wait(10), "no background build was started"
        assert builders.ready(ranker, source) is None  # still reading: not started twice
        assert time.monotonic() - started < 5
        release.set()
        deadline = time.monotonic() + 10
        while (found := builders.ready(ranker, source)) is None:
            assert time.monotonic() < deadline, "the index was not built"
            time.sleep(0.01)
        builder, read_at = found
        assert builder.data.n_users == 1
        assert read_at <= to_micros(datetime.now(UTC))
    finally:
        store.close()
