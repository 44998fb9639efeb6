"""Every search backend answers alike: one suite, run against LanceDB, LanceDB through its
serving snapshot, and a real Milvus Lite.

The rows are written by hand (4-d unit vectors, metadata chosen so that each filter has a
known answer); the backends must agree on writes, scores, filters, keyword search, fetched
types and the escaping of filter values. LanceDB needs no server; the Milvus cases use the
session's Milvus Lite server (``conftest.milvus_uri``) and skip without the milvus extra.
"""

import importlib.util
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from podseek.catalog.episode import Episode
from podseek.errors import PodseekError
from podseek.index import milvus_backend
from podseek.index.backends import open_backend
from podseek.index.base import AnnSettings, IndexRow, SearchBackend, SearchFilters
from podseek.index.milvus_backend import (
    MILVUS_EXTRA,
    MilvusBackend,
    filter_expression,
    string_literal,
)
from podseek.index.snapshot_backend import SnapshotBackend
from tests.index.test_lancedb_backend import exact, make_rows, passes

DIM = 4
TABLE = "episodes_conformance"
# "snapshot": a LanceDB table searched through its serving snapshot (index/snapshot.py)
KINDS = ["lancedb", "milvus", "snapshot"]
# filter values that would change an expression if they were pasted into it as they are
HOSTILE = [
    'x" or id != "',
    "x' OR '1'='1",
    'x\\" or true or \\"',
    "back\\slash\\",
    'new\nline"',
]


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def row(
    n: int,
    vector: np.ndarray,
    *,
    language: str = "en",
    show: str = "s:a",
    categories: tuple[str, ...] = (),
    published: datetime | None = None,
    duration: int | None = None,
    words: str = "talk about cooking",
    episode_id: str | None = None,
) -> IndexRow:
    # model_construct: the hostile values (a line break in an id) test the backends, which
    # must treat whatever they get as data; the catalog would refuse some of them
    episode = Episode.model_construct(
        id=episode_id or f"h:{n}",
        source="h",
        show_id=show,
        show_title=f"Show {show}",
        episode_title=f"Episode {n}",
        episode_description=words,
        language=language,
        categories=categories,
        published_at=published,
        duration_s=duration,
        audio_url=f"https://example.com/{n}.mp3",
        episode_url=f"https://example.com/{n}",
    )
    return IndexRow(episode, f"Episode {n}. {words}", f"hash{n}", vector)


def day(year: int, month: int, date: int) -> datetime:
    return datetime(year, month, date, tzinfo=UTC)


ROWS = [
    row(1, unit(1, 0, 0, 0), categories=("Comedy",), published=day(2020, 1, 1), duration=600,
        words="gardening with roses and a long talk about many other things besides"),
    row(2, unit(0.8, 0.6, 0, 0), language="de", categories=("News", "Sport"),
        published=day(2020, 6, 1), duration=1800),
    row(3, unit(0, 1, 0, 0), show="s:b", categories=("news",), published=day(2021, 1, 1),
        duration=3600, words="gardening gardening tips"),
    row(4, unit(0, 0, 1, 0), language="sv", show="s:b"),
    row(5, unit(0, 0, 0.6, 0.8), show="s:c", categories=("SPORT",),
        published=datetime(2019, 12, 31, 23, 59, 59, tzinfo=UTC), duration=1800),
    row(6, unit(-1, 0, 0, 0), language="", show="s:c", categories=("Comedy", "News"),
        published=day(2020, 6, 1)),
]  # fmt: skip

FILTERS = [
    (SearchFilters(language="en"), {1, 3, 5}),
    (SearchFilters(language=""), {6}),
    (SearchFilters(language="fr"), set()),
    (SearchFilters(show_id="s:b"), {3, 4}),
    (SearchFilters(not_show_id="s:b"), {1, 2, 5, 6}),
    (SearchFilters(not_show_id="s:none"), {1, 2, 3, 4, 5, 6}),
    (SearchFilters(category="news"), {2, 3, 6}),
    (SearchFilters(category="NEWS"), {2, 3, 6}),
    (SearchFilters(category="Sport"), {2, 5}),
    (SearchFilters(after=day(2020, 6, 1)), {2, 3, 6}),
    (SearchFilters(before=day(2020, 1, 1)), {5}),
    (SearchFilters(after=day(2020, 1, 1), before=day(2020, 6, 1)), {1}),
    (SearchFilters(min_duration=1800), {2, 3, 5}),
    (SearchFilters(max_duration=1800), {1, 2, 5}),
    (SearchFilters(min_duration=1800, max_duration=1800), {2, 5}),
    (
        SearchFilters(language="en", category="news", after=day(2020, 1, 1), min_duration=3000),
        {3},
    ),
    (SearchFilters(show_id="s:a", category="sport", before=day(2021, 1, 1)), {2}),
]

# pymilvus's default keepalive drew Milvus Lite's GOAWAY from ~80 s without a request on
# (50, 65, 75 s: none; 85, 95 s: every time)
IDLE_S = 100

Opener = Callable[..., Any]
needs_pymilvus = pytest.mark.skipif(
    importlib.util.find_spec("pymilvus") is None, reason=MILVUS_EXTRA
)


@pytest.fixture(params=KINDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens backends of one kind through ``open_backend``; closes (and drops) them after."""
    kind = request.param
    options: dict[str, Any] = {}
    if kind == "milvus":
        options["milvus_uri"] = request.getfixturevalue("milvus_uri")
        # a prefix of its own per test: collections of other tests are never touched
        options["milvus_collection"] = f"t{uuid.uuid4().hex[:10]}"
    opened: list[Any] = []

    def opener(
        table: str = TABLE, dimension: int = DIM, ann: AnnSettings | None = None, **extra: Any
    ) -> Any:
        store = open_backend(
            "lancedb" if kind == "snapshot" else kind,
            folder=tmp_path,
            table=table,
            dimension=dimension,
            ann=ann,
            **options,
            **extra,
        )
        if kind == "snapshot":
            store = SnapshotBackend(store, tmp_path / "snapshots" / table, ann=ann)
        opened.append(store)
        return store

    yield opener
    for store in reversed(opened):
        if isinstance(store, MilvusBackend):
            for name in store.table_names():
                store._client.drop_collection(name)
        store.close()


@pytest.fixture
def store(open_store: Opener) -> Any:
    backend = open_store()
    backend.upsert(ROWS)
    return backend


def ids(hits: list[tuple[str, float]]) -> list[str]:
    return [i for i, _ in hits]


# writing -----------------------------------------------------------------------------------


def test_upsert_then_count_and_replace(open_store: Opener) -> None:
    backend = open_store()
    assert backend.count() == 0
    backend.upsert([])
    backend.upsert(ROWS)
    assert backend.count() == len(ROWS)
    changed = IndexRow(
        ROWS[2].episode.model_copy(update={"episode_title": "New", "duration_s": None}),
        "new words",
        "changed",
        unit(0, 0, 0, 1),
    )
    backend.upsert([changed])
    assert backend.count() == len(ROWS)
    fetched = backend.fetch(["h:3"])["h:3"]
    assert (fetched["episode_title"], fetched["text"], fetched["duration_s"]) == (
        "New",
        "new words",
        None,
    )
    assert backend.content_hashes()["h:3"] == "changed"
    np.testing.assert_allclose(backend.vectors(["h:3"]), [unit(0, 0, 0, 1)], atol=1e-6)
    assert ids(backend.vector_search(unit(0, 0, 0, 1)[None, :], 1)[0]) == ["h:3"]


def test_upsert_and_reads_go_in_batches(
    open_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many rows, written and paged through a few at a time (ids with quotes included)."""
    monkeypatch.setattr(milvus_backend, "WRITE_BATCH", 3)
    monkeypatch.setattr(milvus_backend, "READ_BATCH", 4)
    rng = np.random.default_rng(0)
    odd = ['q"1', "q'2", "q\\3", 'q\\"4']
    rows = [
        row(n, unit(*rng.normal(size=DIM)), episode_id=odd[n] if n < len(odd) else None)
        for n in range(23)
    ]
    backend = open_store()
    backend.upsert(rows)
    assert backend.count() == 23
    assert backend.content_hashes() == {r.episode.id: r.content_hash for r in rows}
    all_ids, matrix = backend.all_vectors()
    assert sorted(all_ids) == sorted(r.episode.id for r in rows)
    by_id = {r.episode.id: r.vector for r in rows}
    np.testing.assert_allclose(matrix, [by_id[i] for i in all_ids], atol=1e-6)
    wanted = [*reversed(odd), "h:10"]
    np.testing.assert_allclose(backend.vectors(wanted), [by_id[i] for i in wanted], atol=1e-6)
    assert set(backend.fetch(wanted)) == set(wanted)
    backend.delete(odd)
    assert backend.count() == 19
    assert not set(odd) & set(backend.content_hashes())


def test_each_backend_has_the_whole_interface(store: Any) -> None:
    """Every method, property and attribute of ``SearchBackend``, on both backends: callers
    hold a ``SearchBackend`` and never ask which backend it is."""
    members = {name for name in vars(SearchBackend) if not name.startswith("_")}
    members |= set(SearchBackend.__annotations__)
    assert {"uses_ann", "size_bytes", "drop_other_tables", "table_name"} <= members
    assert sorted(name for name in members if not hasattr(store, name)) == []
    assert isinstance(store.uses_ann, bool)
    assert isinstance(store.size_bytes(), int)
    assert store.table_name in store.table_names()


def test_delete(store: Any) -> None:
    store.delete(["h:1", "h:2", "missing"])
    store.delete([])
    assert store.count() == len(ROWS) - 2
    assert set(store.content_hashes()) == {"h:3", "h:4", "h:5", "h:6"}
    assert store.fetch(["h:1"]) == {}
    assert not {"h:1", "h:2"} & set(ids(store.vector_search(unit(1, 0, 0, 0)[None, :], 10)[0]))


def test_dimension_mismatch_is_refused(open_store: Opener) -> None:
    open_store().upsert(ROWS[:2])
    with pytest.raises(PodseekError, match="4-d vectors, not 8-d"):
        open_store(dimension=8)
    with pytest.raises(ValueError, match="3-d"):
        open_store().upsert([row(9, unit(1, 0, 0))])


# reading -----------------------------------------------------------------------------------


def test_vector_search_ranks_by_cosine(store: Any) -> None:
    hits = store.vector_search(np.stack([unit(0.6, 0.8, 0, 0), unit(0, 0, 1, 0)]), 10)
    first, second = hits
    assert ids(first)[:3] == ["h:2", "h:3", "h:1"] and ids(first)[-1] == "h:6"
    scores = dict(first)
    expected = {"h:1": 0.6, "h:2": 0.96, "h:3": 0.8, "h:4": 0.0, "h:5": 0.0, "h:6": -0.6}
    assert scores == pytest.approx(expected, abs=1e-5)
    assert ids(second)[:2] == ["h:4", "h:5"] and dict(second)["h:5"] == pytest.approx(0.6)
    assert ids(store.vector_search(unit(0.6, 0.8, 0, 0), 2)[0]) == ["h:2", "h:3"]


@pytest.mark.parametrize(("filters", "expected"), FILTERS, ids=repr)
def test_filters_apply_before_ranking(
    store: Any, filters: SearchFilters, expected: set[int]
) -> None:
    hits = store.vector_search(unit(1, 0, 0, 0)[None, :], 10, filters)[0]
    assert set(ids(hits)) == {f"h:{n}" for n in expected}
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    if expected:  # one result asked: the best of those that pass, not one filtered out
        assert len(store.vector_search(unit(-1, 0, 0, 0)[None, :], 1, filters)[0]) == 1


def test_filtered_search_matches_numpy(open_store: Opener) -> None:
    rows = make_rows(60)
    backend = open_store(dimension=16)
    backend.upsert(rows)
    cases = [
        SearchFilters(category="sport", language="de"),
        SearchFilters(after=day(2017, 12, 20), min_duration=600),
        SearchFilters(show_id="t:show3", before=day(2017, 12, 15), max_duration=4000),
    ]
    for filters in cases:
        for query in make_rows(3, seed=1):
            hits = backend.vector_search(query.vector[None, :], 5, filters)[0]
            assert ids(hits) == exact(rows, query.vector, 5, filters)
            assert all(passes(rows[int(i.split(":")[1])], filters) for i in ids(hits))


def test_keyword_search_finds_the_words(store: Any) -> None:
    store.optimize()
    (hits,) = store.keyword_search(["gardening"], 10)
    assert ids(hits) == ["h:3", "h:1"]  # twice in a short text beats once in a long one
    assert hits[0][1] > hits[1][1] > 0
    assert ids(store.keyword_search(["GARDENING roses"], 10)[0])[0] == "h:1"
    assert ids(store.keyword_search(["gardening"], 10, SearchFilters(show_id="s:a"))[0]) == ["h:1"]
    not_a = SearchFilters(not_show_id="s:a")
    assert ids(store.keyword_search(["gardening"], 10, not_a)[0]) == ["h:3"]
    assert store.keyword_search(["gardening"], 10, SearchFilters(language="de")) == [[]]
    assert store.keyword_search(["", "  ", "zzzunknownword"], 5) == [[], [], []]
    assert ids(store.keyword_search(['"gardening', "cooking"], 1)[0]) == ["h:3"]


def test_new_rows_are_searchable_before_and_after_optimize(open_store: Opener) -> None:
    backend = open_store()
    backend.upsert(ROWS[:3])
    assert backend.optimize() == {"rows": 3, "vector_index": "exact"}
    assert not backend.uses_ann
    backend.upsert(ROWS[3:])
    assert ids(backend.vector_search(unit(0, 0, 1, 0)[None, :], 1)[0]) == ["h:4"]
    backend.optimize()
    assert ids(backend.vector_search(unit(0, 0, 1, 0)[None, :], 1)[0]) == ["h:4"]
    assert set(ids(backend.keyword_search(["cooking"], 10)[0])) == {"h:2", "h:4", "h:5", "h:6"}


def test_ann_index_from_min_rows_on(open_store: Opener) -> None:
    rows = make_rows(300)
    backend = open_store(dimension=16, ann=AnnSettings(min_rows=200))
    backend.upsert(rows)
    built = backend.optimize()
    assert built["rows"] == 300 and built["vector_index"] != "exact"
    assert backend.uses_ann
    filters = SearchFilters(language="sv", category="news")
    recalls = []
    for query in make_rows(10, seed=2):
        hits = backend.vector_search(query.vector[None, :], 5, filters)[0]
        assert len(hits) == 5
        assert all(passes(rows[int(i.split(":")[1])], filters) for i in ids(hits))
        recalls.append(len(set(ids(hits)) & set(exact(rows, query.vector, 5, filters))) / 5)
        best = rows[int(hits[0][0].split(":")[1])]
        assert hits[0][1] == pytest.approx(float(best.vector @ query.vector), abs=1e-3)
    assert np.mean(recalls) >= 0.9


def test_content_hashes_fetch_and_vectors(store: Any) -> None:
    assert store.content_hashes() == {f"h:{n}": f"hash{n}" for n in range(1, 7)}
    fetched = store.fetch(["h:2", "h:4", "missing"])
    assert set(fetched) == {"h:2", "h:4"}
    two = fetched["h:2"]
    assert set(two) == {
        "id", "show_id", "show_title", "episode_title", "text", "language", "categories",
        "published_at", "duration_s", "audio_url", "episode_url",
    }  # fmt: skip
    assert two["categories"] == ["news", "sport"]
    assert isinstance(two["published_at"], datetime) and two["published_at"] == day(2020, 6, 1)
    assert two["duration_s"] == 1800 and isinstance(two["duration_s"], int)
    assert (two["language"], two["show_id"], two["audio_url"]) == (
        "de",
        "s:a",
        "https://example.com/2.mp3",
    )
    assert (fetched["h:4"]["published_at"], fetched["h:4"]["duration_s"]) == (None, None)
    assert fetched["h:4"]["categories"] == []
    assert store.fetch([]) == {}
    order = ["h:5", "h:1", "h:3"]
    np.testing.assert_allclose(
        store.vectors(order), [ROWS[4].vector, ROWS[0].vector, ROWS[2].vector], atol=1e-6
    )
    assert store.vectors([]).shape == (0, DIM)


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_filter_values_are_data_not_expression(open_store: Opener, value: str) -> None:
    """A hostile value matches only a row that holds exactly that value."""
    backend = open_store()
    backend.upsert(ROWS)
    query = unit(1, 0, 0, 0)[None, :]
    for filters in (
        SearchFilters(show_id=value),
        SearchFilters(language=value),
        SearchFilters(category=value),
    ):
        assert backend.vector_search(query, 10, filters) == [[]]
    backend.optimize()
    assert backend.keyword_search(["gardening"], 10, SearchFilters(show_id=value)) == [[]]
    holder = row(7, unit(1, 1, 0, 0), show=value, language=value, categories=(value,),
                 episode_id=f"odd:{value}")  # fmt: skip
    backend.upsert([holder])
    for filters in (
        SearchFilters(show_id=value),
        SearchFilters(language=value),
        SearchFilters(category=value.upper()),
    ):
        assert ids(backend.vector_search(query, 10, filters)[0]) == [f"odd:{value}"]
    others = ids(backend.vector_search(query, 10, SearchFilters(not_show_id=value))[0])
    assert others and f"odd:{value}" not in others
    fetched = backend.fetch([f"odd:{value}"])[f"odd:{value}"]
    assert (fetched["show_id"], fetched["categories"]) == (value, [value.lower()])
    backend.delete([f"odd:{value}"])
    assert backend.count() == len(ROWS)


def test_a_rebuild_drops_only_the_other_tables(open_store: Opener) -> None:
    old = open_store(table="episodes_old")
    old.upsert(ROWS[:1])
    new = open_store(table="episodes_new")
    new.upsert(ROWS)
    assert sorted(new.table_names()) == sorted([new.table_name, old.table_name])
    new.drop_other_tables()
    assert new.table_names() == [new.table_name]
    assert new.count() == len(ROWS)


# Milvus only -------------------------------------------------------------------------------


def test_milvus_refuses_a_collection_built_by_another_model(milvus_uri: str) -> None:
    """LanceDB needs no such check: its table name is a hash of model and recipe, and the
    manifest is checked by ``EpisodeIndex.check_encoder``. A Milvus collection may be named
    by hand (``PODSEEK_MILVUS_COLLECTION``), so it keeps the record itself."""
    name = f"t{uuid.uuid4().hex[:10]}_episodes_x"
    record = {"model": "e5-small", "fingerprint": "abc", "text_recipe": "v1"}
    first = MilvusBackend(milvus_uri, name, DIM, record=record)
    try:
        first.upsert(ROWS)
        MilvusBackend(milvus_uri, name, DIM, record=record).close()  # the same record: fine
        with pytest.raises(PodseekError, match=r"built with .*e5-small.*not .*minilm"):
            MilvusBackend(milvus_uri, name, DIM, record={**record, "model": "minilm"})
    finally:
        first.drop()
        first.close()


@pytest.mark.slow  # 100 s of waiting; the default run idles between modules anyway
def test_a_milvus_lite_connection_survives_idle_time(
    milvus_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """pymilvus's own keepalive (a ping every 10 s, idle or not) made Milvus Lite answer
    GOAWAY "too_many_pings" after ~80 s without a request, and a later request failed in the
    reconnect ("cannot reach Milvus"): a served index would fail its first search after a
    quiet minute. Nothing may be pinged while idle; the request after the pause just works."""
    name = f"t{uuid.uuid4().hex[:10]}_episodes_idle"
    backend = MilvusBackend(milvus_uri, name, DIM)
    try:
        backend.upsert(ROWS)
        capfd.readouterr()
        time.sleep(IDLE_S)
        assert ids(backend.vector_search(unit(0.6, 0.8, 0, 0), 2)[0]) == ["h:2", "h:3"]
        assert MilvusBackend(milvus_uri, name, DIM).count() == len(ROWS)
        assert "too_many_pings" not in capfd.readouterr().err
    finally:
        backend.drop()
        backend.close()


def test_milvus_expressions_escape_every_value() -> None:
    assert string_literal('x" or id != "') == '"x\\" or id != \\""'
    assert string_literal("a\\b\n") == '"a\\\\b\\n"'
    assert filter_expression(SearchFilters()) == ""
    assert filter_expression(
        SearchFilters(category='Talk"); DROP', after=day(2020, 1, 1), max_duration=60)
    ) == (
        '(array_contains(categories, "talk\\"); drop")) and (published_at >= 1577836800000000)'
        " and (duration_s <= 60)"
    )


@needs_pymilvus
def test_milvus_token_and_password_stay_out_of_errors() -> None:
    with pytest.raises(PodseekError) as caught:
        MilvusBackend(
            "http://user:hunter2@127.0.0.1:1", "episodes_x", DIM, token="s3cret", timeout=1
        )
    assert "hunter2" not in str(caught.value) and "s3cret" not in str(caught.value)
