"""An A/B test end to end over real HTTP: create, start, users assigned and served their arm,
exposures and clicks logged, the report names the planted winner; the API's errors; the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from tastemaker.cli import app as cli
from tastemaker.experiments.stats import sample_size_proportions
from tastemaker.service import create_app
from tastemaker.storage import DataStore, open_store
from tests import serving_world as world
from tests.conftest import make_settings
from tests.live import serve

PLACEMENTS: dict[str, Any] = {
    "exp-home": {"sources": [{"kind": "popular", "k": 50}], "k": 5},
    # The variant pins an item the simulated users like: they click it more often.
    "exp-pinned": {"sources": [{"kind": "pinned", "items": ["s-9"]}, {"kind": "popular"}], "k": 5},
}
USERS = 400
P_CONTROL, P_PINNED = 0.20, 0.45


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DataStore]]:
    db = tmp_path_factory.mktemp("experiments") / "db.sqlite"
    settings = make_settings(f"sqlite:///{db}", insecure_dev=True, placements=PLACEMENTS)
    store = open_store(settings)
    world.build(store, settings, models=["popular"])
    with serve(create_app(settings, store)) as base:
        yield base, store
    store.close()


def definition(experiment_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": experiment_id,
        "placement": "exp-home",
        "arms": [
            {"name": "control", "placement": "exp-home"},
            {"name": "pinned", "placement": "exp-pinned"},
        ],
        "planned_users": 120,
        "metrics": ["conversion", "dwell"],
        **extra,
    }


def wait_for_exposures(store: DataStore, n: int) -> None:
    deadline = time.monotonic() + 30
    while store.exposures.count() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.exposures.count() >= n


def test_an_experiment_runs_end_to_end_and_finds_the_planted_winner(
    served: tuple[str, DataStore],
) -> None:
    url, store = served
    http = httpx.Client(base_url=url, timeout=30)
    made = http.post("/v1/experiments", json=definition("pin-test"))
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "draft"
    assert http.get("/v1/experiments/pin-test/report").json()["verdict"] == "draft"
    started = http.post("/v1/experiments/pin-test/start")
    assert started.status_code == 200, started.text
    assert (started.json()["status"], started.json()["slice"]) == ("running", [0.0, 1.0])

    rng = np.random.default_rng(42)
    before = store.exposures.count()
    events: list[dict[str, Any]] = []
    arms: dict[str, str] = {}
    for u in range(USERS):
        user = f"sim-{u}"
        body = http.get(f"/v1/users/{user}/recommendations", params={"placement": "exp-home"})
        assert body.status_code == 200, body.text
        shown = body.json()
        assert (shown["placement"], shown["experiment"]) == ("exp-home", "pin-test")
        arms[user] = shown["arm"]
        items = [i["item_id"] for i in shown["items"]]
        assert (items[0] == "s-9") == (shown["arm"] == "pinned")
        # The same user asks again: same arm, from the cache of that arm.
        again = http.get(f"/v1/users/{user}/recommendations", params={"placement": "exp-home"})
        assert (again.json()["arm"], again.json()["cached"]) == (shown["arm"], True)
        clicks = rng.random() < (P_PINNED if "s-9" in items else P_CONTROL)
        if clicks:
            context = {"recommendation_id": shown["recommendation_id"]}
            stamp = (world.NOW + timedelta(minutes=u)).isoformat()
            events.append(
                {
                    "event_id": f"c-{u}",
                    "user_id": user,
                    "item_id": items[0],
                    "type": "click",
                    "timestamp": stamp,
                    "context": context,
                }
            )
            events.append(
                {
                    "event_id": f"d-{u}",
                    "user_id": user,
                    "item_id": items[0],
                    "type": "dwell",
                    "value": 40.0,
                    "timestamp": stamp,
                    "context": context,
                }
            )
    # Somebody else echoing a recommendation id is not attributed to it.
    events.append({**events[0], "event_id": "forged", "user_id": "intruder"})
    for start in range(0, len(events), 200):
        posted = http.post("/v1/events", json={"events": events[start : start + 200]})
        assert posted.status_code == 200, posted.text
    wait_for_exposures(store, before + 2 * USERS)

    report = http.get("/v1/experiments/pin-test/report")
    assert report.status_code == 200, report.text
    r = report.json()
    assert not r["srm"]["flagged"], r["srm"]
    by_arm = {a["name"]: a for a in r["arms"]}
    for name in ("control", "pinned"):
        assert by_arm[name]["users"] == sum(1 for a in arms.values() if a == name)
        assert by_arm[name]["exposures"] == 2 * by_arm[name]["users"]
        clicked = sum(
            1
            for e in events
            if e["type"] == "click" and e["user_id"] != "intruder" and arms[e["user_id"]] == name
        )
        assert by_arm[name]["metrics"]["ctr"]["successes"] == clicked
    ctr = next(c for c in r["comparisons"] if c["metric"] == "ctr")
    assert ctr["significant"]
    assert ctr["relative"] > 0.5
    assert (r["verdict"], r["winner"], r["horizon_reached"]) == ("winner", "pinned", True)
    assert r["decision"].startswith("Variant pinned increases click-through rate by ")
    assert "significant at α=0.05; the planned sample size was reached" in r["decision"]
    dwell = by_arm["pinned"]["metrics"]["dwell"]["value"]
    assert dwell == pytest.approx(40.0 * by_arm["pinned"]["metrics"]["ctr"]["value"] / 2)

    svg = http.get("/v1/experiments/pin-test/report", params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    assert "pinned · ctr" in svg.text
    html = http.get("/v1/experiments/pin-test/report", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "Variant pinned increases" in html.text
    assert "<svg" in html.text

    stopped = http.post("/v1/experiments/pin-test/stop")
    assert stopped.json()["status"] == "stopped"
    after = http.get("/v1/users/sim-0/recommendations", params={"placement": "exp-home"}).json()
    assert (after["experiment"], after["arm"]) == (None, None)


def test_reading_and_planning(served: tuple[str, DataStore]) -> None:
    url, _ = served
    http = httpx.Client(base_url=url, timeout=30)
    assert http.post("/v1/experiments", json=definition("plan-me")).status_code == 201
    listed = http.get("/v1/experiments", params={"status": "draft"}).json()
    assert "plan-me" in [e["id"] for e in listed]
    one = http.get("/v1/experiments/plan-me").json()
    assert (one["control"], one["layer"], one["planned_users"]) == ("control", "exp-home", 120)
    assert len(one["salt"]) == 16
    plan = http.get("/v1/experiments/plan-me/plan", params={"baseline": 0.2, "mde": 0.1})
    assert plan.status_code == 200, plan.text
    assert plan.json()["users_per_arm"] == sample_size_proportions(0.2, 0.22)
    assert plan.json()["experiment_users"] == 2 * plan.json()["users_per_arm"]


def problems(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json()["error"]["errors"]}


def test_errors_name_what_is_wrong(served: tuple[str, DataStore]) -> None:
    url, _ = served
    http = httpx.Client(base_url=url, timeout=30)
    bad_arm = definition("e1")
    bad_arm["arms"][1]["placement"] = "nowhere"
    r = http.post("/v1/experiments", json=bad_arm)
    assert r.status_code == 422
    assert problems(r) == {"arms.1.placement"}
    r = http.post("/v1/experiments", json=definition("e2", primary_metric="teleport"))
    assert (r.status_code, problems(r)) == (422, {"primary_metric"})
    r = http.post("/v1/experiments", json=definition("e3", planned_users=None))
    assert (r.status_code, problems(r)) == (422, {"baseline", "mde"})
    r = http.post(
        "/v1/experiments", json=definition("e4", baseline=0.95, mde=0.1, planned_users=None)
    )
    assert (r.status_code, problems(r)) == (422, {"baseline"})
    shares = definition("e5")
    shares["arms"][0]["share"], shares["arms"][1]["share"] = 0.5, 0.6
    assert http.post("/v1/experiments", json=shares).status_code == 422
    assert http.post("/v1/experiments", json=definition("dup")).status_code == 201
    assert http.post("/v1/experiments", json=definition("dup")).status_code == 409
    assert http.post("/v1/experiments/missing/start").status_code == 404
    assert http.get("/v1/experiments/missing/report").status_code == 404
    assert http.post("/v1/experiments/dup/stop").status_code == 409  # a draft
    mean = definition("e6", primary_metric="dwell")
    assert http.post("/v1/experiments", json=mean).status_code == 201
    r = http.get("/v1/experiments/e6/plan", params={"baseline": 30, "mde": 0.1})
    assert (r.status_code, problems(r)) == (422, {"sd"})
    r = http.get("/v1/experiments/e6/plan", params={"baseline": 30, "mde": -1})
    assert (r.status_code, problems(r)) == (422, {"query.mde"})


def test_two_experiments_on_one_placement_share_its_users(served: tuple[str, DataStore]) -> None:
    url, _ = served
    http = httpx.Client(base_url=url, timeout=30)
    for name in ("half-a", "half-b", "too-much"):
        traffic = 0.6 if name == "too-much" else 0.5
        assert (
            http.post("/v1/experiments", json=definition(name, traffic=traffic)).status_code == 201
        )
    assert http.post("/v1/experiments/half-a/start").json()["slice"] == [0.0, 0.5]
    assert http.post("/v1/experiments/half-b/start").json()["slice"] == [0.5, 1.0]
    full = http.post("/v1/experiments/too-much/start")
    assert full.status_code == 409
    assert "no free share" in full.json()["error"]["message"]
    seen = set()
    for u in range(60):
        body = http.get(f"/v1/users/two-{u}/recommendations", params={"placement": "exp-home"})
        seen.add(body.json()["experiment"])
    assert seen == {"half-a", "half-b"}
    for name in ("half-a", "half-b"):
        assert http.post(f"/v1/experiments/{name}/stop").status_code == 200


# --- the command line ---------------------------------------------------------------------------

runner = CliRunner()


def tastemaker(database: str, *args: str) -> Result:
    return runner.invoke(cli, ["--database-url", database, "--insecure-dev", *args])


def test_the_command_line_runs_an_experiment(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    made = tastemaker(
        db,
        "experiment", "create", "--id", "cli-test", "--placement", "homepage",
        "--arm", "control=homepage", "--arm", "digest=email-digest",
        "--baseline", "0.1", "--mde", "0.1",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "14751 users per arm planned" in " ".join(made.output.split())
    bad = tastemaker(
        db,
        "experiment",
        "create",
        "--id",
        "x",
        "--placement",
        "nowhere",
        "--arm",
        "a=homepage",
        "--arm",
        "b=homepage",
        "--planned-users",
        "10",
    )
    assert bad.exit_code == 2
    assert "placement: no placement 'nowhere'" in " ".join(bad.output.split())
    assert tastemaker(db, "experiment", "start", "cli-test").exit_code == 0
    report = tastemaker(db, "experiment", "report", "cli-test", "--format", "json")
    assert report.exit_code == 0, report.output
    body = json.loads(report.stdout[report.stdout.index("{") :])
    assert (body["verdict"], body["progress"]) == ("not_yet", 0.0)
    assert body["decision"].startswith("Not yet: 0% of the planned sample")
    out = tmp_path / "report.html"
    html = tastemaker(db, "experiment", "report", "cli-test", "--format", "html", "-o", str(out))
    assert html.exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert tastemaker(db, "experiment", "stop", "cli-test").exit_code == 0
    assert tastemaker(db, "experiment", "stop", "cli-test").exit_code == 2
    plan = tastemaker(db, "experiment", "plan", "--baseline", "0.5", "--mde", "0.2")
    assert plan.exit_code == 0
    assert plan.stdout.strip().endswith("388")
