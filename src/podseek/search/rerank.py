"""The second stage of a search: a cross-encoder reorders the top of the first stage's ranking.

The first stage (vectors, keywords, their fusion) picks the candidates; the re-ranker reads
the query with each candidate's text and scores the pair. Its score is mixed with the first
stage's (both min-max normalised over the re-ranked candidates), because a re-ranker trained
on synthetic queries is right more often than the first stage but not always: the mix keeps
what the first stage knew (docs/search.md, with the measured weights)."""

from collections.abc import Callable, Sequence

import numpy as np

from podseek.index.base import Hit
from podseek.models.reranker import Reranker


def min_max(scores: np.ndarray) -> np.ndarray:
    """``scores`` scaled to [0, 1]; all equal: all 1 (no information, no order)."""
    low, spread = float(scores.min()), float(np.ptp(scores))
    if spread == 0.0:
        return np.ones_like(scores, dtype=np.float64)
    return (scores.astype(np.float64) - low) / spread


def rerank_hits(
    query: str,
    hits: list[Hit],
    texts: dict[str, str],
    reranker: Reranker,
    depth: int,
    weight: float,
) -> list[Hit]:
    """``hits`` with its top ``depth`` reordered by ``weight`` x the re-ranker's normalised
    score + (1 - weight) x the first stage's. A re-ranked hit scores 1 plus that mix, so it
    stays above the hits past ``depth``, which keep their first-stage order and score (at
    most 1 for the fused and semantic rankings). A hit without text is not re-ranked."""
    top = [(doc, score) for doc, score in hits[:depth] if doc in texts]
    if len(top) < 2:
        return hits
    kept = {doc for doc, _ in top}
    own = reranker.score(query, [texts[doc] for doc, _ in top])
    first = np.array([score for _, score in top], dtype=np.float64)
    mixed = np.clip(weight * min_max(own) + (1.0 - weight) * min_max(first), 0.0, 1.0)
    order = sorted(range(len(top)), key=lambda i: -mixed[i])
    reranked = [(top[i][0], 1.0 + float(mixed[i])) for i in order]
    return reranked + [hit for hit in hits if hit[0] not in kept]


def rerank_lists(
    queries: Sequence[str],
    lists: list[list[Hit]],
    fetch: Callable[[list[str]], dict[str, dict]],
    fetched: dict[str, dict],
    reranker: Reranker,
    depth: int,
    weight: float,
    joins: Sequence[bool],
) -> list[list[Hit]]:
    """Each query's list re-ranked (:func:`rerank_hits`) where ``joins`` says so; the texts
    come from ``fetched`` (rows a search read already), the rest from ``fetch``, and are
    added to ``fetched``."""
    chosen = [hits[:depth] for hits, join in zip(lists, joins, strict=True) if join]
    wanted = {doc for hits in chosen for doc, _ in hits}
    missing = sorted(wanted - fetched.keys())
    if missing:
        fetched.update(fetch(missing))
    texts = {doc: fetched[doc]["text"] for doc in wanted if doc in fetched}
    return [
        rerank_hits(query, hits, texts, reranker, depth, weight) if join else hits
        for query, hits, join in zip(queries, lists, joins, strict=True)
    ]
