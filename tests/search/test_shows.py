"""Show search (``type=show``) over a real index and real weights: the catalog fixtures
indexed with MiniLM (7 shows: 5 with episodes, 2 show-level records)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore, ShowRecord
from podseek.index.base import SearchFilters
from podseek.index.episode_index import EpisodeIndex
from podseek.models.registry import load_encoder
from podseek.search.engine import Searcher, SearchMode
from podseek.search.shows import ShowCatalog, ShowResults, ShowSearcher, decayed
from tests.search_catalog import minilm_home

NIGHT_SKY = "rss:show:https://nightsky.example"
KITCHEN_TABLE = "listennotes:1"
GESCHICHTE = "listennotes:2"
CUISINE = "rss:atom:urn:uuid:cuisine"


@dataclass
class Home:
    catalog: CatalogStore
    searcher: Searcher
    shows: ShowSearcher


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    folder = minilm_home(tmp_path_factory.mktemp("shows"))
    index = EpisodeIndex(folder / "index")
    searcher = Searcher(index, load_encoder("minilm", folder))
    with CatalogStore(folder / "catalog.sqlite") as catalog:
        yield Home(catalog, searcher, ShowSearcher(searcher, ShowCatalog.from_catalog(catalog)))
    index.close()


def search(home: Home, query: str, mode: SearchMode = SearchMode.HYBRID, **kw: object) -> list:
    filters = SearchFilters(**kw) if kw else None  # type: ignore[arg-type]
    return home.shows.search(query, k=10, mode=mode, filters=filters).data


@pytest.mark.parametrize("mode", list(SearchMode))
@pytest.mark.parametrize(
    ("query", "show"),
    [("astronomy", NIGHT_SKY), ("Geschichte", GESCHICHTE), ("cooking", KITCHEN_TABLE)],
)
def test_a_topical_query_ranks_its_show_first(
    home: Home, query: str, show: str, mode: SearchMode
) -> None:
    found = search(home, query, mode)
    assert found[0].id == show
    assert len({result.id for result in found}) == len(found)  # a show is listed once


def test_results_carry_the_show_and_its_best_episodes(home: Home) -> None:
    results = home.shows.search("astronomy", k=3)
    assert isinstance(results, ShowResults)
    assert results.mode is SearchMode.HYBRID and results.count == len(results.data) == 3
    assert results.took_ms > 0
    night = results.data[0]
    assert night.show_title == "Night Sky Notes"
    assert night.description == "Astronomy for everyone."
    assert (night.language, night.categories, night.episode_count) == ("en", ["Science"], 3)
    assert {e.episode_title for e in night.episodes} == {
        "Watching the Geminids",
        "Saturn's rings",
        "Bonus: listener questions",
    }
    kitchen = next(r for r in search(home, "cooking") if r.id == KITCHEN_TABLE)
    assert (kitchen.language, kitchen.categories, kitchen.episode_count) == (
        "en",
        ["Food", "Health"],
        3,
    )
    assert [r.score for r in results.data] == sorted((r.score for r in results.data), reverse=True)


def test_listed_episodes_are_the_shows_own_best(home: Home) -> None:
    for mode in SearchMode:
        for result in search(home, "stories about food, stars and the sea", mode):
            assert len(result.episodes) <= 3
            scores = [episode.score for episode in result.episodes]
            assert scores == sorted(scores, reverse=True)
            for episode in result.episodes:
                record = home.catalog.get(episode.id)
                assert record is not None and not record.is_show_level
                assert record.show_id == result.id
                assert episode.episode_title == record.episode_title


@pytest.mark.parametrize("mode", list(SearchMode))
def test_a_show_level_record_is_found_by_its_own_text(home: Home, mode: SearchMode) -> None:
    # "Kitchen Radio: Recipes and stories from home kitchens around the world", no episodes
    found = search(home, "kitchen radio", mode)
    assert found[0].show_title == "Kitchen Radio"
    assert found[0].episode_count == 0 and found[0].episodes == []
    assert "home kitchens" in found[0].description


@pytest.mark.parametrize("mode", list(SearchMode))
def test_filters_drop_shows(home: Home, mode: SearchMode) -> None:
    query = "soupe, Römer and cooking"  # a word of each language's show, for keyword search
    assert {CUISINE, GESCHICHTE, KITCHEN_TABLE} <= {r.id for r in search(home, query, mode)}
    assert [r.id for r in search(home, query, mode, language="fr")] == [CUISINE]
    assert [r.id for r in search(home, query, mode, language="de")] == [GESCHICHTE]
    assert [r.id for r in search(home, query, mode, show_id=KITCHEN_TABLE)] == [KITCHEN_TABLE]
    assert search(home, query, mode, language="xx") == []
    # dates test the episodes: a show remains when one of its episodes passes, with those
    late = datetime(2017, 12, 14, tzinfo=UTC)
    found = search(home, "astronomy and cooking", mode, after=late)
    assert found[0].id == NIGHT_SKY and KITCHEN_TABLE not in {r.id for r in found}
    for result in found:
        for episode in result.episodes:
            record = home.catalog.get(episode.id)
            assert record is not None and record.published_at is not None
            assert record.published_at >= late


@pytest.mark.parametrize("mode", list(SearchMode))
def test_k_is_honoured(home: Home, mode: SearchMode) -> None:
    query = "kitchen stories and history"
    assert home.shows.search(query, k=2, mode=mode).count <= 2
    assert home.shows.search(query, k=0, mode=mode).data == []
    if mode is SearchMode.SEMANTIC:  # every record is a neighbour: every show comes back
        assert home.shows.search(query, k=2, mode=mode).count == 2
        assert home.shows.search(query, k=50, mode=mode).count == 7


def test_a_record_the_show_catalog_does_not_know_is_left_out(home: Home) -> None:
    records = [r for r in home.catalog.shows() if r.show_id != NIGHT_SKY]
    shows = ShowSearcher(home.searcher, ShowCatalog(records))
    found = shows.search("astronomy", k=10, mode=SearchMode.SEMANTIC).data
    assert found and NIGHT_SKY not in {r.id for r in found}


def test_decayed_weighs_the_three_best_episodes() -> None:
    # min-max over all four episodes: a 1.0, b 0.5, c 0.75, d 0.0, e (4th of show 0) 0.0
    grouped = {
        0: [("a", 3.0), ("b", 2.0), ("x", 1.0), ("e", 1.0)],
        1: [("c", 2.5)],
        2: [("d", 1.0)],
    }
    assert decayed(grouped) == [(0, 1.25), (1, 0.75), (2, 0.0)]
    assert decayed({}) == []
    assert decayed({3: [("only", 0.2)]}) == [(3, 1.0)]


def test_the_catalog_groups_records_by_show(tmp_path: Path) -> None:
    def record(n: int, show: str, **fields: object) -> Episode:
        return Episode(id=f"t:{n}", source="t", show_id=show, **fields)  # type: ignore[arg-type]

    with CatalogStore(tmp_path / "catalog.sqlite") as catalog:
        with catalog.write("t") as batch:
            for episode in (
                record(1, "s1", show_title="Mix", episode_title="A", language="de"),
                record(2, "s1", show_title="Mix", episode_title="B", language="en",
                       categories=("News",), show_description="Short."),
                record(3, "s1", show_title="Mix", episode_title="C", language="en",
                       categories=("news", "Tech"), show_description="The longest one."),
                record(4, "s1", show_title="Mix", show_description="Show row."),
                record(5, "s2", show_title="Alone", show_description="Only a show."),
                record(6, "", episode_title="No show"),
            ):  # fmt: skip
                batch.upsert(episode)
        assert catalog.shows() == [
            ShowRecord(
                show_id="s1",
                title="Mix",
                description="The longest one.",
                language="en",  # two of three languages given
                categories=("News", "Tech"),  # once each, first spelling
                episode_ids=("t:1", "t:2", "t:3"),
                show_level_ids=("t:4",),
            ),
            ShowRecord("s2", "Alone", "Only a show.", "", (), (), ("t:5",)),
        ]
        assert catalog.shows()[0].episode_count == 3


def test_the_show_catalog_of_the_fixtures(home: Home) -> None:
    shows = ShowCatalog.from_catalog(home.catalog)
    assert len(shows) == 7
    by_id = {record.show_id: record for record in shows.records}
    assert by_id[NIGHT_SKY].episode_count == 3  # one has no audio, but a title
    assert by_id[CUISINE].language == "fr"
    assert shows.records[shows.show_of["table:shows:tiny"]].title == "Tiny"
    assert shows.show_level == {"table:shows:kitchen-radio", "table:shows:tiny"}
