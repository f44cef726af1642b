"""``tastemaker segment``: find user segments, print how k was chosen and what they are."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tastemaker.cli.context import console, fail, state
from tastemaker.errors import TastemakerError
from tastemaker.profiles.segments import (
    DEFAULT_FEATURES,
    UNSEGMENTED,
    Segmentation,
    SegmentationConfig,
    segment_store,
)


class MethodChoice(StrEnum):
    kmeans = "kmeans"
    gmm = "gmm"
    dbscan = "dbscan"


class CriterionChoice(StrEnum):
    silhouette = "silhouette"
    bic = "bic"


def _k(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise fail(f"--k must be 'auto' or a whole number, not {value!r}") from None


def _features(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return DEFAULT_FEATURES
    return tuple(f.strip() for v in values for f in v.split(",") if f.strip())


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def candidates_table(segmentation: Segmentation) -> Table:
    """One row per candidate k (or eps) with its scores; the chosen one marked."""
    dbscan = segmentation.method == "dbscan"
    gmm = segmentation.method == "gmm"
    title = "candidates (DBSCAN eps)" if dbscan else f"candidates ({segmentation.method})"
    table = Table(title=title)
    if dbscan:
        table.add_column("eps", justify="right")
    table.add_column("k", justify="right")
    table.add_column("silhouette", justify="right")
    if gmm:
        table.add_column("BIC", justify="right")
    elif dbscan:
        table.add_column("unsegmented", justify="right")
    else:
        table.add_column("inertia", justify="right")
    table.add_column("s", justify="right")
    table.add_column("chosen", justify="center")
    for c in segmentation.candidates:
        row = [_number(c.eps, 3)] if dbscan else []
        row += [str(c.k), _number(c.silhouette)]
        if gmm:
            row.append(_number(c.bic, 1))
        elif dbscan:
            row.append("-" if c.noise_share is None else f"{c.noise_share:.1%}")
        else:
            row.append(_number(c.inertia, 1))
        row += [f"{c.seconds:.2f}", "✓" if c.chosen else ""]
        table.add_row(*row, style="bold" if c.chosen else None)
    return table


def segments_table(segmentation: Segmentation) -> Table:
    """Every segment: id, name, size, share, description."""
    table = Table(title="segments")
    table.add_column("id", justify="right")
    table.add_column("name")
    table.add_column("size", justify="right")
    table.add_column("share", justify="right")
    table.add_column("description")
    for s in segmentation.segments:
        table.add_row(
            str(s.id),
            escape(s.name),
            str(s.size),
            f"{s.share:.1%}",
            escape(s.description),
            style="dim" if s.id == UNSEGMENTED else None,
        )
    return table


def segment(
    ctx: typer.Context,
    method: Annotated[
        MethodChoice, typer.Option("--method", "-m", help="Clustering method")
    ] = MethodChoice.kmeans,
    k: Annotated[
        str,
        typer.Option(
            "--k", help="Number of segments, or 'auto' to choose it by silhouette (not for dbscan)"
        ),
    ] = "auto",
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--features",
            "-f",
            help="Feature columns or patterns to cluster on, repeatable or comma-separated "
            f"(default: {', '.join(DEFAULT_FEATURES)})",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every randomized step")] = 0,
    k_min: Annotated[int, typer.Option(min=2, help="Smallest k tried by --k auto")] = 2,
    k_max: Annotated[int, typer.Option(min=2, help="Largest k tried by --k auto")] = 10,
    components: Annotated[
        int | None,
        typer.Option(min=1, help="Reduce to this many principal components first"),
    ] = None,
    criterion: Annotated[
        CriterionChoice, typer.Option(help="How --k auto chooses (bic: gmm only)")
    ] = CriterionChoice.silhouette,
    eps: Annotated[
        float | None,
        typer.Option(help="DBSCAN radius (default: chosen from the k-distance curve)"),
    ] = None,
    min_samples: Annotated[
        int | None, typer.Option(min=2, help="DBSCAN core size (default: 2 × dimensions)")
    ] = None,
) -> None:
    """Segment the users: cluster their profile features, name the segments, save them.

    The profiles are rebuilt from the stored events; the new segmentation becomes the active
    version of the model `segments` (served at /v1/segments).
    """
    try:
        config = SegmentationConfig.model_validate(
            {
                "method": method.value,
                "k": _k(k),
                "k_min": k_min,
                "k_max": k_max,
                "features": _features(features),
                "n_components": components,
                "seed": seed,
                "criterion": criterion.value,
                "eps": eps,
                "min_samples": min_samples,
            }
        )
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise fail(f"invalid options: {reasons}") from exc
    try:
        st = state(ctx)
        settings, store = st.settings(), st.store()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("segmenting", total=None)
            run = segment_store(
                store,
                settings,
                config,
                datetime.now(UTC),
                progress=lambda msg: bar.update(task, description=msg),
            )
    except TastemakerError as exc:
        raise fail(exc) from exc
    seg = run.segmentation
    if run.fitted.dropped:
        console.print(f"left out (no user has a value): {', '.join(run.fitted.dropped)}")
    console.print(candidates_table(seg))
    console.print(segments_table(seg))
    timings = ", ".join(f"{step} {s:.2f} s" for step, s in run.seconds.items())
    console.print(
        f"{seg.n_users} users, {seg.k} segments on {len(seg.features)} features "
        f"({', '.join(seg.features)}); {timings}"
    )
    console.print(f"saved as version {run.version.version} of 'segments' (active)")
