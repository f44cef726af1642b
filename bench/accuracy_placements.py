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

from tastemaker.catalog.columns import Columns
from tastemaker.config import ModelSpec
from tastemaker.evaluation.matrices import recommendation_array, relevance_matrix
from tastemaker.evaluation.report import evaluate
from tastemaker.models.catalog import model_class
from tastemaker.models.data import Dataset
from tastemaker.ranking import CandidateSources, LearnedRanker, RankerConfig
from tastemaker.ranking.candidates import source_names
from tastemaker.ranking.ranker import RankerConfig as _Config
from tastemaker.training.holdout import Holdout
from tastemaker.training.tuning import TunedScore, tune

SOURCES = ("ease", "als", "item_knn_bm25", "item_knn_cosine", "most_popular", "content")
"""The candidate sources of the placement (names of ``accuracy.MODELS``)."""

RANKER_GRID: dict[str, list[Any]] = {
    "num_leaves": [15, 63],
    "n_estimators": [200, 500],
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
    truth = truth[truth[Columns.USER].isin(data.user_ids) & truth[Columns.ITEM].isin(data.item_ids)]
    users = np.asarray(pd.unique(truth[Columns.USER]), dtype=str)
    top = ranked[ranked[Columns.RANK] <= k]
    recs = recommendation_array(top, users, data.item_ids, k)
    report = evaluate(recs, relevance_matrix(truth, users, data.item_ids), (k,))
    return {
        "ndcg": float(report[f"ndcg@{k}"]),
        "recall": float(report[f"recall@{k}"]),
        "map": float(report[f"map@{k}"]),
        "hit_rate": float(report[f"hit_rate@{k}"]),
        "users": float(report.n_evaluated),
    }


def last_times(frame: pd.DataFrame, users: Sequence[str]) -> pd.Series:
    """Each user's request time: one microsecond after their last interaction in ``frame``."""
    last = frame.groupby(frame[Columns.USER].astype(str))[Columns.TIMESTAMP].max()
    return (last.reindex(pd.Index(list(users))) + 1).astype(np.int64)


def build_sources(specs: Mapping[str, ModelSpec], params: Mapping[str, dict[str, Any]], k: int):
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
        if w == 0.0:
            continue
        score = table[f"score:{name}"].to_numpy(dtype=np.float64)
        total += w * np.nan_to_num(_minmax(score, first), nan=0.0)
    order = np.lexsort((np.arange(len(table)), -total, first))
    out = table.iloc[order][[Columns.USER, Columns.ITEM]].reset_index(drop=True)
    out[Columns.SCORE] = total[order]
    out[Columns.RANK] = out.groupby(Columns.USER, sort=False).cumcount().to_numpy() + 1
    return out


def _minmax(score: np.ndarray, group: np.ndarray) -> np.ndarray:
    s = pd.Series(score)
    low = s.groupby(group).transform("min").to_numpy()
    high = s.groupby(group).transform("max").to_numpy()
    span = high - low
    return np.where(span > 0, (score - low) / np.where(span > 0, span, 1.0), 1.0)


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
) -> list[Score]:
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
        outcome: TunedScore = tune(
            name, spec, holdout, (10,), data=data_t, validation=v1, validation_data=data_f1
        )
        s = outcome.score
        chosen[name] = outcome.tuning.best_params if outcome.tuning else dict(spec.params)
        results.append(
            Score(
                name,
                "model",
                s.metric("ndcg@10"),
                s.metric("recall@10"),
                s.metric("map@10"),
                s.metric("hit_rate@10"),
                s.report.n_evaluated,
                time.perf_counter() - t0,
                ", ".join(f"{a}={b}" for a, b in chosen[name].items() if a in spec.search),
            )
        )
    # Validation candidates: sources on F1, users of V1.
    status("placements · candidates on F1 for V1")
    sources = build_sources(sources_spec, chosen, k).fit(data_f1)
    v1_users = np.asarray(pd.unique(v1.test[Columns.USER].astype(str)), dtype=str)
    v1_users = v1_users[data_f1.user_index(v1_users.tolist()) >= 0].tolist()
    v1_table = sources.candidates(v1_users)
    t_users = np.asarray(pd.unique(holdout.test[Columns.USER].astype(str)), dtype=str)
    t_users = t_users[data_t.user_index(t_users.tolist()) >= 0].tolist()

    status("placements · weighted hybrid")
    t0 = time.perf_counter()
    weights, _ = tune_hybrid(v1_table, v1.test, data_f1, list(sources_spec))
    test_sources = build_sources(sources_spec, chosen, k).fit(data_t)
    t_table = test_sources.candidates(t_users)
    hybrid = score_lists(hybrid_rank(t_table, weights), holdout.test, data_t)
    results.append(
        _score("weighted hybrid", "hybrid", hybrid, time.perf_counter() - t0, weights_text(weights))
    )

    status("placements · learned ranker")
    t0 = time.perf_counter()
    best_config = BASE.model_copy(update={"candidates": k})
    if tune_ranker:
        best_config = choose_ranker(
            v1.train, items, sources_spec, chosen, v1_table, v1, data_f1, best_config, status
        )
    ranker = LearnedRanker(best_config)
    fit_sources = build_sources(sources_spec, chosen, k)
    ranker.fit(holdout.train, fit_sources, items)
    feats = ranker.feature_builder(data_t).build(t_table, last_times(holdout.train, t_users))
    ranked = ranker.rank(t_table, feats)
    learned = score_lists(ranked, holdout.test, data_t)
    chosen_text = ", ".join(f"{a}={getattr(best_config, a)}" for a in RANKER_GRID)
    results.append(
        _score("learned ranker", "ranker", learned, time.perf_counter() - t0, chosen_text)
    )
    say(f"placements done in {time.perf_counter() - started:.0f} s")
    return results


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
    base: _Config,
    status: Say,
) -> _Config:
    """Train on F2 → V2 for every grid point, rank V1's candidates, keep the best NDCG@10."""
    from tastemaker.ranking.examples import history_examples

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
