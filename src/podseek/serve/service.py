"""One server worker's search state: the index and its encoder, loaded once, swapped live.

A worker loads the index and the encoder that built it at start-up and keeps them for every
request (loading e5-small takes seconds; a search takes milliseconds). When ``podseek index``
writes a new version, the manifest changes: the worker notices on a later request (it checks
the manifest's signature at most once a second), opens the new version in a background thread
while the old one keeps answering, then swaps one reference. A request holds the searcher it
started with, so no request fails during a swap; LanceDB keeps the versions an open reader
uses.

Writes (``POST`` / ``DELETE /api/episodes``) go through the catalog and the same incremental
``build_index`` that ``podseek index`` runs, under a file lock so that workers and the command
line never write the index at once; the writing worker swaps to the new version before it
answers, so an upserted episode is found by the next search.
"""

import fcntl
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.base import Encoder
from podseek.search.engine import Searcher

log = logging.getLogger("podseek.serve")

API_SOURCE = "api"  # the catalog source of episodes written through the API


@dataclass(frozen=True)
class Loaded:
    """A searcher over one version of the index."""

    searcher: Searcher
    signature: tuple[int, int]  # the manifest's (mtime_ns, size) when it was opened


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
        self._loaded: Loaded | None = None
        self._encoders: dict[str, Encoder] = {}
        self._reloading = threading.Lock()
        self._last_check = 0.0
        self.reloads = 0
        self.error: str | None = None  # why the last load failed

    # reading -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    def load(self) -> Loaded:
        """Open the index version the manifest names now (and its encoder, once per model)."""
        from podseek.index.lancedb_backend import AnnSettings
        from podseek.models.registry import load_encoder

        settings = self.settings
        signature = manifest_signature(settings.index_dir)
        if signature is None:
            self.error = f"no index at {settings.index_dir}; run `podseek index` first"
            raise PodseekError(self.error)
        index = EpisodeIndex(settings.index_dir, AnnSettings.from_settings(settings))
        model = index.manifest.model
        key = f"{model.name}@{model.fingerprint}"
        if key not in self._encoders:
            self._encoders = {key: load_encoder(model.name, settings.home, settings.query_engine)}
        searcher = Searcher(
            index, self._encoders[key], settings.hybrid_depth, settings.hybrid_fusion
        )
        searcher.rank(["warm up"], k=1)  # first-call costs (exact-search vectors, sessions)
        loaded = Loaded(searcher, signature)
        self._loaded = loaded
        self.reloads += 1
        return loaded

    def searcher(self) -> Searcher:
        """The current searcher; starts a background reload when the manifest changed."""
        loaded = self._loaded
        now = time.monotonic()
        if now - self._last_check >= self.check_every_s:
            self._last_check = now
            signature = manifest_signature(self.settings.index_dir)
            if signature is not None and (loaded is None or signature != loaded.signature):
                self._reload_in_background()  # a new version, or a first one since start-up
        if loaded is None:
            raise PodseekError(self.error or "the index is not loaded yet")
        return loaded.searcher

    def _reload_in_background(self) -> None:
        if not self._reloading.acquire(blocking=False):
            return  # one reload at a time

        def run() -> None:
            try:
                self.load()
                log.info("index reloaded: %s", self._loaded and self._loaded.signature)
            except Exception as error:  # keep serving the version we have
                self.error = str(error)
                log.exception("index reload failed; still serving the previous version")
            finally:
                self._reloading.release()

        threading.Thread(target=run, name="index-reload", daemon=True).start()

    def episode(self, episode_id: str) -> Episode | None:
        with CatalogStore(self.settings.catalog_path) as catalog:
            return catalog.get(episode_id)

    def languages(self) -> dict[str, int]:
        with CatalogStore(self.settings.catalog_path) as catalog:
            return catalog.languages()

    # writing -------------------------------------------------------------------------------

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """One writer at a time across workers and the command line."""
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        with (self.settings.index_dir / ".write.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _reindex(self, catalog: CatalogStore) -> None:
        from podseek.index.lancedb_backend import AnnSettings

        loaded = self._loaded
        if loaded is None:
            raise PodseekError("the index is not loaded yet")
        build_index(
            catalog,
            loaded.searcher.queries.encoder,
            self.settings.index_dir,
            self.settings.text_max_chars,
            AnnSettings.from_settings(self.settings),
            progress=False,
        )
        with self._reloading:
            self.load()

    def upsert(self, episodes: Sequence[Episode]) -> dict[str, int]:
        """Add or update episodes in the catalog, encode them and index them, then swap."""
        with self._write_lock(), CatalogStore(self.settings.catalog_path) as catalog:
            counts = {"added": 0, "updated": 0, "unchanged": 0}
            with catalog.write(API_SOURCE) as batch:
                for episode in episodes:
                    counts[batch.upsert(episode)] += 1
            if counts["added"] or counts["updated"]:
                self._reindex(catalog)
        return counts

    def delete(self, episode_id: str) -> bool:
        """Remove an episode from the catalog and the index; ``False`` if it was not there."""
        with self._write_lock(), CatalogStore(self.settings.catalog_path) as catalog:
            if not catalog.delete([episode_id]):
                return False
            self._reindex(catalog)
        return True
