"""Whole placements against single models on MovieLens latest-small (``accuracy.py --part
placements``).

One chronological holdout (each user's last 20 % of ratings is the test part). Everything is
chosen on the training part only, through two nested carve-outs made with the same protocol:

* ``T``  = the training part; ``F1`` / ``V1`` = ``T`` split again (the validation carve-out);
  ``F2`` / ``V2`` = ``F1`` split again.
* **single models**: each source's grid is searched on ``F1 → V1``; the winner is refitted on
  ``T`` and scored on test once (``tastemaker.training.tuning.tune``).
* **weighted hybrid**: the sources (chosen parameters) propose their top ``k`` each; a candidate
  scores ``Σ w_s · nscore_s`` (each source's score min-max normalized per user over its own
  candidates; 0 where it did not propose the item). The weights are searched on ``F1 → V1``,
  then applied to the sources refitted on ``T``.
* **learned ranker**: LightGBM LambdaRank over the candidate features
  (``tastemaker.ranking``). Its hyper-parameters are chosen by training on ``F2 → V2``
  (sources on ``F2``, labels ``V2``) and ranking ``V1`` with sources fitted on ``F1``; the chosen
  ranker is then trained on ``F1 → V1`` (``LearnedRanker.fit`` on ``T``), the sources refitted on
  ``T``, and the test users' candidates ranked once.

Every user's request time (``now`` of the features) is their last training interaction, so no
feature sees a rating at or after the moment the user's held-out ratings begin.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from accuracy_segments import interval  # a sibling script: accuracy.py puts it on the path

from tastemaker.catalog.columns import Columns
from tastemaker.config import ModelSpec
from tastemaker.evaluation.matrices import recommendation_array, relevance_matrix
from tastemaker.evaluation.report import MetricReport, evaluate
from tastemaker.models.catalog import model_class
from tastemaker.models.data import Dataset
from tastemaker.ranking import CandidateFeatures, CandidateSources, LearnedRanker, RankerConfig
from tastemaker.ranking.arrays import minmax_per_user
from tastemaker.ranking.candidates import rank_by, score_column, source_names
from tastemaker.ranking.examples import history_examples
from tastemaker.training.holdout import Holdout
from tastemaker.training.tuning import TunedScore, tune

SOURCES = ("ease", "als", "item_knn_bm25", "item_knn_cosine", "most_popular", "content")
"""The candidate sources of the placement (names of ``accuracy.MODELS``)."""

RANKER_GRID: dict[str, list[Any]] = {
    "num_leaves": [15, 31],
    "n_estimators": [100, 300],
}
"""Searched on F2 → V2 / V1; the rest of the ranker config stays at BASE."""

BASE = RankerConfig(learning_rate=0.05, min_child_samples=50, candidates=100, threads=1)
"""One thread: on two shared cores LightGBM's OpenMP threads mostly wait for each other."""

Say = Callable[[str], None]


@dataclass(frozen=True)
class Score:
    """One placement's accuracy on one split."""

    name: str
    kind: str
    """``model``, ``hybrid`` or ``ranker``."""
    ndcg: float
    recall: float
    map: float
    hit_rate: float
    users: int
    seconds: float
    chosen: str = ""


def score_lists(
    ranked: pd.DataFrame, truth: pd.DataFrame, data: Dataset, k: int = 10
) -> dict[str, float]:
    """NDCG, recall, MAP and hit rate at ``k`` of ranked lists against held-out positives."""
    report = _report(ranked, truth, data, k)
    return {
        "ndcg": float(report[f"ndcg@{k}"]),
        "recall": float(report[f"recall@{k}"]),
        "map": float(report[f"map@{k}"]),
        "hit_rate": float(report[f"hit_rate@{k}"]),
        "users": float(report.n_evaluated),
    }


def per_user_ndcg(
    ranked: pd.DataFrame, truth: pd.DataFrame, data: Dataset, k: int = 10
) -> np.ndarray:
    """NDCG@k of every test user (one order for every call on the same ``truth``)."""
    report = _report(ranked, truth, data, k, per_user=True)
    assert report.per_user is not None
    return np.asarray(report.per_user["ndcg"][k])


def _report(
    ranked: pd.DataFrame, truth: pd.DataFrame, data: Dataset, k: int, per_user: bool = False
) -> MetricReport:
    known = truth[Columns.USER].isin(data.user_ids) & truth[Columns.ITEM].isin(data.item_ids)
    truth = truth[known]
    users = np.asarray(pd.unique(truth[Columns.USER]), dtype=str)
    top = ranked[ranked[Columns.RANK] <= k]
    recs = recommendation_array(top, users, data.item_ids, k)
    relevant = relevance_matrix(truth, users, data.item_ids)
    return evaluate(recs, relevant, (k,), per_user=per_user)


def last_times(frame: pd.DataFrame, users: Sequence[str]) -> pd.Series:
    """Each user's request time: one microsecond after their last interaction in ``frame``."""
    last = frame.groupby(frame[Columns.USER].astype(str))[Columns.TIMESTAMP].max()
    return (last.reindex(pd.Index(list(users))) + 1).astype(np.int64)


def build_sources(
    specs: Mapping[str, ModelSpec], params: Mapping[str, dict[str, Any]], k: int
) -> CandidateSources:
    """Unfitted candidate sources with the chosen parameters, ``k`` candidates each."""
    models = {
        name: model_class(spec.model)(**{**spec.params, **params.get(name, {})})
        for name, spec in specs.items()
    }
    return CandidateSources(models, k)


def hybrid_rank(table: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """Rank candidates by ``Σ w_s · nscore_s``: the weighted hybrid of normalized scores."""
    users = table[Columns.USER].to_numpy()
    first = pd.Index(pd.unique(users)).get_indexer(pd.Index(users))
    total = np.zeros(len(table))
    for name in source_names(table):
        w = weights.get(name, 0.0)
        if w:
            score = table[score_column(name)].to_numpy(dtype=np.float64)
            total += w * np.nan_to_num(minmax_per_user(score, first), nan=0.0)
    return rank_by(table, total)


def tune_hybrid(
    table: pd.DataFrame, truth: pd.DataFrame, data: Dataset, names: Sequence[str]
) -> tuple[dict[str, float], float]:
    """Coordinate search of the hybrid weights on a validation part (NDCG@10)."""
    levels = (0.0, 0.25, 0.5, 1.0, 2.0)
    best = {n: (1.0 if i == 0 else 0.0) for i, n in enumerate(names)}
    best_value = score_lists(hybrid_rank(table, best), truth, data)["ndcg"]
    for _ in range(2):
        for name in names:
            for level in levels:
                trial = {**best, name: level}
                if not any(trial.values()):
                    continue
                value = score_lists(hybrid_rank(table, trial), truth, data)["ndcg"]
                if value > best_value + 1e-9:
                    best, best_value = trial, value
    return best, best_value


def run(
    frames: tuple[pd.DataFrame, pd.DataFrame],
    specs: Mapping[str, ModelSpec],
    say: Say,
    status: Say,
    *,
    k: int = 100,
    tune_ranker: bool = True,
    tuned: Mapping[str, TunedScore] | None = None,
) -> Outcome:
    """Score the single models, the weighted hybrid and the learned ranker on one holdout.

    ``tuned`` passes single-model results of the same chronological holdout already computed
    (``--part all`` runs the models first), so their grids are not searched twice.
    """
    feedback, items = frames
    started = time.perf_counter()
    holdout = Holdout.split(feedback, items, protocol="chronological")
    v1 = holdout.validation()
    data_t = holdout.dataset()
    data_f1 = v1.dataset()
    sources_spec = {n: specs[n] for n in SOURCES if n in specs}
    results: list[Score] = []
    chosen: dict[str, dict[str, Any]] = {}
    for name, spec in sources_spec.items():
        status(f"placements · single model {name}")
        t0 = time.perf_counter()
        outcome = (tuned or {}).get(name) or tune(
            name, spec, holdout, (10,), data=data_t, validation=v1, validation_data=data_f1
        )
        s = outcome.score
        chosen[name] = outcome.tuning.best_params if outcome.tuning else dict(spec.params)
        metrics = {m: s.metric(f"{m}@10") for m in ("ndcg", "recall", "map", "hit_rate")}
        searched = ", ".join(f"{a}={b}" for a, b in chosen[name].items() if a in spec.search)
        metrics["users"] = s.report.n_evaluated
        results.append(_score(name, "model", metrics, time.perf_counter() - t0, searched))

    status("placements · candidates on F1 for V1")
    v1_table = build_sources(sources_spec, chosen, k).fit(data_f1).candidates(_users(v1, data_f1))

    status("placements · learned ranker")
    t0 = time.perf_counter()
    config = BASE.model_copy(update={"candidates": k})
    if tune_ranker:
        config = choose_ranker(
            v1.train, items, sources_spec, chosen, v1_table, v1, data_f1, config, status
        )
    ranker = LearnedRanker(config)
    sources = build_sources(sources_spec, chosen, k)
    ranker.fit(holdout.train, sources, items)  # trains on F1 → V1, then refits sources on T
    test_users = _users(holdout, data_t)
    table = sources.candidates(test_users)
    now = last_times(holdout.train, test_users)
    builder = ranker.feature_builder(data_t)
    ranked = ranker.rank(table, builder.build(table, now))
    learned = score_lists(ranked, holdout.test, data_t)
    grid_text = ", ".join(f"{a}={getattr(config, a)}" for a in RANKER_GRID)
    ranker_seconds = time.perf_counter() - t0

    status("placements · weighted hybrid")
    t0 = time.perf_counter()
    weights, _ = tune_hybrid(v1_table, v1.test, data_f1, list(sources_spec))
    hybrid = score_lists(hybrid_rank(table, weights), holdout.test, data_t)
    results.append(
        _score("weighted hybrid", "hybrid", hybrid, time.perf_counter() - t0, weights_text(weights))
    )
    results.append(_score("learned ranker", "ranker", learned, ranker_seconds, grid_text))
    # Paired over test users: the ranker against the best single model's own list, which is
    # its top of the candidate table (each source proposed its own top k).
    best = max((r for r in results if r.kind == "model"), key=lambda r: r.ndcg)
    alone = per_user_ndcg(hybrid_rank(table, {best.name: 1.0}), holdout.test, data_t)
    diff = per_user_ndcg(ranked, holdout.test, data_t) - alone
    lift = Lift(best.name, float(np.nanmean(alone)), *interval(diff))
    timing = request_timing(ranker, builder, table, now)
    say(f"placements done in {time.perf_counter() - started:.0f} s")
    return Outcome(results, timing, lift)


@dataclass(frozen=True)
class Lift:
    """The learned ranker minus the best single model, NDCG@10 paired over test users."""

    model: str
    model_ndcg: float
    """The single model's NDCG@10 recomputed from its list in the candidate table (a check)."""
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Timing:
    """Per-request cost of the learned ranker for one user: features, then the booster."""

    users: int
    candidates: float
    features_ms: tuple[float, float]
    predict_ms: tuple[float, float]
    """Median and 95th percentile."""


@dataclass(frozen=True)
class Outcome:
    scores: list[Score]
    timing: Timing
    lift: Lift


def request_timing(
    ranker: LearnedRanker,
    builder: CandidateFeatures,
    table: pd.DataFrame,
    now: pd.Series,
    users: int = 200,
) -> Timing:
    """Features and scores of one user's candidates at a time, as a request computes them."""
    groups = [g.reset_index(drop=True) for _, g in table.groupby(Columns.USER, sort=False)]
    groups = groups[:users]
    features, predict = [], []
    for g in [*groups[:5], *groups]:  # the first five warm caches up and are timed again
        at = int(now[g[Columns.USER].iloc[0]])
        t0 = time.perf_counter()
        feats = builder.build(g, at)
        t1 = time.perf_counter()
        ranker.score(feats)
        features.append(t1 - t0)
        predict.append(time.perf_counter() - t1)
    f = 1e3 * np.asarray(features[5:])
    p = 1e3 * np.asarray(predict[5:])
    return Timing(
        users=len(groups),
        candidates=float(np.mean([len(g) for g in groups])),
        features_ms=(float(np.median(f)), float(np.percentile(f, 95))),
        predict_ms=(float(np.median(p)), float(np.percentile(p, 95))),
    )


def _users(holdout: Holdout, data: Dataset) -> list[str]:
    """The held-out part's users that the training part knows."""
    users = np.asarray(pd.unique(holdout.test[Columns.USER].astype(str)), dtype=str)
    return users[data.user_index(users.tolist()) >= 0].tolist()


def weights_text(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{n}={w:g}" for n, w in weights.items() if w)


def _score(name: str, kind: str, m: Mapping[str, float], seconds: float, chosen: str) -> Score:
    return Score(
        name,
        kind,
        m["ndcg"],
        m["recall"],
        m["map"],
        m["hit_rate"],
        int(m["users"]),
        seconds,
        chosen,
    )


def choose_ranker(
    f1: pd.DataFrame,
    items: pd.DataFrame,
    sources_spec: Mapping[str, ModelSpec],
    chosen: Mapping[str, dict[str, Any]],
    v1_table: pd.DataFrame,
    v1: Holdout,
    data_f1: Dataset,
    base: RankerConfig,
    status: Say,
) -> RankerConfig:
    """Train on F2 → V2 for every grid point, rank V1's candidates, keep the best NDCG@10."""
    sources = build_sources(sources_spec, chosen, base.candidates)
    examples = history_examples(f1, sources, items, features=base.features)
    now = last_times(f1, v1_table[Columns.USER].unique().tolist())
    best, best_value = base, -1.0
    keys = list(RANKER_GRID)
    for values in itertools.product(*(RANKER_GRID[k] for k in keys)):
        config = base.model_copy(update=dict(zip(keys, values, strict=True)))
        ranker = LearnedRanker(config).fit_examples(examples, sources=list(sources_spec))
        feats = ranker.feature_builder(data_f1).build(v1_table, now)
        value = score_lists(ranker.rank(v1_table, feats), v1.test, data_f1)["ndcg"]
        status(
            f"placements · ranker {dict(zip(keys, values, strict=True))}: V1 NDCG@10 {value:.4f}"
        )
        if value > best_value:
            best, best_value = config, value
    return best
