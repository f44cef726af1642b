"""Importers: CSV and JSON Lines round trips, bad rows, idempotency, MovieLens layouts.

Every test that stores runs on SQLite and PostgreSQL (the ``store`` fixture). The data sets are
written here, a few rows each; nothing is read from outside ``tmp_path``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tastemaker.catalog.events import Event
from tastemaker.catalog.importers.cells import guess_scalar, parse_timestamp, split_list
from tastemaker.catalog.importers.files import Format, detect_format, read_file
from tastemaker.catalog.importers.loader import ImportReport, load
from tastemaker.catalog.importers.movielens import (
    Layout,
    age_band,
    detect_layout,
    import_movielens,
    split_year,
)
from tastemaker.catalog.importers.source import Kind, Progress, SourceError
from tastemaker.catalog.users import Purpose
from tastemaker.config import Settings
from tastemaker.storage import DataStore

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def jsonl(path: Path, *rows: object) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


def run(
    store: DataStore, settings: Settings, kind: Kind, path: Path, **options: object
) -> ImportReport:
    return load(store, settings, kind, read_file(path, kind), clock=clock, **options)  # type: ignore[arg-type]


def problems(report: ImportReport) -> list[str]:
    return [f"{p.line} {p.field}" for p in report.problems]


# --- cells and names -------------------------------------------------------------------------


def test_cells() -> None:
    assert parse_timestamp("0") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp("1700000000.5").microsecond == 500_000
    assert parse_timestamp("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_timestamp("yesterday")
    assert [guess_scalar(c) for c in ("7", "-2", "1e3", "007", "nan", "x")] == [
        7,
        -2,
        1000.0,
        "007",
        "nan",
        "x",
    ]
    assert split_list(" a | b > c ||") == ["a", "b > c"]


def test_format_detection(tmp_path: Path) -> None:
    assert detect_format(Path("a.CSV")) is Format.CSV
    assert detect_format(Path("a.ndjson")) is Format.JSONL
    assert detect_format(Path("a.txt"), Format.JSONL) is Format.JSONL
    with pytest.raises(SourceError, match="cannot tell the format"):
        detect_format(Path("a.txt"))
    with pytest.raises(SourceError, match="no such file"):
        read_file(tmp_path / "missing.csv", Kind.ITEMS)


def test_movielens_names() -> None:
    assert split_year("Toy Story (1995)") == ("Toy Story", 1995)
    assert split_year("Death Note: Desu nôto (2006–2007)") == ("Death Note: Desu nôto", 2006)
    assert split_year("Babylon 5") == ("Babylon 5", None)
    assert split_year("(1995)") == ("(1995)", 1995)
    assert [age_band(a) for a in (7, 18, 24, 25, 44, 55, 64, 65)] == [
        "under-18",
        "18-24",
        "18-24",
        "25-34",
        "35-44",
        "55-64",
        "55-64",
        "65+",
    ]


# --- round trips -----------------------------------------------------------------------------

ITEMS_CSV = (
    "id,title,summary,text,tags,author,source,published_at,expires_at,recommendable,"
    "prop.price,prop.sku,prop.color\n"
    'a1,"Phones, reviewed",Short,"Long\ntext",Tech > Phones|Deals,Ann,blog,1700000000,'
    "2030-01-01T00:00:00Z,false,9.90,007,red\n"
    "a2,Second,,,,,,,,,12,,\n"
)


def test_items_csv_round_trip(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    report = run(store, settings, Kind.ITEMS, write(tmp_path / "items.csv", ITEMS_CSV))
    assert report.ok, report.problems
    assert (report.rows, report.created, report.updated) == (2, 2, 0)
    a1 = store.items.get("a1")
    assert a1 is not None
    assert a1.title == "Phones, reviewed"
    assert a1.text == "Long\ntext"
    assert a1.tags == ["Tech > Phones", "Deals"]
    assert (a1.author, a1.source, a1.recommendable) == ("Ann", "blog", False)
    assert a1.published_at == datetime.fromtimestamp(1700000000, UTC)
    assert a1.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert a1.properties == {"price": 9.9, "sku": "007", "color": "red"}
    a2 = store.items.get("a2")
    assert a2 is not None
    assert (a2.summary, a2.tags, a2.author, a2.recommendable) == ("", [], None, True)
    assert a2.properties == {"price": 12}


def test_items_jsonl_round_trip(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "items.jsonl",
        {"id": "a1", "title": "One", "tags": ["Tech>Phones"], "published_at": 1700000000},
        {"id": "a2", "title": "Two", "properties": {"n": [1, 2]}, "recommendable": False},
    )
    report = run(store, settings, Kind.ITEMS, path)
    assert report.ok, report.problems
    a1, a2 = store.items.get("a1"), store.items.get("a2")
    assert a1 is not None
    assert a2 is not None
    assert a1.tags == ["Tech > Phones"]
    assert a1.published_at == datetime.fromtimestamp(1700000000, UTC)
    assert (a2.properties, a2.recommendable) == ({"n": [1, 2]}, False)


USERS_CSV = (
    "id,device,geo,age_band,attr.gender,attr.visits,pref.tags,pref.authors,pref.sources,"
    "consent.personalization,consent.analytics\n"
    "u1,mobile,DE-BE,25-34,f,12,News > Politics|Sports,Ann|Bob,blog,true,false\n"
    "u2,,,,,,,,,,\n"
)


def test_users_csv_round_trip(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    report = run(store, settings, Kind.USERS, write(tmp_path / "users.csv", USERS_CSV))
    assert report.ok, report.problems
    assert (report.created, report.updated) == (2, 0)
    u1 = store.users.get("u1")
    assert u1 is not None
    assert (u1.traits.device, u1.traits.geo, u1.traits.age_band) == ("mobile", "DE-BE", "25-34")
    assert u1.traits.attributes == {"gender": "f", "visits": 12}
    assert u1.preferences.tags == ["News > Politics", "Sports"]
    assert (u1.preferences.authors, u1.preferences.sources) == (["Ann", "Bob"], ["blog"])
    assert u1.consent[Purpose.PERSONALIZATION].granted is True
    assert u1.consent[Purpose.ANALYTICS].granted is False
    u2 = store.users.get("u2")
    assert u2 is not None
    assert (u2.traits.geo, u2.consent) == (None, {})


def test_users_jsonl_round_trip(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "users.ndjson",
        {
            "id": "u1",
            "traits": {"geo": "FR", "attributes": {"tier": "gold"}},
            "consent": {"analytics": {"granted": True, "at": 1700000000}},
        },
    )
    report = run(store, settings, Kind.USERS, path)
    assert report.ok, report.problems
    u1 = store.users.get("u1")
    assert u1 is not None
    assert (u1.traits.geo, u1.traits.attributes) == ("FR", {"tier": "gold"})
    assert u1.consent[Purpose.ANALYTICS].at == datetime.fromtimestamp(1700000000, UTC)


EVENTS_CSV = (
    "event_id,user_id,item_id,type,value,timestamp,channel,context.device,context.position,"
    "context.recommendation_id,prop.order,prop.coupon\n"
    "e1,u1,a1,dwell,45.5,1700000000,app,mobile,3,rec-1,17,0042\n"
    "e2,u1,a2,click,,2024-05-01T10:00:00+02:00,,,,,,\n"
    "e3,u2,a1,rating,4,,,,,,,\n"
)


def test_events_csv_round_trip(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    report = run(store, settings, Kind.EVENTS, write(tmp_path / "events.csv", EVENTS_CSV))
    assert report.ok, report.problems
    assert (report.stored, report.duplicates) == (3, 0)
    by_id = {e.event_id: e for e in store.events.for_user("u1")}
    e1, e2 = by_id["e1"], by_id["e2"]
    assert (e1.item_id, e1.type, e1.value, e1.channel) == ("a1", "dwell", 45.5, "app")
    assert e1.timestamp == datetime.fromtimestamp(1700000000, UTC)
    assert (e1.context.device, e1.context.position) == ("mobile", 3)
    assert e1.context.recommendation_id == "rec-1"
    assert e1.properties == {"order": 17, "coupon": "0042"}
    assert (e2.value, e2.channel, e2.timestamp) == (
        None,
        "web",
        datetime(2024, 5, 1, 8, tzinfo=UTC),
    )
    (e3,) = store.events.for_user("u2")
    assert (e3.value, e3.timestamp) == (4.0, NOW)


def test_events_jsonl_round_trip(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "events.jsonl",
        {"event_id": "e1", "user_id": "u1", "item_id": "a1", "type": "view", "timestamp": 1e9},
        {
            "event_id": "e2",
            "user_id": "u1",
            "item_id": "a1",
            "type": "scroll",
            "value": 80,
            "context": {"page": "/a1"},
        },
    )
    report = run(store, settings, Kind.EVENTS, path)
    assert report.ok, report.problems
    by_id = {e.event_id: e for e in store.events.for_user("u1")}
    assert by_id["e1"].timestamp == datetime.fromtimestamp(1e9, UTC)
    assert (by_id["e2"].value, by_id["e2"].context.page) == (80.0, "/a1")


# --- bad rows --------------------------------------------------------------------------------

BAD_EVENTS_CSV = (
    "event_id,user_id,item_id,type,value,timestamp\n"
    "e1,u1,a1,view,,\n"  # line 2: chunk 1
    "e2,u1,a1,view,,\n"  # line 3: chunk 1
    "e3,u1,a1,teleport,,\n"  # line 4: chunk 2, unknown type
    'e4,u1,a1,"rating\n'
    'x",6,\n'  # lines 5–6: chunk 2, a quoted line break; unknown type and bad value
    "e5,,a1,dwell,abc,yesterday\n"  # line 7: chunk 3 — never read
)


def test_bad_chunk_stops_and_stores_nothing_of_it(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path / "events.csv", BAD_EVENTS_CSV)
    report = run(store, settings, Kind.EVENTS, path, batch_size=2)
    assert not report.ok
    assert (report.stopped_at, report.last_written_line) == (4, 3)
    assert problems(report) == ["4 type", "5 type"]
    assert str(report.problems[0]).startswith(f"{path}:4 type: unknown event type 'teleport'")
    assert store.events.ids() == {"e1", "e2"}
    assert report.stored == 2


def test_every_problem_of_a_row_is_reported(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "events.csv",
        "event_id,user_id,item_id,type,value,timestamp,context.position\n"
        "e1,u1,a1,view,,,\n"
        "e5,,a1,dwell,abc,yesterday,-1\n"
        "e6,u1,a1,dwell,-3,2999-01-01,\n"
        "e7,u1,a1,view,,,,extra\n",
    )
    report = run(store, settings, Kind.EVENTS, path)
    assert report.stopped_at == 2
    assert problems(report) == [
        "3 value",
        "3 timestamp",
        "3 user_id",
        "3 context.position",
        "4 value",
        "4 timestamp",
        "5 (row)",
    ]
    assert store.events.count() == 0


def test_skip_invalid_stores_the_rest(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", BAD_EVENTS_CSV)
    report = run(store, settings, Kind.EVENTS, path, batch_size=2, skip_invalid=True)
    assert report.ok
    assert (report.rows, report.stored, report.skipped) == (5, 2, 3)
    assert problems(report) == [
        "4 type",
        "5 type",
        "7 value",
        "7 timestamp",
        "7 user_id",
    ]
    assert store.events.ids() == {"e1", "e2"}


def test_bad_item_and_user_rows(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    items = write(
        tmp_path / "items.csv",
        "id,title,tags,published_at,expires_at,recommendable,prop.x\n"
        "a1,,A>>B,2024-01-02,2024-01-01,maybe,1\n"
        "bad id,Ok,,,,,\n",
    )
    report = run(store, settings, Kind.ITEMS, items)
    assert problems(report) == ["2 recommendable", "2 title", "2 tags", "3 id"]
    users = write(tmp_path / "users.csv", "id,consent.analytics,pref.tags,attr.n\nu1,sure,A > ,3\n")
    report = run(store, settings, Kind.USERS, users)
    assert problems(report) == ["2 consent.analytics", "2 pref.tags"]
    assert "not true or false" in report.problems[0].reason
    assert store.items.count() == store.users.count() == 0


def test_published_after_expiry_is_a_row_problem(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "items.csv", "id,title,published_at,expires_at\na1,T,2024-01-02,2024-01-01\n"
    )
    report = run(store, settings, Kind.ITEMS, path)
    assert problems(report) == ["2 (row)"]
    assert "expires_at must be later" in report.problems[0].reason


def test_jsonl_line_numbers(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    path = write(
        tmp_path / "users.jsonl",
        '{"id": "u1"}\n\n{"id": "u2", \n[1]\n{"id": "u3", "traits": {"attributes": {"a": [1]}}}\n',
    )
    report = run(store, settings, Kind.USERS, path, skip_invalid=True)
    assert problems(report) == ["3 (line)", "4 (line)", "5 traits.attributes.a"]
    assert report.created == 1


def test_csv_header_problems_store_nothing(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path / "items.csv", "id,name,prop.,title,title\na1,x,y,T,T\n")
    report = run(store, settings, Kind.ITEMS, path)
    assert not report.ok
    assert report.error is not None
    assert "unknown column(s) 'name', 'prop.'" in report.error
    assert "duplicate column(s) 'title'" in report.error
    assert str(path) in report.error
    empty = run(store, settings, Kind.ITEMS, write(tmp_path / "empty.csv", ""))
    assert empty.error is not None
    assert "empty" in empty.error
    missing = run(store, settings, Kind.EVENTS, write(tmp_path / "e.csv", "event_id,type\n"))
    assert missing.error is not None
    assert "missing column(s) 'user_id'" in missing.error
    assert store.items.count() == 0


def test_bad_encoding_is_reported_with_its_line(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"id,title\na1,Caf\xc3\xa9\na2,Caf\xe9\n")
    report = run(store, settings, Kind.ITEMS, path, batch_size=1)
    assert report.error is not None
    assert f"{path}:3: the file is not valid utf-8" in report.error
    assert report.last_written_line == 2
    item = store.items.get("a1")
    assert item is not None
    assert item.title == "Café"


def test_long_text_cell(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    text = "ä" * 150_000
    path = write(tmp_path / "items.csv", f'id,title,text\na1,Long,"{text}"\n')
    report = run(store, settings, Kind.ITEMS, path)
    assert report.ok, report.problems
    item = store.items.get("a1")
    assert item is not None
    assert item.text == text


# --- idempotency and conflicts ---------------------------------------------------------------


def test_reimport_is_idempotent(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    events = write(tmp_path / "events.csv", EVENTS_CSV)
    items = write(tmp_path / "items.csv", ITEMS_CSV)
    users = write(tmp_path / "users.csv", USERS_CSV)
    for kind, path in ((Kind.ITEMS, items), (Kind.USERS, users), (Kind.EVENTS, events)):
        assert run(store, settings, kind, path).ok
    again = [run(store, settings, k, p) for k, p in ((Kind.ITEMS, items), (Kind.USERS, users))]
    assert [(r.created, r.updated) for r in again] == [(0, 2), (0, 2)]
    report = run(store, settings, Kind.EVENTS, events)
    assert (report.stored, report.duplicates) == (0, 3)
    assert store.events.count() == 3
    assert (store.items.count(), store.users.count()) == (2, 2)


def test_event_id_conflict(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    store.events.append([Event(event_id="e2", user_id="u1", item_id="zz", type="view")], NOW)
    path = write(tmp_path / "events.csv", EVENTS_CSV)
    report = run(store, settings, Kind.EVENTS, path)
    assert report.stopped_at == 2
    assert problems(report) == ["3 event_id"]
    assert "already stored with a different payload" in report.problems[0].reason
    assert store.events.ids() == {"e2"}
    report = run(store, settings, Kind.EVENTS, path, skip_invalid=True)
    assert report.ok
    assert (report.stored, report.skipped) == (2, 1)
    assert store.events.ids() == {"e1", "e2", "e3"}


def test_duplicate_event_ids_in_one_file(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "events.csv",
        "event_id,user_id,item_id,type\ne1,u1,a1,view\ne1,u1,a1,view\ne1,u1,a2,view\n",
    )
    report = run(store, settings, Kind.EVENTS, path, skip_invalid=True)
    assert problems(report) == ["4 event_id"]
    assert (report.stored, report.duplicates, report.skipped) == (1, 1, 1)


def test_progress_reaches_the_end(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    rows = "".join(f"a{i},Title {i}\n" for i in range(25))
    path = write(tmp_path / "items.csv", "id,title\n" + rows)
    seen: list[Progress] = []
    report = run(store, settings, Kind.ITEMS, path, batch_size=10, on_progress=seen.append)
    assert report.created == 25
    assert [p.rows for p in seen] == [0, 10, 20, 25]
    assert all(p.phase == "items" and p.total == path.stat().st_size for p in seen)
    assert seen[-1].done == seen[-1].total
    assert [p.done for p in seen] == sorted(p.done for p in seen)


# --- MovieLens -------------------------------------------------------------------------------


def write_ml_latest(folder: Path) -> Path:
    """A tiny ml-latest-small: 4 movies, 3 raters, 6 ratings, links and user tags."""
    folder.mkdir()
    write(
        folder / "movies.csv",
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '2,"American President, The (1995)",Comedy|Drama|Romance\n'
        "3,Babylon 5,Sci-Fi\n"
        "4,Cosmos (1980),(no genres listed)\n",
    )
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n"
        "1,3,0.5,964981247\n"
        "2,1,5.0,1445714994\n"
        "2,2,3.5,1445714995\n"
        "3,4,2.0,1537109082\n"
        "3,1,4.5,1537109083\n",
    )
    write(folder / "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n2,0112346,\n")
    write(
        folder / "tags.csv",
        "userId,movieId,tag,timestamp\n"
        "2,1,pixar,1445714994\n"
        "3,1,Pixar,1445714995\n"
        '2,1,"fun, clever",1445714996\n',
    )
    return folder


def write_ml_100k(folder: Path) -> Path:
    """A tiny ml-100k: 3 movies, 3 users with demographics, 5 ratings."""
    folder.mkdir()
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy"]
    genres += ["Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical"]
    genres += ["Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
    write(folder / "u.genre", "".join(f"{g}|{i}\n" for i, g in enumerate(genres)) + "\n")

    def flags(*names: str) -> str:
        return "|".join("1" if g in names else "0" for g in genres)

    toy = flags("Animation", "Children's", "Comedy")
    write(
        folder / "u.item",
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
        f"{toy}\n"
        f"2|Ça Ira (1996)|15-Mar-1996|||{flags('Drama')}\n"
        f"267|unknown||||{flags('unknown')}\n",
        encoding="latin-1",
    )
    write(
        folder / "u.user",
        "1|24|M|technician|85711\n2|53|F|other|94043\n3|17|M|student|T8H1N\n",
    )
    write(
        folder / "u.data",
        "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t888550871\n"
        "3\t267\t1\t881250949\n3\t1\t2\t891717742\n",
    )
    return folder


def test_movielens_latest(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    folder = write_ml_latest(tmp_path / "ml-latest-small")
    assert detect_layout(folder) is Layout.LATEST
    report = import_movielens(store, settings, folder, clock=clock)
    assert report.ok, [str(p) for ph in report.phases for p in ph.problems]
    assert [p.phase for p in report.phases] == ["movies", "ratings"]
    assert (report.raters, report.links, report.user_tags) == (3, 2, 3)
    assert (store.items.count(), store.users.count(), store.events.count()) == (4, 3, 6)
    toy = store.items.get("1")
    assert toy is not None
    assert toy.title == "Toy Story"
    assert toy.tags == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert toy.properties == {
        "year": 1995,
        "imdb_id": "tt0114709",
        "tmdb_id": 862,
        "user_tags": ["pixar", "fun, clever"],
    }
    president = store.items.get("2")
    assert president is not None
    assert (president.title, president.properties) == (
        "American President, The",
        {"year": 1995, "imdb_id": "tt0112346"},
    )
    babylon, cosmos = store.items.get("3"), store.items.get("4")
    assert babylon is not None
    assert cosmos is not None
    assert (babylon.title, babylon.properties) == ("Babylon 5", {})
    assert (cosmos.tags, cosmos.properties) == ([], {"year": 1980})
    ratings = {e.event_id: e for e in store.events.for_user("1")}
    assert set(ratings) == {"ml-1-1", "ml-1-3"}
    first = ratings["ml-1-1"]
    assert (first.type, first.item_id, first.value) == ("rating", "1", 4.0)
    assert first.timestamp == datetime.fromtimestamp(964982703, UTC)
    assert ratings["ml-1-3"].value == 0.5

    again = import_movielens(store, settings, folder, clock=clock)
    assert [(p.created, p.updated, p.stored, p.duplicates) for p in again.phases] == [
        (0, 4, 0, 0),
        (0, 0, 0, 6),
    ]
    assert store.events.count() == 6


def test_movielens_100k(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    folder = write_ml_100k(tmp_path / "ml-100k")
    assert detect_layout(folder) is Layout.ML100K
    seen: list[str] = []
    report = import_movielens(
        store, settings, folder, clock=clock, on_progress=lambda p: seen.append(p.phase)
    )
    assert report.ok, [str(p) for ph in report.phases for p in ph.problems]
    assert [p.phase for p in report.phases] == ["movies", "users", "ratings"]
    assert dict.fromkeys(seen) == dict.fromkeys(["movies", "users", "ratings"])
    assert (store.items.count(), store.users.count(), store.events.count()) == (3, 3, 5)
    toy = store.items.get("1")
    assert toy is not None
    assert (toy.title, toy.tags) == ("Toy Story", ["Animation", "Children's", "Comedy"])
    assert toy.published_at == datetime(1995, 1, 1, tzinfo=UTC)
    assert toy.properties["year"] == 1995
    assert toy.properties["imdb_url"].startswith("http://us.imdb.com/")
    ca_ira, unknown = store.items.get("2"), store.items.get("267")
    assert ca_ira is not None
    assert unknown is not None
    assert (ca_ira.title, ca_ira.tags) == ("Ça Ira", ["Drama"])
    assert (unknown.title, unknown.tags, unknown.published_at) == ("unknown", [], None)
    user = store.users.get("1")
    assert user is not None
    assert (user.traits.age_band, user.traits.geo) == ("18-24", "85711")
    assert user.traits.attributes == {"gender": "M", "occupation": "technician"}
    teen = store.users.get("3")
    assert teen is not None
    assert (teen.traits.age_band, teen.traits.geo) == ("under-18", "T8H1N")
    (rating,) = [e for e in store.events.for_user("3") if e.item_id == "267"]
    assert (rating.event_id, rating.value) == ("ml-3-267", 1.0)


def test_movielens_bad_rating_stops_with_its_line(
    store: DataStore, settings: Settings, tmp_path: Path
) -> None:
    folder = write_ml_latest(tmp_path / "ml")
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,9.0,964982703\n1,3,x,1\n",
    )
    report = import_movielens(store, settings, folder, clock=clock)
    assert not report.ok
    ratings = report.phases[-1]
    assert [str(p).split(": ")[0] for p in ratings.problems] == [
        f"{folder / 'ratings.csv'}:3 rating",
        f"{folder / 'ratings.csv'}:4 rating",
    ]
    assert store.events.count() == 0
    assert store.items.count() == 4


def test_movielens_not_a_dataset(store: DataStore, settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a MovieLens folder"):
        import_movielens(store, settings, tmp_path)
    with pytest.raises(SourceError, match="not a directory"):
        detect_layout(tmp_path / "nope")
    folder = write_ml_latest(tmp_path / "ml")
    write(folder / "links.csv", "movieId,imdbId,tmdbId\n1,2\n")
    with pytest.raises(SourceError, match=r"links\.csv:2: has 2 fields"):
        import_movielens(store, settings, folder)
    assert store.items.count() == 0
