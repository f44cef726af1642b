"""Item text as vectors: TF-IDF, optionally reduced by LSA, or sentence embeddings.

Embeddings come from a sentence-transformers model in a local directory only; nothing is ever
downloaded. The package is an optional extra, imported when first needed.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tastemaker.errors import ConfigurationError

EMBED_BATCH = 64


def tfidf(texts: list[str], max_features: int | None) -> sp.csr_matrix | None:
    """Sublinear TF-IDF rows (unit length), or ``None`` when no text has a usable word.

    >>> m = tfidf(["red apple", "green apple", ""], max_features=None)
    >>> m.shape, m[2].nnz
    ((3, 3), 0)
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(t.strip() for t in texts):
        return None
    vectorizer = TfidfVectorizer(
        sublinear_tf=True, strip_accents="unicode", max_features=max_features, dtype=np.float32
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:
        # "empty vocabulary": every token was shorter than two characters.
        return None
    return sp.csr_matrix(matrix, dtype=np.float32)


def lsa(matrix: sp.csr_matrix, components: int, seed: int) -> np.ndarray | sp.csr_matrix:
    """Latent semantic analysis: ``matrix`` projected on its top singular vectors.

    Returns ``matrix`` unchanged when it is too small to reduce.
    """
    from sklearn.decomposition import TruncatedSVD

    k = min(components, matrix.shape[0], matrix.shape[1])
    if k < 1 or matrix.shape[1] < 2:
        return matrix
    svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=seed)
    reduced: np.ndarray = np.asarray(svd.fit_transform(matrix), dtype=np.float32)
    return reduced


def embed(path: str, texts: list[str]) -> np.ndarray:
    """Unit-length sentence embeddings of ``texts`` from the model saved at ``path``.

    Empty texts get zero vectors: an item without text has no text evidence.

    Raises
    ------
    ConfigurationError
        When sentence-transformers is not installed, or ``path`` is not a local directory
        holding a saved sentence-transformers model.
    """
    try:
        st: Any = importlib.import_module("sentence_transformers")
    except ImportError as exc:
        raise ConfigurationError(
            "embeddings_path is set but the sentence-transformers package is not installed: "
            "pip install 'tastemaker[embeddings]', or set embeddings_path to null to use TF-IDF"
        ) from exc
    local = Path(path)
    if not (local / "modules.json").is_file():
        raise ConfigurationError(
            f"embeddings_path {path!r} is not a local sentence-transformers model directory "
            "(no modules.json); save one with SentenceTransformer(...).save(path) — models are "
            "never downloaded at run time"
        )
    kwargs: dict[str, Any] = {"device": "cpu"}
    if "local_files_only" in inspect.signature(st.SentenceTransformer).parameters:
        kwargs["local_files_only"] = True  # sentence-transformers ≥ 3: never reach the hub
    model = st.SentenceTransformer(str(local), **kwargs)
    vectors = np.asarray(
        model.encode(
            texts,
            batch_size=EMBED_BATCH,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    ).reshape(len(texts), -1)
    empty = np.fromiter((not t.strip() for t in texts), dtype=bool, count=len(texts))
    vectors[empty] = 0.0
    return vectors
