"""The serving snapshot against the LanceDB table it copies: the same answers (exact where
LanceDB is exact, measured recall where the inverted file is approximate), deltas, versions.

Every case writes a real LanceDB table on disk and a real snapshot (faiss, tantivy, Arrow)
beside it; the conformance suite runs the whole backend interface on it too.
"""

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from podseek.catalog.episode import episode_text
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.index.base import AnnSettings, IndexRow, SearchFilters
from podseek.index.lancedb_backend import LanceDBBackend
from podseek.index.snapshot import SNAPSHOTS, read_meta, readable, refresh
from podseek.index.snapshot_backend import SnapshotBackend
from tests.index.test_lancedb_backend import DIM, FILTER_CASES, exact, make_rows, passes


def ids(hits: list[tuple[str, float]]) -> list[str]:
    return [i for i, _ in hits]


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 50 centres: neighbours like real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def with_vectors(rows: list[IndexRow], vectors: np.ndarray) -> list[IndexRow]:
    pairs = zip(rows, vectors, strict=True)
    return [IndexRow(r.episode, r.text, r.content_hash, v) for r, v in pairs]


def test_exact_below_min_rows_matches_lancedb_and_numpy(tmp_path: Path) -> None:
    rows = make_rows(200)
    lance = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    lance.upsert(rows)
    lance.optimize()
    snapshot = SnapshotBackend(lance, tmp_path / SNAPSHOTS)
    assert not snapshot.uses_ann and snapshot.count() == 200
    for filters in FILTER_CASES:
        for query in make_rows(4, seed=3):
            vector = query.vector[None, :]
            got = snapshot.vector_search(vector, 7, filters)[0]
            assert ids(got) == exact(rows, query.vector, 7, filters)
            assert ids(got) == ids(lance.vector_search(vector, 7, filters)[0])
            assert [s for _, s in got] == pytest.approx(
                [s for _, s in lance.vector_search(vector, 7, filters)[0]], abs=1e-5
            )


def filtered_recall(
    snapshot: SnapshotBackend, rows: list[IndexRow], queries: np.ndarray, filters: SearchFilters
) -> float:
    """Mean recall@10 of ``snapshot``'s vector search against the exact filtered top 10,
    checking that every hit passes ``filters`` and that the first one's score is exact."""
    recalls = []
    for query in queries:
        got = snapshot.vector_search(query[None, :], 10, filters)[0]
        truth = exact(rows, query, 10, filters)
        assert all(passes(rows[int(i.split(":")[1])], filters) for i in ids(got))
        recalls.append(len(set(ids(got)) & set(truth)) / len(truth))
        best = rows[int(got[0][0].split(":")[1])]
        assert got[0][1] == pytest.approx(float(best.vector @ query), abs=1e-5)
    return float(np.mean(recalls))


def test_the_inverted_file_finds_the_exact_neighbours(tmp_path: Path) -> None:
    """From ann.min_rows on, an inverted file of 4-bit codes, re-ranked in float32; a
    selective filter scans the kept rows instead."""
    n, dim = 3000, 32
    rows = with_vectors(make_rows(n), clustered(n, dim, 0))
    lance = LanceDBBackend(tmp_path / "db", "episodes", dim)
    lance.upsert(rows)
    snapshot = SnapshotBackend(lance, tmp_path / SNAPSHOTS, ann=AnnSettings(min_rows=1000))
    assert snapshot.uses_ann
    queries = clustered(40, dim, 1)
    # language keeps a third of the rows (more lists probed, with a selector); a date filter
    # keeps ~1/28 (share under exact_share: every list probed, with a selector)
    selective = SearchFilters(after=datetime(2017, 12, 28, tzinfo=UTC))
    for filters in (SearchFilters(), SearchFilters(language="de"), selective):
        recall = filtered_recall(snapshot, rows, queries, filters)
        assert recall >= 0.97, (filters, recall)


def test_a_filter_on_rows_that_sit_together_keeps_its_recall(tmp_path: Path) -> None:
    """A real filter keeps rows that sit together in vector space (one language's episodes,
    here the rows around 3 of 30 centres), far from most queries: an ANN index searched with the
    filter's mask starts from the query's neighbourhood and finds few of them, so such a
    filter is an exact scan of the rows it keeps."""
    n, dim = 20_000, 32
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(30, dim)).astype(np.float32)
    home = rng.integers(0, 30, n)
    vectors = centres[home] + 0.4 * rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for row, vector, centre in zip(make_rows(n), vectors, home, strict=True):
        episode = row.episode.model_copy(update={"language": "sv" if centre < 3 else "en"})
        rows.append(IndexRow(episode, row.text, row.content_hash, vector))
    lance = LanceDBBackend(tmp_path / "db", "episodes", dim)
    lance.upsert(rows)
    snapshot = SnapshotBackend(lance, tmp_path / SNAPSHOTS, ann=AnnSettings(min_rows=1000))
    assert snapshot.uses_ann
    swedish = SearchFilters(language="sv")
    recalls = []
    for query in centres[3:] + 0.2 * rng.normal(size=(27, dim)).astype(np.float32):
        query /= np.linalg.norm(query)
        got = ids(snapshot.vector_search(query[None, :], 10, swedish)[0])
        truth = exact(rows, query, 10, swedish)
        recalls.append(len(set(got) & set(truth)) / len(truth))
    assert np.mean(recalls) >= 0.99, np.mean(recalls)
    # the Swedish rows' 4-bit codes were gathered once, for every search after the first
    assert list(snapshot.base._scans) == [swedish]
    rows_kept, _ = snapshot.base._scans[swedish]
    assert len(rows_kept) == sum(r.episode.language == "sv" for r in rows)


def test_gathered_scan_codes_are_kept_within_their_budget(tmp_path: Path) -> None:
    """A language, a show or a category keeps its gathered scan codes, the oldest dropped
    past ``scan_cache_bytes``; a date filter probes every list with its mask; a filter that
    keeps fewer rows than the re-rank reads is exact. Results are right either way."""
    n, dim = 6000, 32
    rows = with_vectors(make_rows(n), clustered(n, dim, 5))
    lance = LanceDBBackend(tmp_path / "db", "episodes", dim)
    lance.upsert(rows)
    snapshot = SnapshotBackend(lance, tmp_path / SNAPSHOTS, ann=AnnSettings(min_rows=1000))
    # room for one language's codes (2,000 rows, 16 bytes of codes and 8 of row number each)
    snapshot.settings = replace(snapshot.settings, exact_share=0.5, scan_cache_bytes=60_000)
    queries = clustered(10, dim, 6)
    few = SearchFilters(show_id="t:show3", language="sv", before=datetime(2017, 12, 2, tzinfo=UTC))
    dated = SearchFilters(after=datetime(2017, 12, 22, tzinfo=UTC))  # a quarter of the rows
    for filters in (SearchFilters(language="de"), SearchFilters(language="sv"), dated):
        recall = filtered_recall(snapshot, rows, queries, filters)
        assert recall >= 0.97, (filters, recall)
    for query in queries:  # 14 rows: all re-ranked in float32, in the exact order
        got = snapshot.vector_search(query[None, :], 10, few)[0]
        assert ids(got) == exact(rows, query, 10, few)
    assert list(snapshot.base._scans) == [SearchFilters(language="sv")]
    assert snapshot.base._scans_bytes <= 60_000


def test_keyword_search_agrees_with_lancedb_on_real_episodes(
    tmp_path: Path, shared_data: Path
) -> None:
    """The same analyzer and BM25: on the Listen Notes catalog, the top 10 of LanceDB's
    full-text index and the snapshot's tantivy index are nearly the same lists."""
    with CatalogStore(tmp_path / "catalog.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(shared_data / "listennotes-dec2017"), progress=False)
        episodes = catalog.get_many(list(catalog.content_hashes()))
    vectors = clustered(len(episodes), DIM, 2)
    lance = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    lance.upsert(
        [
            IndexRow(e, episode_text(e, 2000), "h", v)
            for e, v in zip(episodes.values(), vectors, strict=True)
        ]
    )
    lance.optimize()
    snapshot = SnapshotBackend(lance, tmp_path / SNAPSHOTS)
    queries = [
        "healthy food at christmas",
        "bitcoin price crash",
        "sermon on grace",
        "the history of rome",
        "paying off the house before I retire",
        "football transfer news",
        "Weihnachten Rezepte",
        "climate change in the arctic",
        "how to start a business",
        "meditation for anxiety",
    ]
    overlaps = []
    for filters in (None, SearchFilters(language="en"), SearchFilters(category="christianity")):
        for query in queries:
            theirs = ids(lance.keyword_search([query], 10, filters)[0])
            ours = ids(snapshot.keyword_search([query], 10, filters)[0])
            if len(theirs) == 10:
                overlaps.append(len(set(theirs) & set(ours)) / 10)
    assert len(overlaps) >= 20
    assert np.mean(overlaps) >= 0.9
    found = ids(snapshot.keyword_search(["sermon on grace"], 5)[0])
    assert snapshot.fetch(found) == lance.fetch(found)


def test_writes_become_a_delta_then_a_full_snapshot(tmp_path: Path) -> None:
    rows = make_rows(400)
    lance = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    lance.upsert(rows)
    root = tmp_path / SNAPSHOTS
    snapshot = SnapshotBackend(lance, root)
    first = (snapshot.count(), snapshot.name)
    assert first[0] == 400 and read_meta(root / first[1])["kind"] == "full"

    changed = IndexRow(
        rows[5].episode.model_copy(update={"episode_title": "Whale songs"}),
        "whale songs of the deep",
        "changed",
        rows[6].vector,
    )
    snapshot.upsert([changed])
    snapshot.delete(["t:7", "missing"])
    assert snapshot.count() == 399
    assert read_meta(root / snapshot.name)["kind"] == "delta"
    assert ids(snapshot.keyword_search(["whale"], 5)[0]) == ["t:5"]
    assert snapshot.fetch(["t:5"])["t:5"]["episode_title"] == "Whale songs"
    assert snapshot.fetch(["t:7"]) == {}
    near = ids(snapshot.vector_search(rows[6].vector[None, :], 2)[0])
    assert sorted(near) == ["t:5", "t:6"]
    assert "t:7" not in ids(snapshot.vector_search(rows[7].vector[None, :], 400)[0])
    assert "t:7" not in ids(snapshot.keyword_search(["cooking gardening"], 400)[0])
    all_ids, matrix = snapshot.all_vectors()
    assert len(all_ids) == 399 and "t:7" not in all_ids
    np.testing.assert_allclose(matrix[all_ids.index("t:5")], rows[6].vector, atol=1e-6)

    # past max_delta_share of the rows (5%), a full snapshot again
    snapshot.delete([f"t:{i}" for i in range(100, 130)])
    assert snapshot.count() == 369
    assert read_meta(root / snapshot.name)["kind"] == "full"


def test_an_opened_snapshot_keeps_its_version(tmp_path: Path) -> None:
    """Snapshot folders are never changed: a reader that opened one keeps its answers while
    a writer makes the next, and the folders older than the one before are pruned."""
    rows = make_rows(100)
    lance = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    lance.upsert(rows)
    root = tmp_path / SNAPSHOTS
    name = refresh(root, lance, None)
    reader = SnapshotBackend(lance, root, name)
    lance.delete(["t:1", "t:2"])
    second = refresh(root, lance, name)
    lance.delete(["t:3"])
    third = refresh(root, lance, second)
    assert reader.count() == 100 and "t:1" in reader.fetch(["t:1"])
    assert SnapshotBackend(lance, root, third).count() == 97
    assert sorted(p.name for p in root.iterdir()) == sorted({name, second, third})


def test_a_snapshot_an_older_podseek_wrote_is_replaced(tmp_path: Path) -> None:
    """A snapshot in an older format (an HNSW graph, before format 2) is not read: opening
    it says to run `podseek index`, and the next refresh writes a full one in its place."""
    lance = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    lance.upsert(make_rows(50))
    root = tmp_path / SNAPSHOTS
    old = refresh(root, lance, None)
    meta_path = root / old / "snapshot.json"
    meta_path.write_text(meta_path.read_text().replace('"format": 2', '"format": 1'))
    assert not readable(root / old)
    with pytest.raises(PodseekError, match="run `podseek index`"):
        SnapshotBackend(lance, root, old)
    name = refresh(root, lance, old)
    assert name != old and readable(root / name) and read_meta(root / name)["kind"] == "full"
    assert SnapshotBackend(lance, root, name).count() == 50


def test_a_snapshot_of_another_table_is_not_extended(tmp_path: Path) -> None:
    """A rebuild (another model) has the same content hashes and other vectors: its first
    snapshot is a full one, never a delta on the old table's."""
    rows = make_rows(50)
    old = LanceDBBackend(tmp_path / "db", "episodes_old", DIM)
    old.upsert(rows)
    root = tmp_path / SNAPSHOTS
    previous = refresh(root, old, None)
    new = LanceDBBackend(tmp_path / "db", "episodes_new", DIM)
    new.upsert(with_vectors(rows, -np.stack([r.vector for r in rows])))
    name = refresh(root, new, previous)
    assert read_meta(root / name)["kind"] == "full"
    hits = SnapshotBackend(new, root, name).vector_search(-rows[0].vector[None, :], 1)[0]
    assert hits[0][0] == "t:0" and hits[0][1] == pytest.approx(1.0, abs=1e-5)


def test_an_empty_table(tmp_path: Path) -> None:
    lance = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    snapshot = SnapshotBackend(lance, tmp_path / SNAPSHOTS)
    assert snapshot.count() == 0
    assert snapshot.vector_search(np.ones((1, DIM), dtype=np.float32), 5) == [[]]
    assert snapshot.keyword_search(["anything"], 5) == [[]]
    assert snapshot.fetch(["x"]) == {}
