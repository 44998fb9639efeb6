"""Each filter removes what it should and is counted; the round trip runs on a real index."""

from pathlib import Path

import pytest

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.registry import load_encoder
from podseek.queries.filters import FilterReport, FilterSettings, QueryFilter, normalize
from podseek.queries.prompts import PAGES
from podseek.queries.round_trip import round_trip_check

EPISODE = Episode(
    id="x:1",
    source="x",
    show_title="Kitchen Radio",
    episode_title="Staying healthy over Christmas",
    episode_description="A dietitian on eating well during the holidays.",
)


def run_filter(queries: list[str], settings: FilterSettings | None = None) -> FilterReport:
    report = FilterReport()
    QueryFilter.for_prompts(settings or FilterSettings(round_trip_k=0)).apply(
        [(EPISODE, queries)], report
    )
    return report


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "empty"),
        ("  ?!  ", "empty"),
        ("diet", "too short"),
        ("ab c", "too short"),
        ("how " * 17, "too long"),
        ("x" * 60 + " " + "y" * 61, "too long"),
        ("Episode: Kitchen Radio. A dietitian", "prompt echo"),
        ("Search: healthy christmas", "prompt echo"),
        ("Folge: Gesund durch den Winter", "prompt echo"),  # German page label
        ("staying healthy over christmas", "title copy"),
        ("Staying healthy over Christmas!", "title copy"),
        ("staying healthy over christmas time", "title copy"),  # one word more
    ],
)
def test_each_filter_names_its_reason(query: str, reason: str) -> None:
    report = run_filter([query])
    assert report.kept == 0 and dict(report.removed) == {reason: 1}


def test_a_copy_of_a_prompt_example_is_an_echo() -> None:
    example = PAGES["en"].examples[0][1][0]
    assert dict(run_filter([example.upper()]).removed) == {"prompt echo": 1}


def test_a_query_about_a_prompt_example_episode_is_an_echo() -> None:
    # the English page's first example is about the James Webb space telescope
    report = run_filter(["james webb telescope golden mirror", "healthy holidays dietitian tips"])
    assert report.kept == 1 and dict(report.removed) == {"prompt echo": 1}


def test_duplicates_within_an_episode_are_removed_once_seen() -> None:
    report = run_filter(
        ["eating well at christmas", "Eating well, at Christmas?", "xmas diet tips"]
    )
    assert report.kept == 2 and dict(report.removed) == {"duplicate": 1}


def test_good_queries_pass_and_shares_add_up() -> None:
    report = run_filter(["how to eat well during the holidays", "", "diet"])
    data = report.to_dict()
    assert data["generated"] == 3 and data["kept"] == 1
    assert sum(r["queries"] for r in data["removed"].values()) + data["kept"] == 3
    assert data["removed"]["empty"]["share"] == pytest.approx(1 / 3, abs=1e-3)


def test_title_filter_can_be_turned_off_for_the_title_generator() -> None:
    settings = FilterSettings(round_trip_k=0, title_filter=False)
    assert run_filter(["staying healthy over christmas"], settings).kept == 1


def test_normalize_keeps_letters_of_every_script() -> None:
    assert normalize("  Ça  va?  Ünïcode—ok ") == "ça va ünïcode ok"
    assert normalize("Рождество 2017!") == "рождество 2017"


@pytest.fixture(scope="module")
def minilm_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[CatalogStore, EpisodeIndex]:
    from tests.search_catalog import fill_catalog

    folder = tmp_path_factory.mktemp("rt")
    catalog = fill_catalog(CatalogStore(folder / "catalog.sqlite"))
    encoder = load_encoder("minilm", folder)
    build_index(catalog, encoder, folder / "index", 2000, progress=False)
    return catalog, EpisodeIndex(folder / "index")


def test_round_trip_keeps_queries_that_find_their_episode(minilm_index) -> None:
    _, index = minilm_index
    encoder = load_encoder("minilm", Path("unused"))
    check = round_trip_check(index, encoder, k=1)
    queries = ["staying healthy at christmas", "Saturn rings ice", "coral reefs dying"]
    episodes = [
        "listennotes:1",  # found: top 1
        "rss:show:https://nightsky.example/002.mp3",  # found
        "listennotes:2",  # a bread episode: not what the query finds
    ]
    assert check(queries, episodes) == [True, True, False]
    # BM25 alone misses a paraphrase that shares no word with its episode
    bm25 = round_trip_check(index, None, k=1)
    paraphrases = ["shooting stars this month", "dying underwater ecosystems"]
    wanted = ["rss:show:ns-001", "sea:a2"]
    assert bm25(paraphrases, wanted) == [False, False]
    assert check(paraphrases, wanted) == [True, True]


def test_round_trip_is_counted_after_the_text_filters(minilm_index) -> None:
    catalog, index = minilm_index
    episode = catalog.get("listennotes:2")
    report = FilterReport()
    kept = QueryFilter.for_prompts(FilterSettings(round_trip_k=1)).apply(
        [(episode, ["how to bake bread at home", "coral reefs dying", "x"])],
        report,
        round_trip_check(index, None, k=1),
    )
    assert kept == [("how to bake bread at home", "listennotes:2")]
    assert dict(report.removed) == {"too short": 1, "round trip": 1}
