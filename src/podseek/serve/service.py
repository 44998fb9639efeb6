"""One server worker's search state: the index and its encoder, loaded once, swapped live.

A worker loads the index and the encoder that built it at start-up and keeps them for every
request (loading e5-small takes seconds; a search takes milliseconds). When ``podseek index``
writes a new version, the manifest changes: the worker notices on a later request (it checks
the manifest's signature at most once a second), opens the new version in a background thread
while the old one keeps answering, then swaps one reference. A request holds the searcher it
started with, so no request fails during a swap; LanceDB keeps the versions an open reader
uses. The index may live in LanceDB or on a Milvus server: the manifest says which, and the
worker reads and writes there (``PODSEEK_MILVUS_URI`` and the token say how to reach it).

Two caches make repeated searches cheap (a catalog's traffic repeats: popular queries,
shared links, a page reloaded). Query vectors are kept per model, so they outlive index
versions built by that model. Answers (the JSON of a search, per query, k, mode and filters)
are kept per index version, so a new version can never serve an old answer; before a new
version takes over, the reload thread answers the previous version's most recent searches on
it (at most 256, for at most 2 s), so a swap does not send a burst of uncached searches to
the new version.

Writes (``POST`` / ``DELETE /api/episodes``) go through the catalog and the same incremental
``build_index`` that ``podseek index`` runs, under a file lock so that workers and the command
line never write the index at once; the writing worker swaps to the new version before it
answers, so an upserted episode is found by the next search.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcripts import Segment
from podseek.config import Settings
from podseek.errors import Conflict, NotFound, PodseekError, Unavailable
from podseek.index.backends import BackendOptions
from podseek.index.base import AnnSettings, SearchFilters
from podseek.index.episode_index import (
    EpisodeIndex,
    WindowRecords,
    build_index,
    manifest_options,
    open_ensemble_indexes,
    read_manifest,
    write_lock,
)
from podseek.models.base import Encoder
from podseek.models.device import settings_device
from podseek.models.reranker import Reranker
from podseek.search.aids import CatalogAids, SearchRequest, answer
from podseek.search.engine import QueryVectorCache, SameShow, Searcher, Sort
from podseek.search.segments import segment_search
from podseek.search.workspace import settings_reranker

log = logging.getLogger("podseek.serve")

API_SOURCE = "api"  # the catalog source of episodes written through the API
WARM_ON_SWAP = 256  # recent searches a new index version answers before it takes over...
WARM_SECONDS = 2.0  # ...within this time: a busy server must not stay on the old one long


class AnswerCache:
    """The most recent answers (JSON bytes) of one index version, least recently used out.
    Shared by a worker's threads, hence the lock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, key: Hashable, answer: bytes) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def recent(self, n: int) -> list[Hashable]:
        """Up to ``n`` keys, most recently used first."""
        with self._lock:
            keys = list(reversed(self._answers))
        return keys[:n]


@dataclass(frozen=True)
class IndexVersion:
    """A searcher over one version of the index, with that version's answers and the
    catalog's suggestions, speller and shows."""

    searcher: Searcher
    signature: tuple[int, int]  # the manifest's (mtime_ns, size) when it was opened
    aids: CatalogAids
    answers: AnswerCache = field(default_factory=lambda: AnswerCache(0))

    def compute(self, request: SearchRequest) -> bytes:
        """Run the search on this version and cache its answer. An index folder removed under
        the server is :class:`Unavailable` (a retry after ``podseek index`` succeeds), also
        when the version in memory (its serving snapshot) could still answer: /readyz says
        the same; any other failure is the server's own and propagates."""
        folder = self.searcher.index.folder
        removed = f"the index at {folder} was removed; run `podseek index` to rebuild it"
        if manifest_signature(folder) is None:  # one stat per search the cache did not answer
            raise Unavailable(removed)
        try:
            results = answer(self.searcher, self.aids, request)
        except PodseekError:
            raise
        except Exception as error:
            if manifest_signature(folder) is None:
                raise Unavailable(removed) from error
            raise
        encoded = results.model_dump_json().encode()
        self.answers.put(request, encoded)
        return encoded

    def similar(
        self, episode_id: str, k: int, filters: SearchFilters, same_show: SameShow, sort: Sort
    ) -> bytes:
        """ "More like this" on this version, cached like a search."""
        key = ("similar", episode_id, k, filters, same_show, sort)
        cached = self.answers.get(key)
        if cached is not None:
            return cached
        results = self.searcher.similar(episode_id, k, filters, same_show, sort)
        encoded = results.model_dump_json().encode()
        self.answers.put(key, encoded)
        return encoded


def manifest_signature(index_dir: Path) -> tuple[int, int] | None:
    try:
        stat = (index_dir / "manifest.json").stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class SearchService:
    """Holds the current searcher and replaces it when the index changes."""

    def __init__(self, settings: Settings, check_every_s: float = 1.0) -> None:
        self.settings = settings
        self.check_every_s = check_every_s
        self._loaded: IndexVersion | None = None
        self._encoders: dict[str, Encoder] = {}
        self._reranker: Reranker | None = None  # the reranker setting's, loaded once
        self._query_vectors: dict[str, QueryVectorCache] = {}
        self._reloading = threading.Lock()
        self._refreshing_aids = threading.Lock()
        self._last_check = 0.0
        self.reloads = 0
        self.aids_builds = 0
        self.error: str | None = None  # why the last load failed

    # reading -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """A version is loaded and its index is still on disk (a removed index folder takes
        the worker out of a load balancer's rotation)."""
        return self._loaded is not None and manifest_signature(self.settings.index_dir) is not None

    def load(self, warm: int = 0) -> IndexVersion:
        """Open the index version the manifest names now (and its encoder, once per model);
        answer the previous version's ``warm`` most recent searches on it, then swap."""
        settings = self.settings
        signature = manifest_signature(settings.index_dir)
        if signature is None:
            self.error = f"no index at {settings.index_dir}; run `podseek index` first"
            raise Unavailable(self.error)
        in_use: set[str] = set()
        searcher = self._searcher(EpisodeIndex.open(settings), in_use)
        searcher.partners = [
            self._searcher(ensemble, in_use)
            for ensemble in open_ensemble_indexes(settings, searcher.index.manifest, log.warning)
        ]
        try:
            searcher.segments = segment_search(settings, searcher)
        except Unavailable as missing:
            log.warning("searching episodes only: %s", missing)
        if settings.reranker is not None:
            if self._reranker is None:
                self._reranker = settings_reranker(settings)
            searcher.reranker = self._reranker
            searcher.rerank_depth = settings.rerank_depth
            searcher.rerank_weight = settings.rerank_weight
        for key in set(self._encoders) - in_use:  # models no index version uses any more
            del self._encoders[key], self._query_vectors[key]
        searcher.rank(["warm up"], k=1)  # first-call costs (exact-search vectors, sessions)
        # a new version keeps the catalog aids it finds: they follow the catalog on their
        # own (current()), never inside a write, whose open transaction they would wait for
        aids = self._loaded.aids if self._loaded else self._build_aids()
        loaded = IndexVersion(searcher, signature, aids, AnswerCache(settings.answer_cache_size))
        previous = self._loaded
        deadline = time.monotonic() + WARM_SECONDS
        if previous is not None and warm:
            for recent in previous.answers.recent(warm):
                if time.monotonic() > deadline:
                    break
                if isinstance(recent, SearchRequest):
                    loaded.compute(recent)
        self._loaded = loaded
        self.reloads += 1
        return loaded

    def searcher(self) -> Searcher:
        """The current searcher; starts a background reload when the manifest changed."""
        return self.current().searcher

    def current(self) -> IndexVersion:
        """The current index version; starts a background reload when the manifest changed."""
        loaded = self._loaded
        now = time.monotonic()
        if now - self._last_check >= self.check_every_s:
            self._last_check = now
            signature = manifest_signature(self.settings.index_dir)
            if signature is not None and (loaded is None or signature != loaded.signature):
                self._reload_in_background()  # a new version, or a first one since start-up
            elif loaded is not None and not loaded.aids.current(self.settings.catalog_path):
                self._refresh_aids_in_background()  # the catalog changed
        if loaded is None:
            raise Unavailable(self.error or "the index is not loaded yet")
        return loaded

    def _searcher(self, index: EpisodeIndex, in_use: set[str]) -> Searcher:
        """A searcher over ``index`` with its model, loaded once per model (and kept, with
        its query vectors, across index versions built by that model)."""
        from podseek.models.registry import load_encoder, query_languages

        settings = self.settings
        model = index.manifest.model
        key = f"{model.name}@{model.fingerprint}"
        if key not in self._encoders:
            self._encoders[key] = load_encoder(
                model.name,
                settings.home,
                settings.query_engine,
                settings_device(settings, for_search=True),
                settings.episode_engine,  # the server's writes encode episodes too
            )
            self._query_vectors[key] = QueryVectorCache(self._encoders[key])
        in_use.add(key)
        return Searcher(
            index,
            self._encoders[key],
            settings.hybrid_depth,
            settings.hybrid_fusion,
            query_vectors=self._query_vectors[key],
            languages=query_languages(model.name, settings.home),
        )

    def cache_counts(self) -> dict[str, int]:
        """Hits and misses of the query-vector cache and of the current version's answers."""
        loaded = self._loaded
        queries = loaded.searcher.query_vectors if loaded else None
        return {
            "query_hits": queries.hits if queries else 0,
            "query_misses": queries.misses if queries else 0,
            "answer_hits": loaded.answers.hits if loaded else 0,
            "answer_misses": loaded.answers.misses if loaded else 0,
        }

    def _build_aids(self) -> CatalogAids:
        aids = CatalogAids(self.settings.catalog_path, self.settings.search_log)
        log.info("suggestions, speller and shows built in %.1f s", aids.build_all())
        self.aids_builds += 1
        return aids

    def _refresh_aids_in_background(self) -> None:
        """Rebuild suggestions, speller and shows from the changed catalog, then swap them
        into the current version (with a new answer cache: answers carry their shows and
        "did you mean"). A failure keeps the old ones; the next check tries again."""
        if not self._refreshing_aids.acquire(blocking=False):
            return

        def run() -> None:
            try:
                aids = self._build_aids()
                with self._reloading:
                    if self._loaded is not None:
                        self._loaded = replace(
                            self._loaded,
                            aids=aids,
                            answers=AnswerCache(self.settings.answer_cache_size),
                        )
            except Exception:
                log.exception("could not rebuild suggestions, speller and shows; kept the old")
            finally:
                self._refreshing_aids.release()

        threading.Thread(target=run, name="aids-refresh", daemon=True).start()

    def _reload_in_background(self) -> None:
        if not self._reloading.acquire(blocking=False):
            return  # one reload at a time

        def run() -> None:
            try:
                self.load(warm=WARM_ON_SWAP)
                log.info("index reloaded: %s", self._loaded and self._loaded.signature)
            except Exception as error:  # keep serving the version we have
                self.error = str(error)
                log.exception("index reload failed; still serving the previous version")
            finally:
                self._reloading.release()

        threading.Thread(target=run, name="index-reload", daemon=True).start()

    def episode(self, episode_id: str) -> Episode:
        """One episode of the catalog; :class:`NotFound` when no record has that id."""
        with CatalogStore(self.settings.catalog_path) as catalog:
            episode = catalog.get(episode_id)
        if episode is None:
            raise NotFound(f"no episode with id {episode_id[:200]!r}")
        return episode

    def transcript(self, episode_id: str) -> list[Segment]:
        """An episode's transcript; :class:`NotFound` when it has none, or is not there."""
        with CatalogStore(self.settings.catalog_path) as catalog:
            segments = catalog.transcript(episode_id)
            if segments is None and catalog.get(episode_id) is None:
                raise NotFound(f"no episode with id {episode_id[:200]!r}")
        if segments is None:
            raise NotFound(f"episode {episode_id[:200]!r} has no transcript")
        return segments

    def languages(self) -> dict[str, int]:
        with CatalogStore(self.settings.catalog_path) as catalog:
            return catalog.languages()

    # writing -------------------------------------------------------------------------------

    def _write_lock(self) -> AbstractContextManager[None]:
        """One writer at a time across workers and the command line."""
        return write_lock(self.settings.index_dir)

    def _reindex(self, catalog: CatalogStore) -> None:
        loaded = self._loaded
        if loaded is None:
            raise Unavailable("the index is not loaded yet")
        # the ensemble models' indexes first: the main one's new manifest is what other
        # workers reload on, and then all hold the write
        for partner in loaded.searcher.partners:
            self._reindex_one(catalog, partner)
        if loaded.searcher.segments is not None:  # the windows of a deleted episode go
            self._reindex_one(catalog, loaded.searcher.segments.searcher, windows=True)
        self._reindex_one(catalog, loaded.searcher)
        with self._reloading:
            self.load()

    def _reindex_one(
        self, catalog: CatalogStore, searcher: Searcher, windows: bool = False
    ) -> None:
        # the worker writes where the index is: the backend the manifest names now (under
        # the write lock), whatever the backend setting says (`podseek migrate` moves it)
        folder = searcher.index.folder
        manifest = read_manifest(folder) or searcher.index.manifest
        backend = manifest_options(manifest, BackendOptions.from_settings(self.settings))
        build_index(
            catalog,
            searcher.query_vectors.encoder,
            folder,
            self.settings.text_max_chars,
            AnnSettings.from_settings(self.settings),
            progress=False,
            backend=backend,
            records=WindowRecords(catalog, self.settings.text_max_chars) if windows else None,
        )

    def _resync(self, catalog: CatalogStore) -> None:
        """After a failed write, bring the index back in step with the catalog (whose
        transaction rolled back): rows the write added go, rows it changed are restored."""
        try:
            self._reindex(catalog)
        except Exception:
            log.exception("could not bring the index back in step with the catalog")

    def upsert(self, episodes: Sequence[Episode]) -> dict[str, int]:
        """Add or update episodes in the catalog, encode them and index them, then swap.

        Atomic: the catalog's transaction commits only after the index holds the new rows,
        and when anything fails the catalog rolls back and the index is brought back to it,
        so a write that answers an error has written nothing. A record filed under another
        source (a feed's episode) is not the API's to replace: :class:`Conflict`.
        """
        with self._write_lock(), CatalogStore(self.settings.catalog_path) as catalog:
            for episode in episodes:
                owner = catalog.source_of(episode.id)
                if owner is not None and owner != episode.source:
                    raise Conflict(
                        f"episode {episode.id[:200]!r} belongs to the source {owner[:200]!r}; "
                        f"the API may only replace records of {episode.source!r}"
                    )
            counts = {"added": 0, "updated": 0, "unchanged": 0}
            with self._in_step(catalog) as reindex, catalog.write(API_SOURCE) as batch:
                for episode in episodes:
                    counts[batch.upsert(episode)] += 1
                if counts["added"] or counts["updated"]:
                    reindex()
        return counts

    def delete(self, episode_id: str) -> None:
        """Remove an episode from the catalog and the index; :class:`NotFound` if it was not
        there. Atomic like :meth:`upsert`."""
        with (
            self._write_lock(),
            CatalogStore(self.settings.catalog_path) as catalog,
            self._in_step(catalog) as reindex,
            catalog.write("delete") as batch,
        ):
            if not batch.delete([episode_id]):
                raise NotFound(f"no episode with id {episode_id[:200]!r}")
            reindex()

    @contextmanager
    def _in_step(self, catalog: CatalogStore) -> Iterator[Callable[[], None]]:
        """Yields ``reindex``, which brings the index in step with the catalog's open write.
        Entered before that write, so it leaves after it: when anything failed once the index
        was touched, the write has rolled back and the index is brought back to the catalog."""
        touched = False

        def reindex() -> None:
            nonlocal touched
            touched = True
            self._reindex(catalog)

        try:
            yield reindex
        except BaseException:
            if touched:
                self._resync(catalog)
            raise
