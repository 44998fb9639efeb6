"""Moments on the search page, in a real headless Chromium against the real app: a result's
moments seek its player, and its transcript view marks the matched lines.

The workspace is a feed with two episodes whose transcripts it links (one with audio, one
without), indexed with MiniLM with its segment index, as ``podseek ingest rss`` and
``podseek index`` make them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.serve.browsing import chromium, expect, new_page, serving
from tests.serve.test_browser_listener import results, settled, silence

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>Kitchen Radio</title><link>https://kitchen.example</link><language>en</language>
<item><guid>1</guid><title>Bread at home</title><description>Baking bread.</description>
<enclosure url="https://kitchen.example/1.wav" type="audio/wav" length="1"/>
<podcast:transcript url="t/1.vtt" type="text/vtt"/></item>
<item><guid>2</guid><title>Soups</title><description>Winter soups.</description>
<podcast:transcript url="t/2.vtt" type="text/vtt"/></item>
</channel></rss>"""
SAID_AT = 95.0  # the moment the search finds, in both transcripts
SAID = "a copper pot keeps the caramel from burning"
FILLER = "we talk about the weather and the garden"


def clock(seconds: float) -> str:
    return f"00:{int(seconds // 60):02d}:{seconds % 60:06.3f}"


def transcript(moment: str) -> str:
    """Three minutes of cues, 5 s each, ``moment`` said at :data:`SAID_AT`."""
    cues = ["WEBVTT", ""]
    for n in range(36):
        start = n * 5.0
        line = moment if start == SAID_AT else f"{FILLER} {n}"
        cues += [f"{clock(start)} --> {clock(start + 5)}", f"<v Ana>{line}", ""]
    return "\n".join(cues)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from podseek.catalog.ingest import ingest
    from podseek.catalog.sources.feeds import FeedSource
    from podseek.catalog.store import CatalogStore
    from podseek.config import Settings
    from podseek.index.episode_index import WindowRecords, build_index
    from podseek.models.registry import load_encoder
    from podseek.serve.app import create_app

    home = tmp_path_factory.mktemp("moments")
    (home / "t").mkdir()
    (home / "t" / "1.vtt").write_text(transcript(SAID))
    (home / "t" / "2.vtt").write_text(transcript(SAID.replace("caramel", "custard")))
    (home / "feed.xml").write_text(FEED)
    settings = Settings(
        _env_file=None, home=home / "ws", model="minilm", ensemble_model="", query_engine="torch"
    )
    encoder = load_encoder("minilm", settings.home)
    with CatalogStore(settings.catalog_path) as catalog:
        summary = ingest(catalog, FeedSource(str(home / "feed.xml")), progress=False)
        assert summary.transcripts == 2
        build_index(catalog, encoder, settings.index_dir, 2000, progress=False)
        windows = WindowRecords(catalog, 2000)
        build_index(
            catalog, encoder, settings.segments_index_dir, 2000, progress=False, records=windows
        )
    with serving(create_app(settings), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(["--autoplay-policy=no-user-gesture-required"]) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser, local_only=True) as page:
        yield page


def test_a_moment_starts_the_player_there(page: Page, site: str) -> None:
    audio = silence(180)  # served whole, with ranges allowed as podcast hosts do (seekable)
    page.route(
        "https://kitchen.example/**",
        lambda route: route.fulfill(
            body=audio, content_type="audio/wav", headers={"Accept-Ranges": "bytes"}
        ),
    )
    page.goto(f"{site}/?q=copper+pot+caramel")
    settled(page)
    bread = results(page).filter(has=page.get_by_role("heading", name="Bread at home"))
    moment = bread.locator(".moments li").first
    expect(moment).to_contain_text("Ana:")
    expect(moment.locator("mark").first).to_have_text("copper")
    button = moment.get_by_role("button", name="Play from 01:35")
    button.click()
    player = bread.locator("audio")
    page.wait_for_function(
        "a => Math.abs(a.currentTime - 95) < 1.5", arg=player.element_handle(), timeout=10_000
    )


def test_the_transcript_view_marks_the_moment_and_goes_back(page: Page, site: str) -> None:
    page.goto(f"{site}/?q=copper+pot+custard")
    settled(page)
    soups = results(page).filter(has=page.get_by_role("heading", name="Soups"))
    # no audio: the moment's time opens the transcript there
    expect(soups.locator("audio")).to_have_count(0)
    soups.get_by_role("link", name="Read the transcript from 01:35").click()
    settled(page)
    expect(page.get_by_role("heading", name="Transcript: Soups")).to_be_visible()
    cues = page.locator(".cues li")
    expect(cues).to_have_count(36)
    matched = page.locator(".cues li.matched")
    expect(matched.first).to_contain_text("custard")
    expect(matched.first).to_be_focused()
    assert "transcript=" in page.url and "t=95" in page.url
    page.go_back()
    settled(page)
    expect(soups.locator(".moments li").first).to_contain_text("custard")


def test_a_transcript_that_is_not_there_is_one_line(page: Page, site: str) -> None:
    page.goto(f"{site}/?transcript=rss:feed:404&title=Gone")
    expect(page.locator("#status")).to_contain_text("no episode with id")
    expect(results(page)).to_have_count(0)
