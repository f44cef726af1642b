"""The root command and the small commands; larger groups live in their own modules."""

from __future__ import annotations

import copy
import logging
from typing import Annotated, Any

import typer

from tastemaker import __version__
from tastemaker.cli import demo, evaluating, experimenting, importing, keys, segmenting, training
from tastemaker.cli.context import CliState, console, fail, state
from tastemaker.config import export_overrides
from tastemaker.errors import TastemakerError

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

app = typer.Typer(
    name="tastemaker",
    help="Tastemaker: personalized recommendations you host yourself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys.app, name="keys")
app.add_typer(importing.app, name="import")
app.add_typer(experimenting.app, name="experiment")
app.command("demo-data")(demo.demo_data)
app.command("train")(training.train)
app.command("train-ranker")(training.train_ranker)
app.command("evaluate")(evaluating.evaluate)
app.command("segment")(segmenting.segment)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Overrides TASTEMAKER_DATABASE_URL", show_default=False
        ),
    ] = None,
    insecure_dev: Annotated[
        bool | None,
        typer.Option(
            "--insecure-dev/--secure",
            help="Development mode: no API keys, built-in secret. Never in production.",
            show_default=False,
        ),
    ] = None,
) -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # Migrations are routine; their step-by-step log only matters when debugging them.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = CliState(database_url=database_url, insecure_dev=insecure_dev)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or migrate the database named by the settings."""
    try:
        store = state(ctx).store()
    except TastemakerError as exc:
        raise fail(exc) from exc
    console.print(
        f"database ready: {store.items.count()} items, {store.users.count()} users, "
        f"{store.events.count()} events"
    )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default: settings.host")] = None,
    port: Annotated[int | None, typer.Option(help="Default: settings.port")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port, each with its own models and in-process "
            "cache (configure redis_url so they share one)",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="A log line per request (uvicorn's). Off saves a little CPU per request; "
            "keep it on unless a proxy in front logs the requests",
        ),
    ] = True,
) -> None:
    """Serve the REST API."""
    import uvicorn

    from tastemaker.service.app import check_startup, create_app, tune_server_process

    cli = state(ctx)
    try:
        settings = cli.settings(host=host, port=port)
        store = cli.store()
        check_startup(settings, store)
    except TastemakerError as exc:
        raise fail(exc) from exc
    store.close()
    console.print(
        f"serving on http://{settings.host}:{settings.port} (docs at /docs)"
        + (f" with {workers} processes" if workers > 1 else "")
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": access_log,
    }
    if workers == 1:
        api = create_app(settings)
        tune_server_process()
        uvicorn.run(api, **options)
        return
    # uvicorn spawns the processes; each builds its app from the environment, where the
    # command line's options go first (the rest of the settings it reads as this one did).
    export_overrides(database_url=cli.database_url, insecure_dev=cli.insecure_dev)
    uvicorn.run(
        "tastemaker.service.app:app_from_env",
        factory=True,
        workers=workers,
        log_config=_worker_logging(uvicorn.config.LOGGING_CONFIG),
        **options,
    )


def _worker_logging(uvicorn_logging: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging configuration plus this command's for Tastemaker's own loggers, which
    :func:`root`'s ``basicConfig`` does not give the processes uvicorn spawns."""
    config = copy.deepcopy(uvicorn_logging)
    config["formatters"]["tastemaker"] = {"format": LOG_FORMAT}
    config["handlers"]["tastemaker"] = {
        "class": "logging.StreamHandler",
        "formatter": "tastemaker",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["tastemaker"], "level": "INFO"}
    config["loggers"]["alembic"] = {"level": "WARNING"}
    return config


def main() -> None:
    app()
