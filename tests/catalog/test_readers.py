"""Each reader against small hand-written fixtures, broken ones included."""

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.feeds import FeedSource, default_source_name, opml_feed_locations
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_listennotes_joins_shows_and_counts_skips(store: CatalogStore) -> None:
    summary = ingest(store, ListenNotesSource(FIXTURES / "listennotes"), progress=False)

    assert summary.read == 7
    assert summary.added == 4
    assert dict(summary.skipped) == {
        "unknown show (podcast_id not in podcasts.csv)": 1,
        "malformed row (wrong number of fields)": 1,
        "empty episode (no title, description or audio)": 1,
    }
    episode = store.get("listennotes:1")
    assert episode is not None
    assert episode.show_title == "Kitchen Table"
    assert episode.show_description == "A weekly show about home cooking & eating well."
    assert episode.episode_description == (
        "How to keep eating well when the holidays come. Recipes on our site."
    )
    assert episode.language == "en"
    assert episode.categories == ("Food", "Health")
    assert episode.duration_s == 1800
    assert episode.published_at.isoformat() == "2017-12-01T00:09:47+00:00"
    assert episode.show_id == "listennotes:1"

    # an empty description keeps the episode: its title and show describe it
    assert store.get("listennotes:2").episode_description == ""
    assert summary.notes["empty episode description (kept: title and show describe it)"] == 1
    assert store.get("listennotes:3").language == "de"
    # a bad duration or date keeps the episode without them, and is counted
    sourdough = store.get("listennotes:7")
    assert sourdough.duration_s is None and sourdough.published_at is None
    assert summary.notes["unparseable date (kept without a date)"] == 1
    assert summary.notes["unusable duration (kept without a duration)"] == 1


def test_listennotes_bytes_that_are_not_utf8_skip_one_row(
    store: CatalogStore, tmp_path: Path
) -> None:
    folder = tmp_path / "ln"
    shutil.copytree(FIXTURES / "listennotes", folder)
    with (folder / "episodes.csv").open("ab") as handle:
        handle.write(b"8,1,Caf\xe9 talk,http://a/8.mp3,60,Latin-1 bytes,2017-12-08 00:00:00+00\n")
    summary = ingest(store, ListenNotesSource(folder), progress=False)
    assert summary.skipped["bytes that are not UTF-8"] == 1
    assert summary.added == 4


def test_listennotes_missing_column_or_folder_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no such folder"):
        ListenNotesSource(tmp_path / "nowhere")
    folder = tmp_path / "ln"
    shutil.copytree(FIXTURES / "listennotes", folder)
    (folder / "episodes.csv").write_text("id,title\n1,x\n")
    with pytest.raises(PodseekError, match="missing column"):
        ListenNotesSource(folder)


def test_rss_items_fallback_ids_and_skips(store: CatalogStore) -> None:
    source = FeedSource(str(FIXTURES / "show.xml"))
    assert source.name == "rss:show"
    summary = ingest(store, source, progress=False)

    assert summary.added == 3
    assert dict(summary.skipped) == {
        "duplicate id (first one kept)": 1,
        "empty episode (no title, description or audio)": 1,
    }
    geminids = store.get("rss:show:ns-001")
    assert geminids.show_title == "Night Sky Notes"
    assert geminids.show_description == "Astronomy for everyone."
    assert geminids.language == "en"
    assert geminids.duration_s == 31 * 60 + 5
    assert geminids.published_at.isoformat() == "2017-12-14T01:00:00+00:00"
    assert geminids.audio_url == "https://nightsky.example/001.mp3"
    assert geminids.categories == ("Science",)
    # no guid: the audio URL is the id; no guid and no audio: a hash of show, title, date
    assert store.get("rss:show:https://nightsky.example/002.mp3").duration_s == 1520
    ids = [e.id for e in store.iter_episodes()]
    assert any(i.startswith("rss:show:h") for i in ids)


def test_atom_feed(store: CatalogStore) -> None:
    ingest(store, FeedSource(str(FIXTURES / "atom.xml")), progress=False)
    (soup,) = store.iter_episodes()
    assert soup.show_title == "Cuisine du dimanche"
    assert soup.episode_title == "La soupe à l'oignon"
    assert soup.language == "fr"
    assert soup.published_at.year == 2023


def test_broken_xml_keeps_what_parses_and_refuses_non_feeds(store: CatalogStore) -> None:
    summary = ingest(store, FeedSource(str(FIXTURES / "broken.xml")), progress=False)
    assert summary.added >= 1
    assert store.get("rss:broken:half-1").episode_title == "The only item that survived"
    with pytest.raises(PodseekError, match="not an RSS or Atom feed"):
        FeedSource(str(FIXTURES / "notafeed.xml"))
    with pytest.raises(PodseekError, match="no such file"):
        FeedSource(str(FIXTURES / "missing.xml"))


def test_unreachable_url_is_a_clear_error_not_a_hang() -> None:
    with pytest.raises(PodseekError, match="could not fetch"):
        FeedSource("http://127.0.0.1:9/feed.xml", timeout=2)


def test_source_names_are_safe_and_stable() -> None:
    assert default_source_name("https://feeds.example.org/show/rss/") == (
        "rss:feeds.example.org/show/rss"
    )
    assert default_source_name("/tmp/My Show.xml") == "rss:My-Show"


def test_opml_lists_feed_urls() -> None:
    assert opml_feed_locations(str(FIXTURES / "subscriptions.opml")).locations == [
        "https://nightsky.example/feed.xml",
        "http://127.0.0.1:9/feed.xml",
    ]
    with pytest.raises(PodseekError, match="OPML"):
        opml_feed_locations(str(FIXTURES / "show.xml"))


def test_table_jsonl_with_mapping_file(store: CatalogStore) -> None:
    mapping = TableMapping.load(str(FIXTURES / "mapping.toml"))
    summary = ingest(store, TableSource(FIXTURES / "episodes.jsonl", mapping), progress=False)
    assert summary.added == 2
    assert dict(summary.skipped) == {
        "malformed row (not JSON)": 1,
        "malformed row (not a JSON object)": 1,
        "empty episode (no title, description or audio)": 1,
    }
    ocean = store.get("sea:a1")
    assert ocean.show_title == "Sea Stories"
    assert ocean.episode_description == "How the Gulf Stream keeps Europe warm."
    assert ocean.categories == ("Science", "Nature")
    assert ocean.duration_s == 45 * 60
    assert ocean.published_at.isoformat() == "2017-12-01T00:00:00+00:00"


def test_table_show_level_rows(store: CatalogStore) -> None:
    mapping = TableMapping.from_pairs(
        {"id": "slug", "show_title": "name", "show_description": "description", "url": "website"}
    )
    summary = ingest(store, TableSource(FIXTURES / "shows.tsv", mapping), progress=False)
    assert summary.added == 2
    assert summary.skipped == {"malformed row (wrong number of fields)": 1}
    kitchen = store.get("table:shows:kitchen-radio")
    assert kitchen.is_show_level
    assert kitchen.show_description == "Recipes and & stories from home kitchens around the world."
    assert store.stats()["show_level_records"] == 2


def test_table_parquet_and_first_non_empty_column(store: CatalogStore, tmp_path: Path) -> None:
    path = tmp_path / "eps.parquet"
    pq.write_table(
        pa.table(
            {
                "uuid": ["p1", "p2"],
                "name": ["Mountain weather", "Glaciers"],
                "description": [None, "<p>Ice that moves.</p>"],
                "subtitle": ["Why storms come fast in the Alps.", "unused"],
                "duration": [600, 0],
            }
        ),
        path,
    )
    mapping = TableMapping.from_pairs(
        {
            "id": "uuid",
            "title": "name",
            "description": "description|subtitle",
            "duration": "duration",
        },
        {"language": "en"},
    )
    source = TableSource(path, mapping, name="alps")
    assert source.total() == 2
    ingest(store, source, progress=False)
    assert store.get("alps:p1").episode_description == "Why storms come fast in the Alps."
    assert store.get("alps:p2").episode_description == "Ice that moves."
    assert store.get("alps:p2").duration_s is None


def test_table_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no column 'nope'"):
        TableSource(FIXTURES / "shows.tsv", TableMapping.from_pairs({"title": "nope"}))
    with pytest.raises(PodseekError, match="unknown field 'colour'"):
        TableMapping.from_pairs({"colour": "name"})
    with pytest.raises(PodseekError, match="fills no text field"):
        TableSource(FIXTURES / "shows.tsv", TableMapping.from_pairs({"id": "slug"}))
    with pytest.raises(PodseekError, match="no mapping named 'nope'"):
        TableMapping.load("nope")
    odd = tmp_path / "episodes.dat"
    odd.write_text("x")
    with pytest.raises(PodseekError, match="pass --format"):
        TableSource(odd, TableMapping.from_pairs({"title": "x"}))
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet")
    with pytest.raises(PodseekError, match="not a Parquet file"):
        TableSource(fake, TableMapping.from_pairs({"title": "x"}))


@pytest.mark.parametrize("name", ["taddy", "sommar-i-p1", "podcastindex", "all-podcasts-2014"])
def test_shipped_mappings_load(name: str) -> None:
    mapping = TableMapping.load(name)
    assert mapping.source == name
    assert mapping.columns
