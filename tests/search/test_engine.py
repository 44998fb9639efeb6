"""Semantic, keyword and hybrid search with filters, over a real index and real weights."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from podseek.catalog.cleaning import content_words
from podseek.catalog.store import CatalogStore
from podseek.errors import NotFound
from podseek.index.base import SearchFilters
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.registry import load_encoder
from podseek.search import engine
from podseek.search.engine import SameShow, Searcher, SearchMode, Sort
from podseek.search.fusion import (
    ADAPTIVE_MIN_ALPHA,
    CONVEX_ALPHA,
    RRF_K,
    Fusion,
    adaptive_alpha,
    convex_combination,
    query_coverage,
    reciprocal_rank_fusion,
)
from podseek.search.snippets import make_snippet
from tests.search_catalog import fill_catalog


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searcher]:
    """The fixture catalog indexed with USE-multilingual, the default encoder."""
    folder = tmp_path_factory.mktemp("search")
    encoder = load_encoder("use-multilingual", folder)
    with CatalogStore(folder / "catalog.sqlite") as catalog:
        build_index(fill_catalog(catalog), encoder, folder / "index", 2000, progress=False)
    index = EpisodeIndex(folder / "index")
    yield Searcher(index, encoder)
    index.close()


def top(searcher: Searcher, query: str, mode: SearchMode, **filters: object) -> list[str]:
    results = searcher.search(query, k=3, mode=mode, filters=SearchFilters(**filters))
    return [hit.id for hit in results.data]


@pytest.mark.parametrize("mode", list(SearchMode))
def test_each_mode_finds_the_obvious_episode(searcher: Searcher, mode: SearchMode) -> None:
    assert top(searcher, "meteor shower geminids", mode)[0] == "rss:show:ns-001"


def test_semantic_search_finds_a_paraphrase_with_no_shared_word(searcher: Searcher) -> None:
    # "Staying healthy over Christmas ... keep eating well when the holidays come"
    assert top(searcher, "not overeating during xmas", SearchMode.SEMANTIC)[0] == "listennotes:1"
    assert "listennotes:1" not in top(searcher, "not overeating during xmas", SearchMode.KEYWORD)


def test_cross_lingual_queries_find_episodes_in_another_language(searcher: Searcher) -> None:
    # a German query for an English episode, an English query for German and French ones
    assert top(searcher, "Sternschnuppen am Nachthimmel beobachten", SearchMode.SEMANTIC)[0] == (
        "rss:show:ns-001"
    )
    assert top(searcher, "Roman cities along the Rhine", SearchMode.SEMANTIC)[0] == (
        "listennotes:3"
    )
    assert top(searcher, "onion soup recipe for winter", SearchMode.SEMANTIC)[0] == (
        "rss:atom:urn:uuid:cuisine-1"
    )


def ids(searcher: Searcher, query: str, mode: SearchMode, **filters: object) -> list[str]:
    results = searcher.search(query, k=10, mode=mode, filters=SearchFilters(**filters))
    return [hit.id for hit in results.data]


@pytest.mark.parametrize("mode", list(SearchMode))
def test_filters_apply_in_every_mode(searcher: Searcher, mode: SearchMode) -> None:
    # the queries' words are in the episodes, so keyword search finds them too; each filter
    # removes an episode the same query finds without it
    assert ids(searcher, "Geschichte", mode, language="de") == ["listennotes:3"]
    query = "coral reefs and ocean currents"
    assert "sea:a2" in ids(searcher, query, mode)  # 1,200 s
    long = searcher.search(query, k=10, mode=mode, filters=SearchFilters(min_duration=1700))
    assert "sea:a1" in [hit.id for hit in long.data]  # 2,700 s
    assert all(hit.duration_s >= 1700 for hit in long.data)
    query = "the Geminids, Saturn and ocean currents"
    assert "sea:a1" in ids(searcher, query, mode)  # science, 1 December
    late = SearchFilters(category="science", after=datetime(2017, 12, 14, tzinfo=UTC))
    found = searcher.search(query, k=10, mode=mode, filters=late).data
    assert "rss:show:ns-001" in [hit.id for hit in found]
    assert all(hit.published_at >= datetime(2017, 12, 14, tzinfo=UTC) for hit in found)


def test_semantic_filtered_search_returns_k_when_k_exist(searcher: Searcher) -> None:
    english = SearchFilters(language="en")
    assert searcher.search("anything at all", k=5, mode="semantic", filters=english).count == 5


def test_results_carry_what_a_result_list_shows(searcher: Searcher) -> None:
    results = searcher.search("meteor shower", k=2)
    assert results.count == 2 and results.mode == SearchMode.HYBRID
    hit = results.data[0]
    assert hit.show_title == "Night Sky Notes"
    assert hit.episode_title == "Watching the Geminids"
    assert "meteor shower" in hit.snippet
    assert hit.duration_s == 1865
    assert hit.audio_url == "https://nightsky.example/001.mp3"
    assert hit.published_at.year == 2017 and hit.language == "en"


def test_repeated_query_uses_the_vector_cache(searcher: Searcher) -> None:
    searcher.search("coral reefs", mode="semantic")
    assert "coral reefs" in searcher.query_vectors._vectors
    before = len(searcher.query_vectors._vectors)
    searcher.search("coral reefs", mode="semantic")
    assert len(searcher.query_vectors._vectors) == before


DENSE = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.1)]
KEYWORD = [("c", 12.0), ("e", 7.0), ("a", 1.0)]


def test_convex_combination_matches_ranx() -> None:
    from ranx import Run, fuse

    ours = dict(convex_combination(DENSE, KEYWORD))
    runs = [Run({"q": dict(DENSE)}, name="dense"), Run({"q": dict(KEYWORD)}, name="keyword")]
    weights = [CONVEX_ALPHA, 1.0 - CONVEX_ALPHA]
    theirs = fuse(runs, norm="min-max", method="wsum", params={"weights": weights})
    theirs = theirs.to_dict()["q"]
    assert ours.keys() == theirs.keys()
    for doc_id, score in ours.items():
        assert score == pytest.approx(theirs[doc_id])
    assert [i for i, _ in convex_combination(DENSE, KEYWORD)][:2] == ["a", "c"]
    assert convex_combination([], []) == []
    assert convex_combination([("x", 0.5)], [])[0] == ("x", CONVEX_ALPHA)


def test_hybrid_fusion_method_is_a_choice(searcher: Searcher) -> None:
    adaptive = searcher.rank(["meteor shower"], k=5, mode=SearchMode.HYBRID)[0]
    try:
        searcher.fusion = Fusion.RRF
        rrf = searcher.rank(["meteor shower"], k=5, mode=SearchMode.HYBRID)[0]
        searcher.fusion = Fusion.CONVEX
        convex = searcher.rank(["meteor shower"], k=5, mode=SearchMode.HYBRID)[0]
    finally:
        searcher.fusion = Fusion.ADAPTIVE
    assert adaptive[0][0] == convex[0][0] == rrf[0][0] == "rss:show:ns-001"
    assert convex[0][1] <= 1.0 and rrf[0][1] == pytest.approx(2 / (RRF_K + 1))
    # both words are in the top keyword hit: coverage 1, alpha 0.5, the top scores 1 in both
    assert adaptive[0][1] == pytest.approx(1.0)


def test_hybrid_ranks_alike_with_its_keyword_half_beside_or_after_its_vector_half(
    searcher: Searcher,
) -> None:
    queries = ["meteor shower", "shooting stars this month", "bread baking at home", "zzzz"]
    filters = SearchFilters(language="en")
    overlapped = searcher.rank(queries, k=5, mode=SearchMode.HYBRID, filters=filters)
    try:
        searcher.overlap = False
        serial = searcher.rank(queries, k=5, mode=SearchMode.HYBRID, filters=filters)
    finally:
        searcher.overlap = True
    assert overlapped == serial and overlapped[0][0][0] == "rss:show:ns-001"


def test_only_a_search_running_alone_hands_its_keyword_half_to_a_second_thread(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    keyword_search = searcher.backend.keyword_search

    def recorded(*args: object) -> list:
        threads.append(threading.current_thread().name)
        return keyword_search(*args)

    monkeypatch.setattr(searcher.backend, "keyword_search", recorded)
    alone = searcher.rank(["meteor shower"], k=3)
    with engine._IN_FLIGHT:  # another search is running: under load, one thread each
        busy = searcher.rank(["meteor shower"], k=3)
    assert (
        threads[0].startswith("podseek-keyword") and threads[1] == threading.current_thread().name
    )
    assert alone == busy


def test_an_error_in_the_keyword_half_reaches_the_caller(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("keyword index unreadable")

    monkeypatch.setattr(searcher.backend, "keyword_search", broken)
    with pytest.raises(RuntimeError, match="keyword index unreadable"):
        searcher.search("meteor shower", mode=SearchMode.HYBRID)


def test_adaptive_weight_follows_the_query_words_in_the_keyword_hits(searcher: Searcher) -> None:
    assert content_words("How do I watch the Geminids?") == {"watch", "geminids"}
    assert query_coverage("watch the geminids", ["Watching the Geminids", "Geminids"]) == 0.5
    assert query_coverage("the and of", ["the and of"]) == 0.0  # stop words only
    assert adaptive_alpha(0.0) == 1.0 and adaptive_alpha(1.0) == ADAPTIVE_MIN_ALPHA
    assert adaptive_alpha(0.5) == pytest.approx(0.75)
    # a paraphrase with no word in the catalog: keyword search gets no weight, so hybrid
    # ranks exactly as semantic search does
    query = "shooting stars this month"
    semantic = searcher.rank([query], k=5, mode=SearchMode.SEMANTIC)[0]
    hybrid = searcher.rank([query], k=5, mode=SearchMode.HYBRID)[0]
    assert [i for i, _ in hybrid] == [i for i, _ in semantic]
    assert searcher._alphas([query, "geminids meteor shower"], [[], []]) == [1.0, 1.0]


def test_rrf_matches_ranx() -> None:
    from ranx import Run, fuse

    dense, sparse = DENSE, KEYWORD
    ours = dict(reciprocal_rank_fusion([dense, sparse]))
    runs = [Run({"q": dict(dense)}, name="dense"), Run({"q": dict(sparse)}, name="sparse")]
    theirs = fuse(runs, method="rrf", params={"k": RRF_K}).to_dict()["q"]
    assert ours.keys() == theirs.keys()
    for doc_id, score in ours.items():
        assert score == pytest.approx(theirs[doc_id])
    # a (1st and 3rd) and c (3rd and 1st) tie at the top, ahead of b and e
    fused = reciprocal_rank_fusion([dense, sparse])
    assert {fused[0][0], fused[1][0]} == {"a", "c"} and fused[0][1] == fused[1][1]
    assert fused[1][1] > fused[2][1]
    assert reciprocal_rank_fusion([[], []]) == []


def test_snippet_centres_on_a_query_word() -> None:
    text = "Show. About the show. Title. " + "filler words " * 30 + "the geminids peak tonight"
    snippet = make_snippet(text, "Title", "geminids", width=60)
    assert "geminids" in snippet and snippet.startswith("…")
    assert make_snippet(text, "Title", "nothing matches", width=40).startswith("filler")


def test_date_sort_orders_the_relevant_top_newest_first(searcher: Searcher) -> None:
    by_relevance = searcher.search("kitchen bread christmas cooking", k=4)
    by_date = searcher.search("kitchen bread christmas cooking", k=4, sort=Sort.DATE)
    assert by_date.sort is Sort.DATE
    # the same top k (the relevance cut comes first), reordered
    assert {h.id for h in by_date.data} == {h.id for h in by_relevance.data}
    dated = [h.published_at for h in by_date.data if h.published_at]
    assert dated == sorted(dated, reverse=True) and len(dated) >= 2
    undated = [n for n, h in enumerate(by_date.data) if h.published_at is None]
    assert all(n >= len(dated) for n in undated)  # undated episodes last


def test_similar_ranks_by_the_stored_vector_without_the_episode_itself(searcher: Searcher) -> None:
    results = searcher.similar("rss:show:ns-001", k=3)
    ids = [h.id for h in results.data]
    assert "rss:show:ns-001" not in ids and len(ids) == 3
    assert results.data[0].show_title == "Night Sky Notes"  # the nearest: the same sky show
    assert results.query == "Watching the Geminids"
    assert all(-1.0 <= h.score <= 1.0 for h in results.data)


def test_similar_keeps_or_leaves_out_the_episodes_own_show(searcher: Searcher) -> None:
    show = "rss:show:https://nightsky.example"
    only = searcher.similar("rss:show:ns-001", k=5, same_show=SameShow.ONLY)
    assert only.data and {h.show_id for h in only.data} == {show}
    assert len(only.data) == 2  # the show's two other episodes, no more
    others = searcher.similar("rss:show:ns-001", k=5, same_show=SameShow.EXCLUDE)
    assert len(others.data) == 5 and show not in {h.show_id for h in others.data}


def test_similar_applies_filters(searcher: Searcher) -> None:
    results = searcher.similar("listennotes:1", k=5, filters=SearchFilters(language="en"))
    assert results.data and {h.language for h in results.data} == {"en"}


def test_similar_to_an_unknown_episode_is_not_found(searcher: Searcher) -> None:
    with pytest.raises(NotFound, match="no episode with id 'nope:1'"):
        searcher.similar("nope:1")
