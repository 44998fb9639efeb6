"""Cleaning of raw values: HTML, languages, dates, durations, ids, and the text recipe."""

from datetime import UTC, datetime

import pytest

from podseek.catalog.cleaning import (
    detect_language,
    html_to_text,
    native_episode_id,
    normalise_language,
    parse_datetime,
    parse_duration,
)
from podseek.catalog.episode import Episode, episode_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<p>Fish &amp; chips</p><p>on <a href='x'>our site</a></p>", "Fish & chips on our site"),
        ("Line one<br>line two<br/>line three", "Line one line two line three"),
        ("<ul><li>one</li><li>two</li></ul>", "one two"),
        ("in<b>line</b> tags join words", "inline tags join words"),
        ("<script>var x = 1;</script><style>p {}</style>Only this", "Only this"),
        ("&lt;b&gt;double escaped&lt;/b&gt;", "<b>double escaped</b>"),
        ("plain   text\n\twith   spaces ", "plain text with spaces"),
        ("a < b and c > d", "a < b and c > d"),
        ("<p>\n\n</p>", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_html_to_text(raw: str | None, clean: str) -> None:
    assert html_to_text(raw) == clean


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("English", "en"),
        ("en-us", "en"),
        ("EN", "en"),
        ("pt_BR", "pt"),
        ("Deutsch", "de"),
        ("Español", "es"),
        ("Swedish", "sv"),
        ("Chinese", "zh"),
        ("zz", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_language(value: str | None, code: str) -> None:
    assert normalise_language(value) == code


def test_detect_language_reads_text_and_refuses_short_text() -> None:
    german = "Wie lebten die Römer in Köln? Eine Folge über Städte und Straßen der Antike."
    swedish = "Radioprofilen spelar plattor och tar extra lätt på tillvaron i detta Sommarprat."
    assert detect_language(german) == "de"
    assert detect_language(swedish) == "sv"
    assert detect_language("Ep. 74") == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-12-01 00:09:47+00", datetime(2017, 12, 1, 0, 9, 47, tzinfo=UTC)),
        ("2023-05-01T10:00:00Z", datetime(2023, 5, 1, 10, tzinfo=UTC)),
        ("Wed, 13 Dec 2017 20:00:00 -0500", datetime(2017, 12, 14, 1, tzinfo=UTC)),
        ("1960-06-13", datetime(1960, 6, 13, tzinfo=UTC)),
        (1512086400, datetime(2017, 12, 1, tzinfo=UTC)),
        (1512086400000, datetime(2017, 12, 1, tzinfo=UTC)),
        ("1512086400", datetime(2017, 12, 1, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_datetime_gives_utc(value: object, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (2739, 2739),
        ("2739", 2739),
        ("01:02:03", 3723),
        ("45:10", 2710),
        (12.6, 13),
        (0, None),
        (-5, None),
        ("not-a-number", None),
        ("1:2:3:4", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_duration(value: object, seconds: int | None) -> None:
    assert parse_duration(value) == seconds


def test_native_episode_id_falls_back_guid_audio_hash() -> None:
    assert native_episode_id("ns-001", "https://a/1.mp3") == "ns-001"
    assert native_episode_id(None, "https://a/1.mp3") == "https://a/1.mp3"
    hashed = native_episode_id(None, "", "Show", "Title", datetime(2017, 1, 1, tzinfo=UTC))
    assert hashed.startswith("h") and len(hashed) == 17
    assert hashed == native_episode_id(None, "", "Show", "Title", datetime(2017, 1, 1, tzinfo=UTC))
    assert hashed != native_episode_id(None, "", "Show", "Other title")
    assert native_episode_id("a guid with spaces").startswith("h")
    assert native_episode_id(None, "", "", "") == ""


def test_episode_text_is_the_reference_recipe() -> None:
    episode = Episode(
        id="t:1",
        source="t",
        show_title="Kitchen Table",
        show_description="A show about food",
        episode_title="Healthy at Christmas?",
        episode_description="Eating well in December.",
    )
    assert episode_text(episode) == (
        "Kitchen Table. A show about food. Healthy at Christmas? Eating well in December."
    )
    show_only = Episode(id="t:2", source="t", show_title="Kitchen Table")
    assert episode_text(show_only) == "Kitchen Table"
    assert show_only.is_show_level


def test_episode_text_cap_cuts_on_a_word() -> None:
    episode = Episode(id="t:1", source="t", show_title="word " * 100)
    text = episode_text(episode, max_chars=52)
    assert len(text) <= 52
    assert text.endswith("word")
