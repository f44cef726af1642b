"""``tastemaker import``: the commands, their messages and exit codes, on a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tastemaker.cli import app
from tastemaker.cli.importing import FAILED
from tastemaker.config import Settings
from tastemaker.storage import DataStore, open_store
from tests.test_importers import EVENTS_CSV, ITEMS_CSV, USERS_CSV, write, write_ml_100k

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'x.db'}"


@pytest.fixture
def stored(database: str) -> Iterator[DataStore]:
    """The store the commands wrote to (opened after them, with the development key)."""
    store = open_store(Settings(database_url=database, insecure_dev=True))
    yield store
    store.close()


def tastemaker(database: str, *args: str) -> Result:
    return runner.invoke(app, ["--database-url", database, "--insecure-dev", "import", *args])


def flat(result: Result) -> str:
    """The output with line breaks and runs of spaces as single spaces (rich wraps errors)."""
    return " ".join(result.output.split())


def test_items_users_events_csv(database: str, tmp_path: Path, stored: DataStore) -> None:
    files = {
        "items": write(tmp_path / "items.csv", ITEMS_CSV),
        "users": write(tmp_path / "users.csv", USERS_CSV),
        "events": write(tmp_path / "events.csv", EVENTS_CSV),
    }
    for kind, path in files.items():
        result = tastemaker(database, kind, str(path))
        assert result.exit_code == 0, result.output
    again = tastemaker(database, "events", str(files["events"]))
    assert again.exit_code == 0
    assert "events: 3 rows read, 0 stored, 3 duplicates" in again.output
    assert "rows/s" in again.output
    assert (stored.items.count(), stored.users.count(), stored.events.count()) == (2, 2, 3)
    user = stored.users.get("u1")
    assert user is not None
    assert user.traits.geo == "DE-BE"


def test_summary_counts_updates(database: str, tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", ITEMS_CSV)
    assert "2 created, 0 updated" in tastemaker(database, "items", str(path)).output
    assert "0 created, 2 updated" in tastemaker(database, "items", str(path)).output


def test_jsonl_and_format_option(database: str, tmp_path: Path, stored: DataStore) -> None:
    path = write(tmp_path / "users.txt", '{"id": "u1", "traits": {"device": "tv"}}\n')
    refused = tastemaker(database, "users", str(path))
    assert refused.exit_code == 2
    assert "cannot tell the format" in flat(refused)
    result = tastemaker(database, "users", str(path), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    user = stored.users.get("u1")
    assert user is not None
    assert user.traits.device == "tv"


def test_encoding_option(database: str, tmp_path: Path, stored: DataStore) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes("id,title\na1,Ça ira\n".encode("latin-1"))
    refused = tastemaker(database, "items", str(path))
    assert refused.exit_code == FAILED
    assert f"{path}:2: the file is not valid utf-8" in flat(refused)
    result = tastemaker(database, "items", str(path), "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    item = stored.items.get("a1")
    assert item is not None
    assert item.title == "Ça ira"


def test_bad_rows_stop_with_file_and_line(database: str, tmp_path: Path, stored: DataStore) -> None:
    path = write(
        tmp_path / "events.csv",
        "event_id,user_id,item_id,type,value\n"
        "e1,u1,a1,view,\n"
        "e2,u1,a1,view,\n"
        "e3,u1,a1,teleport,\n"
        "e4,u1,a1,rating,9\n",
    )
    result = tastemaker(database, "events", str(path), "--batch-size", "2")
    assert result.exit_code == FAILED
    assert f"{path}:4 type: unknown event type 'teleport'" in result.output
    assert f"{path}:5 value: must be ≤ 5 for type 'rating'" in result.output
    assert "2 problem(s) in 2 row(s)" in result.output
    assert "the chunk starting on line 4 has invalid rows" in result.output
    assert "Rows up to line 3 were stored by earlier chunks" in result.output
    assert "run the import again; it is safe: events are idempotent by event_id" in result.output
    assert stored.events.ids() == {"e1", "e2"}


def test_skip_invalid(database: str, tmp_path: Path, stored: DataStore) -> None:
    path = write(tmp_path / "items.csv", "id,title\na1,One\na2,\na3,Three\n")
    result = tastemaker(database, "items", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert f"{path}:3 title:" in result.output
    assert "2 created, 0 updated, 1 invalid skipped" in result.output
    assert stored.items.count() == 2


def test_event_conflict_is_reported(database: str, tmp_path: Path, stored: DataStore) -> None:
    first = write(tmp_path / "a.csv", "event_id,user_id,item_id,type\ne1,u1,a1,view\n")
    assert tastemaker(database, "events", str(first)).exit_code == 0
    second = write(tmp_path / "b.csv", "event_id,user_id,item_id,type\ne1,u1,a2,view\n")
    result = tastemaker(database, "events", str(second))
    assert result.exit_code == FAILED
    assert f"{second}:2 event_id: already stored with a different payload" in result.output
    assert "Nothing of this file was stored" in result.output
    (event,) = stored.events.for_user("u1")
    assert event.item_id == "a1"


def test_header_error(database: str, tmp_path: Path) -> None:
    path = write(tmp_path / "users.csv", "id,colour\nu1,red\n")
    result = tastemaker(database, "users", str(path))
    assert result.exit_code == FAILED
    assert "unknown column(s) 'colour'" in result.output
    assert "attr.<name>" in result.output


def test_missing_file(database: str, tmp_path: Path) -> None:
    result = tastemaker(database, "items", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert "does not exist" in flat(result)


def test_movielens_100k(database: str, tmp_path: Path, stored: DataStore) -> None:
    folder = write_ml_100k(tmp_path / "ml-100k")
    result = tastemaker(database, "movielens", str(folder))
    assert result.exit_code == 0, result.output
    assert "movies: 3 rows read, 3 created" in result.output
    assert "users: 3 rows read, 3 created" in result.output
    assert "ratings: 5 rows read, 5 stored, 0 duplicates" in result.output
    assert "MovieLens (ml-100k) imported: 3 raters" in result.output
    assert (stored.items.count(), stored.users.count(), stored.events.count()) == (3, 3, 5)
    again = tastemaker(database, "movielens", str(folder))
    assert "ratings: 5 rows read, 0 stored, 5 duplicates" in again.output


def test_movielens_not_a_dataset(database: str, tmp_path: Path) -> None:
    result = tastemaker(database, "movielens", str(tmp_path))
    assert result.exit_code == FAILED
    assert "not a MovieLens folder" in flat(result)


def test_help_documents_the_layouts() -> None:
    result = runner.invoke(app, ["import", "events", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for words in ("context.<field>", "prop.<name>", "--skip-invalid", "Unix epoch seconds"):
        assert words in result.output
