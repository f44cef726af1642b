"""``tastemaker experiment``: create, start, stop, report and plan A/B tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from tastemaker.cli.context import console, fail, state
from tastemaker.errors import InvalidInput, TastemakerError
from tastemaker.experiments.definition import Arm, Experiment, ExperimentSpec
from tastemaker.experiments.manage import (
    create_experiment,
    get_experiment,
    list_experiments,
    start_experiment,
    stop_experiment,
)
from tastemaker.experiments.planning import plan as plan_users
from tastemaker.experiments.plot import lift_chart, render_html
from tastemaker.experiments.report import ExperimentReport, experiment_report, segment_labels

app = typer.Typer(help="A/B tests over placement configurations.", no_args_is_help=True)


def _problems(exc: TastemakerError) -> str:
    if isinstance(exc, InvalidInput) and exc.problems:
        return exc.message + ": " + "; ".join(f"{p.field}: {p.reason}" for p in exc.problems)
    return exc.message


def _arm(text: str) -> dict[str, Any]:
    """``name=placement`` or ``name=placement:share``."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise fail(f"--arm takes NAME=PLACEMENT[:SHARE], not {text!r}")
    placement, _, share = rest.partition(":")
    arm: dict[str, Any] = {"name": name, "placement": placement}
    if share:
        try:
            arm["share"] = float(share)
        except ValueError:
            raise fail(f"the share in --arm {text!r} is not a number") from None
    return arm


def _show(e: Experiment) -> None:
    arms = ", ".join(
        f"{a.name}→{a.placement} ({s:.0%})"
        for a, s in zip(e.arms, e.shares().values(), strict=True)
    )
    console.print(
        f"experiment [bold]{escape(e.id)}[/] on {escape(e.placement)}: {e.status}; arms "
        f"{escape(arms)}; control {escape(e.control)}; layer {escape(e.layer)} "
        f"({e.traffic:.0%} of it); holdout {e.holdout:.0%}; primary metric "
        f"{escape(e.primary_metric)}; {e.planned_users} users per arm planned",
        soft_wrap=True,
    )


def _placements(ctx: typer.Context) -> tuple[set[str], set[str]]:
    from tastemaker.serving.runtime import load_placements

    st = state(ctx)
    settings = st.settings()
    return set(load_placements(settings, st.store())), set(settings.event_types)


@app.command("create")
def create(
    ctx: typer.Context,
    experiment_id: Annotated[str | None, typer.Option("--id", help="The experiment's id")] = None,
    placement: Annotated[str | None, typer.Option(help="The placement it applies to")] = None,
    arm: Annotated[
        list[str] | None,
        typer.Option(help="NAME=PLACEMENT[:SHARE], repeatable; the first is the control"),
    ] = None,
    metric: Annotated[str, typer.Option(help="Primary metric")] = "ctr",
    also: Annotated[list[str] | None, typer.Option(help="More metrics, repeatable")] = None,
    planned_users: Annotated[int | None, typer.Option(help="Users per arm (the horizon)")] = None,
    baseline: Annotated[float | None, typer.Option(help="Expected control value")] = None,
    mde: Annotated[float | None, typer.Option(help="Relative effect to detect")] = None,
    sd: Annotated[float | None, typer.Option(help="Per-user sd (mean metrics)")] = None,
    alpha: Annotated[float, typer.Option()] = 0.05,
    power: Annotated[float, typer.Option()] = 0.8,
    layer: Annotated[str | None, typer.Option(help="Default: the placement")] = None,
    traffic: Annotated[float, typer.Option(help="Share of the layer's users")] = 1.0,
    holdout: Annotated[float, typer.Option(help="Share held out (see the control)")] = 0.0,
    file: Annotated[
        Path | None, typer.Option(help="The definition as JSON (as POST /v1/experiments takes)")
    ] = None,
) -> None:
    """Create an experiment (a draft); `tastemaker experiment start` runs it."""
    if file is not None:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read {file}: {exc}") from exc
    else:
        data = {
            "id": experiment_id,
            "placement": placement,
            "arms": [_arm(a) for a in arm or []],
            "primary_metric": metric,
            "metrics": also or [],
            "planned_users": planned_users,
            "baseline": baseline,
            "mde": mde,
            "sd": sd,
            "alpha": alpha,
            "power": power,
            "layer": layer,
            "traffic": traffic,
            "holdout": holdout,
        }
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'definition'}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid experiment: {reasons}") from exc
    try:
        placements, types = _placements(ctx)
        made = create_experiment(state(ctx).store(), spec, placements, types, datetime.now(UTC))
    except TastemakerError as exc:
        raise fail(_problems(exc)) from exc
    _show(made)


@app.command("start")
def start(ctx: typer.Context, experiment_id: str) -> None:
    """Start a draft (servers pick it up within model_poll_seconds)."""
    try:
        placements, types = _placements(ctx)
        e = start_experiment(
            state(ctx).store(), experiment_id, placements, types, datetime.now(UTC)
        )
    except TastemakerError as exc:
        raise fail(_problems(exc)) from exc
    _show(e)


@app.command("stop")
def stop(ctx: typer.Context, experiment_id: str) -> None:
    """Stop a running experiment for good."""
    try:
        e = stop_experiment(state(ctx).store(), experiment_id, datetime.now(UTC))
    except TastemakerError as exc:
        raise fail(_problems(exc)) from exc
    _show(e)


@app.command("list")
def list_all(ctx: typer.Context) -> None:
    """Every experiment and its status."""
    table = Table("id", "placement", "status", "arms", "started", "stopped")
    for e in list_experiments(state(ctx).store()):
        table.add_row(
            escape(e.id),
            escape(e.placement),
            e.status,
            escape(", ".join(a.name for a in e.arms)),
            e.started_at.isoformat(timespec="seconds") if e.started_at else "",
            e.stopped_at.isoformat(timespec="seconds") if e.stopped_at else "",
        )
    console.print(table)


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"
    svg = "svg"


def _fmt(value: float | None, rate: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if rate else f"{value:.4g}"


def _print(report: ExperimentReport) -> None:
    table = Table(title=f"experiment {escape(report.experiment)}")
    for column in ("group", "users", "exposures", *report.metrics):
        table.add_column(escape(column), justify="left" if column == "group" else "right")
    for g in [*report.arms, *([report.holdout] if report.holdout else [])]:
        cells = [
            _fmt(g.metrics[m].value, g.metrics[m].successes is not None) for m in report.metrics
        ]
        table.add_row(escape(g.name), str(g.users), str(g.exposures), *cells)
    console.print(table)
    lifts = Table(title="against the control")
    for column in ("arm", "metric", "lift", "interval", "p", "significant"):
        lifts.add_column(column)
    for c in report.comparisons:
        ci = c.relative_ci
        lifts.add_row(
            escape(c.arm),
            escape(c.metric),
            "-" if c.relative is None else f"{c.relative:+.1%}",
            "-" if ci is None else f"{ci[0] or 0:+.1%} to {ci[1] or 0:+.1%}",
            f"{c.p_value:.3g}",
            "yes" if c.significant else "no",
        )
    console.print(lifts)
    console.print(f"sample ratio: chi-square p = {report.srm.p_value:.3g}")
    console.print(f"[bold]{escape(report.decision)}[/]", soft_wrap=True)


@app.command("report")
def report(
    ctx: typer.Context,
    experiment_id: str,
    format: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here")] = None,
    segments: Annotated[bool, typer.Option(help="Break down by the active segmentation")] = True,
) -> None:
    """The numbers per arm and metric, the tests and the decision (json, html or svg too)."""
    try:
        st = state(ctx)
        store, now = st.store(), datetime.now(UTC)
        experiment = get_experiment(store, experiment_id)
        labels = segment_labels(store, st.settings(), now) if segments else None
        built = experiment_report(store, experiment, labels)
    except TastemakerError as exc:
        raise fail(_problems(exc)) from exc
    if format is ReportFormat.text and output is None:
        _print(built)
        return
    text = {
        ReportFormat.json: lambda: built.model_dump_json(indent=2),
        ReportFormat.html: lambda: render_html(built),
        ReportFormat.svg: lambda: lift_chart(built),
        ReportFormat.text: lambda: built.decision,
    }[format]()
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text)
        console.print(f"wrote {output}; {escape(built.decision)}", soft_wrap=True)


@app.command("plan")
def plan(
    ctx: typer.Context,
    baseline: Annotated[float, typer.Option(help="The control's expected value (0.1: 10 %)")],
    mde: Annotated[float, typer.Option(help="Relative effect to detect (0.1: +10 %)")],
    metric: Annotated[str, typer.Option(help="ctr, conversion, dwell, …")] = "ctr",
    sd: Annotated[float | None, typer.Option(help="Per-user sd (mean metrics)")] = None,
    alpha: Annotated[float, typer.Option()] = 0.05,
    power: Annotated[float, typer.Option()] = 0.8,
    variants: Annotated[int, typer.Option(min=1, max=9, help="Variants besides the control")] = 1,
) -> None:
    """How many users an experiment needs (per arm and in all) to detect the effect."""
    try:
        spec = ExperimentSpec(
            id="plan",
            placement="plan",
            arms=[Arm(name=f"arm{i}", placement="plan") for i in range(variants + 1)],
            primary_metric=metric,
            alpha=alpha,
            power=power,
        )
        found = plan_users(spec, baseline, mde, sd)
    except ValidationError as exc:
        raise fail("; ".join(str(e["msg"]) for e in exc.errors())) from exc
    except TastemakerError as exc:
        raise fail(_problems(exc)) from exc
    console.print(
        f"{found.users_per_arm} users per arm ({found.experiment_users} in all) to detect "
        f"{found.baseline:g} → {found.target:g} ({found.mde:+.0%}) in {found.metric} with "
        f"power {found.power:.0%} at α = {found.alpha:.3g} per comparison"
    )
    typer.echo(found.users_per_arm)
