"""Issue 16: values at the edge of their types, from files, give a counted skip or a counted
note, never a traceback; good rows of the same file are kept; remote OPML lists cannot make
podseek read local files."""

import gzip
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from podseek.catalog.build import RawEpisode, Skip, build_episode
from podseek.catalog.cleaning import clean_date, clean_duration, html_to_text, parse_filter_date
from podseek.catalog.episode import MAX_DURATION_S, Episode
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.feeds import FeedSource, opml_feed_locations
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.cli import app
from podseek.config import Settings

runner = CliRunner()
MAPPING = TableMapping.from_pairs(
    {"id": "id", "title": "title", "date": "date", "duration": "duration"}
)


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("id,title,date,duration\n" + "".join(f"{r}\n" for r in rows), "utf-8")
    return path


# failure 3: one bad cell aborted the whole file --------------------------------------------


@pytest.mark.parametrize(
    ("cell", "note"),
    [
        (",inf", "unusable duration (kept without a duration)"),
        (",nan", "unusable duration (kept without a duration)"),
        (",1e30", "duration over 7 days (kept without a duration)"),
        (",3000000000", "duration over 7 days (kept without a duration)"),
        ("²,", "unparseable date (kept without a date)"),
        ("0001-01-01T00:00:00+01:00,", "date out of range (kept without a date)"),
        ("9999-12-31T23:59:59-01:00,", "date out of range (kept without a date)"),
        ("9" * 30 + ",", "unparseable date (kept without a date)"),
        ("1850-06-01,", "date out of range (kept without a date)"),
    ],
)
def test_a_bad_date_or_duration_cell_is_a_counted_note(
    store: CatalogStore, tmp_path: Path, cell: str, note: str
) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        ["1,Good one,2017-12-01,600", f"2,Edge value,{cell}", "3,Good two,2017-12-02,60"],
    )
    summary = ingest(store, TableSource(path, MAPPING), progress=False)
    assert summary.added == 3 and not summary.skipped
    assert summary.notes[note] == 1
    edge = store.get("table:t:2")
    assert edge is not None and edge.published_at is None and edge.duration_s is None


def test_jsonl_rows_with_bad_values_are_skipped_or_cleaned(
    store: CatalogStore, tmp_path: Path
) -> None:
    path = tmp_path / "t.jsonl"
    rows = [
        '{"id": "1", "title": "Good"}',
        '{"id": "2", "title": "lone \\ud800 surrogate"}',
        '{"id": "3", "title": {"nested": "object"}}',
        '{"id": "4", "title": "numbers as categories", "categories": 5}',
        '{"id": "5", "title": "NUL\\u0000in the title"}',
        '{"id": "6", "title": "deep", "categories": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"id": "7", "title": "Good too", "duration": ' + "9" * 5000 + "}",
    ]
    path.write_text("\n".join(rows) + "\n", "utf-8")
    mapping = TableMapping.from_pairs(
        {"id": "id", "title": "title", "categories": "categories", "duration": "duration"}
    )
    summary = ingest(store, TableSource(path, mapping), progress=False)
    assert summary.read == 7
    assert summary.skipped == {
        "malformed value (episode_title is a dict, not text)": 1,
        "malformed row (not JSON)": 2,
    }
    assert store.get("table:t:2").episode_title == "lone \ufffd surrogate"
    assert store.get("table:t:4").categories == ("5",)
    assert store.get("table:t:5").episode_title == "NUL in the title"


def test_a_corrupt_parquet_row_group_skips_its_rows_only(
    store: CatalogStore, tmp_path: Path
) -> None:
    path = tmp_path / "t.parquet"
    table = pa.table({"id": [str(i) for i in range(30)], "title": [f"t{i}" for i in range(30)]})
    pq.write_table(table, path, row_group_size=10, compression="snappy", use_dictionary=False)
    data = bytearray(path.read_bytes())
    metadata = pq.ParquetFile(path).metadata
    column = metadata.row_group(1).column(1)  # the titles of rows 10..19
    start = column.data_page_offset
    data[start + 8 : start + column.total_compressed_size - 8] = b"\xff" * (
        column.total_compressed_size - 16
    )
    path.write_bytes(bytes(data))
    mapping = TableMapping.from_pairs({"id": "id", "title": "title"})
    summary = ingest(store, TableSource(path, mapping), progress=False)
    assert summary.added == 20
    assert summary.skipped == {"unreadable Parquet data (corrupt page or row group)": 10}


def test_an_unclosed_quote_skips_its_row_and_keeps_the_next(
    store: CatalogStore, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        ['1,"Unclosed quote,2017-12-01,600', "2,Good,2017-12-02,60", "3,Also good,,"],
    )
    summary = ingest(store, TableSource(path, MAPPING), progress=False)
    assert summary.skipped == {"malformed row (unclosed quote or text after a quote)": 1}
    assert summary.added == 2 and store.get("table:t:2").episode_title == "Good"


def test_quoted_fields_may_still_span_lines(store: CatalogStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ['1,"A title\nover two lines",2017-12-01,600'])
    summary = ingest(store, TableSource(path, MAPPING), progress=False)
    assert summary.added == 1 and not summary.skipped


def feed(title: str, duration: str) -> str:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
<title>{title}</title>
<item><guid>{title}-1</guid><title>One</title><itunes:duration>{duration}</itunes:duration>
<pubDate>Mon, 04 Dec 2017 10:00:00 GMT</pubDate></item>
<item><guid>{title}-2</guid><title>Two</title><pubDate>Sat, 01 Jan 0001 00:00:00 +0100</pubDate>
</item>
</channel></rss>"""


def test_a_feed_with_edge_values_does_not_stop_the_feeds_after_it(
    workspace: Settings, tmp_path: Path
) -> None:
    paths = []
    for name, duration in (("first", "10:00"), ("bad", "inf"), ("last", "1e400")):
        path = tmp_path / f"{name}.xml"
        path.write_text(feed(name, duration), "utf-8")
        paths.append(str(path))
    result = runner.invoke(app, ["ingest", "rss", *paths, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ingests = json.loads(result.output)["ingests"]
    assert [i["source"] for i in ingests] == ["rss:first", "rss:bad", "rss:last"]
    assert all(i["added"] == 2 for i in ingests)
    assert ingests[1]["notes"]["unusable duration (kept without a duration)"] == 1


def test_a_file_problem_is_one_line_and_exit_1(workspace: Settings, tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"id,title\n1,ok\n")[:-12])  # cut short: a broken gzip
    result = runner.invoke(app, ["ingest", "table", str(path), "--map", "id=id,title=title"])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "Traceback" not in result.output
    assert result.output.count("\n") == 1


# failure 2: a duration over int32 ----------------------------------------------------------


def test_durations_are_whole_seconds_up_to_seven_days() -> None:
    assert clean_duration("1:00:00") == (3600, None)
    assert clean_duration(MAX_DURATION_S) == (MAX_DURATION_S, None)
    assert clean_duration(MAX_DURATION_S + 1)[0] is None
    assert clean_duration(1099511627776)[0] is None
    assert clean_duration(10**400)[0] is None
    with pytest.raises(ValidationError):
        Episode(id="a:1", source="a", duration_s=1099511627776)
    with pytest.raises(ValidationError):
        Episode(id="a:1", source="a", duration_s=-1)


# the one validation layer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"id": ""},
        {"id": "a:\x00"},
        {"id": "a:" + "x" * 600},
        {"episode_title": "\ud800"},
        {"episode_title": "a\x00b"},
        {"categories": ["ok", "\x00"]},
        {"published_at": "9999-12-31T23:59:59-01:00"},
        {"published_at": "0001-01-01T00:00:00+01:00"},
        {"published_at": "1899-12-31T23:59:59+00:00"},
        {"duration_s": 10**30},
        {"language": "x" * 40},
    ],
)
def test_the_episode_model_refuses_values_out_of_range(fields: dict) -> None:
    with pytest.raises(ValidationError):
        Episode.model_validate({"id": "a:1", "source": "a", **fields})


def test_dates_are_stored_as_utc() -> None:
    episode = Episode(id="a:1", source="a", published_at="2017-12-01T10:00:00+02:00")
    assert episode.published_at.isoformat() == "2017-12-01T08:00:00+00:00"
    assert clean_date("2017-12-01T10:00:00+02:00")[0] == episode.published_at


def test_text_is_scrubbed_of_nul_and_lone_surrogates() -> None:
    assert html_to_text("<b>a\ud800\x00b</b>") == "a\ufffd b"
    assert html_to_text("x&#0;y") == "x\ufffdy"


def test_records_of_every_kind_of_value_build_or_skip() -> None:
    for value in (None, "", 5, 1e308, float("nan"), [1, [2]], {"a": 1}, b"\xff", True):
        raw = RawEpisode(
            native_id=value,
            episode_title=value,
            show_title="Show",
            categories=value,
            published_at=value,
            duration=value,
            language=value,
        )
        assert isinstance(build_episode(raw, "s"), Skip | object)


def test_a_catalog_written_before_the_checks_is_still_readable(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with CatalogStore(path) as store, store.write("x") as batch:
        batch.upsert(Episode(id="x:1", source="x", episode_title="Old"))
    with sqlite3.connect(path) as conn:  # as an older podseek could write them
        conn.execute(
            "UPDATE episodes SET duration_s = 1099511627776, "
            "published_at = '9999-12-31T23:59:59-01:00'"
        )
    with CatalogStore(path) as store:
        episode = store.get("x:1")
    assert episode.episode_title == "Old" and episode.duration_s is None
    assert episode.published_at is None


# failure 5 (the parsing part): date filters ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["²", "0001-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "tomorrow"],
)
def test_a_filter_date_out_of_range_or_unreadable_is_a_value_error(value: str) -> None:
    with pytest.raises(ValueError, match=r"not a date|must be between|out of range"):
        parse_filter_date(value)


def test_filter_dates_in_range_are_utc() -> None:
    assert parse_filter_date("2017-12-01").isoformat() == "2017-12-01T00:00:00+00:00"
    assert parse_filter_date("1900-01-01").year == 1900


# failure 4: a remote OPML named local files ------------------------------------------------

OPML = """<?xml version="1.0"?><opml version="2.0"><body>
<outline type="rss" text="a" xmlUrl="https://example.org/feed.xml"/>
<outline type="rss" text="b" xmlUrl="/etc/abs/feed.xml"/>
<outline type="rss" text="c" xmlUrl="../relative/feed.xml"/>
<outline type="rss" text="d" xmlUrl="file:///etc/passwd"/>
<outline type="rss" text="e" xmlUrl="ftp://example.org/feed.xml"/>
</body></opml>"""


def test_a_remote_opml_may_name_only_http_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    from podseek.catalog.sources import feeds

    monkeypatch.setattr(feeds, "read_location", lambda location, timeout: OPML.encode())
    found = opml_feed_locations("https://lists.example.org/my.opml")
    assert found.locations == ["https://example.org/feed.xml"]
    assert found.refused == {
        "refused: a local path in a remote OPML (only http(s) URLs)": 2,
        "refused: file: URL (only http(s) URLs and local files)": 1,
        "refused: ftp: URL (only http(s) URLs and local files)": 1,
    }


def test_a_local_opml_may_name_local_files(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    path = tmp_path / "lists" / "my.opml"
    path.write_text(OPML, "utf-8")
    found = opml_feed_locations(str(path))
    assert found.locations == [
        "https://example.org/feed.xml",
        "/etc/abs/feed.xml",
        str(tmp_path / "lists" / "../relative/feed.xml"),
    ]
    assert sum(found.refused.values()) == 2


def test_opml_refusals_are_counted_in_the_ingest_report(
    workspace: Settings, tmp_path: Path
) -> None:
    (tmp_path / "show.xml").write_text(feed("show", "60"), "utf-8")
    opml = tmp_path / "my.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline type="rss" text="s" xmlUrl="show.xml"/>'
        '<outline type="rss" text="f" xmlUrl="file:///etc/passwd"/></body></opml>',
        "utf-8",
    )
    result = runner.invoke(app, ["ingest", "opml", str(opml)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rss:show: read 2, added 2" in result.output
    assert "feeds refused: file: URL (only http(s) URLs and local files): 1" in result.output


def test_feed_source_reads_an_edge_feed(store: CatalogStore, tmp_path: Path) -> None:
    path = tmp_path / "edge.xml"
    path.write_text(feed("edge", "nan"), "utf-8")
    summary = ingest(store, FeedSource(str(path)), progress=False)
    assert summary.added == 2
    assert summary.notes["date out of range (kept without a date)"] == 1
