"""The learned ranker: known answers, training from history and exposures, artifacts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError, InvalidInput, NotFittedError
from tastemaker.models.data import FEEDBACK, Dataset
from tastemaker.models.item_knn import ItemKNN
from tastemaker.models.popularity import Popularity
from tastemaker.ranking import CandidateSources, LearnedRanker, RankerConfig
from tastemaker.ranking.examples import (
    Examples,
    dataset_of,
    exposure_examples,
    exposure_labels,
    history_examples,
)
from tastemaker.ranking.features import DAY
from tastemaker.ranking.ranker import BIAS

SMALL = {"n_estimators": 60, "min_child_samples": 5, "num_leaves": 7, "threads": 1}


def planted(queries: int, size: int, seed: int) -> Examples:
    """Queries whose relevance is decided by ``signal`` alone: the top three of each query are
    relevant, the best of them most."""
    rng = np.random.default_rng(seed)
    n = queries * size
    features = pd.DataFrame(
        {
            "noise:a": rng.random(n),
            "signal": rng.random(n),
            "noise:b": rng.normal(size=n),
        },
        dtype=np.float32,
    )
    signal = features["signal"].to_numpy().reshape(queries, size)
    order = np.argsort(-signal, axis=1)
    labels = np.zeros((queries, size), dtype=np.int32)
    np.put_along_axis(labels, order[:, :3], 1, axis=1)
    np.put_along_axis(labels, order[:, :1], 2, axis=1)
    keys = pd.DataFrame(
        {Columns.USER: np.repeat([f"u{q}" for q in range(queries)], size), Columns.ITEM: "i"}
    )
    return Examples(features, labels.ravel(), np.full(queries, size), keys)


def test_ranks_by_the_one_feature_that_decides_relevance() -> None:
    ranker = LearnedRanker(**SMALL).fit_examples(planted(150, 20, seed=1))
    fresh = planted(50, 20, seed=2)
    scores = ranker.score(fresh.features).reshape(50, 20)
    signal = fresh.features["signal"].to_numpy().reshape(50, 20)
    # The best item comes first, and the top three are the relevant ones, nearly always (trees
    # split on thresholds, so two close values of `signal` may share a leaf).
    assert (scores.argmax(axis=1) == signal.argmax(axis=1)).mean() >= 0.85
    top_by_score = np.sort(np.argsort(-scores, axis=1)[:, :3], axis=1)
    top_by_signal = np.sort(np.argsort(-signal, axis=1)[:, :3], axis=1)
    assert (top_by_score == top_by_signal).mean() >= 0.85
    contrib = ranker.contributions(fresh.features)
    assert list(contrib.columns) == ["noise:a", "signal", "noise:b", BIAS]
    importance = contrib.drop(columns=BIAS).abs().mean()
    assert importance.idxmax() == "signal"
    assert importance["signal"] > 5 * importance.drop("signal").max()
    # Contributions add up to the score: what `explain=true` shows is the whole story.
    assert contrib.sum(axis=1).to_numpy() == pytest.approx(scores.ravel(), abs=1e-9)


def test_artifact_round_trip_scores_identically() -> None:
    ranker = LearnedRanker(**SMALL).fit_examples(planted(60, 10, seed=3), sources=["a", "b"])
    ranker.segments_ = ["fans", "browsers"]
    loaded = LearnedRanker.from_bytes(ranker.to_bytes())
    fresh = planted(20, 10, seed=4).features
    assert np.array_equal(loaded.score(fresh), ranker.score(fresh))
    pd.testing.assert_frame_equal(loaded.contributions(fresh), ranker.contributions(fresh))
    assert loaded.config == ranker.config
    assert loaded.feature_names_ == ranker.feature_names_
    assert (loaded.segments_, loaded.sources_) == (["fans", "browsers"], ["a", "b"])
    with pytest.raises(ValueError, match="not a learned ranker"):
        LearnedRanker.from_bytes(Popularity().fit(_dataset()).to_bytes())


def test_score_aligns_columns_by_name() -> None:
    ranker = LearnedRanker(**SMALL).fit_examples(planted(60, 10, seed=5))
    fresh = planted(10, 10, seed=6).features
    shuffled = fresh[["noise:b", "signal", "noise:a"]].assign(extra=1.0)
    assert np.array_equal(ranker.score(shuffled), ranker.score(fresh))


def test_config_is_typed_and_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigurationError, match="n_trees"):
        LearnedRanker(n_trees=10)
    with pytest.raises(ValidationError):
        RankerConfig.model_validate({"learning_rate": 0.1, "colour": "red"})
    with pytest.raises(ValidationError, match="label_gain"):
        RankerConfig(grade_thresholds=(2.0, 5.0, 9.0), label_gain=(0.0, 1.0, 3.0))
    with pytest.raises(ValidationError, match="ascending"):
        RankerConfig(grade_thresholds=(5.0, 2.0))
    with pytest.raises(TypeError):
        LearnedRanker(RankerConfig(), n_estimators=5)


def test_using_an_unfitted_ranker_says_what_to_do() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        LearnedRanker().score(pd.DataFrame({"a": [1.0]}))


# --- exposures ----------------------------------------------------------------------------------


def exposures(lists: int, seed: int) -> pd.DataFrame:
    """Shown lists in random order; a click needs the item looked at (likely only near the top)
    *and* liked (likelier the higher its quality): the planted effect is quality, not place."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(lists):
        quality = rng.random(10)
        noise = rng.random(10)
        for position, j in enumerate(rng.permutation(10)):
            looked = rng.random() < 0.9**position
            click = looked and rng.random() < quality[j] ** 2
            rows.append(
                {
                    Columns.USER: f"u{r % 37}",
                    Columns.ITEM: f"i{j}",
                    Columns.RECOMMENDATION_ID: f"r{r}",
                    Columns.POSITION: position + 1,
                    Columns.FEATURES: {"quality": quality[j], "noise": noise[j]},
                    Columns.LABEL: int(click),
                }
            )
    return pd.DataFrame(rows)


def test_learns_a_position_independent_effect_from_exposures() -> None:
    ranker = LearnedRanker(**SMALL).fit_exposures(exposures(400, seed=7))
    assert ranker.feature_names_ == ["quality", "noise"]
    assert ranker.sources_ == []
    grid = pd.DataFrame({"quality": np.linspace(0, 1, 11), "noise": 0.5})
    scores = ranker.score(grid)
    assert scores[-1] > scores[5] > scores[0]
    rho = pd.Series(scores).corr(grid["quality"], method="spearman")
    assert rho > 0.9
    importance = ranker.contributions(grid).drop(columns=BIAS).abs().mean()
    assert importance["quality"] > importance["noise"]


def test_labels_grade_the_events_attributed_to_each_shown_item() -> None:
    shown = pd.DataFrame(
        {
            Columns.RECOMMENDATION_ID: ["r1", "r1", "r1", "r2"],
            Columns.ITEM: ["a", "b", "c", "a"],
            Columns.POSITION: [1, 2, 3, 1],
        }
    )
    events = pd.DataFrame(
        {
            Columns.RECOMMENDATION_ID: ["r1", "r1", "r1", "r2", None],
            Columns.ITEM: ["a", "b", "b", "a", "c"],
            Columns.TYPE: ["impression", "click", "purchase", "dislike", "purchase"],
            Columns.VALUE: [None] * 5,
        }
    )
    labelled = exposure_labels(shown, events, thresholds=(3.0,))
    # a on r1: only seen; b: click + purchase; c: purchased outside any recommendation;
    # a on r2: disliked. Only positive feedback on the same recommendation counts.
    assert labelled[Columns.LABEL].tolist() == [0, 2, 0, 0]


def test_retraining_from_exposures_keeps_the_segment_vocabulary() -> None:
    ranker = LearnedRanker(**SMALL).fit_examples(
        replace(planted(60, 10, seed=9), segments=["a", "b"]), sources=["s"]
    )
    ranker.fit_exposures(exposures(50, seed=10))
    assert (ranker.segments_, ranker.sources_) == (["a", "b"], ["s"])
    assert ranker.fit_exposures(exposures(50, seed=10), segments=["x"]).segments_ == ["x"]


def test_exposure_frames_are_checked() -> None:
    frame = exposures(3, seed=8)
    with pytest.raises(InvalidInput, match="lacks columns"):
        exposure_examples(frame.drop(columns=[Columns.LABEL]))
    with pytest.raises(InvalidInput, match="whole numbers"):
        exposure_examples(frame.assign(**{Columns.LABEL: -1}))
    ex = exposure_examples(frame.sample(frac=1.0, random_state=0))
    assert ex.groups.tolist() == [10, 10, 10]
    assert ex.position is not None
    assert ex.position[:10].tolist() == list(range(10))


# --- history ------------------------------------------------------------------------------------


def history() -> pd.DataFrame:
    """Two tastes over time: every user reads items of their group, one per day."""
    rng = np.random.default_rng(11)
    rows = []
    for u in range(60):
        group = u % 2
        for day, item in enumerate(rng.choice(20, size=12, replace=False)):
            rows.append((f"u{u}", f"i{group * 20 + item}", 1.0, (day + u % 5) * DAY))
    frame = pd.DataFrame(rows, columns=list(Columns.INTERACTIONS))
    return frame.assign(**{FEEDBACK: "positive"})


def _dataset() -> Dataset:
    return dataset_of(history())


def test_a_global_cut_labels_what_happened_after_it() -> None:
    frame = history()
    sources = CandidateSources({"pop": Popularity(), "knn": ItemKNN()}, k=15)
    ex = history_examples(frame, sources, fraction=0.3, split="global")
    cut = sources.data.interactions[Columns.TIMESTAMP].max()
    later = frame[frame[Columns.TIMESTAMP] > cut]
    later_pairs = set(zip(later[Columns.USER], later[Columns.ITEM], strict=True))
    keys = zip(ex.keys[Columns.USER], ex.keys[Columns.ITEM], strict=True)
    labelled = {k for k, y in zip(keys, ex.labels, strict=True) if y > 0}
    assert labelled
    assert labelled <= later_pairs


def test_history_examples_label_only_the_later_part_and_fit_on_the_earlier() -> None:
    frame = history()
    sources = CandidateSources({"pop": Popularity(), "knn": ItemKNN()}, k=15)
    ex = history_examples(frame, sources, fraction=0.25)
    # Each user's last 3 of 12 days label the queries; the sources never saw them.
    seen = sources.data.interactions
    assert len(seen) == 60 * 9
    later = frame.groupby(Columns.USER).tail(3)
    later_pairs = set(zip(later[Columns.USER], later[Columns.ITEM], strict=True))
    keys = list(zip(ex.keys[Columns.USER], ex.keys[Columns.ITEM], strict=True))
    labelled = {k for k, y in zip(keys, ex.labels, strict=True) if y > 0}
    assert labelled
    assert labelled <= later_pairs
    assert ex.groups.sum() == len(ex.features) == len(ex.labels)


def test_fit_from_history_then_serve_from_sources_refitted_on_everything() -> None:
    frame = history()
    sources = CandidateSources({"pop": Popularity(), "knn": ItemKNN()}, k=5)
    ranker = LearnedRanker(candidates=15, **SMALL).fit(frame, sources)
    assert sources.k == {"pop": 15, "knn": 15}
    assert len(sources.data.interactions) == len(frame)  # refitted on everything
    assert ranker.sources_ == ["pop", "knn"]
    users = ["u0", "u1", "u2", "stranger"]
    table = sources.candidates(users)
    builder = ranker.feature_builder(sources.data)
    feats = builder.build(table, now=20 * DAY)
    top = ranker.rank(table, feats, k=5)
    assert top.groupby(Columns.USER)[Columns.RANK].apply(list).to_dict() == {
        u: [1, 2, 3, 4, 5] for u in users
    }
    assert (top.groupby(Columns.USER, sort=False)[Columns.SCORE].diff().dropna() <= 0).all()
    # Knowing the groups, the ranker keeps users in their own half of the catalog.
    group_of = {u: int(u[1:]) % 2 for u in users[:3]}
    in_group = [
        int(i[1:]) // 20 == group_of[u]
        for u, i in zip(top[Columns.USER], top[Columns.ITEM], strict=True)
        if u in group_of
    ]
    assert np.mean(in_group) >= 0.8
    # A user's list is the same alone as in the batch.
    for user in users:
        mine = table[Columns.USER] == user
        alone = ranker.rank(
            table[mine].reset_index(drop=True),
            builder.build(table[mine].reset_index(drop=True), now=20 * DAY),
            k=5,
        )
        pd.testing.assert_frame_equal(alone, top[top[Columns.USER] == user].reset_index(drop=True))
