"""The index stage with real packaged weights: incremental updates, rebuilds, refusals."""

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from podseek.catalog.build import RawEpisode
from podseek.catalog.ingest import ingest
from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.index.base import AnnSettings
from podseek.index.episode_index import EpisodeIndex, build_index, read_manifest
from podseek.index.lancedb_backend import LanceDBBackend
from podseek.index.snapshot import SNAPSHOTS
from podseek.index.snapshot_backend import SnapshotBackend
from podseek.models.minilm import minilm_encoder
from podseek.models.registry import load_encoder
from tests.search_catalog import fill_catalog


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm", Path("unused"))


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[CatalogStore]:
    with CatalogStore(tmp_path / "catalog.sqlite") as store:
        yield fill_catalog(store)


class MemorySource:
    kind = "test"
    location = "memory"
    name = "listennotes"

    def __init__(self, raws: list[RawEpisode]) -> None:
        self.raws = raws

    def total(self) -> int:
        return len(self.raws)

    def records(self) -> Iterator[RawEpisode]:
        yield from self.raws


def test_build_then_incremental_update(catalog: CatalogStore, minilm, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    first = build_index(catalog, minilm, folder, 2000, progress=False)
    assert first.rebuilt and first.encoded == catalog.count() == first.rows == 12
    manifest = read_manifest(folder)
    assert manifest.model.name == "minilm"
    assert manifest.model.dimension == 384
    assert manifest.text.max_chars == 2000
    assert manifest.vector_index == "exact"

    again = build_index(catalog, minilm, folder, 2000, progress=False)
    assert (again.rebuilt, again.encoded, again.removed, again.unchanged) == (False, 0, 0, 12)

    # edit one episode, add one, and drop one from a source with --replace
    edited = catalog.get("listennotes:2")
    raws = [
        RawEpisode(native_id="2", show_title=edited.show_title, episode_title="Bread, again"),
        RawEpisode(native_id="100", show_title="Kitchen Table", episode_title="Soup season"),
    ]
    ingest(catalog, MemorySource(raws), replace=True, progress=False)
    update = build_index(catalog, minilm, folder, 2000, progress=False)
    assert (update.encoded, update.removed, update.rows) == (2, 3, 10)
    index = EpisodeIndex(folder)
    assert index.backend.fetch(["listennotes:2"])["listennotes:2"]["episode_title"] == (
        "Bread, again"
    )
    assert index.backend.fetch(["listennotes:1"]) == {}


def test_another_recipe_rebuilds_beside_and_switches(
    catalog: CatalogStore, minilm, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    first = build_index(catalog, minilm, folder, 2000, progress=False)
    second = build_index(catalog, minilm, folder, 60, progress=False)
    assert second.rebuilt and second.encoded == 12 and second.table != first.table
    index = EpisodeIndex(folder)
    assert index.manifest.table == second.table
    texts = index.backend.fetch(["listennotes:1"])["listennotes:1"]["text"]
    assert len(texts) <= 60
    assert index.backend.table_names() == [second.table]  # the old one is dropped


class FailingEncoder:
    """The real encoder, interrupted after some chunks (as Ctrl-C would)."""

    def __init__(self, encoder, fail_on_call: int) -> None:
        self.encoder, self.calls, self.fail_on_call = encoder, 0, fail_on_call
        self.name, self.dimension = encoder.name, encoder.dimension
        self.fingerprint = encoder.fingerprint

    def encode_episodes(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        return self.encoder.encode_episodes(texts, batch_size)


def test_interrupted_build_resumes_where_it_stopped(
    catalog: CatalogStore, minilm, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        build_index(catalog, FailingEncoder(minilm, 3), folder, 2000, chunk_size=4, progress=False)
    assert read_manifest(folder) is None  # nothing to search yet: the build never finished
    resumed = build_index(catalog, minilm, folder, 2000, chunk_size=4, progress=False)
    assert resumed.encoded == 12 - 8  # two chunks of 4 were committed before the interruption
    assert resumed.rows == 12


def test_searching_with_another_model_is_refused(
    catalog: CatalogStore, minilm, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    build_index(catalog, minilm, folder, 2000, progress=False)
    index = EpisodeIndex(folder)
    index.check_encoder(minilm)
    other = minilm_encoder()
    other.fingerprint = "minilm@retrained"
    with pytest.raises(PodseekError, match="built with model 'minilm'"):
        index.check_encoder(other)


def test_open_reads_the_settings(catalog: CatalogStore, minilm, tmp_path: Path) -> None:
    """``EpisodeIndex.open``: the workspace's index (or another folder), searched with the
    settings' ANN options."""
    settings = Settings(home=tmp_path / "home", ann_nprobes=7, ann_refine_factor=3)
    build_index(catalog, minilm, settings.index_dir, 2000, progress=False)
    index = EpisodeIndex.open(settings)
    assert index.folder == settings.index_dir
    assert (index.backend.ann.nprobes, index.backend.ann.refine_factor) == (7, 3)
    assert index.backend.count() == 12
    index.close()
    other = tmp_path / "other"
    build_index(catalog, minilm, other, 2000, progress=False)
    elsewhere = EpisodeIndex.open(settings, folder=other)
    assert elsewhere.folder == other
    assert elsewhere.backend.ann.nprobes == 7
    elsewhere.close()
    with pytest.raises(PodseekError, match="run `podseek index` first"):
        EpisodeIndex.open(Settings(home=tmp_path / "empty"))


def test_no_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="run `podseek index` first"):
        EpisodeIndex(tmp_path / "nothing")


def test_the_index_keeps_a_serving_snapshot(catalog: CatalogStore, minilm, tmp_path: Path) -> None:
    """`podseek index` writes the snapshot the manifest names, again only when the table
    changed; searches go through it, or through LanceDB with snapshots off."""
    settings = Settings(home=tmp_path / "home")
    first = build_index(catalog, minilm, settings.index_dir, 2000, progress=False)
    name = read_manifest(settings.index_dir).snapshot
    assert name and (settings.index_dir / SNAPSHOTS / name / "base" / "rows.arrow").exists()
    assert first.snapshot_seconds > 0
    index = EpisodeIndex.open(settings)
    assert isinstance(index.backend, SnapshotBackend) and index.backend.name == name
    query = minilm.encode_queries(["whale songs"])
    through_snapshot = index.backend.vector_search(query, 5)
    index.close()

    build_index(catalog, minilm, settings.index_dir, 2000, progress=False)  # nothing changed
    assert read_manifest(settings.index_dir).snapshot == name

    off = Settings(home=tmp_path / "home", snapshot=False)
    plain = EpisodeIndex.open(off)
    assert isinstance(plain.backend, LanceDBBackend)
    assert [i for i, _ in plain.backend.vector_search(query, 5)[0]] == [
        i for i, _ in through_snapshot[0]
    ]
    plain.close()
    build_index(catalog, minilm, settings.index_dir, 2000, AnnSettings(snapshot=False))
    assert read_manifest(settings.index_dir).snapshot is None
    assert not (settings.index_dir / SNAPSHOTS).exists()
