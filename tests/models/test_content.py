"""The content-based model beyond the shared contract: each block, negatives, cold items."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError
from tastemaker.models import Dataset, Recommender
from tastemaker.models.content import ContentBased

RUST = "rust borrow checker lifetimes ownership"
BREAD = "sourdough flour oven crust baking"


def dataset(items: dict[str, dict[str, Any]], reads: list[tuple[str, str]]) -> Dataset:
    """A catalog (item id → columns) and positive ``(user, item)`` reads of weight 1."""
    frame = pd.DataFrame.from_dict(items, orient="index")
    inter = pd.DataFrame(
        [(u, i, 1.0, n) for n, (u, i) in enumerate(reads)], columns=list(Columns.INTERACTIONS)
    )
    return Dataset.from_interactions(inter, items=frame)


def scores(model: Recommender, user: str) -> dict[str, float]:
    recs = model.recommend([user], k=100)
    return dict(zip(recs[Columns.ITEM], recs[Columns.SCORE], strict=True))


def test_tfidf_separates_two_vocabularies() -> None:
    items = {f"r{i}": {"text": f"{RUST} chapter{i}"} for i in range(4)}
    items |= {f"b{i}": {"text": f"{BREAD} recipe{i}"} for i in range(4)}
    model = ContentBased().fit(dataset(items, [("u", "r0"), ("v", "b0")]))
    for user, mine, other in (("u", "r", "b"), ("v", "b", "r")):
        got = scores(model, user)
        assert {i[0] for i in list(got)[:3]} == {mine}
        assert all(got[f"{mine}{i}"] > 0.5 for i in range(1, 4))
        assert all(got[f"{other}{i}"] == 0.0 for i in range(4))


def test_a_shared_parent_tag_counts_less_than_a_shared_leaf() -> None:
    items = {
        "liked": {"tags": ["Tech > Phones > Android"]},
        "same_leaf": {"tags": ["Tech > Phones > Android"]},
        "sibling": {"tags": ["Tech > Phones > iOS"]},
        "cousin": {"tags": ["Tech > Laptops"]},
        "unrelated": {"tags": ["Food > Bread"]},
    }
    got = scores(ContentBased().fit(dataset(items, [("u", "liked")])), "u")
    assert list(got) == ["same_leaf", "sibling", "cousin", "unrelated"]
    assert got["same_leaf"] == pytest.approx(1.0)
    assert got["same_leaf"] > got["sibling"] > got["cousin"] > got["unrelated"] == 0.0


def test_author_affinity() -> None:
    items = {
        "ann1": {"text": RUST, "author": "ann"},
        "ann2": {"text": BREAD, "author": "ann"},
        "ann3": {"text": "gardening tomatoes", "author": "ann"},
        "bob1": {"text": "gardening tomatoes", "author": "bob"},
    }
    got = scores(ContentBased().fit(dataset(items, [("u", "ann1"), ("u", "ann2")])), "u")
    assert list(got) == ["ann3", "bob1"]
    assert got["ann3"] > got["bob1"] == 0.0


def test_scores_are_a_weighted_cosine_over_blocks() -> None:
    items = {
        "liked": {"tags": ["Tech"], "author": "ann", "source": "wire"},
        "twin": {"tags": ["Tech"], "author": "ann", "source": "wire"},
        "other_author": {"tags": ["Tech"], "author": "bob", "source": "wire"},
        "only_source": {"tags": ["Food"], "author": "bob", "source": "wire"},
    }
    model = ContentBased(tag_weight=2.0, author_weight=1.0, source_weight=1.0)
    got = scores(model.fit(dataset(items, [("u", "liked")])), "u")
    # Σ weight · cosine per block, divided by the total weight 4.
    assert got == pytest.approx({"twin": 1.0, "other_author": 0.75, "only_source": 0.25})
    sims = model.similar_items(["twin"], k=3)
    assert sims[Columns.SCORE].tolist() == pytest.approx([1.0, 0.75, 0.25])


def test_negative_feedback_pushes_similar_items_down() -> None:
    items = {f"r{i}": {"text": f"{RUST} chapter{i}"} for i in range(3)}
    items |= {f"b{i}": {"text": f"{BREAD} recipe{i}"} for i in range(3)}
    ds = dataset(items, [("u", "r0"), ("u", "b0")])
    model = ContentBased().fit(ds)
    before = scores(model, "u")
    model.fold_in("u", ["b1"], [-1.0])
    after = scores(model, "u")
    assert "b1" not in after
    assert after["b2"] < before["b2"]
    assert after["b2"] < after["r1"]
    assert after["r1"] > before["r1"]
    heavier = ContentBased(negative_weight=3.0).fit(ds)
    heavier.fold_in("u", ["b1"], [-1.0])
    assert scores(heavier, "u")["b2"] < after["b2"]


def test_a_cold_item_is_recommended_to_a_matching_user() -> None:
    items = {
        "read": {"text": RUST, "tags": ["Tech > Rust"], "author": "ann"},
        "popular": {"text": BREAD, "tags": ["Food > Bread"], "author": "bob"},
        "cold": {"text": f"{RUST} async", "tags": ["Tech > Rust"], "author": "ann"},
    }
    reads = [("u", "read"), ("v", "popular"), ("w", "popular"), ("x", "popular")]
    ds = dataset(items, reads)
    assert ds.positives[:, ds.item_index(["cold"])[0]].nnz == 0
    recs = ContentBased().fit(ds).recommend(["u"], k=1)
    assert recs[Columns.ITEM].tolist() == ["cold"]


def test_lsa_reduces_text_to_dense_components_and_round_trips() -> None:
    items = {f"r{i}": {"text": f"{RUST} chapter{i}"} for i in range(5)}
    items |= {f"b{i}": {"text": f"{BREAD} recipe{i}"} for i in range(5)}
    model = ContentBased(lsa_components=2).fit(dataset(items, [("u", "r0"), ("v", "b0")]))
    assert model.space_.dense.shape == (10, 2)
    assert model.space_.sparse.shape[1] == 0
    got = scores(model, "u")
    assert {i[0] for i in list(got)[:4]} == {"r"}
    loaded = Recommender.from_bytes(model.to_bytes())
    pd.testing.assert_frame_equal(
        loaded.recommend(["u", "v"], k=5), model.recommend(["u", "v"], k=5)
    )


def test_max_features_caps_the_vocabulary() -> None:
    items = {f"i{n}": {"text": f"common word{n}"} for n in range(30)}
    model = ContentBased(max_features=5).fit(dataset(items, [("u", "i0")]))
    assert model.space_.sparse.shape[1] <= 5


def test_no_item_features_is_a_clear_error_at_fit_time() -> None:
    inter = pd.DataFrame([("u", "a", 1.0, 0)], columns=list(Columns.INTERACTIONS))
    with pytest.raises(ConfigurationError, match="needs item features"):
        ContentBased().fit(Dataset.from_interactions(inter))
    bare = pd.DataFrame({"recommendable": [True]}, index=["a"])
    with pytest.raises(ConfigurationError, match="no item has any feature"):
        ContentBased().fit(Dataset.from_interactions(inter, items=bare))


def test_config_validates() -> None:
    with pytest.raises(ConfigurationError, match="block weights"):
        ContentBased(text_weight=0, tag_weight=0, author_weight=0, source_weight=0)
    with pytest.raises(ConfigurationError, match="lsa_components"):
        ContentBased(lsa_components=10, embeddings_path="/models/minilm")
    for bad in ({"text_weight": -1.0}, {"lsa_components": -2}, {"max_features": 0}, {"x": 1}):
        with pytest.raises(ConfigurationError):
            ContentBased(**bad)
    model = ContentBased(tag_weight=2.0, embeddings_path="/models/minilm")
    assert ContentBased.from_config(model.get_config()).config == model.config


# --- embeddings ----------------------------------------------------------------------------


def test_embeddings_without_the_package_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    ds = dataset({"a": {"text": RUST}}, [("u", "a")])
    with pytest.raises(ConfigurationError, match=r"pip install 'tastemaker\[embeddings\]'"):
        ContentBased(embeddings_path=str(tmp_path)).fit(ds)


class _KeywordEncoder:
    """Stands in for ``SentenceTransformer``: one dimension per keyword."""

    KEYWORDS = ("rust", "sourdough", "garden")
    loaded: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, path: str, *, device: str, local_files_only: bool = False) -> None:
        self.loaded.append((path, {"device": device, "local_files_only": local_files_only}))

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        assert kwargs["normalize_embeddings"] is True
        vecs = np.array([[float(k in t.split()) for k in self.KEYWORDS] + [0.1] for t in texts])
        unit: np.ndarray = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        return unit


def test_embeddings_replace_tfidf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = _KeywordEncoder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    texts = {"r0": RUST, "r1": "rust again", "b0": BREAD, "g0": "garden", "empty": ""}
    items = {i: {"text": t, "tags": ["Misc"]} for i, t in texts.items()}
    ds = dataset(items, [("u", "r0")])
    with pytest.raises(ConfigurationError, match="not a local sentence-transformers model"):
        ContentBased(embeddings_path=str(tmp_path / "nowhere")).fit(ds)
    (tmp_path / "modules.json").write_text("[]")
    model = ContentBased(embeddings_path=str(tmp_path)).fit(ds)
    assert _KeywordEncoder.loaded[-1] == (
        str(tmp_path),
        {"device": "cpu", "local_files_only": True},
    )
    assert model.space_.dense.shape == (5, 4)
    assert not model.space_.dense[ds.item_index(["empty"])[0]].any()  # no text, no vector
    got = scores(model, "u")
    # Text cosine 1 (same keyword) and tag cosine 1, with equal weights.
    assert got["r1"] == pytest.approx(1.0)
    assert got["b0"] == pytest.approx(0.5 + 0.5 * 0.01 / 1.01)
    loaded = Recommender.from_bytes(model.to_bytes())
    pd.testing.assert_frame_equal(loaded.recommend(["u"], k=4), model.recommend(["u"], k=4))


def test_embeddings_from_a_tiny_local_model(tmp_path: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *RUST.split(), *BREAD.split()]
    bert_dir = tmp_path / "bert"
    bert_dir.mkdir()
    (bert_dir / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(bert_dir / "vocab.txt")).save_pretrained(bert_dir)
    config = transformers.BertConfig(
        vocab_size=len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    transformers.BertModel(config).save_pretrained(bert_dir)
    with warnings.catch_warnings():
        # Deprecated (not yet removed) in sentence-transformers 6; the only path in 2.x.
        warnings.simplefilter("ignore", DeprecationWarning)
        modules = importlib.import_module("sentence_transformers.models")
    word = modules.Transformer(str(bert_dir), max_seq_length=16)
    pooling = modules.Pooling(config.hidden_size)
    st.SentenceTransformer(modules=[word, pooling], device="cpu").save(str(tmp_path / "st"))

    items = {"r0": {"text": RUST}, "r1": {"text": RUST}, "b0": {"text": BREAD}}
    ds = dataset(items, [("u", "r0")])
    model = ContentBased(embeddings_path=str(tmp_path / "st")).fit(ds)
    assert model.space_.dense.shape == (3, 8)
    # Identical text, identical embedding: the twin comes first with cosine 1.
    recs = model.recommend(["u"], k=2)
    assert recs[Columns.ITEM].iloc[0] == "r1"
    assert recs[Columns.SCORE].iloc[0] == pytest.approx(1.0, abs=1e-5)
