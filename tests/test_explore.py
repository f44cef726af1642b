"""The exploration stage: slots, propensities, frequencies, determinism, online == rebuilt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tastemaker.catalog import Event
from tastemaker.catalog.columns import Columns
from tastemaker.catalog.exposures import ExposedItem, Exposure
from tastemaker.pipeline.config import ExplorationSpec, PlacementConfig
from tastemaker.pipeline.explore import (
    EXPLORE_SOURCE,
    ExplorationStore,
    Explored,
    ItemBandit,
    explore,
    make_policy,
    slot_indices,
)
from tastemaker.pipeline.state import Candidates, RecommendationRequest
from tastemaker.serving.runtime import Serving, start
from tastemaker.storage import DataStore, open_store
from tests import serving_world as world
from tests.conftest import make_settings

IDS = [f"i{n}" for n in range(40)]
PAGE = list(range(10))  # candidates 0 … 9 are the page; all 40 are ranked by index
RANKED = list(range(40))


def candidates(n: int = 40) -> Candidates:
    c = Candidates(
        rows=np.arange(n),
        item_ids=IDS[:n],
        sources=[],
        raw=np.zeros((n, 0)),
        rank=np.zeros((n, 0), dtype=np.int32),
    )
    c.score = np.linspace(1.0, 0.0, n)  # best first, in index order
    return c


def trained_bandit(spec: ExplorationSpec) -> ItemBandit:
    bandit = ItemBandit(make_policy(spec))
    rng = np.random.default_rng(0)
    for n in range(10, 40):
        for _ in range(5):
            bandit.update(IDS[n], float(rng.random() < 0.1 + 0.02 * (n % 10)))
    return bandit


def test_exploration_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="not both"):
        ExplorationSpec(share=0.1, slots=2)
    with pytest.raises(ValidationError, match="Extra inputs"):
        ExplorationSpec.model_validate({"colour": "red"})
    assert ExplorationSpec(share=0.1).count(10) == 1
    assert ExplorationSpec(share=0.25).count(10) == 3  # 2.5 rounds half up
    assert ExplorationSpec(slots=20).count(10) == 9  # never above first_position
    p = PlacementConfig.model_validate(
        {"sources": [{"kind": "popular"}], "exploration": {"policy": "ucb1", "share": 0.2}}
    )
    assert p.exploration.policy == "ucb1"


def test_share_zero_changes_nothing() -> None:
    spec = ExplorationSpec(share=0.0)
    out = explore(PAGE, RANKED, IDS, spec, ItemBandit(make_policy(spec)), np.random.default_rng(0))
    assert out == Explored.unchanged(PAGE)
    assert out.propensities == [1.0] * 10
    store = ExplorationStore(lambda _: spec)
    assert store.arrange("p", spec, candidates(), PAGE, RANKED, "u", 0) == Explored.unchanged(PAGE)


@pytest.mark.parametrize("policy", ["thompson", "epsilon_greedy", "ucb1"])
def test_explored_slots_carry_the_policys_propensity_and_the_rest_one(policy: str) -> None:
    spec = ExplorationSpec.model_validate({"policy": policy, "share": 0.2, "epsilon": 0.3})
    out = explore(PAGE, RANKED, IDS, spec, trained_bandit(spec), np.random.default_rng(1))
    slots = slot_indices(10, 2, spec.first_position)
    assert [j for j, e in enumerate(out.explored) if e] == slots == [4, 7]
    for j in range(10):
        if j in slots:
            assert out.positions[j] >= 10  # from below the page
            assert 0 < out.propensities[j] <= 1
            if policy != "ucb1":  # UCB1 is deterministic: 1 unless tied
                assert out.propensities[j] < 1
        else:
            assert out.propensities[j] == 1.0
    # The ranked items keep their order; the last two made room.
    assert [p for p, e in zip(out.positions, out.explored, strict=True) if not e] == PAGE[:8]
    assert len(set(out.positions)) == 10


def test_pool_and_new_items_limit_what_is_explored() -> None:
    spec = ExplorationSpec(slots=1, pool=5, max_exposures=3)
    bandit = trained_bandit(spec)  # items 10 … 39 were explored 5 times each
    bandit.arms(["i12"])
    rng = np.random.default_rng(0)
    assert explore(PAGE, RANKED, IDS, spec, bandit, rng) == Explored.unchanged(PAGE)
    fresh = ExplorationSpec(slots=1, pool=5)
    for seed in range(20):
        out = explore(PAGE, RANKED, IDS, fresh, bandit, np.random.default_rng(seed))
        assert 10 <= out.positions[out.explored.index(True)] < 15


@pytest.mark.parametrize("policy", ["epsilon_greedy", "thompson"])
def test_explored_items_appear_as_often_as_their_propensities(policy: str) -> None:
    spec = ExplorationSpec.model_validate(
        {"policy": policy, "slots": 1, "pool": 8, "epsilon": 0.4, "draws": 4000}
    )
    bandit = trained_bandit(spec)
    rounds = 2000
    counts: Counter[int] = Counter()
    propensity: dict[int, list[float]] = {}
    for seed in range(rounds):
        out = explore(PAGE, RANKED, IDS, spec, bandit, np.random.default_rng(seed))
        j = out.explored.index(True)
        counts[out.positions[j]] += 1
        propensity.setdefault(out.positions[j], []).append(out.propensities[j])
    for item, ps in propensity.items():
        p = float(np.mean(ps))
        se = np.sqrt(p * (1 - p) / rounds)
        assert abs(counts[item] / rounds - p) < 5 * se + 0.01, (item, counts[item], p)
        assert np.ptp(ps) < 0.06  # the same state gives (nearly, for Monte Carlo) one number


def test_deterministic_given_the_seed() -> None:
    spec = ExplorationSpec(share=0.3, seed=7)
    store = ExplorationStore(lambda _: spec)
    first = store.arrange("p", spec, candidates(), PAGE, RANKED, "u1", 1000)
    assert store.arrange("p", spec, candidates(), PAGE, RANKED, "u1", 1000) == first
    others = {
        tuple(store.arrange("p", spec, candidates(), PAGE, RANKED, f"u{n}", 1000).positions)
        for n in range(20)
    }
    assert len(others) > 1
    a = explore(PAGE, RANKED, IDS, spec, trained_bandit(spec), np.random.default_rng(3))
    b = explore(PAGE, RANKED, IDS, spec, trained_bandit(spec), np.random.default_rng(3))
    assert a == b


def serve_and_log(
    store: ExplorationStore, spec: ExplorationSpec, requests: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Serve ``requests``, learn online, and return the exposure and event frames they made."""
    rng = np.random.default_rng(11)
    shown, events = [], []
    for r in range(requests):
        rid = f"r{r}"
        out = store.arrange("home", spec, candidates(), PAGE, RANKED, f"u{r % 7}", r)
        outcomes = []
        for p, e in zip(out.positions, out.explored, strict=True):
            source = EXPLORE_SOURCE if e else "ease"
            shown.append(
                {
                    Columns.RECOMMENDATION_ID: rid,
                    Columns.ITEM: IDS[p],
                    Columns.PLACEMENT: "home",
                    Columns.SOURCE: source,
                }
            )
            clicked = rng.random() < (0.05 + 0.01 * (p % 20))
            if clicked:
                events.append(
                    {
                        Columns.RECOMMENDATION_ID: rid,
                        Columns.ITEM: IDS[p],
                        Columns.TYPE: "click",
                        Columns.VALUE: None,
                    }
                )
            if e:
                outcomes.append((IDS[p], float(clicked)))
        store.observe("home", outcomes)
    return pd.DataFrame(shown), pd.DataFrame(events)


@pytest.mark.parametrize("policy", ["thompson", "epsilon_greedy", "ucb1"])
def test_rebuild_from_the_logs_equals_the_online_state(policy: str) -> None:
    spec = ExplorationSpec.model_validate({"policy": policy, "share": 0.2, "draws": 100})
    online = ExplorationStore(lambda _: spec)
    exposures, events = serve_and_log(online, spec, 300)
    rebuilt = ExplorationStore(lambda _: spec)
    assert rebuilt.rebuild(exposures, events) == {"home": 600}
    learnt = online.bandit("home", spec).stats()
    assert rebuilt.bandit("home", spec).stats() == learnt
    assert sum(n for n, _ in learnt.values()) == 600
    assert sum(s for _, s in learnt.values()) > 0


def test_rebuild_from_the_store(store: DataStore) -> None:
    spec = ExplorationSpec(share=0.2)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    for r in range(3):
        store.exposures.log(
            Exposure(
                recommendation_id=f"x{r}",
                user_id="u1",
                placement="home",
                created_at=created + timedelta(minutes=r),
                items=[
                    ExposedItem(item_id="a", position=0, score=1.0, source="ease", propensity=1.0),
                    ExposedItem(
                        item_id=f"new{r % 2}",
                        position=1,
                        score=0.5,
                        source=EXPLORE_SOURCE,
                        propensity=0.25,
                    ),
                ],
            )
        )
    store.events.append(
        [
            Event(
                event_id="c1",
                user_id="u1",
                item_id="new0",
                type="click",
                timestamp=created + timedelta(minutes=5),
                context={"recommendation_id": "x0"},
            ),
            Event(
                event_id="c2",
                user_id="u1",
                item_id="a",
                type="click",
                timestamp=created + timedelta(minutes=6),
                context={"recommendation_id": "x1"},
            ),
        ],
        created + timedelta(minutes=7),
    )
    explorer = ExplorationStore(lambda name: spec if name == "home" else None)
    assert explorer.rebuild_from(store) == {"home": 3}
    # new0 explored twice (clicked in x0, not in x2), new1 once (its x1 click was on "a").
    assert explorer.bandit("home", spec).stats() == {"new0": (2.0, 1.0), "new1": (1.0, 0.0)}


# --- through the placement pipeline -----------------------------------------------------------

PLACEMENTS = {
    "plain": {"sources": [{"kind": "popular", "k": 50}], "k": 5},
    "exploring": {
        "sources": [{"kind": "popular", "k": 50}],
        "k": 5,
        "exploration": {"policy": "thompson", "slots": 2, "seed": 3},
    },
}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    db: Path = tmp_path_factory.mktemp("explore") / "db.sqlite"
    settings = make_settings(f"sqlite:///{db}", insecure_dev=True, placements=PLACEMENTS)
    store = open_store(settings)
    world.build(store, settings, ["popular"])
    s = start(settings, store, None)
    yield s
    s.exposures.close()
    store.close()


def test_pipeline_shows_explored_items_with_their_propensity(serving: Serving) -> None:
    now = int(world.NOW.timestamp() * 1e6)
    plain = serving.pipeline.recommend(RecommendationRequest("tech-0", "plain"), now)
    assert [i.propensity for i in plain.items] == [1.0] * 5
    assert EXPLORE_SOURCE not in {i.source for i in plain.items}
    got = serving.pipeline.recommend(RecommendationRequest("tech-0", "exploring"), now)
    explored = [i for i in got.items if i.source == EXPLORE_SOURCE]
    assert [i.position for i in explored] == slot_indices(5, 2, 1) == [2, 3]
    assert all(0 < i.propensity < 1 for i in explored)
    assert all(i.propensity == 1.0 for i in got.items if i.source != EXPLORE_SOURCE)
    plain_ids = [i.item_id for i in plain.items]
    assert [i.item_id for i in got.items if i.source != EXPLORE_SOURCE] == plain_ids[:3]
    assert not {i.item_id for i in explored} & set(plain_ids)
    again = serving.pipeline.recommend(RecommendationRequest("tech-0", "exploring"), now)
    assert [i.item_id for i in again.items] == [i.item_id for i in got.items]  # seeded
    learnt = serving.pipeline.exploration.observe("exploring", [(explored[0].item_id, 1.0)])
    assert learnt == 1
