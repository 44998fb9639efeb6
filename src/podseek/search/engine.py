"""Semantic, keyword and hybrid search over an index, with filters: the one ``search`` that
the CLI, the server and the evaluation all call."""

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import numpy as np
from pydantic import BaseModel

from podseek.index.base import Hit, SearchFilters
from podseek.index.episode_index import EpisodeIndex
from podseek.models.base import Encoder
from podseek.search.fusion import (
    CONVEX_ALPHA,
    COVERAGE_HITS,
    Fusion,
    adaptive_alpha,
    fuse,
    query_coverage,
)
from podseek.search.snippets import make_snippet


class SearchMode(StrEnum):
    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class SearchResult(BaseModel):
    """One episode in a result list."""

    id: str
    score: float
    show_id: str
    show_title: str
    episode_title: str
    snippet: str
    published_at: datetime | None
    duration_s: int | None
    language: str
    audio_url: str
    episode_url: str


class SearchResults(BaseModel):
    """The answer to one query."""

    query: str
    mode: SearchMode
    count: int
    took_ms: float
    data: list[SearchResult]


class QueryVectorCache:
    """Vectors of recent queries (Spotify caches query vectors too): a repeated query skips
    the encoder, which is most of a search's time. Safe to share between a server's threads:
    the cache is locked, the encoder runs outside the lock."""

    def __init__(self, encoder: Encoder, size: int = 2048) -> None:
        self.encoder = encoder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0  # queries answered from the cache / encoded

    def encode(self, queries: Sequence[str]) -> np.ndarray:
        with self._lock:
            found = {q: self._vectors[q] for q in dict.fromkeys(queries) if q in self._vectors}
        missing = [q for q in dict.fromkeys(queries) if q not in found]
        if missing:
            fresh = self.encoder.encode_queries(missing)
            found.update(zip(missing, fresh, strict=True))
        with self._lock:
            self.misses += len(missing)
            self.hits += len(queries) - len(missing)
            for query in queries:
                self._vectors[query] = found[query]
                self._vectors.move_to_end(query)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return np.stack([found[q] for q in queries])


class Searcher:
    """Answers queries over one index with the encoder that built it.

    Args:
        index: an opened index.
        encoder: must be the index's model (checked).
        depth: how many candidates each list contributes to hybrid fusion.
        fusion: how hybrid mode fuses the lists (see :mod:`podseek.search.fusion`).
        query_vectors: a query-vector cache of ``encoder`` to share (a server keeps one per
            model across index versions); a new one by default.
    """

    def __init__(
        self,
        index: EpisodeIndex,
        encoder: Encoder,
        depth: int = 100,
        fusion: Fusion = Fusion.ADAPTIVE,
        query_vectors: QueryVectorCache | None = None,
    ) -> None:
        index.check_encoder(encoder)
        self.index = index
        self.backend = index.backend
        self.query_vectors = (
            query_vectors if query_vectors is not None else QueryVectorCache(encoder)
        )
        self.depth = depth
        self.fusion = Fusion(fusion)

    def rank(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
        filters: SearchFilters | None = None,
    ) -> list[list[Hit]]:
        """Ranked ``(id, score)`` lists, one per query: what evaluation needs."""
        return self._rank(queries, k, mode, filters, {})

    def _rank(
        self,
        queries: Sequence[str],
        k: int,
        mode: SearchMode,
        filters: SearchFilters | None,
        fetched: dict[str, dict],
    ) -> list[list[Hit]]:
        """:meth:`rank`, keeping the rows it fetched (for hybrid fusion) in ``fetched``."""
        mode = SearchMode(mode)
        depth = max(k, self.depth) if mode is SearchMode.HYBRID else k
        dense = sparse = None
        if mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
            dense = self.backend.vector_search(self.query_vectors.encode(queries), depth, filters)
        if mode in (SearchMode.KEYWORD, SearchMode.HYBRID):
            sparse = self.backend.keyword_search(queries, depth, filters)
        if dense is None:
            return sparse
        if sparse is None:
            return dense
        alphas = self._alphas(queries, sparse, fetched)
        return [
            fuse(d, s, self.fusion, a)[:k] for d, s, a in zip(dense, sparse, alphas, strict=True)
        ]

    def _alphas(
        self,
        queries: Sequence[str],
        keyword: list[list[Hit]],
        fetched: dict[str, dict] | None = None,
    ) -> list[float]:
        """The semantic weight of each query's fusion: fixed, or from how much of the query
        its top keyword hits contain (:func:`~podseek.search.fusion.adaptive_alpha`). The
        rows read for it are added to ``fetched``."""
        fetched = {} if fetched is None else fetched
        if self.fusion is not Fusion.ADAPTIVE:
            return [CONVEX_ALPHA] * len(queries)
        tops = [[i for i, _ in hits[:COVERAGE_HITS]] for hits in keyword]
        fetched.update(self.backend.fetch(list({i for top in tops for i in top})))
        return [
            adaptive_alpha(query_coverage(query, [fetched[i]["text"] for i in top if i in fetched]))
            for query, top in zip(queries, tops, strict=True)
        ]

    def search(
        self,
        query: str,
        k: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
        filters: SearchFilters | None = None,
    ) -> SearchResults:
        """The top ``k`` episodes for ``query``, with what a result list shows."""
        return self.batch_search([query], k, mode, filters)[0]

    def batch_search(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
        filters: SearchFilters | None = None,
    ) -> list[SearchResults]:
        started = time.perf_counter()
        fields: dict[str, dict] = {}  # rows fusion fetched already are not fetched again
        ranked = self._rank(queries, k, mode, filters, fields)
        fields.update(self.backend.fetch(list({i for h in ranked for i, _ in h} - fields.keys())))
        took_ms = (time.perf_counter() - started) * 1000 / max(1, len(queries))
        answers = []
        for query, hits in zip(queries, ranked, strict=True):
            data = [
                SearchResult(
                    id=doc_id,
                    score=round(score, 6),
                    show_id=fields[doc_id]["show_id"],
                    show_title=fields[doc_id]["show_title"],
                    episode_title=fields[doc_id]["episode_title"],
                    snippet=make_snippet(
                        fields[doc_id]["text"], fields[doc_id]["episode_title"], query
                    ),
                    published_at=fields[doc_id]["published_at"],
                    duration_s=fields[doc_id]["duration_s"],
                    language=fields[doc_id]["language"],
                    audio_url=fields[doc_id]["audio_url"],
                    episode_url=fields[doc_id]["episode_url"],
                )
                for doc_id, score in hits
                if doc_id in fields
            ]
            answers.append(
                SearchResults(
                    query=query, mode=SearchMode(mode), count=len(data), took_ms=took_ms, data=data
                )
            )
        return answers
