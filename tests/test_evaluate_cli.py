"""``tastemaker evaluate`` end to end on a SQLite store filled by ``demo-data``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tastemaker.cli import app

runner = CliRunner()


def tastemaker(database: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["--database-url", database, "--insecure-dev", *args], env=env)


def flat(result: Result) -> str:
    """The output with runs of white space as single spaces (rich wraps long lines)."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'x.db'}"
    result = tastemaker(url, "demo-data", "--users", "120", "--items", "150", "--seed", "7")
    assert result.exit_code == 0, result.output
    return url


def test_evaluate_writes_json_and_html(database: str, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = tastemaker(
        database,
        "evaluate",
        "--model",
        "popular",
        "--model",
        "ease",
        "--model",
        "item_knn",
        "--tune",
        "--k",
        "5",
        "--k",
        "10",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    text = flat(result)
    assert "metrics at K = 10" in text
    assert "by user activity" in text
    assert "ease: chose" in text
    run = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert run["protocol"] == "chronological"
    assert run["ks"] == [5, 10]
    assert run["tuned"] is True
    assert [m["name"] for m in run["models"]] == ["popular", "ease", "item_knn"]
    assert run["data"]["test_users"] > 0
    for m in run["models"]:
        assert 0.0 <= m["metrics"]["ndcg@10"] <= 1.0
        assert m["error"] is None
    assert run["models"][0]["tuning"] is None
    ease = run["models"][1]["tuning"]
    assert len(ease["candidates"]) == 4  # the default grid of `ease`
    assert ease["best_params"] == run["models"][1]["params"]
    page = (out / "evaluation.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 5  # four metric-vs-K charts and the activity chart
    assert "<script" not in page


def test_random_protocol_without_tuning(database: str, tmp_path: Path) -> None:
    result = tastemaker(
        database,
        "evaluate",
        "-m",
        "trending",
        "--protocol",
        "random",
        "--seed",
        "3",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert run["protocol"] == "random"
    assert run["seed"] == 3
    assert run["ks"] == [5, 10, 20]
    assert run["models"][0]["params"] == {"half_life_days": 7.0}


def test_unknown_model_is_an_error(database: str, tmp_path: Path) -> None:
    result = tastemaker(database, "evaluate", "-m", "nope", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "cannot run this evaluation" in flat(result)
    assert not (tmp_path / "evaluation.json").exists()


def test_grid_over_the_limit_is_an_error(database: str, tmp_path: Path) -> None:
    result = tastemaker(
        database, "evaluate", "-m", "als", "--tune", "--max-grid", "5", "--out", str(tmp_path)
    )
    assert result.exit_code == 2
    assert "12 combinations" in flat(result)
    assert "limit of 5" in flat(result)


def test_a_model_that_cannot_fit_is_reported_and_fails_the_command(
    database: str, tmp_path: Path
) -> None:
    config = tmp_path / "tastemaker.toml"
    config.write_text(
        '[training.models.popular]\nmodel = "popularity"\n\n'
        '[training.models.small_ease]\nmodel = "ease"\nparams = { max_items = 10 }\n',
        encoding="utf-8",
    )
    env = {"TASTEMAKER_CONFIG": str(config)}
    result = tastemaker(database, "evaluate", "--out", str(tmp_path / "r"), env=env)
    assert result.exit_code == 1, result.output
    assert "small_ease was not evaluated" in flat(result)
    run = json.loads((tmp_path / "r" / "evaluation.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in run["models"]] == ["popular", "small_ease"]
    assert "max_items" in run["models"][1]["error"]
    assert "Not evaluated" in (tmp_path / "r" / "evaluation.html").read_text(encoding="utf-8")


def test_an_empty_store_is_an_error(tmp_path: Path) -> None:
    result = tastemaker(f"sqlite:///{tmp_path / 'empty.db'}", "evaluate", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "no usable events" in flat(result)
