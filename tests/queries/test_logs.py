"""Search-log import: click pairs, reformulation pairs within the window, counted skips."""

import json
from pathlib import Path

import pytest

from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.logs import import_search_logs
from podseek.queries.store import LOG_CLICK, LOG_REFORMULATION, QueryStore

LOG = Path(__file__).resolve().parent / "fixtures" / "search_sessions.jsonl"


def pairs_by_source(store: QueryStore) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for pair in store.iter_pairs():
        out.setdefault(pair["source"], set()).add((pair["query"], pair["episode_id"]))
    return out


def test_clicks_and_reformulations_become_pairs(catalog: CatalogStore, queries: QueryStore) -> None:
    report = import_search_logs(LOG, catalog, queries, window_minutes=5)
    pairs = pairs_by_source(queries)
    assert pairs[LOG_CLICK] == {
        ("healthy eating christmas", "listennotes:1"),
        ("falling stars december", "rss:show:ns-001"),
        ("römer rhein", "listennotes:3"),
        ("Sourdough!", "listennotes:7"),
        ("onion soup recipe", "rss:atom:urn:uuid:cuisine-1"),
    }
    # s1: failed then found 90 s later; s6: lines out of order, sorted by time first
    assert pairs[LOG_REFORMULATION] == {
        ("xmas food without the guilt", "listennotes:1"),
        ("french winter soup", "rss:atom:urn:uuid:cuisine-1"),
    }
    # s3: the success came 20 minutes later (failed); s4: the same query again, then a click,
    # is no reformulation and no failure either (podseek serve logs a search, then its click)
    assert report.failed_without_success == 1
    assert report.click_pairs == 5 and report.reformulation_pairs == 2 and report.added == 7
    assert dict(report.skipped) == {
        "unknown episode": 1,
        "empty line": 1,
        "bad timestamp": 2,
        "no session_id": 1,
        "no query": 1,
        "not JSON": 1,
        "not a JSON object": 1,
        "not UTF-8": 1,
    }
    assert report.lines == 18 and report.searches == 10 and report.sessions == 6


def test_a_wider_window_finds_the_slow_reformulation(
    catalog: CatalogStore, queries: QueryStore
) -> None:
    import_search_logs(LOG, catalog, queries, window_minutes=30)
    assert ("roman history germany", "listennotes:3") in pairs_by_source(queries)[LOG_REFORMULATION]


def test_importing_again_adds_nothing(catalog: CatalogStore, queries: QueryStore) -> None:
    import_search_logs(LOG, catalog, queries)
    again = import_search_logs(LOG, catalog, queries)
    assert again.added == 0 and again.click_pairs == 5
    assert sum(queries.pair_counts().values()) == 7


def test_bad_arguments_are_one_line_errors(
    catalog: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    with pytest.raises(PodseekError, match="search log not found"):
        import_search_logs(tmp_path / "missing.jsonl", catalog, queries)
    with pytest.raises(PodseekError, match="--window"):
        import_search_logs(LOG, catalog, queries, window_minutes=0)


def test_epoch_and_iso_timestamps_compare(
    catalog: CatalogStore, queries: QueryStore, tmp_path: Path
) -> None:
    log = tmp_path / "mixed.jsonl"
    rows = [
        {"session_id": 1, "timestamp": 1513764000, "query": "stars tonight"},
        {
            "session_id": 1,
            "timestamp": "2017-12-20T10:01:00+00:00",
            "query": "geminids",
            "clicked_episode_id": "rss:show:ns-001",
        },
    ]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = import_search_logs(log, catalog, queries)
    assert report.reformulation_pairs == 1
