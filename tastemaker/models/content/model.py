"""The content-based recommender: user profile versus item features, by weighted cosine."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field, model_validator

from tastemaker.errors import ConfigurationError
from tastemaker.models.base import ModelConfig, Recommender, UserRow, signed_rows
from tastemaker.models.content import text
from tastemaker.models.content.space import ItemSpace, one_hot
from tastemaker.models.data import Dataset


class ContentConfig(ModelConfig):
    """Hyper-parameters of :class:`ContentBased`.

    Block weights say how much each kind of feature counts in the similarity (0 leaves a block
    out). ``lsa_components`` > 0 reduces TF-IDF to that many latent dimensions (0 keeps the raw
    sparse TF-IDF); ``max_features`` caps the TF-IDF vocabulary. ``negative_weight`` scales how
    much explicit negatives pull the profile away. ``embeddings_path`` names a local
    sentence-transformers model whose embeddings replace TF-IDF; ``seed`` seeds LSA.
    """

    text_weight: float = Field(default=1.0, ge=0)
    tag_weight: float = Field(default=1.0, ge=0)
    author_weight: float = Field(default=0.5, ge=0)
    source_weight: float = Field(default=0.25, ge=0)
    lsa_components: int = Field(default=0, ge=0, le=4096)
    max_features: int | None = Field(default=50_000, ge=1)
    negative_weight: float = Field(default=1.0, ge=0)
    embeddings_path: str | None = Field(default=None, min_length=1)
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        weights = (self.text_weight, self.tag_weight, self.author_weight, self.source_weight)
        if not any(w > 0 for w in weights):
            raise ValueError("at least one of the block weights must be positive")
        if self.embeddings_path is not None and self.lsa_components:
            raise ValueError(
                "lsa_components reduces TF-IDF, which embeddings_path replaces: set one of them"
            )
        return self


class ContentBased(Recommender[ContentConfig]):
    """Recommends items whose text, tags, author and source resemble what the user liked.

    A user's profile is the sum of the feature vectors of the items in their row (weighted by
    the row's weights); explicit negatives subtract ``negative_weight`` times theirs. Every item
    is scored by the weighted cosine with the profile, so items nobody has interacted with yet
    are recommended as soon as they resemble a user's taste. Tags include their ancestors with
    smaller weight: a shared parent counts, less than a shared leaf.

    >>> import pandas as pd
    >>> from tastemaker.models.data import Dataset
    >>> items = pd.DataFrame({
    ...     "title": ["Rust ownership", "Rust lifetimes", "Sourdough starter", "Baking rye"],
    ...     "tags": [["Tech > Rust"], ["Tech > Rust"], ["Food > Bread"], ["Food > Bread"]],
    ... }, index=["a", "b", "c", "d"])
    >>> ds = Dataset.from_interactions(
    ...     pd.DataFrame({"user_id": ["u", "v"], "item_id": ["a", "c"]}), items=items)
    >>> model = ContentBased().fit(ds)
    >>> model.recommend(["u", "v"], k=1)["item_id"].tolist()   # b and d: nobody read them
    ['b', 'd']
    >>> model.similar_items(["d"], k=1)["similar_item_id"].tolist()
    ['c']
    """

    name = "content"
    Config = ContentConfig

    def _fit(self, data: Dataset) -> None:
        cfg = self.config
        feats = data.items
        if feats is None:
            raise ConfigurationError(
                "the content model needs item features (title/text, tags, author or source): "
                "build the Dataset with items=<catalog frame>, or use a collaborative model"
            )
        blocks: list[tuple[float, np.ndarray | sp.csr_matrix]] = []
        if cfg.text_weight > 0:
            block = self._text_block(feats.text)
            if block is not None:
                blocks.append((cfg.text_weight, block))
        blocks.append((cfg.tag_weight, feats.tags))
        blocks.append((cfg.author_weight, one_hot(feats.authors, len(feats.author_names))))
        blocks.append((cfg.source_weight, one_hot(feats.sources, len(feats.source_names))))
        space = ItemSpace.combine(blocks, data.n_items)
        if space.total_weight == 0:
            raise ConfigurationError(
                "no item has any feature the content model's positive block weights use "
                "(title/text, tags, author, source): send item metadata or change the weights"
            )
        self.space_ = space

    def _text_block(self, texts: list[str]) -> np.ndarray | sp.csr_matrix | None:
        cfg = self.config
        if cfg.embeddings_path is not None:
            return text.embed(cfg.embeddings_path, texts)
        matrix = text.tfidf(texts, cfg.max_features)
        if matrix is None or not cfg.lsa_components:
            return matrix
        return text.lsa(matrix, cfg.lsa_components, cfg.seed)

    def _score(
        self,
        users: np.ndarray,
        positives: sp.csr_matrix,
        negatives: sp.csr_matrix,
        folded: np.ndarray,
    ) -> np.ndarray:
        # The profile is rebuilt from the current rows, so folded-in events count at once.
        rows = signed_rows(positives, negatives, self.config.negative_weight, binary=False)
        return self.space_.profile_scores(rows)

    def _score_one(self, uidx: int, pos: UserRow, neg: UserRow, folded: bool) -> np.ndarray:
        row = pos.signed(neg, self.config.negative_weight, binary=False)
        return self.space_.profile_scores_one(row.cols, row.vals)

    def _similar(self, items: np.ndarray) -> np.ndarray:
        return self.space_.item_scores(items)

    def _state(self) -> dict[str, np.ndarray]:
        return self.space_.arrays()

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.space_ = ItemSpace.from_arrays(arrays)
