"""``podseek ingest transcripts FOLDER --map RULE``: transcript files given to episodes a real
feed brought (The M&N Show, whose feed links transcripts that cannot be fetched here), matched
by id, audio file name, title, a pattern or a table; every file that cannot be matched is a
counted skip with its reason."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore, catalog_revision
from podseek.catalog.transcript_match import audio_stem, native_id
from podseek.catalog.transcripts import read_transcript
from podseek.cli import app
from podseek.config import Settings, get_settings

runner = CliRunner()
FEED = "rss-feeds/themnshow.xml"
PUBLISHED = "podcast-transcripts/podcasting20"


@pytest.fixture
def feed(
    shared_data: Path, workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Episode]:
    """The feed's episodes in the workspace's catalog, by title; no transcript yet."""
    monkeypatch.setenv("PODSEEK_FEED_TRANSCRIPTS", "false")
    get_settings.cache_clear()
    result = runner.invoke(app, ["ingest", "rss", str(shared_data / FEED)])
    assert result.exit_code == 0, result.output
    with CatalogStore(workspace.catalog_path) as catalog:
        assert catalog.transcript_count() == 0
        return {episode.episode_title: episode for episode in catalog.iter_episodes()}


def attach(folder: Path, *options: str) -> dict:
    result = runner.invoke(app, ["ingest", "transcripts", str(folder), *options, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(*args: str) -> str:
    result = runner.invoke(app, ["ingest", "transcripts", *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.stderr.splitlines()) == 1
    return result.stderr


def srt(end_s: int, words: str = "we talk about the show") -> str:
    """A two-cue SRT whose last cue ends at ``end_s``."""
    clock = f"{end_s // 3600:02d}:{end_s // 60 % 60:02d}:{end_s % 60:02d},000"
    return f"1\n00:00:01,000 --> 00:00:04,000\n{words}\n\n2\n00:00:05,000 --> {clock}\nbye\n"


def test_files_named_after_the_audio_find_their_episodes_by_a_pattern(
    feed: dict[str, Episode], shared_data: Path, workspace: Settings, tmp_path: Path
) -> None:
    """The feed's audio is ``themnshow054-20240914-FINAL.mp3`` and its transcript
    ``themnshow054-20240914-DRAFT-transcript.srt``: ``audio=themnshow\\d+`` pairs them."""
    with_audio = sorted(
        (e for e in feed.values() if e.audio_url and e.duration_s), key=lambda e: e.audio_url
    )
    first, second = with_audio[-1], with_audio[-2]
    published = shared_data / PUBLISHED / "podcasting_20_episode_124.srt"
    folder = tmp_path / "exported"
    folder.mkdir()
    for episode, text in ((first, published.read_text()), (second, srt(60))):
        key = audio_stem(episode.audio_url).removesuffix("-FINAL")
        (folder / f"{key}-DRAFT-transcript.srt").write_text(text)
    (folder / "themnshow999-DRAFT-transcript.srt").write_text(srt(60))  # no such episode
    (folder / "bonus.srt").write_text(srt(60))  # the pattern finds nothing in its name
    (folder / "notes.txt").write_text("not a transcript")
    revision = catalog_revision(workspace.catalog_path)

    summary = attach(folder, "--map", r"audio=themnshow\d+")
    assert (summary["read"], summary["attached"], summary["unchanged"]) == (5, 2, 0)
    assert summary["skipped"] == {
        "no episode matches its name (by audio)": 1,
        "its name does not fit the rule (by audio)": 1,
        "not a transcript file (.srt, .vtt, .json, .html)": 1,
    }
    with CatalogStore(workspace.catalog_path) as catalog:
        assert catalog.transcript(first.id) == read_transcript(published)
        assert [s.text for s in catalog.transcript(second.id)] == ["we talk about the show", "bye"]
        assert catalog.get(first.id) == first  # the feed's record is left as it was
        assert catalog.transcript_count() == 2
        assert catalog.stats()["transcripts"] == 2
    assert catalog_revision(workspace.catalog_path) > revision  # the server's aids follow

    again = attach(folder, "--map", r"audio=themnshow\d+")
    assert (again["attached"], again["unchanged"]) == (0, 2)


def test_ids_titles_and_a_table_match_and_the_unmatchable_are_counted(
    feed: dict[str, Episode], workspace: Settings, tmp_path: Path
) -> None:
    episodes = sorted(feed.values(), key=lambda e: e.id)
    by_guid, by_title, by_table, by_url, too_short = episodes[:5]
    assert by_title.episode_title and too_short.duration_s
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / f"{native_id(by_guid)}.srt").write_text(srt(60, "a file named by guid"))
    summary = attach(folder, "--map", "id", "--show", by_guid.show_title.upper())
    assert (summary["attached"], summary["skipped"]) == (1, {})

    # title: compared as words, case and punctuation aside; a leading number is dropped
    folder = tmp_path / "titles"
    folder.mkdir()
    name = "-".join(by_title.episode_title.lower().split())
    (folder / f"054_{name}!.srt").write_text(srt(60, "a file named by title"))
    (folder / "a-title-no-episode-has.srt").write_text(srt(60))
    summary = attach(folder, "--map", "title")
    assert summary["attached"] == 1
    assert summary["skipped"] == {"no episode matches its name (by title)": 1}

    # a table: by id in the source, by audio URL; a file the table lacks; two files for one
    # episode (the first kept); a transcript far longer than the episode's stated duration
    folder = tmp_path / "table"
    folder.mkdir()
    rows = [
        ("a.srt", native_id(by_table)),
        ("b.srt", by_url.audio_url),
        ("c.srt", by_url.audio_url),
        ("d.srt", too_short.id),
    ]
    for file, _ in rows:
        (folder / file).write_text(srt(60, f"file {file}"))
    (folder / "d.srt").write_text(srt(too_short.duration_s * 2 + 60))
    (folder / "e.srt").write_text(srt(60))
    table = tmp_path / "map.csv"
    with table.open("w", newline="") as handle:  # the audio URLs hold commas: quoted
        csv.writer(handle).writerows([("file", "episode"), *rows])
    summary = attach(folder, "--map", str(table))
    assert summary["attached"] == 2
    assert summary["skipped"] == {
        "another file matched its episode (the first is kept)": 1,
        "transcript longer than the audio": 1,
        "its name does not fit the rule (by table)": 1,
    }
    with CatalogStore(workspace.catalog_path) as catalog:
        texts = {e.id: [s.text for s in catalog.transcript(e.id) or []] for e in episodes[:5]}
    assert texts == {
        by_guid.id: ["a file named by guid", "bye"],
        by_title.id: ["a file named by title", "bye"],
        by_table.id: ["file a.srt", "bye"],
        by_url.id: ["file b.srt", "bye"],
        too_short.id: [],
    }


def test_a_rule_that_cannot_work_is_one_line_and_changes_nothing(
    feed: dict[str, Episode], workspace: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "1.srt").write_text(srt(60))
    (tmp_path / "map.csv").write_text("name,guid\n1.srt,x\n")
    revision = catalog_revision(workspace.catalog_path)
    errors = {
        "--map audio=(": "not a regular expression",
        "--map nope": "give id, audio, title, KIND=REGEX",
        f"--map {tmp_path / 'map.csv'}": "needs a header with 'file' and 'episode' columns",
        f"--map {tmp_path / 'gone.tsv'}": "no such table",
        "--map id --show Nobody": "--show Nobody: no show of that title or id",
        "--map id --language de": "--language makes no sense with --map",
        "": "give --show NAME",
    }
    for options, expected in errors.items():
        assert expected in one_line_error(str(folder), *options.split())
    assert "no such folder" in one_line_error(str(tmp_path / "none"), "--map", "id")
    assert catalog_revision(workspace.catalog_path) == revision
