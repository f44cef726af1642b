"""The per-segment breakdown of an evaluation: holdout, scores, JSON, HTML and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from tastemaker.catalog.columns import Columns
from tastemaker.cli import app
from tastemaker.config import FeedbackClass, ModelSpec
from tastemaker.evaluation.html import render_html
from tastemaker.models.data import FEEDBACK
from tastemaker.training.evaluation_run import run_evaluation
from tastemaker.training.holdout import UNSEGMENTED, Holdout, score_model

runner = CliRunner()


def feedback() -> tuple[pd.DataFrame, dict[str, str]]:
    """Two groups of 12 users with their own items and a shared one; 4 users unlabelled."""
    rng = np.random.default_rng(5)
    rows = []
    labels = {}
    for group, offset in (("left", 0), ("right", 20)):
        for u in range(12):
            user = f"{group}{u}"
            if u < 10:
                labels[user] = group.title()
            picks = rng.choice(20, size=8, replace=False) + offset
            rows.extend((user, f"i{i}", 100 * u + t) for t, i in enumerate(picks))
            rows.append((user, "shared", 100 * u - 1))
    frame = pd.DataFrame(rows, columns=[Columns.USER, Columns.ITEM, Columns.TIMESTAMP])
    frame[Columns.WEIGHT] = np.float32(1.0)
    frame[FEEDBACK] = FeedbackClass.POSITIVE.value
    return frame, labels


MODELS = {
    "popular": ModelSpec(model="popularity"),
    "by_segment": ModelSpec(model="popularity", params={"by_segment": True}),
    "ease": ModelSpec(model="ease", params={"l2": 5.0}),
    "segmented": ModelSpec(
        model="segmented", params={"base_params": {"l2": 5.0}, "min_segment_users": 5}
    ),
}


def test_holdout_carries_segments_into_training_and_validation() -> None:
    frame, labels = feedback()
    holdout = Holdout.split(frame, segments=labels)
    data = holdout.dataset()
    assert data.user_segments is not None
    by_user = dict(zip(data.user_ids, data.user_segments, strict=True))
    assert by_user["left3"] == "Left"
    assert by_user["right11"] == ""
    assert holdout.validation().segments == labels
    groups = holdout.segment_of(["right0", "left11", "left0"])
    assert groups is not None
    assert groups.tolist() == ["Right", UNSEGMENTED, "Left"]
    assert list(groups.categories) == ["Left", "Right", UNSEGMENTED]
    plain = Holdout.split(frame)
    assert plain.dataset().user_segments is None
    assert plain.segment_of(["left0"]) is None


def test_scores_break_down_per_segment() -> None:
    frame, labels = feedback()
    holdout = Holdout.split(frame, segments=labels)
    score = score_model("ease", MODELS["ease"], holdout, ks=(5, 10))
    groups = score.by_segment
    assert list(groups) == ["Left", "Right", UNSEGMENTED]
    assert sum(g["users"] for g in groups.values()) == score.report.n_evaluated
    assert groups["Left"]["users"] == 10
    assert groups[UNSEGMENTED]["users"] == 4
    for g in groups.values():
        assert 0.0 <= g["ndcg@10"] <= 1.0
    assert score.as_dict()["by_segment"] == groups
    unlabelled = score_model("ease", MODELS["ease"], Holdout.split(frame), ks=(5, 10))
    assert unlabelled.by_segment == {}
    assert "by_segment" not in unlabelled.as_dict()
    # The same model and data without labels scores the same overall.
    assert unlabelled.metric("ndcg@10") == pytest.approx(score.metric("ndcg@10"))


def test_run_evaluation_reports_segments_and_trains_per_segment_models() -> None:
    frame, labels = feedback()
    run = run_evaluation(frame, None, MODELS, ks=(10,), segments=labels, segment_source="test")
    plain = run.as_dict()
    assert plain["segment_source"] == "test"
    by_name = {m["name"]: m for m in plain["models"]}
    for m in by_name.values():
        assert set(m["by_segment"]) == {"Left", "Right", UNSEGMENTED}
    # Per-segment popularity and models saw the labels: their lists differ from the global ones.
    assert by_name["by_segment"]["metrics"] != by_name["popular"]["metrics"]
    assert by_name["segmented"]["metrics"] != by_name["ease"]["metrics"]
    json.loads(run.to_json())  # strict JSON
    without = run_evaluation(frame, None, MODELS, ["popular", "by_segment"], ks=(10,))
    assert "segment_source" not in without.as_dict()
    for m in without.as_dict()["models"]:
        assert "by_segment" not in m
    # Without labels the per-segment variants are their global selves.
    first, second = (m["metrics"] for m in without.as_dict()["models"])
    assert first == second
    empty = run_evaluation(frame, None, MODELS, ["popular"], ks=(10,), segments={})
    assert "segment_source" not in empty.as_dict()


def page_for(segments: dict[str, Any] | None, source: str | None = None) -> str:
    model: dict[str, Any] = {"name": "ease", "model": "ease", "metrics": {"ndcg@10": 0.2}}
    if segments is not None:
        model["by_segment"] = segments
    run: dict[str, Any] = {"protocol": "chronological", "ks": [10], "models": [model]}
    if source:
        run["segment_source"] = source
    return render_html(run)


def test_html_has_a_segment_section_only_with_segments() -> None:
    groups = {
        "<Sports>": {"ndcg@10": 0.3, "users": 40},
        "News Junkies": {"ndcg@10": 0.1, "users": 12},
        UNSEGMENTED: {"ndcg@10": None, "users": 2},
    }
    page = page_for(groups, source="segments v2")
    assert "<h2>By segment</h2>" in page
    assert "&lt;Sports&gt; (40 users)" in page
    assert "<Sports>" not in page
    assert "segments v2" in page
    assert page.count("<svg") == 2  # the NDCG-at-K chart and the segment chart
    assert page.index("&lt;Sports&gt;") < page.index("News Junkies")  # the run's order
    assert "By segment" not in page_for(None)
    assert "By segment" not in page_for({})


def tastemaker(database: str, *args: str) -> Result:
    return runner.invoke(app, ["--database-url", database, "--insecure-dev", *args])


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A store filled by demo-data, and the planted segments it wrote."""
    folder = tmp_path_factory.mktemp("sample")
    url = f"sqlite:///{folder / 'x.db'}"
    result = tastemaker(
        url,
        "demo-data",
        "--users",
        "150",
        "--items",
        "200",
        "--seed",
        "4",
        "--out",
        str(folder),
        "--load",
    )
    assert result.exit_code == 0, result.output
    return url, folder / "segments.jsonl"


def test_evaluate_cli_breaks_down_by_planted_segment(
    sample: tuple[str, Path], tmp_path: Path
) -> None:
    url, segments = sample
    out = tmp_path / "r"
    result = tastemaker(
        url,
        "evaluate",
        "-m",
        "popular",
        "-m",
        "ease",
        "--segments",
        str(segments),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "NDCG@10 by segment" in text
    assert "Sports Fans" in text
    run = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert run["segment_source"] == str(segments)
    planted = {json.loads(line)["segment"] for line in segments.read_text().splitlines()}
    for m in run["models"]:
        assert set(m["by_segment"]) <= planted  # every test user has a planted segment
        assert sum(g["users"] for g in m["by_segment"].values()) == m["users_evaluated"]
    assert "<h2>By segment</h2>" in (out / "evaluation.html").read_text(encoding="utf-8")


def test_evaluate_cli_reads_csv_and_stays_quiet_without_segments(
    sample: tuple[str, Path], tmp_path: Path
) -> None:
    url, segments = sample
    rows = [json.loads(line) for line in segments.read_text().splitlines()]
    csv_file = tmp_path / "segments.csv"
    csv_file.write_text(
        "user_id,segment\n" + "".join(f"{r['user_id']},{r['segment']}\n" for r in rows[:40]),
        encoding="utf-8",
    )
    result = tastemaker(
        url, "evaluate", "-m", "popular", "--segments", str(csv_file), "--out", str(tmp_path / "a")
    )
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "a" / "evaluation.json").read_text(encoding="utf-8"))
    assert UNSEGMENTED in run["models"][0]["by_segment"]  # 40 of 150 users are labelled
    result = tastemaker(url, "evaluate", "-m", "popular", "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert "by segment" not in result.output
    run = json.loads((tmp_path / "b" / "evaluation.json").read_text(encoding="utf-8"))
    assert "by_segment" not in run["models"][0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"user_id": "u1"}\n', "needs a user_id and a segment"),
        ("not json\n", "not JSON Lines or CSV"),
        ("", "holds no segment labels"),
    ],
)
def test_a_bad_segments_file_is_an_error(
    sample: tuple[str, Path], tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "segments.jsonl"
    bad.write_text(content, encoding="utf-8")
    result = tastemaker(
        sample[0], "evaluate", "-m", "popular", "--segments", str(bad), "--out", str(tmp_path)
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "evaluation.json").exists()


def test_evaluate_cli_uses_the_active_segmentation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    filled = tastemaker(url, "demo-data", "--users", "150", "--items", "200", "--seed", "4")
    assert filled.exit_code == 0, filled.output
    out = tmp_path / "r"
    before = tastemaker(url, "evaluate", "-m", "popular", "--out", str(out))
    assert before.exit_code == 0, before.output
    run = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert "by_segment" not in run["models"][0]  # no segmentation saved yet
    segmented = tastemaker(url, "segment", "--k", "auto", "--k-max", "6")
    assert segmented.exit_code == 0, segmented.output
    config = tmp_path / "tastemaker.toml"
    config.write_text(
        '[training.models.popular]\nmodel = "popularity"\n\n'
        '[training.models.by_seg]\nmodel = "popularity"\nparams = { by_segment = true }\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        ["--database-url", url, "--insecure-dev", "evaluate", "--out", str(out)],
        env={"TASTEMAKER_CONFIG": str(config)},
    )
    assert result.exit_code == 0, result.output
    assert "NDCG@10 by segment" in " ".join(result.output.split())
    run = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert run["segment_source"].startswith("segments v1 (kmeans, k = ")
    popular, by_seg = run["models"]
    assert len(popular["by_segment"]) >= 2
    assert set(popular["by_segment"]) == set(by_seg["by_segment"])
    # The labels reached training: popularity per segment ranks differently.
    assert popular["metrics"] != by_seg["metrics"]
    quiet = tastemaker(url, "evaluate", "-m", "popular", "--no-by-segment", "--out", str(out))
    assert quiet.exit_code == 0, quiet.output
    run = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert "by_segment" not in run["models"][0]
