"""``tastemaker segment`` end to end on a SQLite store filled by ``demo-data``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner, Result

from tastemaker.catalog.sample import SampleConfig, generate_sample
from tastemaker.cli import app
from tastemaker.config import load_settings
from tastemaker.profiles.segments import UNSEGMENTED_NAME, label_store, load_segmentation
from tastemaker.storage import open_store

runner = CliRunner()
# The demo-data options below, as a sample config: the planted segments to compare with.
SAMPLE = SampleConfig(seed=7, n_items=400, n_users=400)


def tastemaker(database: str, *args: str) -> Result:
    return runner.invoke(app, ["--database-url", database, "--insecure-dev", *args])


def flat(result: Result) -> str:
    """The output with runs of white space as single spaces (rich wraps long lines)."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'x.db'}"
    result = tastemaker(
        url, "demo-data", "--users", "400", "--items", "400", "--seed", str(SAMPLE.seed)
    )
    assert result.exit_code == 0, result.output
    return url


def table_rows(result: Result, title: str) -> list[list[str]]:
    """The body rows of a rich table printed under ``title`` (cells stripped)."""
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_kmeans_auto_recovers_the_planted_segments(database: str) -> None:
    result = tastemaker(database, "segment", "--method", "kmeans", "--k", "auto", "--seed", "0")
    assert result.exit_code == 0, result.output
    rows = table_rows(result, "candidates (kmeans)")
    assert [r[0] for r in rows] == [str(k) for k in range(2, 11)]  # one row per candidate k
    chosen = [r for r in rows if r[-1] == "✓"]
    assert len(chosen) == 1
    assert chosen[0][0] == "5"
    text = flat(result)
    for word in ("Tech", "Sports", "News", "Lifestyle", "Deal Hunters"):
        assert word in text
    assert "saved as version" in text

    settings = load_settings(database_url=database, insecure_dev=True)
    store = open_store(settings)
    try:
        loaded = load_segmentation(store)
        assert loaded is not None
        record, segmentation = loaded
        assert (record.kind, record.status, record.metrics["k"]) == ("segmentation", "active", 5)
        assert all(len(s.top_items) == 10 for s in segmentation.segments)
        assert all(s.top_items[0].title for s in segmentation.segments)
        # Every stored user, labelled by the saved segmentation, against the planted segments.
        names = label_store(store, settings, segmentation, datetime.now(UTC))
        data = generate_sample(SAMPLE)
        truth = pd.Series({store.snapshot.user_key(u): s for u, s in data.segments.items()})
        assert adjusted_rand_score(truth[names.index], names) >= 0.8
    finally:
        store.close()


def test_gmm_prints_bic_and_a_fixed_k(database: str) -> None:
    result = tastemaker(database, "segment", "-m", "gmm", "--k", "4", "--seed", "3")
    assert result.exit_code == 0, result.output
    rows = table_rows(result, "candidates (gmm)")
    assert len(rows) == 1
    assert rows[0][0] == "4"
    assert float(rows[0][2]) > 0  # BIC
    assert len(table_rows(result, "segments")) >= 4


def test_dbscan_reports_unsegmented_users(database: str) -> None:
    result = tastemaker(database, "segment", "--method", "dbscan")
    assert result.exit_code == 0, result.output
    rows = table_rows(result, "candidates (DBSCAN eps)")
    assert len(rows) >= 2
    assert sum(r[-1] == "✓" for r in rows) == 1
    assert UNSEGMENTED_NAME in flat(result)


def test_features_can_be_chosen(database: str) -> None:
    result = tastemaker(
        database, "segment", "--k", "3", "-f", "tag_share:*", "-f", "purchase_rate,ctr"
    )
    assert result.exit_code == 0, result.output
    assert "ctr" in flat(result)
    assert "purchase_rate" in flat(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "dbscan", "--k", "3"], "DBSCAN finds the number of segments itself"),
        (["--k", "many"], "--k must be 'auto' or a whole number"),
        (["--features", "nope"], "unknown feature 'nope'"),
        (["--criterion", "bic"], "the bic criterion needs method 'gmm'"),
    ],
)
def test_bad_options_are_explained(database: str, args: list[str], message: str) -> None:
    result = tastemaker(database, "segment", *args)
    assert result.exit_code == 2
    assert message in flat(result)


def test_an_empty_store_is_refused(tmp_path: Path) -> None:
    result = tastemaker(f"sqlite:///{tmp_path / 'empty.db'}", "segment")
    assert result.exit_code == 2
    assert "at least 3 users" in flat(result)
