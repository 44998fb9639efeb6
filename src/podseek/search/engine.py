"""Semantic, keyword and hybrid search over an index, with filters: the one ``search`` that
the CLI, the server and the evaluation all call."""

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from enum import StrEnum

import numpy as np
from pydantic import BaseModel

from podseek.catalog.cleaning import detect_language
from podseek.errors import NotFound
from podseek.index.base import Hit, SearchFilters
from podseek.index.episode_index import EpisodeIndex
from podseek.models.base import Encoder
from podseek.models.reranker import Reranker
from podseek.search.fusion import (
    CONVEX_ALPHA,
    COVERAGE_HITS,
    Fusion,
    adaptive_alpha,
    convex_combination,
    fuse,
    query_coverage,
)
from podseek.search.rerank import rerank_lists
from podseek.search.segments import Moment, SegmentSearch
from podseek.search.snippets import make_snippet

# an ensemble weighs its two encoders' lists alike: their sum, as measured on the dev half;
# each further partner is summed, half and half, with the ranking so far (docs/search.md)
ENSEMBLE_ALPHA = 0.5
# Letters a query needs before its language is read (a partner's gate); shorter ones: any.
QUERY_LANGUAGE_LETTERS = 12

# the keyword half of a hybrid search runs here while the query is encoded and its vector
# searched: the encoder releases the GIL, so the two halves overlap on a second core
_KEYWORD_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="podseek-keyword")


class _InFlight:
    """How many searches this process is ranking now. A second thread helps a search only
    when a core is idle: under load every core is busy already, and the hand-over between
    threads costs throughput (docs/results.md), so only a search running alone overlaps."""

    def __init__(self) -> None:
        self._running = 0
        self._lock = threading.Lock()

    def __enter__(self) -> int:
        with self._lock:
            self._running += 1
            return self._running

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._running -= 1


_IN_FLIGHT = _InFlight()


class SearchMode(StrEnum):
    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class ResultType(StrEnum):
    """What a search ranks: episodes, or shows (a show's own text with its best episodes)."""

    EPISODE = "episode"
    SHOW = "show"


class Sort(StrEnum):
    """The order of a result list: by relevance, or the most relevant by date (newest first;
    the relevance cut comes first, so a date sort never digs up poor matches)."""

    RELEVANCE = "relevance"
    DATE = "date"


class SameShow(StrEnum):
    """What "more like this" does with the episode's own show: any episode, other shows only
    (discover), or that show only (its back catalogue)."""

    ANY = "any"
    EXCLUDE = "exclude"
    ONLY = "only"


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
    # where in the episode's transcript the query matches, best first (segment search)
    moments: list[Moment] = []


class SearchResults(BaseModel):
    """The answer to one query."""

    query: str
    mode: SearchMode
    count: int
    took_ms: float
    data: list[SearchResult]
    sort: Sort = Sort.RELEVANCE
    # a spelling of the query the catalog knows, offered (never applied) when words of the
    # query are unknown and few episodes match them
    did_you_mean: str | None = None


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
        partners: searchers over the same episodes indexed by other encoders (the ensemble
            models): semantic and hybrid rankings become the sum of this encoder's and the
            first partner's min-max normalised lists, each ``depth`` deep; each further
            partner's list is then summed with that ranking, half and half (so the last
            weighs most: three encoders rank as the pair's ranking fused with the third's,
            which is what was measured). Keyword search is one list.
        segments: segment search over the transcripts' windows (same encoder): a search
            with ``segments=True`` fuses the episodes its windows score into the ranking and
            returns each result's moments.
        languages: the languages ``encoder`` knows (ISO 639-1; ``None``: any): as a
            partner, it joins the ranking of a query only when the query reads as one of them
            (or is too short to tell), so an English-only partner does not cost the others.
        overlap: a hybrid search that is the only one running in the process runs its
            keyword half on a second thread while the query is encoded and its vector
            searched (off: one after the other, as every search does under load).
        reranker: a cross-encoder that reorders the top ``rerank_depth`` episodes of every
            semantic and hybrid ranking (:mod:`podseek.search.rerank`), mixing its score with
            the ranking's own at ``rerank_weight``; queries outside its ``languages`` are
            left as ranked.
    """

    def __init__(
        self,
        index: EpisodeIndex,
        encoder: Encoder,
        depth: int = 100,
        fusion: Fusion = Fusion.ADAPTIVE,
        query_vectors: QueryVectorCache | None = None,
        partners: Sequence["Searcher"] = (),
        segments: SegmentSearch | None = None,
        overlap: bool = True,
        languages: frozenset[str] | None = None,
        reranker: Reranker | None = None,
        rerank_depth: int = 30,
        rerank_weight: float = 0.4,
    ) -> None:
        index.check_encoder(encoder)
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self.rerank_weight = rerank_weight
        self.languages = languages
        self.segments = segments
        self.index = index
        self.backend = index.backend
        self.query_vectors = (
            query_vectors if query_vectors is not None else QueryVectorCache(encoder)
        )
        self.partners = list(partners)
        self.depth = depth
        self.fusion = Fusion(fusion)
        self.overlap = overlap

    @property
    def partners(self) -> list["Searcher"]:
        """The ensemble partners (see the class's arguments)."""
        return self._partners

    @partners.setter
    def partners(self, partners: Sequence["Searcher"]) -> None:
        self._partners = list(partners)
        # a search runs its encoders one after the other on the same cores: where more than
        # one is an ONNX Runtime session, none spins after its run (docs/search.md)
        engines = [
            engine
            for searcher in (self, *self._partners)
            if (engine := getattr(searcher.query_vectors.encoder, "query_engine", None))
        ]
        if len(engines) > 1:
            for engine in engines:
                engine.share_cores()

    def rank(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
        filters: SearchFilters | None = None,
        segments: bool = True,
    ) -> list[list[Hit]]:
        """Ranked ``(id, score)`` lists, one per query: what evaluation needs. ``segments``:
        lifted by the transcripts' windows, where there is a segment index."""
        return self._rank(queries, k, mode, filters, {}, [] if segments else None)

    def _rank(
        self,
        queries: Sequence[str],
        k: int,
        mode: SearchMode,
        filters: SearchFilters | None,
        fetched: dict[str, dict],
        windows: list[dict[str, list[Hit]]] | None = None,
    ) -> list[list[Hit]]:
        """:meth:`rank`, keeping the rows it fetched (for hybrid fusion) in ``fetched``;
        with ``windows`` (a list to fill) and a segment index, the episodes are lifted by
        their windows, and each query's ``{episode id: windows}`` is appended to it."""
        mode = SearchMode(mode)
        ensemble = bool(self.partners) and mode is not SearchMode.KEYWORD
        lifted = windows is not None and self.segments is not None
        depth = max(k, self.depth) if mode is SearchMode.HYBRID or ensemble or lifted else k
        reranked = self.reranker is not None and mode is not SearchMode.KEYWORD
        if reranked:
            depth = max(depth, self.rerank_depth)
        dense, theirs, sparse, alphas = self._lists(queries, depth, mode, filters, fetched)
        if dense is None:
            assert sparse is not None
            lists = sparse
        else:
            lists = self._fused(dense, sparse, alphas)
            for vectors in theirs:
                # their vectors, fused with the same keyword list and weight; a query the
                # partner does not know (None) keeps the ranking so far
                lists = [
                    mine
                    if their is None
                    else convex_combination(mine[:depth], their[:depth], ENSEMBLE_ALPHA)
                    for mine, their in zip(lists, self._fused(vectors, sparse, alphas), strict=True)
                ]
        if lifted:
            assert self.segments is not None and windows is not None
            lists, found = self.segments.lift(queries, [h[:depth] for h in lists], mode, filters)
            windows.extend(found)
        if reranked:
            assert self.reranker is not None
            joins = in_languages(queries, self.reranker.languages)
            lists = rerank_lists(
                queries,
                lists,
                self.backend.fetch,
                fetched,
                self.reranker,
                self.rerank_depth,
                self.rerank_weight,
                joins,
            )
        return [hits[:k] for hits in lists]

    def _lists(
        self,
        queries: Sequence[str],
        depth: int,
        mode: SearchMode,
        filters: SearchFilters | None,
        fetched: dict[str, dict],
    ) -> tuple[
        list[list[Hit]] | None, list[list[list[Hit] | None]], list[list[Hit]] | None, list[float]
    ]:
        """The ranked lists a search fuses: its vector lists, each partner's (None for a
        query the partner does not know), its keyword lists, and the fusion weights those
        give (the lists a mode does not use are None; no partner's in keyword mode). A
        hybrid search running alone computes its keyword half on a second thread."""
        dense = sparse = keyword = None
        theirs: list[list[list[Hit] | None]] = []
        alphas: list[float] = []
        with _IN_FLIGHT as running:
            if mode is SearchMode.KEYWORD:
                sparse = self.backend.keyword_search(queries, depth, filters)
            elif mode is SearchMode.HYBRID and self.overlap and running == 1:
                keyword = _KEYWORD_SIDE.submit(self._keyword_side, queries, depth, filters, fetched)
            elif mode is SearchMode.HYBRID:
                sparse, alphas = self._keyword_side(queries, depth, filters, fetched)
            if mode is not SearchMode.KEYWORD:
                dense = self._dense(queries, depth, filters)
                theirs = [partner._known(queries, depth, filters) for partner in self.partners]
            if keyword is not None:
                sparse, alphas = keyword.result()
        return dense, theirs, sparse, alphas

    def _known(
        self, queries: Sequence[str], depth: int, filters: SearchFilters | None
    ) -> list[list[Hit] | None]:
        """As a partner: the vector lists of the queries this searcher's encoder knows, and
        None for the others, which it neither encodes nor searches (an English-only partner
        costs a non-English query nothing)."""
        joins = self.knows(queries)
        known = [query for query, joined in zip(queries, joins, strict=True) if joined]
        found = iter(self._dense(known, depth, filters) if known else [])
        return [next(found) if joined else None for joined in joins]

    def knows(self, queries: Sequence[str]) -> list[bool]:
        """Whether each query is in a language this searcher's encoder knows (py3langid;
        a query too short to tell counts as known)."""
        return in_languages(queries, self.languages)

    def _keyword_side(
        self,
        queries: Sequence[str],
        depth: int,
        filters: SearchFilters | None,
        fetched: dict[str, dict],
    ) -> tuple[list[list[Hit]], list[float]]:
        """A hybrid search's keyword lists and the fusion weights they give."""
        sparse = self.backend.keyword_search(queries, depth, filters)
        return sparse, self._alphas(queries, sparse, fetched)

    def _fused(
        self,
        dense: Sequence[list[Hit] | None],
        sparse: list[list[Hit]] | None,
        alphas: list[float],
    ) -> list[list[Hit] | None]:
        """Each query's vector list fused with its keyword list (as it is without one); a
        query without a vector list (None: a partner's, for a query it does not know) keeps
        None."""
        if sparse is None:
            return list(dense)
        pairs = zip(dense, sparse, alphas, strict=True)
        return [None if d is None else fuse(d, s, self.fusion, a) for d, s, a in pairs]

    def _dense(
        self, queries: Sequence[str], depth: int, filters: SearchFilters | None
    ) -> list[list[Hit]]:
        return self.backend.vector_search(self.query_vectors.encode(queries), depth, filters)

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
        sort: Sort = Sort.RELEVANCE,
        segments: bool = True,
    ) -> SearchResults:
        """The top ``k`` episodes for ``query``, with what a result list shows; with
        ``segments`` and a segment index, lifted by transcript windows, with their moments."""
        return self.batch_search([query], k, mode, filters, sort, segments)[0]

    def batch_search(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
        filters: SearchFilters | None = None,
        sort: Sort = Sort.RELEVANCE,
        segments: bool = True,
    ) -> list[SearchResults]:
        started = time.perf_counter()
        fields: dict[str, dict] = {}  # rows fusion fetched already are not fetched again
        windows: list[dict[str, list[Hit]]] | None = [] if segments else None
        ranked = self._rank(queries, k, mode, filters, fields, windows)
        fields.update(self.backend.fetch(list({i for h in ranked for i, _ in h} - fields.keys())))
        answers = [
            _results(query, hits, fields, SearchMode(mode), Sort(sort), 0.0)
            for query, hits in zip(queries, ranked, strict=True)
        ]
        if windows and self.segments is not None:
            for query, hits, answer, found in zip(queries, ranked, answers, windows, strict=True):
                shown = {i: found[i] for i, _ in hits if i in found}
                moments = self.segments.moments(query, shown)
                for result in answer.data:
                    result.moments = moments.get(result.id, [])
        took_ms = (time.perf_counter() - started) * 1000 / max(1, len(queries))
        for answer in answers:
            answer.took_ms = took_ms
        return answers

    def similar(
        self,
        episode_id: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        same_show: SameShow = SameShow.ANY,
        sort: Sort = Sort.RELEVANCE,
    ) -> SearchResults:
        """ "More like this": the episodes nearest to one in the index, by its stored vector
        (no encoder call), the episode itself left out. :class:`NotFound` when the index
        does not hold ``episode_id``."""
        started = time.perf_counter()
        source = self.backend.fetch([episode_id]).get(episode_id)
        if source is None:
            raise NotFound(f"no episode with id {episode_id[:200]!r} in the index")
        vector = self.backend.vectors([episode_id])
        filters = filters or SearchFilters()
        if same_show is SameShow.ONLY:
            filters = replace(filters, show_id=source["show_id"])
        elif same_show is SameShow.EXCLUDE:
            filters = replace(filters, not_show_id=source["show_id"])
        found = self.backend.vector_search(vector, k + 1, filters)[0]
        hits = [hit for hit in found if hit[0] != episode_id][:k]
        fields = self.backend.fetch([i for i, _ in hits])
        took_ms = (time.perf_counter() - started) * 1000
        title = source["episode_title"] or source["show_title"]
        return _results(title, hits, fields, SearchMode.SEMANTIC, Sort(sort), took_ms)


def in_languages(queries: Sequence[str], languages: frozenset[str] | None) -> list[bool]:
    """Whether each query reads as one of ``languages`` (py3langid; ``None``: any language;
    a query too short to tell counts as one of them)."""
    if languages is None:
        return [True] * len(queries)
    known = languages | {""}
    return [detect_language(q, min_letters=QUERY_LANGUAGE_LETTERS) in known for q in queries]


def _results(
    query: str,
    hits: list[Hit],
    fields: dict[str, dict],
    mode: SearchMode,
    sort: Sort,
    took_ms: float,
) -> SearchResults:
    """A ranked list as the result list shows it; ``sort=date`` reorders the ranked top
    newest first (undated episodes last)."""
    data = [
        SearchResult(
            id=doc_id,
            score=round(score, 6),
            show_id=fields[doc_id]["show_id"],
            show_title=fields[doc_id]["show_title"],
            episode_title=fields[doc_id]["episode_title"],
            snippet=make_snippet(fields[doc_id]["text"], fields[doc_id]["episode_title"], query),
            published_at=fields[doc_id]["published_at"],
            duration_s=fields[doc_id]["duration_s"],
            language=fields[doc_id]["language"],
            audio_url=fields[doc_id]["audio_url"],
            episode_url=fields[doc_id]["episode_url"],
        )
        for doc_id, score in hits
        if doc_id in fields
    ]
    if sort is Sort.DATE:
        data.sort(  # stable: episodes of one date keep their relevance order
            key=lambda r: r.published_at.timestamp() if r.published_at else float("-inf"),
            reverse=True,
        )
    return SearchResults(
        query=query, mode=mode, count=len(data), took_ms=took_ms, data=data, sort=sort
    )
