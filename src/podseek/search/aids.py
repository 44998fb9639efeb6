"""What a search answers beside a ranked episode list: shows, suggestions as you type, and
"did you mean". All three come from the catalog (titles, words, show records), so they are
built together once per state of the catalog, and rebuilt only when it changes: a new index
version over the same catalog (a server's reload) keeps them.

:func:`answer` is the one dispatch of a :class:`SearchRequest` that the CLI and the server
share: episodes or shows, sorted, with a spelling suggestion when the query needs one.
"""

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from podseek.catalog.episode import episode_text
from podseek.catalog.store import CatalogStore, catalog_revision
from podseek.index.base import SearchFilters
from podseek.search.engine import ResultType, Searcher, SearchMode, SearchResults, Sort
from podseek.search.shows import ShowCatalog, ShowResults, ShowSearcher
from podseek.search.spelling import Speller
from podseek.search.suggest import Suggester, popular_queries

# "Did you mean" is offered only when the words the catalog does not know leave few keyword
# matches (fewer than a page): a query whose other words match plenty is not asking for help
FEW_RESULTS = 10


@dataclass(frozen=True)
class SearchRequest:
    """Everything an answer depends on (hashable: the server caches answers by it)."""

    query: str
    k: int = 10
    mode: SearchMode = SearchMode.HYBRID
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: Sort = Sort.RELEVANCE
    type: ResultType = ResultType.EPISODE
    segments: bool = True  # transcript windows lift episodes and give moments (if indexed)


class CatalogAids:
    """Suggestions, the speller and the show records of one state of the catalog, each read
    from the catalog when first needed (a command line search needs one of them at most);
    a server builds all three before it serves (:meth:`build_all`)."""

    def __init__(self, catalog_path: Path, search_log: Path | None = None) -> None:
        self.catalog_path = catalog_path
        self.search_log = search_log
        self.revision = catalog_revision(catalog_path)

    @cached_property
    def suggester(self) -> Suggester:
        queries = popular_queries(self.search_log) if self.search_log else None
        with CatalogStore(self.catalog_path) as catalog:
            return Suggester.build(catalog.titles(), queries)

    @cached_property
    def speller(self) -> Speller:
        with CatalogStore(self.catalog_path) as catalog:
            return Speller.build(episode_text(e) for e in catalog.iter_episodes())

    @cached_property
    def shows(self) -> ShowCatalog:
        with CatalogStore(self.catalog_path) as catalog:
            return ShowCatalog.from_catalog(catalog)

    def build_all(self) -> float:
        """Build all three now; returns the seconds it took."""
        started = time.perf_counter()
        _ = self.suggester, self.speller, self.shows
        return time.perf_counter() - started

    def current(self, catalog_path: Path) -> bool:
        """Whether the catalog is still the one these were built from. A catalog that cannot
        be read now (removed, or unreadable) keeps these: rebuilding could not do better."""
        revision = catalog_revision(catalog_path)
        return revision is None or revision == self.revision

    def did_you_mean(self, searcher: Searcher, query: str) -> str | None:
        """A spelling of ``query`` in the catalog's words, when it has words the catalog does
        not know and few episodes match it by keywords; ``None`` otherwise. It is offered,
        never applied: the listener chooses."""
        if not self.speller.unknown_words(query):
            return None
        matches = searcher.backend.keyword_search([query], FEW_RESULTS)[0]
        if len(matches) >= FEW_RESULTS:
            return None
        corrected = self.speller.correct(query)
        return corrected if corrected and corrected != query else None


def answer(
    searcher: Searcher, aids: CatalogAids, request: SearchRequest
) -> SearchResults | ShowResults:
    """The answer to one request: episodes or shows, in its order, with "did you mean"."""
    if request.type is ResultType.SHOW:
        results: SearchResults | ShowResults = ShowSearcher(searcher, aids.shows).search(
            request.query, request.k, request.mode, request.filters
        )
    else:
        results = searcher.search(
            request.query, request.k, request.mode, request.filters, request.sort, request.segments
        )
    suggestion = aids.did_you_mean(searcher, request.query)
    return results.model_copy(update={"did_you_mean": suggestion}) if suggestion else results
