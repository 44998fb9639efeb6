"""The search page's listener features in a real headless Chromium, against the real app.

The app is podseek's own (``create_app``) over the catalog fixtures indexed with MiniLM
(``minilm_home``), with a search log, served by uvicorn on a free port of 127.0.0.1: the
suggestions, "more like this", "did you mean", show results, the show scope, sorting by date
and the clicks a listener's plays write to the search log, each driven as a listener would
(keyboard first).
"""

from __future__ import annotations

import io
import json
import re
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.serve.browsing import chromium, expect, new_page, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Route


pytestmark = pytest.mark.browser

GEMINIDS = "rss:show:ns-001"  # "Watching the Geminids", Night Sky Notes
SATURN = "rss:show:https://nightsky.example/002.mp3"  # "Saturn's rings", the same show
NIGHT_SKY = "rss:show:https://nightsky.example"  # the show's id


@dataclass
class Site:
    url: str
    log: Path

    def log_lines(self) -> list[dict[str, Any]]:
        if not self.log.is_file():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app over the catalog fixtures (MiniLM), with a search log."""
    from podseek.config import Settings
    from podseek.serve.app import create_app
    from tests.search_catalog import minilm_home

    home = minilm_home(tmp_path_factory.mktemp("listener"))
    log = home / "log.jsonl"
    # the torch query engine: the page does not care, and exporting the onnx one takes ~20 s
    settings = Settings(
        _env_file=None, home=home, model="minilm", search_log=log, query_engine="torch"
    )
    with serving(create_app(settings), lifespan="on") as url:
        yield Site(url, log)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # audio.play() from the test counts as a play
    with chromium(["--autoplay-policy=no-user-gesture-required"]) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser, local_only=True) as page:
        yield page


def results(page: Page) -> Locator:
    return page.locator("#results > li > article")


def box(page: Page) -> Locator:
    return page.get_by_role("combobox", name="Search episodes")


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def settled(page: Page) -> None:
    """Wait until the search in flight (if any) has answered."""
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")


def show_titles(page: Page) -> list[str]:
    settled(page)
    return results(page).locator(".show-title").all_inner_texts()


def titles(page: Page) -> list[str]:
    settled(page)
    return [t.strip() for t in page.locator("#results article h2").all_inner_texts()]


def silence(seconds: float = 2) -> bytes:
    """A WAV file of ``seconds`` of silence (8 kHz, 8 bits, mono)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * int(8000 * seconds))
    return out.getvalue()


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_suggestions_as_you_type(page: Page, site: Site) -> None:
    suggest_queries: list[str] = []

    def record(request: Any) -> None:
        if "/api/suggest?" in request.url:
            suggest_queries.append(query_of(request.url)["q"][0])

    page.on("request", record)
    page.goto(f"{site.url}/?q=meteor")
    expect(results(page).first).to_be_visible()
    search = box(page)
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(search).to_have_attribute("aria-controls", "suggestions")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(listbox).to_be_hidden()

    # Typing a word's start, key by key: one request after the pause, not one per key.
    search.fill("")
    search.press_sequentially("gemin", delay=20)
    option = listbox.get_by_role("option").first
    expect(option).to_have_text(re.compile(r"^Watching the Geminids\W+episode$"))
    expect(search).to_have_attribute("aria-expanded", "true")
    expect(option.locator(".suggestion-kind")).to_have_text("episode")
    assert 1 <= len(suggest_queries) <= 2, suggest_queries  # debounced
    assert suggest_queries[-1] == "gemin"

    # With the list open, the down arrow moves in the list, not to the results.
    search.press("ArrowDown")
    expect(search).to_be_focused()
    expect(option).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", option.get_attribute("id") or "-")
    search.press("Enter")
    expect(listbox).to_be_hidden()
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(search).to_have_value("Watching the Geminids")
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\d+ results? in \d+ ms$"))
    assert "Watching the Geminids" in titles(page)
    assert query_of(page.url)["q"] == ["Watching the Geminids"]

    # Escape closes the list and keeps what was typed.
    search.fill("sat")
    expect(listbox.get_by_role("option", name=re.compile("Saturn's rings"))).to_be_visible()
    search.press("Escape")
    expect(listbox).to_be_hidden()
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(search).to_have_value("sat")
    expect(search).to_be_focused()

    # A show, chosen with the mouse, searches inside that show.
    search.fill("night")
    show = listbox.get_by_role("option", name=re.compile("Night Sky Notes"))
    expect(show.locator(".suggestion-kind")).to_have_text("show")
    show.click()
    expect(page.get_by_role("button", name=re.compile(r"^In: Night Sky Notes"))).to_be_visible()
    assert query_of(page.url)["show"] == [NIGHT_SKY]
    shows = show_titles(page)
    assert shows and set(shows) == {"Night Sky Notes"}, shows

    # No request for a blank box; leaving the box closes the list.
    asked = len(suggest_queries)
    search.fill("   ")
    page.wait_for_timeout(500)  # well past the pause that sends a request
    assert len(suggest_queries) == asked, suggest_queries
    expect(listbox).to_be_hidden()
    search.fill("kit")
    expect(listbox.get_by_role("option").first).to_be_visible()
    page.locator("h1").click()
    expect(listbox).to_be_hidden()
    expect(search).to_have_attribute("aria-expanded", "false")


def test_suggestions_are_text_and_optional(page: Page, site: Site) -> None:
    hostile = {
        "query": "img",
        "suggestions": [
            {"text": "<img src=x onerror=window.__pwned=1>", "kind": "episode", "id": "x"},
            {"text": "not a kind", "kind": "<b>bad</b>", "id": None},
            {"text": "<b>A show</b>", "kind": "show", "id": "s"},
        ],
    }

    def answer(route: Route) -> None:
        route.fulfill(json=hostile)

    page.route("**/api/suggest?*", answer)
    page.goto(f"{site.url}/")
    box(page).fill("img")
    options = page.get_by_role("listbox").get_by_role("option")
    expect(options).to_have_count(2)  # the entry of an unknown kind is left out
    expect(options.locator(".suggestion-text")).to_have_text(
        ["<img src=x onerror=window.__pwned=1>", "<b>A show</b>"]
    )
    expect(page.locator("#suggestions img, #suggestions b")).to_have_count(0)
    assert page.evaluate("() => window.__pwned") is None

    # Without /api/suggest, the box shows nothing more and searching works.
    page.unroute("**/api/suggest?*")
    page.route("**/api/suggest?*", lambda route: route.abort())
    with page.expect_event("requestfailed", lambda r: "/api/suggest?" in r.url):
        box(page).fill("meteor shower")
    expect(page.get_by_role("listbox")).to_be_hidden()
    box(page).press("Enter")
    expect(results(page).first).to_contain_text("Watching the Geminids")


def test_more_like_this_and_back(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/?q=meteor+shower")
    first = results(page).first
    expect(first.get_by_role("heading")).to_have_text("Watching the Geminids")
    searched = page.url

    more = first.get_by_role("link", name="More like this: Watching the Geminids")
    expect(more).to_have_attribute("href", re.compile(r"^/\?similar=rss%3Ashow%3Ans-001&"))
    more.click()
    heading = page.get_by_role("heading", name="More like “Watching the Geminids”")
    expect(heading).to_be_visible()
    expect(heading).to_be_focused()
    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile(r"^\d+ similar episodes? in \d+ ms$"))
    assert query_of(page.url)["similar"] == [GEMINIDS]
    similar = titles(page)
    assert similar and "Watching the Geminids" not in similar, similar
    assert "Saturn's rings" in similar  # its neighbour in the same show
    expect(box(page)).to_have_value("")

    # Only the episode's own show, then back to any show, then back to the search.
    page.get_by_label("From").select_option("only")
    expect(status).to_have_text(re.compile(r"^2 similar episodes in \d+ ms$"))
    assert set(show_titles(page)) == {"Night Sky Notes"}
    assert query_of(page.url)["same_show"] == ["only"]
    page.go_back()
    expect(page.get_by_label("From")).to_have_value("any")
    expect(results(page)).to_have_count(len(similar))
    assert "same_show" not in query_of(page.url)
    page.go_back()
    assert page.url == searched
    expect(heading).to_be_hidden()
    expect(box(page)).to_have_value("meteor shower")
    expect(results(page).first.get_by_role("heading")).to_have_text("Watching the Geminids")

    # A shared link, for an id with ":" and "/" in it; an unknown id says so.
    saturn = urlencode({"similar": SATURN, "title": "Saturn's rings"})
    page.goto(f"{site.url}/?{saturn}")
    expect(page.get_by_role("heading", name="More like “Saturn's rings”")).to_be_visible()
    expect(status).to_have_text(re.compile(r"^\d+ similar episodes? in \d+ ms$"))
    assert "Saturn's rings" not in titles(page)
    page.goto(f"{site.url}/?similar=nope&title=Nope")
    expect(status).to_have_text("episode_id: no episode with id 'nope' in the index")
    expect(status).to_have_class(re.compile(r"\berror\b"))
    expect(results(page)).to_have_count(0)


def test_did_you_mean(page: Page, site: Site) -> None:
    # "recipes" is in two texts of the catalog (Kitchen Radio's, "Staying healthy ...")
    page.goto(f"{site.url}/")
    box(page).fill("recipies")
    box(page).press("Enter")
    offer = page.locator("#did-you-mean")
    expect(offer).to_have_text("Did you mean recipes?")
    link = offer.get_by_role("link", name="recipes")
    assert query_of(link.get_attribute("href") or "") == {"q": ["recipes"], "mode": ["hybrid"]}
    expect(box(page)).to_have_value("recipies")  # offered, not applied
    assert query_of(page.url)["q"] == ["recipies"]

    link.click()
    expect(box(page)).to_have_value("recipes")
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\d+ results? in \d+ ms$"))
    assert query_of(page.url)["q"] == ["recipes"]
    expect(offer).to_have_text("")  # a word the catalog knows
    page.go_back()
    expect(box(page)).to_have_value("recipies")
    expect(offer).to_have_text("Did you mean recipes?")


def test_show_results_and_the_show_scope(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/?q=meteor+shower")
    expect(results(page).first).to_be_visible()
    page.get_by_label("Type").select_option("show")  # applies at once
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\d+ shows? in \d+ ms$"))
    assert query_of(page.url)["type"] == ["show"]
    expect(page.get_by_label("Sort")).to_be_disabled()  # shows are ranked by relevance
    card = results(page).first
    expect(card.get_by_role("heading")).to_have_text("Night Sky Notes")
    expect(card.locator(".episode-count")).to_have_text("3 episodes")
    expect(card.locator(".language")).to_have_text("English")
    expect(card.locator(".categories")).to_have_text("Science")
    expect(card.locator(".snippet")).to_have_text("Astronomy for everyone.")
    best = card.locator("ul.best > li")
    expect(best.first).to_have_text("Watching the Geminids")
    assert best.count() <= 3

    # The show's name scopes an episode search to it; the chip says so and removes it.
    card.get_by_role("link", name="Night Sky Notes: search in this show").click()
    chip = page.get_by_role("button", name=re.compile(r"^In: Night Sky Notes"))
    expect(chip).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\d+ results? in \d+ ms$"))
    url = query_of(page.url)
    assert url["show"] == [NIGHT_SKY] and url["show_title"] == ["Night Sky Notes"], url
    assert "type" not in url
    expect(page.get_by_label("Type")).to_have_value("episode")
    scoped = show_titles(page)
    assert scoped and set(scoped) == {"Night Sky Notes"}, scoped

    chip.click()
    expect(chip).to_be_hidden()
    expect(box(page)).to_be_focused()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\d+ results? in \d+ ms$"))
    assert "show" not in query_of(page.url)
    assert set(show_titles(page)) - {"Night Sky Notes"}  # other shows again


def test_sort_by_date(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/?q=stars")
    expect(results(page).first).to_be_visible()
    with page.expect_request(lambda r: "/api/search?" in r.url) as searched:
        page.get_by_label("Sort").select_option("date")  # applies at once
    assert query_of(searched.value.url)["sort"] == ["date"]
    assert query_of(page.url)["sort"] == ["date"]
    settled(page)
    dates = results(page).locator("time").evaluate_all("ts => ts.map(t => t.dateTime)")
    assert len(dates) >= 3, dates
    assert dates == sorted(dates, reverse=True), dates
    assert dates[0].startswith("2017-12-14T20"), dates  # Saturn's rings, the newest

    page.reload()  # the order is in the URL
    expect(page.get_by_label("Sort")).to_have_value("date")


def test_clicks_go_to_the_search_log(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/?q=meteor+shower")
    first = results(page).first
    expect(first.get_by_role("heading")).to_have_text("Watching the Geminids")
    session = page.evaluate("() => sessionStorage.getItem('podseek.session')")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", session or ""), session

    def clicks() -> list[dict[str, Any]]:
        return [r for r in site.log_lines() if r.get("clicked_episode_id")]

    before = len(clicks())
    # the episode's audio: two seconds of silence, so that it really plays
    page.route(
        "https://nightsky.example/**",
        lambda route: route.fulfill(body=silence(), content_type="audio/wav"),
    )
    audio = first.locator("audio")
    count = "a => a.addEventListener('play', () => { window.plays = (window.plays || 0) + 1 })"
    audio.evaluate(count)
    audio.evaluate("a => a.play()")
    page.wait_for_function("() => window.plays === 1")
    audio.evaluate("a => { a.pause(); return a.play(); }")  # again: no second line
    page.wait_for_function("() => window.plays === 2")
    line = wait_for(
        lambda: [c for c in clicks()[before:] if c["clicked_episode_id"] == GEMINIDS],
        "the click in the search log",
    )[0]
    assert line["query"] == "meteor shower" and line["session_id"] == session, line
    searches = [r for r in site.log_lines() if r.get("session_id") == session]
    assert any(r["query"] == "meteor shower" and r["clicked_episode_id"] is None for r in searches)

    # Opening a title link (the catalog has no page links: one is added to the answer) is a
    # click too, sent while the page goes away.
    def with_link(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        for hit in body["data"]:
            hit["episode_url"] = f"https://episodes.example/{hit['id']}"
        route.fulfill(response=response, json=body)

    page.route("**/api/search?*", with_link)
    page.route(
        "https://episodes.example/**",
        lambda route: route.fulfill(body="<title>episode</title>", content_type="text/html"),
    )
    page.goto(f"{site.url}/?q=saturn")
    link = results(page).get_by_role("link", name="Saturn's rings", exact=True)
    expect(link).to_have_attribute("href", re.compile(r"^https://episodes\.example/"))
    link.click()
    page.wait_for_url("https://episodes.example/**")
    saturn = wait_for(
        lambda: [c for c in clicks()[before:] if c["query"] == "saturn"], "the opened result"
    )
    assert saturn[0]["clicked_episode_id"] == SATURN
    assert saturn[0]["session_id"] == session
    assert len([c for c in clicks()[before:] if c["clicked_episode_id"] == GEMINIDS]) == 1
