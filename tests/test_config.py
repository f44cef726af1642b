"""Settings: typed, validated, unknown keys rejected; feedback classes from configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tastemaker.config import FeedbackPolicy, FeedbackRule, Settings, load_settings
from tastemaker.errors import ConfigurationError


def test_defaults() -> None:
    s = Settings()
    assert s.database_url.startswith("sqlite")
    assert s.max_batch_events == 1000
    assert "purchase" in s.event_types


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="datbase_url"):
        load_settings(datbase_url="x")


def test_short_secret_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="32"):
        load_settings(secret_keys=["short"])


def test_feedback_rules_must_name_known_types() -> None:
    with pytest.raises(ConfigurationError, match="teleport"):
        load_settings(feedback={"rules": [{"type": "teleport", "feedback": "positive"}]})


@pytest.mark.parametrize(
    ("event_type", "value", "expected"),
    [
        ("dwell", 45.0, ("positive", 1.0)),
        ("dwell", 30.0, ("positive", 1.0)),
        ("dwell", 29.9, ("seen", 0.0)),
        ("rating", 5.0, ("positive", 2.0)),
        ("rating", 3.0, ("seen", 0.0)),
        ("rating", 1.0, ("negative", 1.0)),
        ("dislike", None, ("negative", 2.0)),
        ("impression", None, ("seen", 0.0)),
        ("purchase", 12.0, ("positive", 4.0)),
    ],
)
def test_default_feedback_classes(
    event_type: str, value: float | None, expected: tuple[str, float]
) -> None:
    assert Settings().feedback.classify(event_type, value) == expected


def test_feedback_is_configuration() -> None:
    policy = FeedbackPolicy(
        rules=[FeedbackRule(type="dwell", feedback="positive", weight=3, min_value=10)]  # type: ignore[arg-type]
    )
    assert policy.classify("dwell", 12) == ("positive", 3.0)
    assert policy.classify("dwell", 5) == ("seen", 0.0)
    assert policy.classify("click", None) == ("seen", 0.0)


def test_toml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tastemaker.toml"
    path.write_text(
        'max_batch_events = 10\nchannels = ["web", "kiosk"]\n'
        '[feedback]\nrules = [{type = "view", feedback = "positive", weight = 0.5}]\n'
    )
    monkeypatch.setenv("TASTEMAKER_CONFIG", str(path))
    monkeypatch.setenv("TASTEMAKER_MAX_BATCH_EVENTS", "20")
    s = load_settings()
    assert s.max_batch_events == 20  # the environment wins over the file
    assert s.channels == ["web", "kiosk"]
    assert s.feedback.classify("view", None) == ("positive", 0.5)
    path.write_text("nonsense_key = 1\n")
    with pytest.raises(ConfigurationError, match="nonsense_key"):
        load_settings()
