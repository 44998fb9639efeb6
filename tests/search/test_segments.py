"""Segment search: transcripts become two-minute windows in their own index, a matching
moment lifts its episode, and results carry moments (start, words, speaker) in the library,
the command line and the API."""

import json
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from podseek.catalog.transcripts import Segment
from podseek.catalog.windows import (
    SPAN_S,
    STEP_S,
    WINDOW_S,
    best_span,
    parse_window_id,
    transcript_windows,
    window_id,
)
from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.index.episode_index import read_manifest
from podseek.serve.app import create_app

runner = CliRunner()


def cues(count: int, every: float = 2.0, gap_at: int | None = None) -> list[Segment]:
    """``count`` cues of ``every`` seconds, saying "word<i>"; a 10-minute silence before cue
    ``gap_at``."""
    found, start = [], 0.0
    for i in range(count):
        if i == gap_at:
            start += 600.0
        found.append(Segment(start=start, end=start + every, text=f"word{i}", speaker="Ana"))
        start += every
    return found


def test_windows_cover_every_cue_two_minutes_at_a_time() -> None:
    segments = cues(400, gap_at=250)  # 800 s of talk with a 10-minute silence inside
    windows = transcript_windows(segments)
    covered = set()
    for window in windows:
        covered |= set(range(window.first, window.last + 1))
        assert window.end - window.start <= WINDOW_S + 2.0
        assert window.text.split()[0] == f"word{window.first}"
    assert covered == set(range(len(segments)))
    starts = [w.start for w in windows]
    assert starts == sorted(starts) and all(b - a >= STEP_S for a, b in pairwise(starts))
    assert 1100.0 in starts  # after the silence, a window starts at the next cue
    assert transcript_windows(cues(3)) == transcript_windows(cues(3))[:1]  # short: one window
    assert transcript_windows([]) == []


def test_a_window_id_names_its_episode_and_start() -> None:
    (window,) = transcript_windows(cues(5))
    record = window_id("rss:feed#odd:1", window)
    assert parse_window_id(record) == ("rss:feed#odd:1", 0.0)


def test_the_moment_is_where_the_query_words_are() -> None:
    segments = cues(60)
    segments[40] = Segment(start=80.0, end=82.0, text="sourdough starter", speaker="Ben")
    span = best_span(segments, 0.0, WINDOW_S, "feeding a sourdough starter")
    assert (span.start, span.speaker) == (80.0, "Ben") and "sourdough" in span.text
    assert span.end - span.start <= SPAN_S + 2.0
    fallback = best_span(segments, 60.0, 60.0 + WINDOW_S, "nothing in common")
    assert fallback.start == 60.0 and fallback.text.startswith("word30")
    later_half = best_span(segments, 0.0, WINDOW_S, "nothing in common", otherwise=61.0)
    assert later_half.start == 62.0  # the first cue from there


# --- a workspace with transcripts, indexed and searched ------------------------------------

# Talk Python 459 says this at 20:17-20:37 (deep in the episode, far from its description)
MOMENT_QUERY = "deploy a Flask app and spin up a Redis or MySQL database on Railway"
MOMENT_EPISODE = "transcripts:talk-python-to-me:459"
MOMENT_AT = (1200.0, 1260.0)


@pytest.fixture(scope="module")
def indexed(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A workspace holding three Talk Python transcripts as episodes, indexed with MiniLM."""
    home = tmp_path_factory.mktemp("segments") / "ws"
    folder = home.parent / "tp"
    folder.mkdir()
    source = shared_data / "podcast-transcripts" / "talkpython"
    for pattern in ("459-*", "525-nicegui.vtt", "461-*"):
        for path in source.glob(pattern):
            (folder / path.name).symlink_to(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PODSEEK_HOME", str(home))
        get_settings.cache_clear()
        ingested = runner.invoke(
            app, ["ingest", "transcripts", str(folder), "--show", "Talk Python To Me"]
        )
        assert ingested.exit_code == 0, ingested.output
        built = runner.invoke(app, ["index", "--model", "minilm"])
        assert built.exit_code == 0, built.output
    get_settings.cache_clear()
    return home, built.stdout.splitlines()


@pytest.fixture
def in_workspace(indexed: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PODSEEK_HOME", str(indexed[0]))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_index_builds_the_segment_index_beside_the_episodes(
    indexed: tuple[Path, list[str]], in_workspace: Settings
) -> None:
    lines = indexed[1]
    segment_line = next(line for line in lines if line.startswith("segment index built"))
    manifest = read_manifest(in_workspace.segments_index_dir)
    assert f"{manifest.rows:,} segments" in segment_line
    assert 150 < manifest.rows < 300  # three episodes of about an hour: 60 windows each
    assert manifest.model.name == "minilm"
    again = runner.invoke(app, ["index", "--model", "minilm", "--json"])
    report = json.loads(again.stdout)
    assert report["segments"]["encoded"] == 0 and report["segments"]["rows"] == manifest.rows


def test_a_moment_lifts_its_episode_and_is_printed_with_its_time(in_workspace: Settings) -> None:
    found = runner.invoke(app, ["search", MOMENT_QUERY, "--json"])
    assert found.exit_code == 0, found.output
    lifted = json.loads(found.stdout)["results"][0]["data"]
    plain = runner.invoke(app, ["search", MOMENT_QUERY, "--no-segments", "--json"])
    unlifted = json.loads(plain.stdout)["results"][0]["data"]
    assert all(result["moments"] == [] for result in unlifted)
    rank = [r["id"] for r in lifted].index(MOMENT_EPISODE)
    assert rank < [r["id"] for r in unlifted].index(MOMENT_EPISODE)  # its title says nothing
    top = lifted[rank]
    best = top["moments"][0]
    assert MOMENT_AT[0] <= best["start"] <= MOMENT_AT[1], best
    assert "Railway" in best["text"] or "Redis" in best["text"]
    starts = [m["start"] for m in top["moments"]]
    assert all(abs(a - b) >= WINDOW_S / 2 for a in starts for b in starts if a != b)

    printed = runner.invoke(app, ["search", MOMENT_QUERY])
    minutes, seconds = divmod(int(best["start"]), 60)
    assert f"{minutes:02d}:{seconds:02d}  " in printed.stdout


def test_filters_hold_for_moments(in_workspace: Settings) -> None:
    found = runner.invoke(app, ["search", MOMENT_QUERY, "--lang", "de", "--json"])
    assert json.loads(found.stdout)["results"][0]["data"] == []


def test_the_api_answers_with_moments_and_without(in_workspace: Settings) -> None:
    with TestClient(create_app(in_workspace)) as client:
        lifted = client.get("/api/search", params={"q": MOMENT_QUERY, "k": 3})
        assert lifted.status_code == 200, lifted.text
        (top,) = [r for r in lifted.json()["data"] if r["id"] == MOMENT_EPISODE]
        assert top["moments"]
        moment = top["moments"][0]
        transcript = client.get(f"/api/episodes/{MOMENT_EPISODE}/transcript").json()
        said = [s for s in transcript["segments"] if moment["start"] <= s["start"] < moment["end"]]
        assert said and said[0]["text"] in moment["text"]
        plain = client.get("/api/search", params={"q": MOMENT_QUERY, "segments": "false"})
        assert all(result["moments"] == [] for result in plain.json()["data"])
        bad = client.get("/api/search", params={"q": MOMENT_QUERY, "segments": "maybe"})
        assert bad.status_code == 422


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>Kitchen Radio</title><link>https://kitchen.example</link><language>en</language>
<item><guid>1</guid><title>Bread</title><description>Baking.</description>
<podcast:transcript url="1.srt" type="application/srt"/></item>
<item><guid>2</guid><title>Soup</title><description>Soups.</description>
<podcast:transcript url="2.srt" type="application/srt"/></item>
</channel></rss>"""


def srt(words: str) -> str:
    """Five minutes of talk, ``words`` said at 03:00."""
    cues = []
    for n in range(30):
        said = words if n == 18 else f"talking about the weather {n}"
        cues.append(f"{n + 1}\n00:{n // 6:02d}:{n % 6 * 10:02d},000 --> "
                    f"00:{n // 6:02d}:{n % 6 * 10 + 9:02d},000\nAna: {said}\n")  # fmt: skip
    return "\n".join(cues)


def test_a_feed_with_transcripts_is_searched_by_moment_and_a_delete_takes_its_windows(
    tmp_path: Path, workspace: Settings
) -> None:
    (tmp_path / "1.srt").write_text(srt("proofing dough overnight in the fridge"))
    (tmp_path / "2.srt").write_text(srt("a pinch of saffron in the broth"))
    (tmp_path / "feed.xml").write_text(FEED)
    assert runner.invoke(app, ["ingest", "rss", str(tmp_path / "feed.xml")]).exit_code == 0
    built = runner.invoke(app, ["index", "--model", "minilm", "--json"])
    assert json.loads(built.stdout)["segments"]["rows"] == 8  # 4 windows each
    settings = Settings(_env_file=None, home=workspace.home, model="minilm", api_key="k" * 32)
    with TestClient(create_app(settings)) as client:
        found = client.get("/api/search", params={"q": "saffron broth"}).json()["data"]
        assert found[0]["id"] == "rss:feed:2" and found[0]["moments"][0]["start"] == 180.0
        assert found[0]["moments"][0]["speaker"] == "Ana"
        gone = client.delete(
            "/api/episodes/rss:feed:2", headers={"Authorization": f"Bearer {'k' * 32}"}
        )
        assert gone.status_code == 204, gone.text
        after = client.get("/api/search", params={"q": "saffron broth"}).json()["data"]
        assert [r["id"] for r in after] == ["rss:feed:1"]
    assert read_manifest(workspace.segments_index_dir).rows == 4
