"""Grid search on a validation split, the holdout it is carved from, and evaluation runs."""

from __future__ import annotations

import doctest
import json
import math
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.config import ModelSpec
from tastemaker.errors import ConfigurationError, InvalidInput
from tastemaker.evaluation.report import MetricReport
from tastemaker.models.data import FEEDBACK, Dataset
from tastemaker.models.popularity import Popularity
from tastemaker.training import evaluation_run, holdout, tuning
from tastemaker.training.evaluation_run import run_evaluation
from tastemaker.training.holdout import Holdout, ModelScore, score_model
from tastemaker.training.tuning import Step, grid, parse_metric, search, tune


def planted_feedback(
    n_users: int = 240, n_groups: int = 4, items_per_group: int = 20, seed: int = 0
) -> pd.DataFrame:
    """Users in groups, each liking mostly its group's items; a few negatives; random times."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = u % n_groups
        liked = rng.choice(items_per_group, size=rng.integers(8, 16), replace=False)
        items = [f"g{group}-{i}" for i in liked]
        items += [f"g{rng.integers(n_groups)}-{rng.integers(items_per_group)}" for _ in range(2)]
        for t, item in enumerate(items):
            rows.append((f"u{u}", item, 1.0, "positive", 1_000_000 * (u + 1000 * t)))
        rows.append((f"u{u}", f"g{(group + 1) % n_groups}-0", 1.0, "negative", 1))
    return pd.DataFrame(
        rows, columns=[Columns.USER, Columns.ITEM, Columns.WEIGHT, FEEDBACK, Columns.TIMESTAMP]
    )


@pytest.fixture(scope="module")
def feedback() -> pd.DataFrame:
    return planted_feedback()


@pytest.fixture(scope="module")
def split(feedback: pd.DataFrame) -> Holdout:
    return Holdout.split(feedback)


# -- the grid ---------------------------------------------------------------------------------


def test_grid_is_the_product_merged_over_params() -> None:
    spec = ModelSpec(
        model="item_knn",
        params={"similarity": "cosine", "neighbors": 5},
        search={"neighbors": [10, 20], "shrinkage": [0.0, 1.0, 2.0]},
    )
    points = grid(spec)
    assert len(points) == 6
    assert points[0] == {"similarity": "cosine", "neighbors": 10, "shrinkage": 0.0}
    assert points[1] == {"similarity": "cosine", "neighbors": 10, "shrinkage": 1.0}
    assert points[-1] == {"similarity": "cosine", "neighbors": 20, "shrinkage": 2.0}
    assert grid(ModelSpec(model="popularity", params={"by": "weight"})) == [{"by": "weight"}]


def test_grid_over_the_limit_is_refused_unless_raised() -> None:
    spec = ModelSpec(
        model="als", search={"factors": list(range(1, 9)), "alpha": [0.5 * i for i in range(8)]}
    )
    with pytest.raises(ConfigurationError, match=r"64 combinations \(8 factors × 8 alpha\)"):
        grid(spec, name="als")
    with pytest.raises(ConfigurationError, match="limit of 50"):
        tune("als", spec, Holdout.split(planted_feedback(40)))
    assert len(grid(spec, max_candidates=64)) == 64


def test_an_empty_value_list_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no value for l2"):
        grid(ModelSpec(model="ease", search={"l2": []}))


@pytest.mark.parametrize("metric", ["coverage@10", "ndcg", "ndcg@0", "ndcg@x", "nope@5"])
def test_only_accuracy_metrics_at_a_cutoff_can_be_tuned(metric: str) -> None:
    with pytest.raises(InvalidInput):
        parse_metric(metric)


def test_bad_parameters_fail_before_anything_is_fitted(split: Holdout) -> None:
    calls: list[object] = []

    def scorer(*args: object, **kwargs: object) -> ModelScore:
        calls.append(args)
        raise AssertionError("must not fit")

    spec = ModelSpec(model="ease", search={"l2": [1.0, 2.0], "lambda": [3.0]})
    with pytest.raises(ConfigurationError, match=r"training\.models\.ease \(ease\) rejects"):
        tune("ease", spec, split, scorer=scorer)
    assert calls == []


# -- choosing on validation only ----------------------------------------------------------------


def fake_score(name: str, spec: ModelSpec, value: float, ks: Sequence[int]) -> ModelScore:
    values = {"ndcg": dict.fromkeys(ks, value)}
    report = MetricReport(ks=tuple(ks), values=values, n_users=10, n_evaluated=10)
    return ModelScore(name, spec.model, dict(spec.params), report, {}, 0.0, 0.0)


class SpyScorer:
    """Records every call; validation prefers small ``l2``, the test part prefers large."""

    def __init__(self, test: Holdout, nan_for: frozenset[float] = frozenset()) -> None:
        self.test = test
        self.nan_for = nan_for
        self.calls: list[tuple[dict[str, object], Holdout, tuple[int, ...]]] = []

    def __call__(
        self,
        name: str,
        spec: ModelSpec,
        holdout: Holdout,
        ks: Sequence[int] = (10,),
        data: Dataset | None = None,
    ) -> ModelScore:
        self.calls.append((dict(spec.params), holdout, tuple(ks)))
        l2 = float(spec.params["l2"])
        if l2 in self.nan_for:
            return fake_score(name, spec, math.nan, ks)
        on_test = holdout is self.test
        return fake_score(name, spec, l2 / 1000 if on_test else 1 / l2, ks)


def test_tuning_chooses_by_validation_and_scores_test_once(split: Holdout) -> None:
    spy = SpyScorer(split)
    steps: list[Step] = []
    spec = ModelSpec(model="ease", params={"binary": True}, search={"l2": [500.0, 50.0, 5.0]})
    result = tune("ease", spec, split, (5, 10), progress=steps.append, scorer=spy)
    assert result.tuning is not None
    assert [c.value for c in result.tuning.candidates] == [1 / 500, 1 / 50, 1 / 5]
    # The validation-best (5.0) wins although the test part would prefer 500.0.
    assert result.tuning.best_params == {"binary": True, "l2": 5.0}
    assert result.score.params == {"binary": True, "l2": 5.0}
    on_test = [c for c in spy.calls if c[1] is split]
    assert len(on_test) == 1
    assert on_test[0][0] == {"binary": True, "l2": 5.0}
    assert on_test[0][2] == (5, 10)
    assert spy.calls[-1][1] is split  # test is scored last, after every choice is made
    for _, used, ks in spy.calls[:-1]:
        assert ks == (10,)
        # Every candidate is fitted and scored inside the training part only.
        assert used.train.index.isin(split.train.index).all()
        assert used.test.index.isin(split.train.index).all()
        assert not used.test.index.isin(split.test.index).any()
    assert [(s.done, s.total) for s in steps] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_nan_never_wins_and_all_nan_keeps_the_first(split: Holdout) -> None:
    validation = split.validation()
    spec = ModelSpec(model="ease", search={"l2": [1.0, 2.0, 4.0]})
    some = search("ease", spec, validation, scorer=SpyScorer(split, frozenset({1.0})))
    assert some.best_params == {"l2": 2.0}
    every = search("ease", spec, validation, scorer=SpyScorer(split, frozenset({1.0, 2.0, 4.0})))
    assert every.best_index == 0


def test_a_one_point_grid_is_scored_without_a_search(split: Holdout) -> None:
    spy = SpyScorer(split)
    result = tune("ease", ModelSpec(model="ease", params={"l2": 3.0}), split, scorer=spy)
    assert result.tuning is None
    assert [c[1] for c in spy.calls] == [split]


def test_real_tuning_matches_a_plain_refit_of_the_winner(split: Holdout) -> None:
    spec = ModelSpec(model="ease", search={"l2": [0.5, 50.0, 5000.0]})
    result = tune("ease", spec, split, (10,), metric="recall@10")
    assert result.tuning is not None
    values = [c.value for c in result.tuning.candidates]
    assert result.tuning.best_index == int(np.argmax(values))
    assert len(set(values)) > 1
    best = ModelSpec(model="ease", params=result.tuning.best_params)
    again = score_model("ease", best, split, (10,))
    assert result.score.metric("recall@10") == pytest.approx(again.metric("recall@10"))
    assert result.score.metric("recall@10") > 0.2  # the planted groups are found
    as_json = json.loads(json.dumps(result.tuning.as_dict()))
    assert as_json["candidates"][0]["params"] == {"l2": 0.5}


# -- the holdout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["chronological", "random"])
def test_holdout_parts_keep_the_index_and_never_overlap(
    feedback: pd.DataFrame, protocol: holdout.Protocol
) -> None:
    frame = feedback.set_index(pd.RangeIndex(1000, 1000 + len(feedback)))
    split = Holdout.split(frame, protocol=protocol, seed=3)
    assert split.train.index.isin(frame.index).all()
    assert split.test.index.isin(frame.index).all()
    assert not split.train.index.isin(split.test.index).any()
    assert (split.test[FEEDBACK] == "positive").all()
    pd.testing.assert_frame_equal(split.test, frame.loc[split.test.index])
    # No held-out pair can be hit by a recommender that excludes what the user has seen.
    seen = set(zip(split.train[Columns.USER], split.train[Columns.ITEM], strict=True))
    held = zip(split.test[Columns.USER], split.test[Columns.ITEM], strict=True)
    assert not any(pair in seen for pair in held)
    validation = split.validation()
    assert validation.protocol == protocol
    assert validation.train.index.isin(split.train.index).all()
    assert validation.test.index.isin(split.train.index).all()
    assert not validation.train.index.isin(validation.test.index).any()


def test_random_holdout_depends_on_the_seed_only(feedback: pd.DataFrame) -> None:
    a = Holdout.split(feedback, protocol="random", seed=1)
    b = Holdout.split(feedback, protocol="random", seed=1)
    c = Holdout.split(feedback, protocol="random", seed=2)
    assert a.test.index.equals(b.test.index)
    assert not a.test.index.equals(c.test.index)


def test_coverage_counts_recommendable_items_overall_and_per_group(
    feedback: pd.DataFrame,
) -> None:
    ids = sorted(feedback[Columns.ITEM].unique())
    hidden = set(ids[::4])
    items = pd.DataFrame(
        {"tags": [["a"] if i in hidden else ["b"] for i in ids], "recommendable": True},
        index=pd.Index(ids),
    )
    items.loc[list(hidden), "recommendable"] = False
    split = Holdout.split(feedback, items)
    score = score_model("pop", ModelSpec(model="popularity"), split, (10,))
    data = split.dataset()
    model = Popularity().fit(data)
    users = list(pd.unique(split.test[Columns.USER]))
    listed = model.recommend(users, k=10)[Columns.ITEM].nunique()
    assert score.metric("coverage@10") == pytest.approx(listed / (len(ids) - len(hidden)))
    # Every test user has 5 to 19 training items: one group, the same lists, the same figures.
    assert list(score.by_activity) == ["warm"]
    warm = score.by_activity["warm"]
    assert warm["coverage@10"] == pytest.approx(score.metric("coverage@10"))
    assert warm["novelty@10"] == pytest.approx(score.metric("novelty@10"))
    assert warm["diversity@10"] == 0.0  # every recommendable item has the one tag "b"


# -- evaluation runs ----------------------------------------------------------------------------


MODELS = {
    "popular": ModelSpec(model="popularity"),
    "ease": ModelSpec(model="ease", search={"l2": [1.0, 100.0]}),
    "tiny_ease": ModelSpec(model="ease", params={"max_items": 5}),
}


def test_run_scores_every_model_and_records_failures(feedback: pd.DataFrame) -> None:
    steps: list[Step] = []
    run = run_evaluation(
        feedback, None, MODELS, tune_models=True, ks=(10, 5), progress=steps.append
    )
    assert run.ks == (5, 10)
    by_name = {m.name: m for m in run.models}
    assert list(by_name) == ["popular", "ease", "tiny_ease"]
    assert by_name["tiny_ease"].result is None
    assert "max_items" in (by_name["tiny_ease"].error or "")
    ease = by_name["ease"].result
    assert ease is not None
    assert ease.tuning is not None
    assert len(ease.tuning.candidates) == 2
    assert run.data.users == 240
    assert run.data.items == 80
    assert run.data.interactions == len(feedback)
    assert run.data.negatives == 240
    assert run.data.train_rows + run.data.test_rows <= len(feedback)
    assert run.data.validation_rows is not None
    assert run.data.validation_rows > 0
    plain = json.loads(run.to_json())
    assert plain["models"][1]["tuning"]["best_params"] == ease.tuning.best_params
    assert plain["models"][2]["error"]
    assert plain["data"]["test_users"] == run.data.test_users
    done = {s.model for s in steps if s.done == s.total}
    assert done == {"popular", "ease", "tiny_ease"}


def test_run_without_tuning_scores_configured_params(feedback: pd.DataFrame) -> None:
    run = run_evaluation(feedback, None, MODELS, ["ease"], protocol="random", seed=4)
    (only,) = run.models
    assert only.result is not None
    assert only.result.tuning is None
    assert only.result.score.params == {}
    assert run.data.validation_rows is None
    assert run.protocol == "random"


def test_run_refuses_bad_requests_before_any_work(feedback: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="cannot run"):
        run_evaluation(feedback, None, MODELS, ["nope"])
    with pytest.raises(InvalidInput):
        run_evaluation(feedback, None, MODELS, ks=[0])
    with pytest.raises(InvalidInput):
        run_evaluation(feedback, None, MODELS, metric="novelty@10", tune_models=True)
    with pytest.raises(ConfigurationError, match="no usable events"):
        run_evaluation(feedback.iloc[:0], None, MODELS)
    with pytest.raises(ConfigurationError, match="nothing to test"):
        run_evaluation(feedback, None, MODELS, min_interactions=1000)


def test_nan_becomes_null_in_json() -> None:
    assert evaluation_run.to_plain({"x": (np.float64("nan"), np.int32(2))}) == {"x": [None, 2]}


@pytest.mark.parametrize("module", [tuning, holdout, evaluation_run])
def test_docstring_examples_run(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0
