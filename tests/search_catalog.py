"""A small real catalog for index and search tests: the hand-written catalog fixtures."""

from pathlib import Path

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.feeds import FeedSource
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore

FIXTURES = Path(__file__).resolve().parent / "catalog" / "fixtures"


def fill_catalog(store: CatalogStore) -> CatalogStore:
    """12 records (10 episodes, 2 shows) from 5 sources, in English, German and French."""
    ingest(store, ListenNotesSource(FIXTURES / "listennotes"), progress=False)
    ingest(store, FeedSource(str(FIXTURES / "show.xml")), progress=False)
    ingest(store, FeedSource(str(FIXTURES / "atom.xml")), progress=False)
    mapping = TableMapping.load(str(FIXTURES / "mapping.toml"))
    ingest(store, TableSource(FIXTURES / "episodes.jsonl", mapping), progress=False)
    shows = TableMapping.from_pairs(
        {"id": "slug", "show": "name", "show_description": "description"}
    )
    ingest(store, TableSource(FIXTURES / "shows.tsv", shows), progress=False)
    return store
