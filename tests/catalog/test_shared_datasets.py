"""Every dataset in ../shared/data ingests, with the counts the catalog issue promises.

These read the real files in place (never copied); they skip with a reason when absent.
"""

from pathlib import Path

import pytest

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.feeds import FeedSource
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore


def test_listennotes_gives_5633_episodes_with_their_languages(
    store: CatalogStore, shared_data: Path
) -> None:
    summary = ingest(store, ListenNotesSource(shared_data / "listennotes-dec2017"))
    assert summary.added == 5633
    assert not summary.skipped
    stats = store.stats()
    assert stats["episodes"] == 5633
    assert stats["by_language"] == {"en": 5554, "de": 55, "nl": 11, "es": 7, "it": 4, "pl": 2}
    assert stats["by_year"] == {"2017": 5633}
    assert all(not e.is_show_level for e in store.iter_episodes())
    # no markup survives cleaning
    assert not any("<p>" in e.episode_description for e in store.iter_episodes())


def test_rss_feeds_give_380_episodes_with_titles_durations_dates(
    store: CatalogStore, shared_data: Path
) -> None:
    feeds = sorted((shared_data / "rss-feeds").glob("*.xml"))
    assert len(feeds) == 8
    added = sum(ingest(store, FeedSource(str(feed))).added for feed in feeds)
    assert added == 380
    episodes = list(store.iter_episodes())
    assert all(e.show_title for e in episodes)
    # every item whose feed gives <itunes:duration> has it parsed (3 feeds give none, and one
    # themnshow item lacks it: 61 + 15 + 59 + 138 + 53)
    assert sum(e.duration_s is not None for e in episodes) == 326
    assert all(e.published_at is not None for e in episodes)
    assert store.stats()["by_language"]["de"] == 59  # the DW "Langsam gesprochene Nachrichten"


@pytest.mark.parametrize(
    ("mapping", "path", "kept", "skipped"),
    [
        ("taddy", "taddy-episodes-2023/podcastepisode.gz.parquet", 10430, 114),
        ("sommar-i-p1", "sommar-i-p1/episodes.csv", 1978, 0),
        ("podcastindex", "podcastindex-feeds/feeds.csv", 988, 12),
        pytest.param(  # 58,680 rows, 70 s: kept out of the default run's 15 minutes
            "all-podcasts-2014",
            "all-podcasts-2014/shows.tsv",
            58680,
            0,
            marks=pytest.mark.slow,
        ),
    ],
)
def test_table_datasets_ingest_with_shipped_mappings(
    store: CatalogStore, shared_data: Path, mapping: str, path: str, kept: int, skipped: int
) -> None:
    summary = ingest(store, TableSource(shared_data / path, TableMapping.load(mapping)))
    assert summary.kept == kept
    assert sum(summary.skipped.values()) == skipped
    assert set(summary.skipped) <= {"no text (no title or description)"}
    again = ingest(store, TableSource(shared_data / path, TableMapping.load(mapping)))
    assert again.unchanged == kept and again.added == again.updated == 0
