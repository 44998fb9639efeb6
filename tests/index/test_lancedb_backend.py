"""The LanceDB backend on disk: writes, filters, exact and ANN search against NumPy."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from podseek.catalog.episode import Episode
from podseek.index.base import AnnSettings, IndexRow, SearchFilters
from podseek.index.lancedb_backend import LanceDBBackend, where_clause

DIM = 16


def make_rows(n: int, seed: int = 0) -> list[IndexRow]:
    """Random unit vectors with metadata that cycles, so filters have known answers."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for i in range(n):
        episode = Episode(
            id=f"t:{i}",
            source="t",
            show_id=f"t:show{i % 5}",
            show_title=f"Show {i % 5}",
            episode_title=f"Episode {i}",
            episode_description="talk about gardening" if i % 7 == 0 else "talk about cooking",
            language=("en", "de", "sv")[i % 3],
            categories=("Comedy",) if i % 2 else ("News", "Sport"),
            published_at=datetime(2017, 12, 1 + i % 28, tzinfo=UTC),
            duration_s=None if i % 10 == 0 else 60 * (i % 90),
        )
        text = f"{episode.show_title}. {episode.episode_title}. {episode.episode_description}"
        rows.append(IndexRow(episode, text, f"hash{i}", vectors[i]))
    return rows


def passes(row: IndexRow, filters: SearchFilters) -> bool:
    e = row.episode
    return (
        (filters.language is None or e.language == filters.language)
        and (filters.show_id is None or e.show_id == filters.show_id)
        and (filters.category is None or filters.category.lower() in row.fields()["categories"])
        and (filters.after is None or (e.published_at and e.published_at >= filters.after))
        and (filters.before is None or (e.published_at and e.published_at < filters.before))
        and (
            filters.min_duration is None
            or (e.duration_s is not None and e.duration_s >= filters.min_duration)
        )
        and (
            filters.max_duration is None
            or (e.duration_s is not None and e.duration_s <= filters.max_duration)
        )
    )


def exact(rows: list[IndexRow], query: np.ndarray, k: int, filters: SearchFilters) -> list[str]:
    """The NumPy oracle: brute-force cosine over the rows that pass the filters."""
    kept = [r for r in rows if passes(r, filters)]
    scores = np.stack([r.vector for r in kept]) @ query
    return [kept[i].episode.id for i in np.argsort(-scores)[:k]]


FILTER_CASES = [
    SearchFilters(),
    SearchFilters(language="de"),
    SearchFilters(category="sport"),
    SearchFilters(show_id="t:show3", language="en"),
    SearchFilters(after=datetime(2017, 12, 20, tzinfo=UTC)),
    SearchFilters(before=datetime(2017, 12, 3, tzinfo=UTC), category="Comedy"),
    SearchFilters(min_duration=1800, max_duration=3000),
]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LanceDBBackend]:
    store = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    yield store
    store.close()


def test_upsert_count_fetch_and_replace(backend: LanceDBBackend) -> None:
    rows = make_rows(30)
    backend.upsert(rows)
    assert backend.count() == 30
    assert backend.content_hashes()["t:3"] == "hash3"
    fetched = backend.fetch(["t:3", "t:4", "missing"])
    assert set(fetched) == {"t:3", "t:4"}
    assert fetched["t:3"]["episode_title"] == "Episode 3"
    assert fetched["t:3"]["categories"] == ["comedy"]
    changed = IndexRow(
        rows[3].episode.model_copy(update={"episode_title": "New"}), "x", "h", rows[3].vector
    )
    backend.upsert([changed])
    assert backend.count() == 30
    assert backend.fetch(["t:3"])["t:3"]["episode_title"] == "New"
    assert backend.content_hashes()["t:3"] == "h"
    np.testing.assert_allclose(backend.vectors(["t:5", "t:1"]), [rows[5].vector, rows[1].vector])


def test_delete(backend: LanceDBBackend) -> None:
    backend.upsert(make_rows(20))
    backend.delete(["t:1", "t:2", "missing"])
    assert backend.count() == 18
    assert "t:1" not in backend.content_hashes()
    hits = backend.vector_search(make_rows(20)[1].vector[None, :], 20)[0]
    assert "t:1" not in {i for i, _ in hits}


@pytest.mark.parametrize("filters", FILTER_CASES, ids=repr)
def test_exact_vector_search_matches_numpy_with_filters(
    backend: LanceDBBackend, filters: SearchFilters
) -> None:
    rows = make_rows(300)
    backend.upsert(rows)
    backend.optimize()
    queries = make_rows(5, seed=1)
    for query in queries:
        hits = backend.vector_search(query.vector[None, :], 10, filters)[0]
        assert [i for i, _ in hits] == exact(rows, query.vector, 10, filters)
        assert len(hits) == min(10, sum(passes(r, filters) for r in rows))
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        assert -1.0 <= scores[-1] <= scores[0] <= 1.0


def test_ann_index_keeps_recall_and_filters(tmp_path: Path) -> None:
    backend = LanceDBBackend(tmp_path / "db", "episodes", DIM, AnnSettings(min_rows=1000))
    rows = make_rows(3000)
    backend.upsert(rows)
    assert backend.optimize()["vector_index"] == "IVF_HNSW_SQ"
    assert backend.uses_ann
    recalls = []
    for filters in (SearchFilters(), SearchFilters(language="sv", category="news")):
        for query in make_rows(20, seed=2):
            hits = backend.vector_search(query.vector[None, :], 10, filters)[0]
            assert len(hits) == 10  # a filtered search still returns k when k exist
            assert all(passes(rows[int(i.split(":")[1])], filters) for i, _ in hits)
            truth = exact(rows, query.vector, 10, filters)
            recalls.append(len({i for i, _ in hits} & set(truth)) / 10)
    assert np.mean(recalls) >= 0.95


def test_keyword_search_bm25_with_filters(backend: LanceDBBackend) -> None:
    rows = make_rows(70)
    backend.upsert(rows)
    backend.optimize()
    hits = backend.keyword_search(["gardening"], 50)[0]
    assert {i for i, _ in hits} == {f"t:{i}" for i in range(0, 70, 7)}
    german = backend.keyword_search(["gardening"], 50, SearchFilters(language="de"))[0]
    assert german and all(rows[int(i.split(":")[1])].episode.language == "de" for i, _ in german)
    assert backend.keyword_search(["", "zzzunknownword"], 5) == [[], []]


def test_new_rows_are_searchable_before_and_after_optimize(backend: LanceDBBackend) -> None:
    rows = make_rows(40)
    backend.upsert(rows[:30])
    backend.optimize()
    backend.upsert(rows[30:])
    assert backend.vector_search(rows[35].vector[None, :], 1)[0][0][0] == "t:35"
    backend.optimize()
    assert backend.vector_search(rows[35].vector[None, :], 1)[0][0][0] == "t:35"
    assert len(backend.keyword_search(["gardening"], 50)[0]) == 6


@pytest.mark.parametrize("min_rows", [10_000, 100], ids=["exact", "ann"])
def test_rows_a_search_found_are_fetched_right_after_writes(tmp_path: Path, min_rows: int) -> None:
    """``fetch`` reads the rows searches found by their row id; a write moves rows (an
    update rewrites one, compaction shifts the rest), and a fetch after it must still give
    every id its own, current row, as a handle that never searched does."""
    backend = LanceDBBackend(tmp_path / "db", "episodes", DIM, AnnSettings(min_rows=min_rows))
    rows = make_rows(300)
    backend.upsert(rows)
    backend.optimize()
    found = [i for i, _ in backend.vector_search(rows[7].vector[None, :], 20)[0]]
    found += [i for i, _ in backend.keyword_search(["gardening"], 20)[0]]
    assert "t:7" in found and "t:14" in found

    def titles(store: LanceDBBackend) -> dict[str, str]:
        return {i: row["episode_title"] for i, row in store.fetch(found).items()}

    assert titles(backend) == {i: f"Episode {i[2:]}" for i in found}
    changed = rows[7].episode.model_copy(update={"episode_title": "New"})
    backend.upsert([IndexRow(changed, "x", "h", rows[7].vector)])
    backend.delete(["t:14"])
    backend.optimize()  # compaction
    expected = {i: "New" if i == "t:7" else f"Episode {i[2:]}" for i in found if i != "t:14"}
    assert titles(backend) == expected
    fresh = LanceDBBackend(tmp_path / "db", "episodes", DIM)
    assert titles(fresh) == expected
    assert backend.fetch(found) == fresh.fetch(found)


def test_where_clause_quotes_values() -> None:
    clause = where_clause(SearchFilters(show_id="o'brien", category="Talk'); DROP"))
    assert clause == ("show_id = 'o''brien' AND array_has_any(categories, ['talk''); drop'])")
    assert where_clause(SearchFilters()) is None


def test_a_quote_in_a_filter_value_is_data_not_sql(backend: LanceDBBackend) -> None:
    backend.upsert(make_rows(10))
    assert (
        backend.vector_search(
            make_rows(1)[0].vector[None, :], 5, SearchFilters(show_id="x' OR '1'='1")
        )[0]
        == []
    )


def test_dimension_mismatch_is_refused(tmp_path: Path) -> None:
    LanceDBBackend(tmp_path / "db", "episodes", DIM).upsert(make_rows(3))
    with pytest.raises(Exception, match="16-d vectors, not 8-d"):
        LanceDBBackend(tmp_path / "db", "episodes", 8)
