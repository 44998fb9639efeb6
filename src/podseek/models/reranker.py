"""A cross-encoder re-ranker: it reads a query and an episode's text together and scores how
well they match, which an encoder that sees each alone cannot. It is too slow to rank a whole
catalog, so a search's first stage picks the candidates and the re-ranker reorders the top
few (:mod:`podseek.search.rerank`).

A re-ranker is a sentence-transformers ``CrossEncoder`` folder with one output (a relevance
logit): one ``podseek train-reranker`` trained into ``<workspace>/models/<name>`` (it holds
:data:`~podseek.config.RERANKER_RECORD`), or any such folder a user names.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from podseek.config import RERANKER_RECORD
from podseek.errors import PodseekError
from podseek.extras import require
from podseek.models.device import CPU, Device
from podseek.models.registry import models_dir, query_languages

# Pairs scored per forward pass
RERANK_BATCH = 32


class Reranker:
    """Scores (query, text) pairs with a cross-encoder.

    Args:
        model: a loaded ``CrossEncoder``.
        name: what the settings and records call it (a workspace name or a folder).
        languages: the languages it reads (ISO 639-1), where its backbone knows only some
            (a MiniLM re-ranker: English); ``None``: any.
    """

    def __init__(self, model: Any, name: str, languages: frozenset[str] | None = None) -> None:
        self.model = model
        self.name = name
        self.languages = languages

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The relevance logit of each text for ``query`` (higher is better), float32."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        scores = self.model.predict(
            [(query, text) for text in texts],
            batch_size=RERANK_BATCH,
            activation_fn=_identity(),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(scores, dtype=np.float32).reshape(len(texts))


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


def reranker_folder(name_or_path: str, home: Path) -> Path:
    """The folder ``name_or_path`` stands for: a re-ranker trained into the workspace, or a
    cross-encoder folder; else one error that says what a re-ranker can be."""
    trained = models_dir(home) / name_or_path
    if "/" not in name_or_path and (trained / RERANKER_RECORD).is_file():
        return trained
    folder = Path(name_or_path).expanduser()
    if folder.is_dir() and is_cross_encoder(folder):
        return folder
    made = sorted(p.parent.name for p in models_dir(home).glob(f"*/{RERANKER_RECORD}"))
    raise PodseekError(
        f"unknown re-ranker {name_or_path!r}: use a re-ranker trained into {models_dir(home)} "
        f"({', '.join(made) or 'none yet; see podseek train-reranker'}) or a cross-encoder "
        "folder"
    )


def is_cross_encoder(folder: Path) -> bool:
    """Whether ``folder`` holds a one-output sequence classifier (a re-ranker), by its
    ``config.json``."""
    if (Path(folder) / RERANKER_RECORD).is_file():
        return True
    try:
        found = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    architectures = found.get("architectures") or []
    labels = len(found.get("id2label") or {"0": ""})
    return any(a.endswith("ForSequenceClassification") for a in architectures) and labels == 1


def load_reranker(name_or_path: str, home: Path, device: Device = CPU) -> Reranker:
    """The re-ranker ``name_or_path`` names (see :func:`reranker_folder`), on ``device``."""
    folder = reranker_folder(name_or_path, home)
    require("encoders", "torch", "sentence_transformers", what=f"re-ranker {name_or_path}")
    from sentence_transformers.cross_encoder import CrossEncoder

    try:
        model = CrossEncoder(str(folder), device=device.name, local_files_only=True)
    except (OSError, ValueError) as error:
        raise PodseekError(f"{folder}: cannot load the re-ranker: {error}") from error
    model.eval()
    return Reranker(model, name_or_path, reranker_languages(folder, home))


def reranker_record(folder: Path) -> dict[str, Any] | None:
    """What ``podseek train-reranker`` recorded in ``folder``, if it made it."""
    path = Path(folder) / RERANKER_RECORD
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return None


def reranker_languages(folder: Path, home: Path) -> frozenset[str] | None:
    """The languages a re-ranker reads: its backbone's, for one podseek trained (a MiniLM
    backbone knows English only); any, for a folder from elsewhere."""
    record = reranker_record(folder)
    base = (record or {}).get("base")
    return query_languages(base, home) if isinstance(base, str) else None
