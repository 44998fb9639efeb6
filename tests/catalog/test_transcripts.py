"""Transcripts in the four Podcasting 2.0 forms, read from the real published files in the
shared data, and every way a file can fail to be one: one TranscriptError line each."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from podseek.catalog.store import CatalogStore, catalog_revision
from podseek.catalog.transcripts import (
    FORMATS,
    SLIP_S,
    Segment,
    TranscriptError,
    parse_transcript,
    read_transcript,
    transcript_format,
)
from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.serve.app import create_app


@pytest.fixture(scope="module")
def published(shared_data: Path) -> Path:
    return shared_data / "podcast-transcripts" / "podcasting20"


def test_one_show_in_three_forms_reads_alike(published: Path) -> None:
    srt, json_, html = (
        read_transcript(published / f"buzzcast.{s}") for s in ("srt", "json", "html")
    )
    first = "It is so stinking nice to like, show up and record this"
    assert srt[0] == Segment(start=0.0, end=4.799, text=first, speaker="Alban")  # "Alban: ..."
    # JSON splits a cue into lines that repeat its times; they are one segment again
    assert json_[0] == Segment(start=0.0, end=4.8, text=first, speaker="Alban")
    assert len(json_) == len(srt) + 1 and json_[-1].end == srt[-1].end == 1684.46
    # HTML: <cite> speaker, <time> start, <p> words; a segment ends where the next starts
    assert html[0].speaker == "Alban" and html[0].text.startswith(first + " show.")
    assert (html[0].start, html[0].end, html[1].start) == (0.0, 30.0, 30.0)
    assert html[1].speaker == "Kevin"


def test_webvtt_oddities_lose_no_cue(published: Path) -> None:
    # bare seconds ("0.860 --> 7.380") then minutes ("56.440 --> 1:01.080"): webvtt-py alone
    # reads the first 13 cues not at all and the 14th as ending at 1 s
    daily = read_transcript(published / "podnews_daily_2024-01-25.vtt")
    text = (published / "podnews_daily_2024-01-25.vtt").read_text()
    assert len(daily) == text.count("-->") == 44
    assert (daily[0].start, daily[0].end, daily[0].speaker) == (0.86, 7.38, "SPEAKER_1")
    assert (daily[13].start, daily[13].end) == (56.44, 61.08)
    spanish = read_transcript(published / "kde_express-16_kde_en_telegram.vtt")
    assert spanish[0].text.startswith("Buenas, bienvenidas") and spanish[0].speaker == ""


def test_every_published_form_reads_in_time_order(published: Path) -> None:
    # (the 100 Talk Python transcripts are read by the ingest test below)
    files = [f for f in sorted(published.iterdir()) if transcript_format(f.name)]
    assert len(files) == 11
    for path in files:
        segments = read_transcript(path)
        assert segments and all(s.text and s.end >= s.start >= 0 for s in segments), path
        starts = [s.start for s in segments]
        assert starts == sorted(starts), path


def test_a_small_time_slip_is_mended_and_a_large_one_refused(shared_data: Path) -> None:
    # Talk Python 544 has a cue ending 0.64 s before it starts, and the next one starting
    # back at that end: mended, not refused
    path = next((shared_data / "podcast-transcripts" / "talkpython").glob("544-*.vtt"))
    segments = read_transcript(path)
    at = next(i for i, s in enumerate(segments) if s.text == "I know." and s.start > 3816)
    mended = segments[at - 1 : at + 2]
    assert [(s.start, s.end, s.text) for s in mended] == [
        (3816.42, 3816.96, "It's way sooner."),
        (3816.96, 3816.96, "I know."),
        (3816.96, 3816.96, "It's way sooner."),
    ]
    back = SLIP_S + 1
    later, earlier = "00:00:10.000 --> 00:00:12.000", f"00:00:{10 - back:06.3f} --> 00:00:09.500"
    cues = f"WEBVTT\n\n{later}\nlater\n\n{earlier}\nearlier\n"
    with pytest.raises(TranscriptError, match=r"out of order: segment 2 starts at 7\.000 s"):
        parse_transcript(cues, "vtt")


@pytest.mark.parametrize(
    ("data", "form", "reason"),
    [
        (b"", "srt", "empty transcript"),
        (b"  \n\n ", "vtt", "empty transcript"),
        (b"\xff\xfe\x00W\x00E", "vtt", r"not UTF-8 text \(byte 0\)"),
        (b"1\n00:00:01,000 --> nonsense\nhello\n", "srt", "not a valid SRT transcript"),
        (b"00:00:01.000 --> 00:00:02.000\nhello\n", "vtt", "no WEBVTT header"),
        (b"WEBVTT\n\n00:00:xx --> 00:00:02.000\nhello\n", "vtt", "not a time: '00:00:xx'"),
        (b'{"segments": 3}', "json", "no list of segments"),
        (b'{"segments": [{"body": "hello"}]}', "json", "a segment without time"),
        (b"{not json", "json", "not a valid JSON transcript"),
        (b"<html><body><p>no times</p></body></html>", "html", r"no <time> followed by a <p>"),
        (b"WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nbackwards\n", "vtt", "ends before it starts"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\n", "vtt", "no timed text"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", "doc", "unknown transcript form 'doc'"),
    ],
)
def test_a_file_that_is_no_transcript_is_one_line(data: bytes, form: str, reason: str) -> None:
    with pytest.raises(TranscriptError, match=reason) as raised:
        parse_transcript(data, form)
    assert "\n" not in str(raised.value)


def test_forms_come_from_mime_types_and_names(tmp_path: Path) -> None:
    assert transcript_format("application/srt") == transcript_format("x.SRT") == "srt"
    assert transcript_format("text/vtt; charset=utf-8") == "vtt"
    assert transcript_format("text/html") == transcript_format("t.htm") == "html"
    assert transcript_format("application/json") == "json"
    assert transcript_format("notes.txt") is None and transcript_format("audio/mpeg") is None
    with pytest.raises(TranscriptError, match=r"notes.txt: not a transcript file"):
        read_transcript(tmp_path / "notes.txt")
    with pytest.raises(TranscriptError, match=r"gone.vtt: cannot read it: No such file"):
        read_transcript(tmp_path / "gone.vtt")


# --- a folder of transcripts, ingested as episodes -----------------------------------------

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

GOOD = """WEBVTT

00:00:01.000 --> 00:00:05.000
<v Ana>Today we talk about sourdough starters and how to feed them.

00:00:05.500 --> 00:00:09.000
<v Ben>And why a cold kitchen slows the rise.
"""


def ingest(folder: Path, *options: str) -> dict:
    result = runner.invoke(app, ["ingest", "transcripts", str(folder), *options, "--json"])
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)["ingests"]
    return summary


def talk_python(shared_data: Path, into: Path, *patterns: str) -> Path:
    """A folder of the Talk Python files whose names match ``patterns`` (links, not copies)."""
    folder = shared_data / "podcast-transcripts" / "talkpython"
    into.mkdir()
    for pattern in patterns:
        for path in folder.glob(pattern):
            (into / path.name).symlink_to(path)
    return into


def test_talk_python_becomes_an_episode_per_transcript(
    shared_data: Path, workspace: Settings, tmp_path: Path
) -> None:
    # the archive's cases, in 9 of its 101 files (all of them: the slow test below)
    folder = talk_python(
        shared_data, tmp_path / "tp", "524-*", "525-*", "551[-.]*", "544-*", "459-*", "LICENSE*"
    )
    first = ingest(folder, "--show", "Talk Python To Me")
    assert first["source"] == "transcripts:talk-python-to-me"
    assert (first["read"], first["added"], first["transcripts"]) == (9, 5, 5)
    assert first["skipped"] == {
        "duplicate id (first one kept)": 3,  # 524, 525 and 551 come twice, one "-no-names"
        "not a transcript file (.srt, .vtt, .json, .html)": 1,  # LICENSE.upstream
    }
    with CatalogStore(workspace.catalog_path) as catalog:
        episode = catalog.get("transcripts:talk-python-to-me:525")
        assert episode.episode_title == "Nicegui" and episode.show_title == "Talk Python To Me"
        assert episode.language == "en" and episode.source == "transcripts:talk-python-to-me"
        segments = catalog.transcript(episode.id)
        assert any(s.speaker for s in segments)  # the copy that names its speakers was kept
        assert episode.episode_description.startswith(segments[0].text)
        titled = catalog.get("transcripts:talk-python-to-me:551").episode_title
        assert titled == "Stroll down startup lane 2026"  # not "551", from 551.vtt
        revision = catalog_revision(workspace.catalog_path)
    stats = runner.invoke(app, ["catalog", "stats"])
    assert "records: 5 (5 episodes, 0 show-level), shows: 1, transcripts: 5" in stats.stdout
    again = ingest(folder, "--show", "Talk Python To Me")
    assert (again["unchanged"], again["transcripts"]) == (5, 0)
    assert catalog_revision(workspace.catalog_path) == revision


@pytest.mark.slow
def test_the_whole_talk_python_archive_is_searchable(
    shared_data: Path, workspace: Settings
) -> None:
    folder = shared_data / "podcast-transcripts" / "talkpython"
    summary = ingest(folder, "--show", "Talk Python To Me")  # the command docs/catalog.md gives
    assert (summary["read"], summary["added"], summary["transcripts"]) == (101, 97, 97)
    assert runner.invoke(app, ["index", "--model", "minilm"]).exit_code == 0
    found = runner.invoke(app, ["search", "a python web UI framework built on vue", "--json"])
    titles = [r["episode_title"] for r in json.loads(found.stdout)["results"][0]["data"][:3]]
    assert "Nicegui" in titles, titles


def test_bad_transcripts_are_counted_skips_and_good_ones_served(
    tmp_path: Path, workspace: Settings
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "12-bread-at-home.vtt").write_text(GOOD)
    (folder / "13-out-of-order.srt").write_text(
        "1\n00:00:10,000 --> 00:00:12,000\nlater\n\n2\n00:00:01,000 --> 00:00:02,000\nearly\n"
    )
    (folder / "14-empty.json").write_text("")
    (folder / "15-latin.vtt").write_bytes(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nol\xe9\n".encode("latin-1")
    )
    (folder / "notes.txt").write_text("not a transcript")
    summary = ingest(folder, "--show", "Kitchen Radio", "--language", "en")
    assert summary["added"] == 1 and summary["read"] == 5
    assert summary["skipped"] == {
        "transcript not readable: times out of order: segment 2 starts at 1.000 s, before the "
        "one ahead of it (10.000 s)": 1,
        "transcript not readable: empty transcript": 1,
        "transcript not readable: not UTF-8 text (byte 40)": 1,
        "not a transcript file (.srt, .vtt, .json, .html)": 1,
    }
    assert runner.invoke(app, ["ingest", "rss", str(FIXTURES / "show.xml")]).exit_code == 0
    with TestClient(create_app(workspace)) as client:  # the catalog answers, indexed or not
        served = client.get("/api/episodes/transcripts:kitchen-radio:12/transcript")
        assert served.status_code == 200, served.text
        assert served.json()["segments"][1] == {
            "start": 5.5,
            "end": 9.0,
            "text": "And why a cold kitchen slows the rise.",
            "speaker": "Ben",
        }
        none = client.get("/api/episodes/rss:show:ns-001/transcript")
        assert none.status_code == 404 and "has no transcript" in none.json()["detail"]
        missing = client.get("/api/episodes/x:404/transcript")
        assert missing.status_code == 404 and "no episode with id" in missing.json()["detail"]
    with CatalogStore(workspace.catalog_path) as catalog:
        (episode,) = catalog.iter_episodes("transcripts:kitchen-radio")
        assert (episode.id, episode.episode_title) == (
            "transcripts:kitchen-radio:12",
            "Bread at home",
        )
        assert [s.speaker for s in catalog.transcript(episode.id)] == ["Ana", "Ben"]
        catalog.delete([episode.id])  # its transcript goes with it
        assert catalog.transcript(episode.id) is None and catalog.transcript_count() == 0

    for bad, reason in [
        (["--show", "  "], "--show must name the show"),
        (["--show", "X"], "no transcript files"),
    ]:
        empty = tmp_path / "empty"
        empty.mkdir(exist_ok=True)
        result = runner.invoke(app, ["ingest", "transcripts", str(empty), *bad])
        assert (
            result.exit_code == 1 and reason in result.stderr and "Traceback" not in result.output
        )
    result = runner.invoke(app, ["ingest", "transcripts", str(tmp_path / "nope"), "--show", "X"])
    assert result.exit_code == 1 and "no such folder of transcripts" in result.stderr


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"
 xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>Kitchen Radio</title><link>https://kitchen.example</link><language>en</language>
{items}
</channel></rss>"""
ITEM = """<item><guid>{n}</guid><title>Episode {n}</title><description>Episode {n} of the
kitchen show.</description>{link}</item>"""


def test_a_feed_copy_brings_the_transcripts_it_links(
    tmp_path: Path, workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "1.vtt").write_text(GOOD)
    backwards = "1\n00:00:09,000 --> 00:00:10,000\nb\n\n2\n00:00:01,000 --> 00:00:02,000\na\n"
    (tmp_path / "t" / "2.srt").write_text(backwards)
    (tmp_path / "t" / "6.vtt").write_text(GOOD.replace("00:00:09.000", "00:02:00.000"))
    links = {
        1: '<podcast:transcript url="t/1.vtt" type="text/vtt"/>',  # beside the feed copy
        2: '<podcast:transcript url="t/2.srt" type="application/x-subrip"/>',
        3: '<podcast:transcript url="http://127.0.0.1:1/3.json" type="application/json"/>',
        4: '<podcast:transcript url="t/9.vtt" type="text/vtt"/>',
        5: "",
        # the file ends at 2:00, past this episode's stated 1:00 by more than the slack allows
        6: '<itunes:duration>1:00</itunes:duration><podcast:transcript url="t/6.vtt" '
        'type="text/vtt"/>',
    }
    items = "\n".join(ITEM.format(n=n, link=link) for n, link in links.items())
    (tmp_path / "feed.xml").write_text(FEED.format(items=items))
    result = runner.invoke(app, ["ingest", "rss", str(tmp_path / "feed.xml"), "--json"])
    (summary,) = json.loads(result.stdout)["ingests"]
    assert (summary["added"], summary["transcripts"]) == (6, 1)
    assert summary["notes"] == {
        "transcript left out: longer than the audio": 1,
        "transcript left out: times out of order: segment 2 starts at 1.000 s, before the one "
        "ahead of it (9.000 s)": 1,
        "transcript left out: could not fetch it": 1,
        "transcript left out: no such local file": 1,
    }
    with CatalogStore(workspace.catalog_path) as catalog:
        assert [s.speaker for s in catalog.transcript("rss:feed:1")] == ["Ana", "Ben"]
        assert catalog.transcript("rss:feed:2") is None
    # the setting turns fetching off; the stored transcript stays
    monkeypatch.setenv("PODSEEK_FEED_TRANSCRIPTS", "false")
    get_settings.cache_clear()
    result = runner.invoke(app, ["ingest", "rss", str(tmp_path / "feed.xml"), "--json"])
    (again,) = json.loads(result.stdout)["ingests"]
    assert (again["unchanged"], again["transcripts"], again["notes"]) == (6, 0, {})


CUE_LINES = st.sampled_from(
    [
        "WEBVTT",
        "",
        "1",
        "00:00:01.000 --> 00:00:02.000",
        "5.5 --> 3",
        "1:00 --> 0:59.5",
        "00:00:01,000 --> 00:00:02,000",
        "<v A>hi",
        "Ana: hello",
        '{"segments": [',
        "<time>1:00</time>",
        "<p>words</p>",
        "<cite>B:</cite>",
        "-->",
        "\x00",
        "é",
        '{"startTime": 1, "body": "x"}',
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.one_of(CUE_LINES, st.text(max_size=30)), max_size=12),
    form=st.sampled_from(FORMATS),
)
def test_any_text_is_segments_in_order_or_one_error_line(lines: list[str], form: str) -> None:
    try:
        segments = parse_transcript("\n".join(lines).encode("utf-8", "surrogatepass"), form)
    except TranscriptError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert segments and all(s.text and s.end >= s.start >= 0 for s in segments)
    assert [s.start for s in segments] == sorted(s.start for s in segments)
