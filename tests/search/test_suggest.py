"""Suggestions as you type: the catalog's titles and popular past queries by prefix."""

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from podseek.catalog.store import CatalogStore
from podseek.search.suggest import Suggester, Suggestion, _PrefixIndex, fold, popular_queries
from tests.search_catalog import fill_catalog


@pytest.fixture(scope="module")
def catalog_titles(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str, str]]:
    """``CatalogStore.titles()`` of the fixture catalog."""
    folder = tmp_path_factory.mktemp("suggest")
    with CatalogStore(folder / "c.sqlite") as catalog:
        return list(fill_catalog(catalog).titles())


@pytest.fixture(scope="module")
def catalog_suggester(catalog_titles: list[tuple[str, str, str, str]]) -> Suggester:
    return Suggester.build(catalog_titles)


def texts(suggestions: list[Suggestion]) -> list[str]:
    return [s.text for s in suggestions]


def test_titles_are_plain_rows_of_every_record(
    catalog_titles: list[tuple[str, str, str, str]],
) -> None:
    rows = catalog_titles
    assert len(rows) == 12
    assert all(type(row) is tuple and len(row) == 4 for row in rows)
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert (rows[-2][0], *rows[-2][2:]) == ("table:shows:kitchen-radio", "Kitchen Radio", "")
    assert ("listennotes:3", "listennotes:2", "Geschichte Heute", "Die Römer am Rhein") in rows


def test_catalog_titles_found_by_any_word_accents_ignored(catalog_suggester: Suggester) -> None:
    [geminids] = catalog_suggester.suggest("geminid")
    assert geminids == Suggestion(
        text="Watching the Geminids", kind="episode", id="rss:show:ns-001"
    )
    assert texts(catalog_suggester.suggest("ROMER")) == ["Die Römer am Rhein"]
    assert texts(catalog_suggester.suggest("soupe a l oi")) == ["La soupe à l'oignon"]
    assert texts(catalog_suggester.suggest("saturn's r")) == ["Saturn's rings"]


def test_catalog_shows_suggested_once_with_their_id(catalog_suggester: Suggester) -> None:
    # Night Sky Notes is the show of three records; Kitchen Table (three records) comes
    # before Kitchen Radio (one record, a show-level row)
    assert catalog_suggester.suggest("night") == [
        Suggestion(text="Night Sky Notes", kind="show", id="rss:show:https://nightsky.example")
    ]
    assert [(s.text, s.kind) for s in catalog_suggester.suggest("kitchen")] == [
        ("Kitchen Table", "show"),
        ("Kitchen Radio", "show"),
    ]
    assert texts(catalog_suggester.suggest("ti")) == ["Tiny"]  # a show with no language


def test_title_start_before_mid_title_then_shows_queries_episodes() -> None:
    suggester = Suggester.build(
        [
            ("e1", "s1", "Night Sky Notes", "Watching the Geminids"),
            ("e2", "s2", "Geminid Hunters", "Dark skies"),
            ("e3", "s1", "Night Sky Notes", "Geminids at dawn"),
        ],
        {"geminids live": 3, "geminid meteor shower": 9, "best of geminids": 50},
    )
    assert [(s.text, s.kind) for s in suggester.suggest("gemin")] == [
        ("Geminid Hunters", "show"),
        ("geminid meteor shower", "query"),  # searched more often
        ("geminids live", "query"),
        ("Geminids at dawn", "episode"),
        ("best of geminids", "query"),  # mid-title matches come after every title start
        ("Watching the Geminids", "episode"),
    ]
    assert texts(suggester.suggest("gemin", limit=2)) == [
        "Geminid Hunters",
        "geminid meteor shower",
    ]


def test_multi_word_prefixes_and_finished_words() -> None:
    suggester = Suggester.build([("e1", "s1", "Night Sky Notes", "Watching the Geminids")])
    assert texts(suggester.suggest("watching the gem")) == ["Watching the Geminids"]
    assert texts(suggester.suggest("the  GEM")) == ["Watching the Geminids"]
    assert suggester.suggest("watching gem") == []  # words must follow each other
    assert texts(suggester.suggest("watching ")) == ["Watching the Geminids"]
    assert suggester.suggest("watch ") == []  # a space ends the word: "watch" is not there
    assert texts(suggester.suggest("geminids ")) == ["Watching the Geminids"]


def test_copies_and_same_titles_are_suggested_once() -> None:
    suggester = Suggester.build(
        [
            ("b:2", "b:show", "The Daily", "Episode 1"),
            ("a:9", "a:show", "The Daily", "Episode 1"),  # a copy from another source
            ("c:8", "a:show", "The Daily", "EPISODE 1!"),
            ("a:7", "a:show", "The Daily", ""),
        ],
        {"the daily": 10, "The  Daily": 20},
    )
    # spelt as the copy of the least id
    assert suggester.suggest("episode") == [Suggestion(text="Episode 1", kind="episode", id="a:9")]
    # one show (the one with more records), the query of the same text dropped
    assert suggester.suggest("the d") == [Suggestion(text="The Daily", kind="show", id="a:show")]
    assert len(suggester) == 3  # the show, the query, the episode title


def test_mix_of_kinds_and_filling_up() -> None:
    shows = [(f"e{i}", f"s{i}", f"Space show {i}", "") for i in range(5)]
    episodes = [(f"x{i}", "s0", "Space show 0", f"Space episode {i}") for i in range(5)]
    queries = {f"space query {i}": 10 + i for i in range(5)}
    suggester = Suggester.build(shows + episodes, queries)
    kinds = [s.kind for s in suggester.suggest("space", limit=8)]
    assert kinds == ["show"] * 3 + ["query"] * 3 + ["episode"] * 2
    assert texts(suggester.suggest("space q", limit=8)) == [
        f"space query {i}" for i in (4, 3, 2, 1, 0)
    ]  # one kind matches: it fills every place
    only_shows = Suggester.build(shows)
    assert len(only_shows.suggest("space", limit=8)) == 5


def test_answers_to_short_prefixes_are_kept_but_not_shared_lists(
    catalog_suggester: Suggester,
) -> None:
    first = catalog_suggester.suggest("Ki")
    assert texts(first) == ["Kitchen Table", "Kitchen Radio"]
    first.clear()
    assert texts(catalog_suggester.suggest("ki ")) == []  # a finished word "ki": none
    assert texts(catalog_suggester.suggest("kI")) == ["Kitchen Table", "Kitchen Radio"]
    assert texts(catalog_suggester.suggest("ki", limit=1)) == ["Kitchen Table"]
    with pytest.raises(ValidationError):
        catalog_suggester.suggest("ki")[0].text = "changed"


@pytest.mark.parametrize("prefix", ["", "   ", "?!", "\t"])
def test_empty_prefix_has_no_suggestions(catalog_suggester: Suggester, prefix: str) -> None:
    assert catalog_suggester.suggest(prefix) == []


def test_no_match_zero_limit_long_prefix_and_empty_catalog(
    catalog_suggester: Suggester,
) -> None:
    assert catalog_suggester.suggest("zzz") == []
    assert catalog_suggester.suggest("night", limit=0) == []
    assert catalog_suggester.suggest("night " * 2000) == []
    assert Suggester.build([]).suggest("a") == []


def test_fold_ignores_case_accents_and_punctuation() -> None:
    assert fold("Die RÖMER, am Rhein!") == "die romer am rhein "
    assert fold("l'oignon") == "l oignon"
    assert fold("Straße") == "strasse"
    assert fold(" ! ") == ""


def test_prefix_index_finds_the_best_matches_of_large_ranges() -> None:
    """Small blocks, so that several levels of tables decide: every answer equals a full
    sort of the matches."""

    class SmallBlocks(_PrefixIndex):
        BLOCK, FANOUT, KEEP = 4, 2, 8

    words = ["the", "a", "ab", "abc", "gem", "geminids", "watch", "rome", "b"]
    rng = random.Random(0)
    keys = list({" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(400)})
    index = SmallBlocks(keys)
    assert len(index._tables) > 3
    for prefix in ["t", "the ", "a", "ab", "abc ", "gem", "gem ", "b a", "zz"]:
        expected = sorted(
            (not f"{key} ".startswith(prefix), rank)
            for rank, key in enumerate(keys)
            if f" {key} ".find(f" {prefix}") >= 0
        )
        for count in (1, 4, 20):
            assert index.find(prefix, count) == expected[:count], (prefix, count)


def write_log(path: Path, lines: list[object]) -> Path:
    with path.open("wb") as log:
        for line in lines:
            log.write(line if isinstance(line, bytes) else json.dumps(line).encode())
            log.write(b"\n")
    return path


def test_popular_queries_counts_visits_and_hides_one_off_searches(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "searches.jsonl",
        [
            {"session_id": "s1", "query": "Xmas food", "clicked_episode_id": None},
            {"session_id": "s1", "query": "Xmas food", "clicked_episode_id": "ln:1"},  # click
            {"session_id": "s2", "query": "  xmas   FOOD "},
            {"session_id": "s3", "query": "Xmas food"},
            {"session_id": "s3", "query": "my neighbour's name"},  # one listener's, twice
            {"session_id": "s3", "query": "my neighbour's name"},
            {"query": "geminids"},  # lines without a session count on their own
            {"query": "geminids"},
            b"not json",
            b'{"session_id": "s4", "query": "broken',
            b"\xff\xfe not utf-8",
            {"session_id": "s5"},
            {"session_id": "s6", "query": 42},
            {"session_id": "s7", "query": "   "},
            ["a", "list"],
        ],
    )
    assert popular_queries(log) == {"Xmas food": 3, "geminids": 2}
    assert popular_queries(log, min_count=3) == {"Xmas food": 3}
    assert popular_queries(log, min_count=1, limit=2) == {"Xmas food": 3, "geminids": 2}
    assert popular_queries(log, min_count=1)["my neighbour's name"] == 1
    assert popular_queries(tmp_path / "missing.jsonl") == {}


def test_popular_queries_become_suggestions(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "searches.jsonl",
        [{"session_id": f"s{i}", "query": "healthy food at christmas"} for i in range(3)]
        + [{"session_id": "s9", "query": "health insurance claims"}],
    )
    suggester = Suggester.build([], popular_queries(log))
    assert suggester.suggest("healt") == [
        Suggestion(text="healthy food at christmas", kind="query", id=None)
    ]
