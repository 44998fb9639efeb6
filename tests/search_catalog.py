"""A small real catalog for index and search tests: the hand-written catalog fixtures."""

from pathlib import Path

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.feeds import FeedSource
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.queries.generate import generate_queries
from podseek.queries.generators import TitleGenerator
from podseek.queries.split import SplitShares, split_pairs
from podseek.queries.store import SYNTHETIC, QueryStore

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


def minilm_home(folder: Path) -> Path:
    """A workspace in ``folder``: the catalog fixtures indexed with MiniLM (the fastest real
    packaged encoder), as the API tests serve it."""
    from podseek.index.episode_index import build_index
    from podseek.models.registry import load_encoder

    with CatalogStore(folder / "catalog.sqlite") as catalog:
        fill_catalog(catalog)
        build_index(catalog, load_encoder("minilm", folder), folder / "index", 2000, progress=False)
    return folder


def make_split(folder: Path, shares: SplitShares | None = None) -> Path:
    """A workspace in ``folder``: the catalog fixtures and a split (seed 0) of title
    pseudo-queries, one per episode, in ``folder/pairs``."""
    folder.mkdir(parents=True, exist_ok=True)
    with (
        CatalogStore(folder / "catalog.sqlite") as catalog,
        QueryStore(folder / "queries.sqlite") as store,
    ):
        fill_catalog(catalog)
        generate_queries(catalog, store, TitleGenerator(), progress=False)
        store.replace_pairs(SYNTHETIC, [(q[0], e) for e, q in store.generated().items()])
        split_pairs(catalog, store, folder / "pairs", shares or SplitShares(0.1, 0.1), seed=0)
    return folder
