"""Property-based tests of cleaning and the row readers (issue 16): random and edge values in
every field give an Episode or a counted skip, never an exception, and whatever the catalog
accepts can be stored, read back, written to the index's Arrow schema and read from it.

Each property runs twice: a short run in ``make test`` and a long one (``-m slow``).
"""

import csv
import dataclasses
import io
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from podseek.catalog.build import BuildResult, RawEpisode, Skip, build_episode
from podseek.catalog.cleaning import (
    clean_date,
    clean_duration,
    html_to_text,
    native_episode_id,
    normalise_language,
    parse_datetime,
    parse_filter_date,
)
from podseek.catalog.episode import MAX_DURATION_S, MIN_DATE, Episode, max_date
from podseek.catalog.ingest import IngestSummary, ingest
from podseek.catalog.sources.feeds import FeedSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.index.base import IndexRow, SearchFilters
from podseek.index.lancedb_backend import _schema, where_clause
from tests.fuzz.fuzzing import CASES, FAST, SLOW

# -- strategies ------------------------------------------------------------------------------

EDGE_STRINGS = [
    "",
    " ",
    "inf",
    "-inf",
    "nan",
    "1e30",
    "-1",
    "0",
    "3000000000",
    "1099511627776",
    "²",
    "١٢",
    "9" * 30,
    "9" * 5000,
    "0001-01-01",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "1899-12-31T23:59:59Z",
    "2017-12-01T10:00:00+14:00",
    "Mon, 04 Dec 2017 10:00:00 GMT",
    "Sat, 01 Jan 0001 00:00:00 +0100",
    "99:99:99",
    "1:2:3:4",
    "\ud800",
    "a\udfffb",
    "\x00",
    "nul\x00inside",
    "\x1b[31mred",
    "<p>para</p><script>x()</script>",
    "&#0;&#xd800;&amp;amp;",
    '"unbalanced',
    "line\nbreak",
    "\u202eevil",
    "x" * 70_000,
]

# every code point, lone surrogates and control characters included
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=200)
OFFSETS = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))
AWARE = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)),
    st.datetimes(),
    OFFSETS,
)
SCALARS = st.one_of(
    st.none(),
    ANY_TEXT,
    st.sampled_from(EDGE_STRINGS),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    AWARE,
    st.dates(),
    st.binary(max_size=20),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=5),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
    st.lists(st.lists(st.integers(), max_size=2), max_size=2),
)
# every value a source can give (episode_required is how the source reads, not a value)
RAW_FIELDS = tuple(f.name for f in dataclasses.fields(RawEpisode) if f.name != "episode_required")
RAW_EPISODES = st.builds(
    RawEpisode,
    **{name: VALUES for name in RAW_FIELDS},
    episode_required=st.booleans(),
)


def twice(strategy_kwargs: dict[str, Any]) -> Callable:
    """A property as two tests: the short run and the long (slow-marked) one."""

    def make(check: Callable) -> tuple[Callable, Callable]:
        name = check.__name__.removeprefix("check_")

        def counted(**kwargs: Any) -> None:
            CASES[name] += 1
            check(**kwargs)

        fast = FAST(given(**strategy_kwargs)(counted))
        slow = pytest.mark.slow(SLOW(given(**strategy_kwargs)(counted)))
        return fast, slow

    return make


# -- what every accepted record must satisfy -------------------------------------------------


def assert_storable_and_indexable(episode: Episode, store: CatalogStore) -> None:
    """The record validates again, survives the catalog, and fits the index's Arrow schema
    both ways (the failures of issue 16: int32 durations, timestamps past year 9999)."""
    assert Episode.model_validate(episode.model_dump()) == episode
    if episode.published_at is not None:
        assert episode.published_at.tzinfo == UTC
        assert MIN_DATE <= episode.published_at <= max_date()
    if episode.duration_s is not None:
        assert 0 <= episode.duration_s <= MAX_DURATION_S
    with store.write(episode.source) as batch:
        batch.upsert(episode)
    assert store.get(episode.id) == episode
    row = IndexRow(episode, "text", "hash", np.zeros(4, dtype=np.float32))
    fields = row.fields()
    data = pa.table(
        {
            **{name: [value] for name, value in fields.items()},
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4, np.float32)), 4),
            "content_hash": ["hash"],
        }
    ).select(_schema(4).names)
    back = data.cast(_schema(4)).to_pylist()[0]
    assert back["published_at"] == episode.published_at
    assert back["duration_s"] == episode.duration_s


def memory_store() -> CatalogStore:
    return CatalogStore(Path(":memory:"))


def summary_is_counted(summary: IngestSummary, store: CatalogStore) -> None:
    kept = summary.added + summary.updated + summary.unchanged
    duplicates = summary.skipped.get("duplicate id (first one kept)", 0)
    assert summary.read == kept + sum(summary.skipped.values())
    assert store.count() == kept
    assert duplicates <= summary.read
    for episode in store.iter_episodes():
        assert Episode.model_validate(episode.model_dump()) == episode


# -- cleaning --------------------------------------------------------------------------------


def check_cleaning_never_raises(value: Any) -> None:
    date, note = clean_date(value)
    assert (date is None) or (MIN_DATE <= date <= max_date() and date.tzinfo == UTC)
    assert note is None or value not in (None, "")
    seconds, note = clean_duration(value)
    assert seconds is None or 0 < seconds <= MAX_DURATION_S
    parse_datetime(value)
    if isinstance(value, str):
        text = html_to_text(value)
        text.encode("utf-8")  # no lone surrogates left
        assert "\x00" not in text
        normalise_language(value[:100])
        native = native_episode_id(value, "", "", "")
        assert native == "" or (native.isprintable() and len(native) <= 64)
        try:
            bound = parse_filter_date(value)
        except ValueError:
            pass
        else:
            assert MIN_DATE <= bound <= max_date()
            where_clause(SearchFilters(after=bound, before=bound))


test_cleaning_never_raises, test_cleaning_never_raises_long = twice({"value": VALUES})(
    check_cleaning_never_raises
)


def check_build_episode(raw: RawEpisode) -> None:
    result = build_episode(raw, "fuzz")
    assert isinstance(result, BuildResult | Skip)
    if isinstance(result, BuildResult):
        with memory_store() as store:
            assert_storable_and_indexable(result.episode, store)


test_build_episode_gives_an_episode_or_a_skip, test_build_episode_long = twice(
    {"raw": RAW_EPISODES}
)(check_build_episode)


def check_api_episode(fields: dict[str, Any]) -> None:
    """What the API does with a body: validate; what passes must store and index."""
    try:
        episode = Episode.model_validate({"id": "api:x", "source": "api", **fields})
    except ValueError:  # pydantic's ValidationError: the API's 422
        return
    with memory_store() as store:
        assert_storable_and_indexable(episode, store)


API_FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "show_title",
            "episode_title",
            "language",
            "categories",
            "published_at",
            "duration_s",
            "audio_url",
        ]
    ),
    VALUES,
    max_size=5,
)
test_api_episode_validates_or_refuses, test_api_episode_long = twice({"fields": API_FIELDS})(
    check_api_episode
)

# -- readers ---------------------------------------------------------------------------------

CELLS = st.one_of(st.sampled_from(EDGE_STRINGS), ANY_TEXT, st.integers().map(str))
COLUMNS = ["id", "title", "description", "date", "duration", "categories", "language"]
TABLE_MAPPING = TableMapping.from_pairs({name: name for name in COLUMNS}, categories_separator="|")


def _as_file_text(value: str) -> str:
    # a file holds bytes: lone surrogates reach the reader as undecodable bytes
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")


def check_csv_reader(rows: list[list[str]], junk: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(row)
        text = buffer.getvalue() + "".join(line + "\n" for line in junk)
        path = Path(folder) / "t.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        with memory_store() as store:
            summary = ingest(store, TableSource(path, TABLE_MAPPING), progress=False)
            summary_is_counted(summary, store)
            if not junk:  # well-formed rows are all read, one record or skip each
                assert summary.read == len(rows)


test_csv_rows_give_episodes_or_counted_skips, test_csv_rows_long = twice(
    {
        "rows": st.lists(st.lists(CELLS, min_size=7, max_size=7), max_size=6),
        "junk": st.lists(st.one_of(ANY_TEXT, st.sampled_from(EDGE_STRINGS)), max_size=3),
    }
)(check_csv_reader)

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        ANY_TEXT,
        st.sampled_from(EDGE_STRINGS),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def check_jsonl_reader(rows: list[dict[str, Any]], junk: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines = [json.dumps(row) for row in rows] + junk  # json.dumps escapes surrogates
        path = Path(folder) / "t.jsonl"
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
        with memory_store() as store:
            summary = ingest(store, TableSource(path, TABLE_MAPPING), progress=False)
            summary_is_counted(summary, store)


test_jsonl_rows_give_episodes_or_counted_skips, test_jsonl_rows_long = twice(
    {
        "rows": st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(COLUMNS, JSON_VALUES))),
        "junk": st.lists(st.one_of(ANY_TEXT, st.sampled_from(EDGE_STRINGS)), max_size=2),
    }
)(check_jsonl_reader)

ITEM = st.fixed_dictionaries(
    {
        "guid": CELLS,
        "title": CELLS,
        "description": CELLS,
        "pubDate": CELLS,
        "itunes:duration": CELLS,
        "enclosure": CELLS,
    }
)
XML_UNSAFE = str.maketrans({c: " " for c in map(chr, [*range(0, 9), 11, 12, *range(14, 32)])})


def _xml_text(value: str) -> str:
    # XML cannot hold control characters or lone surrogates even escaped: a feed that has
    # them is broken XML, which feedparser recovers from as it can (tested separately)
    value = value.translate(XML_UNSAFE).encode("utf-8", "replace").decode("utf-8")
    return escape(value)


def check_feed_reader(items: list[dict[str, str]], raw: str) -> None:
    parts = []
    for item in items:
        enclosure = f'<enclosure url="{_xml_text(item["enclosure"])}" type="audio/mpeg"/>'
        fields = "".join(
            f"<{tag}>{_xml_text(value)}</{tag}>"
            for tag, value in item.items()
            if tag != "enclosure"
        )
        parts.append(f"<item>{fields}{enclosure}</item>")
    document = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
        f"<channel><title>Fuzz</title>{''.join(parts)}{raw}</channel></rss>"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.xml"
        path.write_bytes(document.encode("utf-8", "surrogatepass"))
        try:
            source = FeedSource(str(path))
        except PodseekError as error:  # nothing feed-like in it: one line for the file
            assert "not an RSS or Atom feed" in str(error)
            return
        with memory_store() as store:
            summary = ingest(store, source, progress=False)
            summary_is_counted(summary, store)


test_feed_items_give_episodes_or_counted_skips, test_feed_items_long = twice(
    {"items": st.lists(ITEM, max_size=4), "raw": st.one_of(st.just(""), ANY_TEXT)}
)(check_feed_reader)


def test_every_edge_string_in_every_field_at_once() -> None:
    """The listed edge values, deterministically, in each field of a record."""
    with memory_store() as store:
        for value in EDGE_STRINGS:
            for name in RAW_FIELDS:
                raw = RawEpisode(**{"episode_title": "Title", name: value})
                result = build_episode(raw, "edge")
                CASES["every_edge_string_in_every_field"] += 1
                if isinstance(result, BuildResult):
                    assert_storable_and_indexable(result.episode, store)


def test_datetimes_across_the_whole_range() -> None:
    """Every year from 1 to 9999 at the extreme offsets: a date, or a counted note."""
    for year in range(1, 10000, 7):
        for offset in (timedelta(hours=-23, minutes=-59), timedelta(0), timedelta(hours=23)):
            moment = datetime(year, 12, 31, 23, 59, 59, tzinfo=timezone(offset))
            for value in (moment, moment.isoformat()):
                CASES["datetimes_across_the_whole_range"] += 1
                date, note = clean_date(value)
                assert (date is None) == (note is not None)
