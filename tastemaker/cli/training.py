"""``tastemaker train``: fit the configured models and publish them behind the quality gate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tastemaker.cli.context import console, fail, state
from tastemaker.errors import TastemakerError
from tastemaker.training import train as run_training


def train(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="A name from training.models; repeatable. Default: all"),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Make the new versions live even if they fail the quality gate")
    ] = False,
) -> None:
    """Train the configured models on everything in the store and publish new versions."""
    try:
        st = state(ctx)
        settings, store = st.settings(), st.store()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("training", total=None)
            outcomes = run_training(
                store,
                settings,
                datetime.now(UTC),
                model,
                force=force,
                progress=lambda msg: bar.update(task, description=msg),
            )
    except TastemakerError as exc:
        raise fail(exc) from exc
    gate = settings.training.gate_metric
    table = Table("model", "kind", "version", gate, "fit s", "live", "why", title="trained")
    for o in outcomes:
        table.add_row(
            o.name,
            o.version.kind,
            str(o.version.version),
            f"{o.score.metric(gate):.4f}" if o.score else "-",
            f"{o.score.fit_seconds:.2f}" if o.score else "-",
            "yes" if o.activated else "no",
            o.reason,
        )
    console.print(table)
    if not all(o.activated for o in outcomes):
        raise typer.Exit(1)


def train_ranker(
    ctx: typer.Context,
    from_exposures: Annotated[
        bool,
        typer.Option(
            "--from-exposures",
            help="Learn from logged exposures and their attributed events instead of history",
        ),
    ] = False,
    name: Annotated[str, typer.Option(help="Registry name of the ranker")] = "ranker",
) -> None:
    """Train the learned ranker of the placements (ranking.kind = "learned") and make it live."""
    from tastemaker.training.ranker import train_ranker as run

    try:
        st = state(ctx)
        settings, store = st.settings(), st.store()
        with console.status("training the ranker"):
            outcome = run(
                store, settings, datetime.now(UTC), name=name, from_exposures=from_exposures
            )
    except TastemakerError as exc:
        raise fail(exc) from exc
    console.print(
        f"ranker {name!r} version {outcome.version.version} is live "
        f"(trained from {outcome.source}, {outcome.examples:,} rows)"
    )
