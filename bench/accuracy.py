"""Ranking accuracy of every model on MovieLens latest-small, next to published figures.

Reads ``ratings.csv`` and ``movies.csv`` in place (genres become tags, titles text) and counts
**every rating as a positive** of weight 1, as the reference runs do. For each protocol it holds
out, per user with at least 5 ratings, the last (chronological) or a random 20 % of the ratings,
tunes each model's grid on a validation split carved the same way from the training part only,
refits the chosen parameters on the whole training part and scores them once on the test part:
full ranking over the catalog, each user's training items excluded.

Reference NDCG@10 (chronological protocol, same split, tuned on validation): independent runs
of implicit 0.7, LightFM 1.17 and a numpy EASE.

Then (``--part segments``, see ``accuracy_segments.py``) it compares per-segment models with the
global ones on MovieLens (K-Means segments over genre shares) and on the built-in sample data
(planted and fitted segments), and (``--part placements``, see ``accuracy_placements.py``) whole
placements -- a weighted hybrid of several candidate sources and the learned ranker over them --
against the best single models, on the chronological protocol.

Run from the repository root::

    .venv/bin/python bench/accuracy.py --data ../shared/data/ml-latest-small \\
        [--models ease,als] [--protocol chronological|random|both] [--no-tune] \\
        [--part all|models|segments|placements] [--segment-k auto,5,10] \\
        [--segmenter auto|tastemaker|sklearn] [--candidates 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass, ModelSpec
from tastemaker.models.data import FEEDBACK
from tastemaker.training.evaluation_run import EvaluationRun, run_evaluation
from tastemaker.training.tuning import Step, TunedScore

sys.path.insert(0, str(Path(__file__).resolve().parent))
# A sibling script, not a package: importable once its folder is on the path.
import accuracy_placements
import accuracy_segments

# Compact grids: the whole bench (both protocols, every model tuned) runs in minutes on two
# cores. Each grid brackets the values that win on this data set.
MODELS: dict[str, ModelSpec] = {
    "most_popular": ModelSpec(model="popularity"),
    "trending": ModelSpec(model="popularity", params={"half_life_days": 7.0}),
    "item_knn_cosine": ModelSpec(
        model="item_knn",
        params={"similarity": "cosine"},
        search={"neighbors": [50, 100, 200, 400], "shrinkage": [0.0, 25.0]},
    ),
    "item_knn_bm25": ModelSpec(
        model="item_knn",
        params={"similarity": "bm25"},
        search={"neighbors": [50, 100, 400], "bm25_k1": [0.5, 1.2], "bm25_b": [0.5, 0.75]},
    ),
    "ease": ModelSpec(model="ease", search={"l2": [100.0, 250.0, 500.0, 1000.0, 2000.0]}),
    "als": ModelSpec(
        model="als",
        params={"iterations": 15},
        search={"factors": [64, 128], "regularization": [5.0, 20.0, 50.0], "alpha": [1.0, 5.0]},
    ),
    "content": ModelSpec(model="content"),
}

REFERENCE_NDCG10: dict[str, float] = {
    "ease": 0.129,
    "als": 0.126,
    "item_knn_bm25": 0.119,
    "item_knn_cosine": 0.113,
    "lightfm_warp": 0.110,
    "bpr": 0.106,
    "most_popular": 0.086,
}
"""Published NDCG@10 of the chronological protocol; models we do not have are listed too."""

REFERENCE_ONLY = ("lightfm_warp", "bpr")

console = Console(width=None if sys.stdout.isatty() else 160)
status = Console(stderr=True)


def load_movielens(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The classified frame (every rating positive, weight 1) and the item frame.

    Parameters
    ----------
    folder
        A MovieLens ``ml-latest-small`` folder with ``ratings.csv`` and ``movies.csv``.

    Returns
    -------
    feedback, items
        ``USER, ITEM, WEIGHT, FEEDBACK, TIMESTAMP`` (micros) in file order; items indexed by
        movie id with ``title`` and ``tags`` (the genres).
    """
    ratings = pd.read_csv(
        folder / "ratings.csv",
        dtype={"userId": str, "movieId": str, "rating": np.float64, "timestamp": np.int64},
    )
    movies = pd.read_csv(folder / "movies.csv", dtype={"movieId": str, "title": str})
    feedback = pd.DataFrame(
        {
            Columns.USER: ratings["userId"].to_numpy(),
            Columns.ITEM: ratings["movieId"].to_numpy(),
            Columns.WEIGHT: np.ones(len(ratings), dtype=np.float32),
            FEEDBACK: FeedbackClass.POSITIVE.value,
            Columns.TIMESTAMP: ratings["timestamp"].to_numpy(dtype=np.int64) * 1_000_000,
        }
    )
    tags = [
        [g for g in str(genres).split("|") if g and g != "(no genres listed)"]
        for genres in movies["genres"]
    ]
    items = pd.DataFrame(
        {"title": movies["title"].to_numpy(), "tags": tags},
        index=pd.Index(movies["movieId"].to_numpy(), name="id"),
    )
    return feedback, items


def run_protocol(
    feedback: pd.DataFrame,
    items: pd.DataFrame,
    models: dict[str, ModelSpec],
    protocol: str,
    tune: bool,
) -> tuple[EvaluationRun, float]:
    """One evaluation run with a progress bar per model; also its wall time."""
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=status,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def show(step: Step) -> None:
            if step.model not in tasks:
                tasks[step.model] = bar.add_task(step.model, total=step.total)
            bar.update(
                tasks[step.model],
                completed=step.done,
                total=step.total,
                description=f"{protocol} · {step.model}: {step.message}",
            )

        run = run_evaluation(
            feedback,
            items,
            models,
            protocol="random" if protocol == "random" else "chronological",
            ks=(10,),
            tune_models=tune,
            seed=0,
            progress=show,
            now=datetime.now(UTC),
        )
    return run, time.perf_counter() - started


def table(run: EvaluationRun, seconds: float) -> Table:
    """NDCG, recall, hit rate and coverage at 10, timings, and the reference next to ours."""
    d = run.data
    reference = run.protocol == "chronological"
    out = Table(
        title=f"MovieLens latest-small, {run.protocol} protocol"
        f"{', tuned on validation' if run.tuned else ''}: {d.test_users:,} test users, "
        f"{d.test_rows:,} test ratings, {d.items:,} items ({seconds:.0f} s)",
        title_justify="left",
    )
    out.add_column("model")
    for heading in ("NDCG@10", "Recall@10", "HR@10", "coverage@10"):
        out.add_column(heading, justify="right")
    if reference:
        out.add_column("reference NDCG@10", justify="right")
    out.add_column("fit s", justify="right")
    out.add_column("ms / 1,000 users", justify="right")
    out.add_column("tune s", justify="right")
    out.add_column("chosen parameters")
    for m in run.models:
        ref = [_fmt(REFERENCE_NDCG10.get(m.name), 3)] if reference else []
        if m.result is None:
            out.add_row(m.name, *["-"] * 4, *ref, "-", "-", "-", f"failed: {m.error}")
            continue
        s, tuning = m.result.score, m.result.tuning
        chosen = {k: s.params[k] for k in tuning.searched} if tuning else {}
        out.add_row(
            m.name,
            *(_fmt(s.metric(f"{name}@10")) for name in ("ndcg", "recall", "hit_rate", "coverage")),
            *ref,
            f"{s.fit_seconds:.2f}",
            f"{s.ms_per_1000_users:.0f}",
            f"{tuning.seconds:.1f}" if tuning else "-",
            ", ".join(f"{k}={v}" for k, v in chosen.items()) or "-",
        )
    if reference:
        for name in REFERENCE_ONLY:
            out.add_row(name, "-", "-", "-", "-", _fmt(REFERENCE_NDCG10[name], 3), "", "", "", "")
    return out


def placements_table(scores: list[accuracy_placements.Score], k: int) -> Table:
    """Single models, the weighted hybrid and the learned ranker, with the lift over the best
    single model."""
    singles = [s for s in scores if s.kind == "model"]
    best = max(singles, key=lambda s: s.ndcg) if singles else None
    out = Table(
        title=f"Placements on MovieLens latest-small, chronological protocol, {k} candidates per "
        f"source, everything chosen on validation (best single model: "
        f"{best.name if best else '-'})",
        title_justify="left",
    )
    out.add_column("placement")
    for heading in ("NDCG@10", "lift", "Recall@10", "MAP@10", "HR@10", "users", "s"):
        out.add_column(heading, justify="right")
    out.add_column("chosen")
    for s in scores:
        lift = f"{100 * (s.ndcg / best.ndcg - 1):+.1f} %" if best and best.ndcg > 0 else "-"
        out.add_row(
            s.name,
            _fmt(s.ndcg),
            lift,
            _fmt(s.recall),
            _fmt(s.map),
            _fmt(s.hit_rate),
            f"{s.users:,}",
            f"{s.seconds:.0f}",
            s.chosen or "-",
        )
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def machine() -> str:
    """One line about the machine and library versions the figures come from."""
    return (
        f"{platform.platform()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"numpy {np.__version__} · scipy {scipy.__version__} · pandas {pd.__version__}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data/ml-latest-small"),
        help="folder with ratings.csv and movies.csv (read in place, never copied)",
    )
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated subset of {', '.join(MODELS)}",
    )
    parser.add_argument("--protocol", choices=("chronological", "random", "both"), default="both")
    parser.add_argument(
        "--no-tune", action="store_true", help="score the default parameters, no grid search"
    )
    parser.add_argument(
        "--part",
        choices=("all", "models", "segments", "placements"),
        default="all",
        help="every model on MovieLens (models), per-segment against global (segments), whole "
        "placements against single models (placements), or all three",
    )
    parser.add_argument(
        "--segment-k",
        default="auto,5,10",
        help="MovieLens segmentations to compare on: 'auto' (by silhouette) or numbers of segments",
    )
    parser.add_argument(
        "--segmenter",
        choices=("auto", "tastemaker", "sklearn"),
        default="auto",
        help="K-Means through tastemaker.profiles.segments or scikit-learn (auto: the former "
        "when importable)",
    )
    parser.add_argument(
        "--candidates", type=int, default=100, help="candidates per source in the placements"
    )
    parser.add_argument("--sample-users", type=int, default=1200)
    parser.add_argument("--sample-items", type=int, default=3000)
    args = parser.parse_args(argv)
    segment_ks = [None if k.strip() == "auto" else int(k) for k in args.segment_k.split(",")]
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    for name in ("ratings.csv", "movies.csv"):
        if not (args.data / name).is_file():
            parser.error(f"{args.data / name} not found: give --data the ml-latest-small folder")
    feedback, items = load_movielens(args.data)
    models = {n: MODELS[n] for n in names}
    protocols = ["chronological", "random"] if args.protocol == "both" else [args.protocol]
    console.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()}")
    console.print(
        f"{len(feedback):,} ratings (all positive, weight 1) · "
        f"{feedback[Columns.USER].nunique():,} users · {len(items):,} movies"
    )
    started = time.perf_counter()
    tuned: dict[str, TunedScore] = {}
    if args.part in ("all", "models"):
        for protocol in protocols:
            run, seconds = run_protocol(feedback, items, models, protocol, not args.no_tune)
            console.print(table(run, seconds))
            if protocol == "chronological":
                tuned = {m.name: m.result for m in run.models if m.result is not None}
    if args.part in ("all", "segments"):
        with status.status("per-segment models") as spinner:
            accuracy_segments.run(
                (feedback, items),
                segment_ks,
                args.segmenter,
                args.sample_users,
                args.sample_items,
                # Wide tables: a terminal or a pipe narrower than this would fold them.
                Console(width=max(console.width, 132)).print,
                lambda message: spinner.update(message),
            )
    if args.part in ("all", "placements"):
        with status.status("placements") as spinner:
            outcome = accuracy_placements.run(
                (feedback, items),
                {n: MODELS[n] for n in names},
                console.print,
                lambda message: spinner.update(message),
                k=args.candidates,
                tune_ranker=not args.no_tune,
                tuned=tuned,
            )
        console.print(placements_table(outcome.scores, args.candidates))
        lift = outcome.lift
        console.print(
            f"learned ranker − {lift.model} (whose own list from the candidate table scores "
            f"{lift.model_ndcg:.4f}): {lift.mean:+.4f} NDCG@10, 95 % bootstrap interval over "
            f"test users [{lift.low:+.4f}, {lift.high:+.4f}]"
        )
        t = outcome.timing
        console.print(
            f"learned ranker per request (1 user, {t.candidates:.0f} candidates on average, "
            f"{t.users} users): features {t.features_ms[0]:.2f} ms (p95 {t.features_ms[1]:.2f}), "
            f"booster {t.predict_ms[0]:.2f} ms (p95 {t.predict_ms[1]:.2f})"
        )
    console.print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
