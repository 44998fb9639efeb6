"""``podseek migrate`` on a real index (the catalog fixtures, MiniLM) between LanceDB and a
real Milvus Lite server: every row arrives, searches answer alike, interruptions resume."""

import json
import shutil
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.catalog.store import CatalogStore
from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.errors import PodseekError
from podseek.index.backends import BackendOptions
from podseek.index.base import SearchFilters
from podseek.index.episode_index import EpisodeIndex, build_index, read_manifest
from podseek.index.migrate import migrate_index
from podseek.models.registry import load_encoder
from podseek.search.engine import Searcher, SearchMode
from tests.search_catalog import fill_catalog

runner = CliRunner()
# no stop words: LanceDB's BM25 drops them, Milvus's standard analyzer keeps them
QUERIES = ["meteor shower", "bread", "christmas food", "saturn rings", "sourdough starter"]
FILTERS = [None, SearchFilters(language="en"), SearchFilters(min_duration=1800)]


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm", Path("unused"))


@pytest.fixture
def milvus_workspace(
    workspace: Settings, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The empty workspace, with a Milvus server and a collection prefix of its own."""
    monkeypatch.setenv("PODSEEK_MILVUS_URI", milvus_uri)
    monkeypatch.setenv("PODSEEK_MILVUS_COLLECTION", f"t{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    return get_settings()


def tops(settings: Settings, encoder) -> dict[tuple[str, str, int], list[str]]:
    """Top-10 ids of every query x mode x filter, on the index the manifest names."""
    index = EpisodeIndex.open(settings)
    try:
        searcher = Searcher(index, encoder, settings.hybrid_depth, settings.hybrid_fusion)
        found = {}
        for mode in SearchMode:
            for n, filters in enumerate(FILTERS):
                ranked = searcher.rank(QUERIES, k=10, mode=mode, filters=filters)
                for query, hits in zip(QUERIES, ranked, strict=True):
                    found[(mode.value, query, n)] = [i for i, _ in hits]
        rows = index.backend.fetch(list(index.backend.content_hashes()))
        return {**found, ("rows", "", 0): sorted(json.dumps(r, default=str) for r in rows.values())}
    finally:
        index.close()


def migrate(*args: str):
    return runner.invoke(app, ["migrate", *args])


def test_migrate_lancedb_to_milvus_and_back(milvus_workspace: Settings, minilm) -> None:
    settings = milvus_workspace
    with CatalogStore(settings.catalog_path) as catalog:
        fill_catalog(catalog)
        build_index(catalog, minilm, settings.index_dir, 2000, progress=False)
    before = tops(settings, minilm)
    assert any(before[k] for k in before if k[0] == "keyword")

    moved = migrate("--to", "milvus", "--batch", "5", "--json")
    assert moved.exit_code == 0, moved.output
    report = json.loads(moved.stdout)
    assert (report["rows"], report["copied"], report["unchanged"]) == (12, 12, 0)
    assert report["target"] == f"milvus at {settings.milvus_uri}"
    manifest = read_manifest(settings.index_dir)
    assert (manifest.backend, manifest.uri, manifest.rows) == ("milvus", settings.milvus_uri, 12)
    assert manifest.collection == f"{settings.milvus_collection}_{manifest.table}"
    assert "pymilvus" in manifest.versions
    index = EpisodeIndex(settings.index_dir)
    assert index.backend.count() == 12 and index.backend.table_name == manifest.collection
    index.close()
    # the collection keeps what built it: a manifest that names another model is refused
    path = settings.index_dir / "manifest.json"
    real = path.read_text()
    path.write_text(real.replace(manifest.model.fingerprint, "minilm@retrained"))
    with pytest.raises(PodseekError, match=r"was built with .*not .*minilm@retrained"):
        EpisodeIndex(settings.index_dir)
    path.write_text(real)
    assert tops(settings, minilm) == before  # equal rows, equal top 10 in every mode

    again = migrate("--to", "milvus")
    assert again.exit_code == 1
    assert again.stderr.strip() == (
        f"error: the index is already in milvus at {settings.milvus_uri}; nothing to migrate"
    )

    # back to LanceDB, into an empty folder: every row is copied from Milvus
    shutil.rmtree(settings.index_dir / "lancedb")
    back = migrate("--to", "lancedb", "--batch", "4")
    assert back.exit_code == 0, back.output
    assert "12 episodes (12 copied, 0 already there, 0 removed)" in back.stdout
    manifest = read_manifest(settings.index_dir)
    assert (manifest.backend, manifest.uri, manifest.collection) == ("lancedb", None, None)
    assert tops(settings, minilm) == before
    assert "already in lancedb" in migrate("--to", "lancedb").stderr


def test_an_interrupted_migrate_resumes(milvus_workspace: Settings, minilm) -> None:
    settings = milvus_workspace
    with CatalogStore(settings.catalog_path) as catalog:
        fill_catalog(catalog)
        build_index(catalog, minilm, settings.index_dir, 2000, progress=False)
    target = BackendOptions.from_settings(settings).to("milvus")

    def stop(copied: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C after the first batch was written

    with pytest.raises(KeyboardInterrupt):
        migrate_index(settings.index_dir, target, batch=5, on_batch=stop)
    assert read_manifest(settings.index_dir).backend == "lancedb"  # not switched

    # another writer removes a row from the target behind the copy's back: the counts differ
    def lose_one(copied: int, total: int) -> None:
        if copied == total:
            collection = f"{settings.milvus_collection}_{read_manifest(settings.index_dir).table}"
            from podseek.index.milvus_backend import MilvusBackend

            other = MilvusBackend(settings.milvus_uri, collection, 384)
            other.delete(["listennotes:1"])
            other.close()

    with pytest.raises(PodseekError, match=r"migration incomplete: lancedb holds 12 rows, .* 11"):
        migrate_index(settings.index_dir, target, batch=5, on_batch=lose_one)
    assert read_manifest(settings.index_dir).backend == "lancedb"

    resumed = migrate_index(settings.index_dir, target, batch=5)
    assert (resumed.copied, resumed.unchanged, resumed.rows) == (1, 11, 12)
    assert read_manifest(settings.index_dir).backend == "milvus"
    index = EpisodeIndex(settings.index_dir)
    assert index.backend.count() == 12
    index.close()


def test_migrate_mistakes_are_one_line(
    milvus_workspace: Settings, minilm, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = migrate("--to", "milvus")
    assert result.exit_code == 1 and result.stderr.startswith("error: no index at ")
    assert migrate("--to", "mongo").exit_code == 2

    with CatalogStore(milvus_workspace.catalog_path) as catalog:
        fill_catalog(catalog)
        build_index(catalog, minilm, milvus_workspace.index_dir, 2000, progress=False)
    monkeypatch.setenv("PODSEEK_MILVUS_URI", "http://podseek:hunter2@127.0.0.1:1")
    get_settings.cache_clear()
    result = migrate("--to", "milvus")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach Milvus at http://***@127.0.0.1:1" in result.stderr
    assert "hunter2" not in result.output
    assert read_manifest(milvus_workspace.index_dir).backend == "lancedb"
