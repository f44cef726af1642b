"""Per-segment against global models: the comparison ``bench/accuracy.py`` prints for issue 4.

For each data set and segmentation it splits once (with the segment labels attached to the
training data), chooses each model's parameters on a validation split carved from the training
part, and scores on the test part with a full ranking:

* the **global** model (EASE, ALS) with the parameters chosen for it;
* the **per-segment** model (``segmented``) with *the same* parameters — one model per segment
  of at least ``min_segment_users`` users, the global model for the rest;
* the per-segment model with parameters chosen *for it* on the same grid (a segment has less
  data, so it may want another regularization);
* popularity overall and per segment, as the floor; on the news sample also *trending*
  (popularity with a 7-day half-life) overall and per segment.

Every difference to the global model comes with a 95 % bootstrap interval over test users
(paired: the same users, the same held-out items), so noise is not read as an effect.

Segmentations: K-Means over each user's share of interactions per top-level tag (MovieLens:
genres), with k chosen by silhouette or fixed; on the sample data also the planted segments.
K-Means runs through :mod:`tastemaker.profiles.segments` when it is importable, else through
scikit-learn directly (standardized shares, the same silhouette choice).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.tags import split_tag
from tastemaker.config import FeedbackClass, ModelSpec, Settings
from tastemaker.evaluation.matrices import recommendation_array, relevance_matrix
from tastemaker.evaluation.report import evaluate
from tastemaker.models.catalog import model_class
from tastemaker.models.data import FEEDBACK, Dataset
from tastemaker.models.segmented import SegmentedRecommender
from tastemaker.training.holdout import Holdout, Protocol
from tastemaker.training.tuning import search

K = 10
MIN_SEGMENT_USERS = 50
BOOTSTRAP = 2000

GRIDS: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    # base: (fixed parameters, grid searched on validation)
    "ease": ({}, {"l2": [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]}),
    "als": ({"factors": 64, "iterations": 15}, {"regularization": [5.0, 20.0, 50.0]}),
}


@dataclass(frozen=True)
class Segmenting:
    """User → segment label, and how the labels were found."""

    labels: dict[str, str]
    description: str


def tag_shares(feedback: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Each user's share of positive interactions per top-level tag (``tag_share:<tag>``).

    An item with several top-level tags splits its interaction evenly; users whose items have
    no tag are left out.
    """
    tops = {
        str(i): list(dict.fromkeys(split_tag(str(t))[0] for t in tags))
        for i, tags in items["tags"].items()
        if isinstance(tags, list | tuple | np.ndarray) and len(tags)
    }
    rows = feedback[feedback[FEEDBACK] == FeedbackClass.POSITIVE.value]
    frame = pd.DataFrame({"u": rows[Columns.USER].to_numpy(), "t": rows[Columns.ITEM].map(tops)})
    frame = frame[frame["t"].map(lambda t: isinstance(t, list) and len(t) > 0)]
    frame["w"] = 1.0 / frame["t"].map(len)
    frame = frame.explode("t")
    table = frame.groupby(["u", "t"])["w"].sum().unstack(fill_value=0)
    table = table.div(table.sum(axis=1), axis=0).astype(np.float64)
    table.columns = [f"tag_share:{c}" for c in table.columns]
    table.index.name = Columns.USER
    return table


def kmeans(shares: pd.DataFrame, k: int | None, engine: str, seed: int = 0) -> Segmenting:
    """K-Means over tag shares; ``k=None`` chooses k in 2–10 by silhouette."""
    if engine == "tastemaker":
        from tastemaker.profiles.segments.config import SegmentationConfig
        from tastemaker.profiles.segments.fit import fit_segmentation

        config = SegmentationConfig(
            features=("tag_share:*",), k="auto" if k is None else k, k_max=10, seed=seed
        )
        fitted = fit_segmentation(shares, config)
        seg = fitted.segmentation
        names = {int(s.id): s.name for s in seg.segments}
        labels = {str(u): names[int(c)] for u, c in fitted.labels.items() if int(c) >= 0}
        tried = ", ".join(
            f"{c.k}: {c.silhouette:.3f}" for c in seg.candidates if c.silhouette is not None
        )
        how = "by silhouette" if k is None else "fixed"
        return Segmenting(
            labels, f"K-Means (tastemaker.profiles.segments), k = {seg.k} {how}; silhouette {tried}"
        )
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(shares.to_numpy(dtype=np.float64))
    scores: dict[int, float] = {}
    fits: dict[int, np.ndarray] = {}
    for candidate in [k] if k is not None else list(range(2, 11)):
        model = KMeans(n_clusters=candidate, n_init=4, random_state=seed).fit(x)
        fits[candidate] = model.labels_
        scores[candidate] = float(silhouette_score(x, model.labels_, random_state=seed))
    # Highest silhouette at four decimals, ties to the smaller k (as the segmentation module).
    best = min(scores, key=lambda c: (-round(scores[c], 4), c))
    sizes = np.bincount(fits[best])
    order = np.argsort(-sizes, kind="stable")
    width = len(str(len(order)))  # S01 … S10 sort in order
    rename = {int(old): f"S{new + 1:0{width}d}" for new, old in enumerate(order)}
    labels = {str(u): rename[int(c)] for u, c in zip(shares.index, fits[best], strict=True)}
    tried = ", ".join(f"{c}: {s:.3f}" for c, s in scores.items())
    how = "by silhouette" if k is None else "fixed"
    return Segmenting(labels, f"K-Means (scikit-learn), k = {best} {how}; silhouette {tried}")


def load_sample(
    users: int = 1200, items: int = 3000, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The built-in sample through a throwaway SQLite store, as ``tastemaker evaluate`` sees it.

    Returns the classified events, the items and the planted segments keyed, like the events, by
    the store's pseudonymous user key.
    """
    from tastemaker.catalog.sample import SampleConfig, generate_sample
    from tastemaker.cli.demo import load_sample as fill
    from tastemaker.models.data import classify_events
    from tastemaker.storage import open_store

    data = generate_sample(SampleConfig(seed=seed, n_users=users, n_items=items))
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/bench.db", insecure_dev=True)
        store = open_store(settings)
        try:
            fill(store, data, datetime.now(UTC))
            events = store.snapshot.events()
            catalog = store.snapshot.items()
            planted = {store.snapshot.user_key(u): s for u, s in data.segments.items()}
        finally:
            store.close()
    return classify_events(events, settings.feedback), catalog, planted


@dataclass(frozen=True)
class Measured:
    """One model on the test part: per-user NDCG and recall at K for the evaluated users."""

    name: str
    params: dict[str, Any]
    ndcg: np.ndarray
    recall: np.ndarray
    fit_seconds: float
    modelled: int | None = None


def measure(name: str, spec: ModelSpec, holdout: Holdout, data: Dataset) -> Measured:
    """Fit on the training part, rank every item for each test user, keep per-user values."""
    model = model_class(spec.model)(**spec.params)
    started = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - started
    test = holdout.test[holdout.test[Columns.ITEM].isin(data.item_ids)]
    users = np.asarray(pd.unique(test[Columns.USER]), dtype=str)
    recs = recommendation_array(model.recommend(list(users), k=K), users, data.item_ids, K)
    report = evaluate(recs, relevance_matrix(test, users, data.item_ids), K, per_user=True)
    assert report.per_user is not None
    modelled = len(model.modeled_segments) if isinstance(model, SegmentedRecommender) else None
    return Measured(
        name,
        dict(spec.params),
        np.asarray(report.per_user["ndcg"][K]),
        np.asarray(report.per_user["recall"][K]),
        seconds,
        modelled,
    )


def choose(
    spec: ModelSpec, grid: dict[str, list[Any]], validation: Holdout, data: Dataset
) -> dict[str, Any]:
    """The grid point with the best validation NDCG@K (for ``segmented``: of its base)."""
    if spec.model == "segmented":
        fixed = dict(spec.params.get("base_params", {}))
        points = [
            {**fixed, **dict(zip(grid, values, strict=True))}
            for values in itertools.product(*grid.values())
        ]
        searched = ModelSpec(model="segmented", params=spec.params, search={"base_params": points})
    else:
        searched = ModelSpec(model=spec.model, params=spec.params, search=grid)
    result = search("bench", searched, validation, metric=f"ndcg@{K}", data=data)
    return result.best_params


def interval(diff: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a paired difference and its 95 % percentile-bootstrap interval."""
    valid = diff[np.isfinite(diff)]
    rng = np.random.default_rng(seed)
    means = valid[rng.integers(0, len(valid), (BOOTSTRAP, len(valid)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(valid.mean()), float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """Every model of one data set and segmentation, on one holdout."""

    title: str
    segmenting: Segmenting
    groups: pd.Categorical[str]
    rows: list[tuple[Measured, Measured | None]]
    """Each model with the global model it is compared with (``None`` for a global one)."""
    seconds: float


def compare(
    title: str,
    feedback: pd.DataFrame,
    items: pd.DataFrame,
    segmenting: Segmenting,
    protocol: Protocol,
    bases: Sequence[str],
    say: Callable[[str], None],
    trending: bool = False,
) -> Comparison:
    started = time.perf_counter()
    holdout = Holdout.split(feedback, items, protocol=protocol, segments=segmenting.labels)
    data = holdout.dataset()
    validation = holdout.validation()
    validation_data = validation.dataset()
    rows: list[tuple[Measured, Measured | None]] = []
    for base in bases:
        fixed, grid = GRIDS[base]
        say(f"{title}: tuning {base}")
        params = choose(ModelSpec(model=base, params=fixed), grid, validation, validation_data)
        glob = measure(base, ModelSpec(model=base, params=params), holdout, data)
        rows.append((glob, None))
        seg = {"base": base, "min_segment_users": MIN_SEGMENT_USERS}
        say(f"{title}: {base} per segment")
        same = measure(
            f"{base}/seg",
            ModelSpec(model="segmented", params={**seg, "base_params": params}),
            holdout,
            data,
        )
        rows.append((same, glob))
        say(f"{title}: tuning {base} per segment")
        spec = ModelSpec(model="segmented", params={**seg, "base_params": fixed})
        own = choose(spec, grid, validation, validation_data)
        tuned = measure(
            f"{base}/seg*",
            ModelSpec(model="segmented", params=own),
            holdout,
            data,
        )
        rows.append((tuned, glob))
    say(f"{title}: popularity")
    pop = measure("popularity", ModelSpec(model="popularity"), holdout, data)
    pop_seg = measure(
        "popularity/seg",
        ModelSpec(model="popularity", params={"by_segment": True}),
        holdout,
        data,
    )
    rows += [(pop, None), (pop_seg, pop)]
    if trending:
        recent = {"half_life_days": 7.0}
        trend = measure("trending", ModelSpec(model="popularity", params=recent), holdout, data)
        trend_seg = measure(
            "trending/seg",
            ModelSpec(model="popularity", params={**recent, "by_segment": True}),
            holdout,
            data,
        )
        rows += [(trend, None), (trend_seg, trend)]
    test = holdout.test[holdout.test[Columns.ITEM].isin(data.item_ids)]
    users = list(np.asarray(pd.unique(test[Columns.USER]), dtype=str))
    groups = holdout.segment_of(users)
    assert groups is not None
    return Comparison(title, segmenting, groups, rows, time.perf_counter() - started)


def _params(m: Measured) -> str:
    p = m.params.get("base_params", m.params)
    shown = {k: v for k, v in p.items() if k not in ("factors", "iterations", "by_segment")}
    names = {"regularization": "reg", "half_life_days": "half-life days"}
    return ", ".join(f"{names.get(k, k)}={v:g}" for k, v in shown.items())


def tables(c: Comparison) -> tuple[str, Table, Table]:
    """A heading, the overall comparison, and NDCG@K per segment."""
    n = len(c.groups)
    sizes = pd.Series(c.groups).value_counts(sort=False)
    heading = (
        f"[bold]{c.title}[/]: {c.segmenting.description}\n{n:,} test users: "
        f"{', '.join(f'{g} {s}' for g, s in sizes.items())} ({c.seconds:.0f} s)"
    )
    overall = Table(
        caption="/seg: one model per segment of ≥ "
        f"{MIN_SEGMENT_USERS} users, the global model's parameters; /seg*: its own tuning. "
        "Δ: paired difference to the global model, 95 % bootstrap interval over test users.",
    )
    for title in ("model", "params", f"NDCG@{K}", "Δ NDCG [95 % CI]", f"Recall@{K}"):
        overall.add_column(title, justify="left" if title in ("model", "params") else "right")
    overall.add_column("fit s", justify="right")
    overall.add_column("own models", justify="right")
    for m, reference in c.rows:
        delta = "-"
        if reference is not None:
            mean, low, high = interval(m.ndcg - reference.ndcg)
            delta = f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"
        overall.add_row(
            m.name,
            _params(m) or "-",
            f"{np.nanmean(m.ndcg):.4f}",
            delta,
            f"{np.nanmean(m.recall):.4f}",
            f"{m.fit_seconds:.1f}",
            "-" if m.modelled is None else str(m.modelled),
        )
    per = Table(title=f"NDCG@{K} per segment", title_justify="left")
    per.add_column("segment")
    per.add_column("users", justify="right")
    for m, _ in c.rows:
        short = m.name.replace("popularity", "pop").replace("trending", "trend")
        per.add_column(short, justify="right")
    codes = np.asarray(c.groups.codes)
    for j, label in enumerate(c.groups.categories):
        member = codes == j
        per.add_row(
            str(label),
            str(int(member.sum())),
            *(f"{np.nanmean(m.ndcg[member]):.4f}" for m, _ in c.rows),
        )
    return heading, overall, per


def assignment_accuracy(
    feedback: pd.DataFrame, planted: dict[str, str], firsts: Sequence[int] = (1, 3, 5, 10)
) -> str:
    """How often the segmented model's nearest-segment rule finds a new user's planted segment.

    Profiles come from 70 % of the users (seeded); each of the other users is replayed as a new
    user who folded in only their first ``n`` positive interactions.
    """
    positives = feedback[feedback[FEEDBACK] == FeedbackClass.POSITIVE.value]
    positives = positives.sort_values(Columns.TIMESTAMP, kind="stable")
    users = np.asarray(pd.unique(positives[Columns.USER]), dtype=str)
    rng = np.random.default_rng(0)
    known = set(users[rng.random(len(users)) < 0.7])
    data = Dataset.from_feedback(positives).with_segments(
        {u: s for u, s in planted.items() if u in known}
    )
    newcomers = [u for u in users if u not in known and u in planted]
    firsts_by_user = positives.groupby(Columns.USER, sort=False)[Columns.ITEM].apply(list)
    out = []
    for n in firsts:
        model = SegmentedRecommender(base="popularity", min_segment_users=1, assign_up_to=n)
        model.fit(data)
        probes = [f"new:{u}" for u in newcomers]
        for u, probe in zip(newcomers, probes, strict=True):
            first = firsts_by_user[u][:n]
            model.fold_in(probe, first, [1.0] * len(first))
        found = model.assigned_segments(probes)
        hits = np.mean([f == planted[u] for f, u in zip(found, newcomers, strict=True)])
        out.append(f"first {n}: {hits:.0%}")
    chance = max(pd.Series(planted).value_counts(normalize=True))
    return (
        f"nearest-segment assignment of {len(newcomers)} held-out users from their first events "
        f"(planted segment found): {', '.join(out)}; largest segment's share {chance:.0%}"
    )


def engine(choice: str) -> str:
    """``tastemaker`` when its segmentation module is importable (or asked for), else sklearn."""
    if choice != "auto":
        return choice
    try:
        import tastemaker.profiles.segments.fit  # noqa: F401
    except ImportError:
        return "sklearn"
    return "tastemaker"


def run(
    movielens: tuple[pd.DataFrame, pd.DataFrame] | None,
    ks: Sequence[int | None],
    segmenter: str,
    sample_users: int,
    sample_items: int,
    print_: Callable[[Any], None],
    say: Callable[[str], None],
) -> None:
    """Print every comparison: MovieLens (one per k) when given, then the sample data."""
    chosen = engine(segmenter)
    if movielens is not None:
        feedback, items = movielens
        shares = tag_shares(feedback, items)
        for k in ks:
            say(f"MovieLens: segmenting (k = {k or 'auto'})")
            segmenting = kmeans(shares, k, chosen)
            result = compare(
                "MovieLens latest-small, chronological",
                feedback,
                items,
                segmenting,
                "chronological",
                ("ease", "als"),
                say,
            )
            for t in tables(result):
                print_(t)
    say("sample: generating and storing")
    feedback, items, planted = load_sample(sample_users, sample_items)
    sample = f"sample ({sample_users:,} users, {sample_items:,} items), chronological"
    kinds = sorted(set(planted.values()))
    segmentations = [
        Segmenting(planted, f"the {len(kinds)} planted segments"),
        kmeans(tag_shares(feedback, items), None, chosen),
    ]
    for segmenting in segmentations:
        result = compare(
            sample, feedback, items, segmenting, "chronological", ("ease", "als"), say, True
        )
        for t in tables(result):
            print_(t)
    print_(assignment_accuracy(feedback, planted))
