"""``tastemaker evaluate``: score the configured models offline and write a report."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tastemaker.cli.context import console, fail, state
from tastemaker.config import Settings
from tastemaker.errors import TastemakerError
from tastemaker.evaluation.html import headline_k, render_html
from tastemaker.evaluation.report import ACTIVITY_LABELS
from tastemaker.models.data import classify_events
from tastemaker.storage.base import DataStore
from tastemaker.training.evaluation_run import DEFAULT_KS, EvaluationRun, run_evaluation
from tastemaker.training.holdout import UNSEGMENTED
from tastemaker.training.tuning import DEFAULT_METRIC, MAX_GRID, Step


class ProtocolChoice(StrEnum):
    chronological = "chronological"
    random = "random"


def evaluate(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="A name from training.models; repeatable. Default: all"),
    ] = None,
    protocol: Annotated[
        ProtocolChoice,
        typer.Option(
            help="Hold out each user's latest interactions (chronological) or random ones"
        ),
    ] = ProtocolChoice.chronological,
    k: Annotated[
        list[int] | None,
        typer.Option("--k", "-k", min=1, help="Cut-off; repeatable. Default: 5, 10 and 20"),
    ] = None,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune/--no-tune",
            help="Search each model's training.models.<name>.search grid on a validation split "
            "of the training part before scoring on test",
        ),
    ] = False,
    metric: Annotated[
        str, typer.Option(help="What tuning maximizes on the validation split")
    ] = DEFAULT_METRIC,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random protocol")] = 0,
    max_grid: Annotated[
        int, typer.Option(min=1, help="Largest grid a model may search")
    ] = MAX_GRID,
    out: Annotated[
        Path,
        typer.Option(
            "--out", file_okay=False, help="Where evaluation.json and evaluation.html are written"
        ),
    ] = Path("reports"),
    segments: Annotated[
        Path | None,
        typer.Option(
            "--segments",
            dir_okay=False,
            help="User → segment labels for a per-segment breakdown: JSON Lines of "
            '{"user_id": …, "segment": …} (as `demo-data --out` writes segments.jsonl) or a CSV '
            "with user_id and segment columns",
            show_default=False,
        ),
    ] = None,
    by_segment: Annotated[
        bool,
        typer.Option(
            "--by-segment/--no-by-segment",
            help="Without --segments: break the scores down by the active segmentation "
            "(`tastemaker segment`) when there is one",
        ),
    ] = True,
) -> None:
    """Measure the configured models on a holdout of the store's events and write a report.

    Every model is fitted on the same training part and scored on the same held-out part with a
    full ranking (each user's training items excluded). With --tune, the parameters are chosen
    on a validation split carved from the training part; the test part is used once.
    Every score is also broken down per segment — by the labels of --segments, else by the
    active segmentation when there is one — and per-segment models (`segmented`, popularity
    with `by_segment`) train on those labels.
    """
    ks = tuple(k) if k else DEFAULT_KS
    now = datetime.now(UTC)
    labels = read_segments(segments) if segments is not None else None
    source = str(segments) if segments is not None else None
    try:
        st = state(ctx)
        settings = st.settings()
        store = st.store()
        try:
            with console.status("reading the store"):
                events = store.snapshot.events()
                items = store.snapshot.items()
                # The snapshot names users by their pseudonymous key, never the external id.
                keyed = (
                    {store.snapshot.user_key(u): label for u, label in labels.items()}
                    if labels is not None
                    else None
                )
            if keyed is None and by_segment:
                with console.status("labelling users by the active segmentation"):
                    keyed, source = registry_segments(store, settings, now)
        finally:
            store.close()
        feedback = classify_events(events, settings.feedback)
        cfg = settings.training
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def show(step: Step) -> None:
                if step.model not in tasks:
                    tasks[step.model] = bar.add_task(step.model, total=step.total)
                bar.update(
                    tasks[step.model],
                    completed=step.done,
                    total=step.total,
                    description=f"{escape(step.model)}: {escape(step.message)}",
                )

            run = run_evaluation(
                feedback,
                items,
                cfg.models,
                model,
                protocol=protocol.value,
                ks=ks,
                tune_models=tune,
                metric=metric,
                seed=seed,
                test_fraction=cfg.test_fraction,
                min_interactions=cfg.min_user_interactions,
                max_grid=max_grid,
                progress=show,
                now=now,
                segments=keyed,
                segment_source=source,
            )
    except TastemakerError as exc:
        raise fail(exc) from exc
    console.print(_summary(run))
    console.print(_activity(run))
    if any(m.result is not None and m.result.score.by_segment for m in run.models):
        console.print(_segments(run))
    for m in run.models:
        if m.result is not None and m.result.tuning is not None:
            t = m.result.tuning
            console.print(
                f"{escape(m.name)}: chose {escape(str(t.best_params))} "
                f"({t.metric} {t.best.value:.4f} on validation, {len(t.candidates)} tried)"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(run.to_json() + "\n", encoding="utf-8")
        (out / "evaluation.html").write_text(render_html(run.as_dict()), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    console.print(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.html'}")
    failed = [m for m in run.models if m.error]
    for m in failed:
        console.print(f"[bold red]{escape(m.name)} was not evaluated:[/] {escape(m.error or '')}")
    if failed:
        raise typer.Exit(1)


_COLUMNS = (
    # (metric, heading, decimals): short headings so the table fits an 80-column terminal.
    ("ndcg", "NDCG", 4),
    ("recall", "Recall", 4),
    ("hit_rate", "HR", 4),
    ("map", "MAP", 4),
    ("coverage", "Cover", 3),
    ("novelty", "Novel", 2),
    ("diversity", "Div", 3),
)


def _summary(run: EvaluationRun) -> Table:
    k = headline_k(run.ks)
    d = run.data
    table = Table(
        title=f"{run.protocol} holdout{', tuned' if run.tuned else ''}: metrics at K = {k}, "
        f"{d.test_users:,} test users, {d.items:,} items",
        box=None,  # a box costs a column per cell: without it the table fits 80 columns
        pad_edge=False,
        caption="Cover: share of the catalog in some list · Novel: bits · "
        "ms/1k: ms per 1,000 users",
    )
    longest = max((len(m.name) for m in run.models), default=5)
    table.add_column("model", overflow="fold", min_width=min(max(longest, 5), 20))
    for _, heading, _ in _COLUMNS:
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("fit s", justify="right", no_wrap=True)
    table.add_column("ms/1k", justify="right", no_wrap=True)
    for m in run.models:
        if m.result is None:
            table.add_row(escape(m.name), *["-"] * (len(_COLUMNS) + 1), "failed")
            continue
        s = m.result.score
        metrics = s.report.as_dict()
        table.add_row(
            escape(m.name),
            *(_fmt(metrics.get(f"{name}@{k}"), digits) for name, _, digits in _COLUMNS),
            f"{s.fit_seconds:.2f}",
            f"{s.ms_per_1000_users:.1f}",
        )
    return table


def _activity(run: EvaluationRun) -> Table:
    k = headline_k(run.ks)
    table = Table(
        "model",
        *ACTIVITY_LABELS,
        title=f"NDCG@{k} by user activity (test users)",
        box=None,
        pad_edge=False,
        caption="cold < 5, warm 5-19, heavy ≥ 20 training items",
    )
    for m in run.models:
        if m.result is None:
            continue
        groups = m.result.score.by_activity
        table.add_row(
            escape(m.name),
            *(
                f"{_fmt(groups[g].get(f'ndcg@{k}'))} ({int(groups[g]['users'])})"
                if g in groups
                else "-"
                for g in ACTIVITY_LABELS
            ),
        )
    return table


def _segments(run: EvaluationRun) -> Table:
    """NDCG@k per segment (rows) and model (columns): segments outnumber models less often."""
    k = headline_k(run.ks)
    scored = [
        (m.name, m.result.score.by_segment)
        for m in run.models
        if m.result is not None and m.result.score.by_segment
    ]
    table = Table(
        "segment",
        title=f"NDCG@{k} by segment (test users)",
        box=None,
        pad_edge=False,
        caption=f"labels from {escape(run.segment_source or '?')}; "
        f"{UNSEGMENTED}: test users without a label",
    )
    table.add_column("users", justify="right")
    for name, _ in scored:
        table.add_column(escape(name), justify="right", overflow="fold")
    for g in dict.fromkeys(g for _, groups in scored for g in groups):
        rows = [groups.get(g) for _, groups in scored]
        users = next((f"{int(r['users']):,}" for r in rows if r is not None), "-")
        cells = [_fmt(r.get(f"ndcg@{k}")) if r is not None else "-" for r in rows]
        table.add_row(escape(g), users, *cells)
    return table


def registry_segments(
    store: DataStore, settings: Settings, now: datetime
) -> tuple[dict[str, str] | None, str | None]:
    """User key → segment name by the active ``segments`` version, and a description of it.

    ``(None, None)`` when no segmentation was saved. Users the segmentation leaves unsegmented
    (DBSCAN noise) get no label.
    """
    # Imported here: evaluating without a segmentation needs none of it.
    from tastemaker.profiles.segments import UNSEGMENTED_NAME, label_store, load_segmentation

    found = load_segmentation(store)
    if found is None:
        return None, None
    record, segmentation = found
    names = label_store(store, settings, segmentation, now)
    labels = {
        str(user): str(name)
        for user, name in names.items()
        if name is not None and name != UNSEGMENTED_NAME
    }
    return labels, f"segments v{record.version} ({segmentation.method}, k = {segmentation.k})"


def read_segments(path: Path) -> dict[str, str]:
    """User id → segment label from a JSON Lines or CSV file (see ``--segments``).

    Raises
    ------
    typer.Exit
        The file cannot be read or a row lacks ``user_id`` or ``segment``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read the segments file {path}: {exc.strerror or exc}") from exc
    rows: list[dict[str, object]]
    try:
        if path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(text.splitlines()))
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, csv.Error) as exc:
        raise fail(f"{path} is not JSON Lines or CSV: {exc}") from exc
    out: dict[str, str] = {}
    for n, row in enumerate(rows, start=1):
        user = row.get("user_id") if isinstance(row, dict) else None
        label = row.get("segment") if isinstance(row, dict) else None
        if user is None or label is None or str(label) == "":
            raise fail(
                f"{path}, row {n}: every row needs a user_id and a segment "
                '(JSON Lines: {"user_id": "u1", "segment": "Sports Fans"}; CSV: a header '
                "user_id,segment)"
            )
        out[str(user)] = str(label)
    if not out:
        raise fail(f"{path} holds no segment labels")
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:  # NaN: no user to average over
        return "-"
    return f"{value:.{digits}f}"
