"""The search page in a real headless Chromium, against a small stand-in API.

The stand-in (``standin_app``) is a real FastAPI app on a real port: it serves the page's
static folder exactly as the service does (``/`` and ``/static``) and answers
``/api/search``, ``/api/suggest`` and ``/api/facets`` with fixed JSON, one result of which is
hostile (HTML and ``javascript:`` URLs) to prove that the page shows API data as text and
never runs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

import podseek
from tests.serve.browsing import chromium, expect, new_page, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


pytestmark = pytest.mark.browser

STATIC = Path(podseek.__file__).resolve().parent / "serve" / "static"
AUDIO = "https://audio.example/nightsky/001.mp3"
FACETS = {"languages": [{"code": "en", "episodes": 5000}, {"code": "de", "episodes": 1200}]}
HITS: list[dict[str, Any]] = [
    {
        "id": "rss:nightsky:001",
        "score": 0.91,
        "show_id": "rss:nightsky",
        "show_title": "Night Sky Notes",
        "episode_title": "Watching the Geminids",
        "snippet": "The Geminids meteor shower peaks in mid December: how to watch it.",
        "published_at": "2017-12-14T10:00:00Z",
        "duration_s": 2700,
        "language": "en",
        "audio_url": AUDIO,
        "episode_url": "https://nightsky.example/001",
    },
    {
        "id": "rss:himmel:007",
        "score": 0.74,
        "show_id": "rss:himmel",
        "show_title": "Himmelskunde",
        "episode_title": "Sternschnuppen im Winter",
        "snippet": "Ein Meteor nach dem anderen: die Geminiden im Dezember.",
        "published_at": "2017-12-10T06:00:00Z",
        "duration_s": 1865,
        "language": "de",
        "audio_url": "",
        "episode_url": "",
    },
    {
        "id": "rss:hostile:1",
        "score": 0.5,
        "show_id": "rss:hostile",
        "show_title": "Bad <b>Show</b>",
        "episode_title": "<img src=x onerror=window.__pwned=1>",
        "snippet": "Meteor facts <script>window.__pwned = 1</script> and more",
        "published_at": None,
        "duration_s": None,
        "language": "en",
        "audio_url": "javascript:window.__pwned=1",
        "episode_url": "javascript:window.__pwned=1",
    },
]


def standin_app(calls: list[dict[str, str]], sessions: list[str] | None = None) -> FastAPI:
    """The page's static folder and fixed API routes; ``calls`` records each search (less its
    ``session``, which goes to ``sessions``)."""
    app = FastAPI()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/facets")
    def facets() -> dict[str, Any]:
        return FACETS

    @app.get("/api/search")
    def search(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        session = params.pop("session", "")
        if sessions is not None:
            sessions.append(session)
        calls.append(params)
        if params["q"] == "unavailable":
            detail = "the index is still loading; try again in a minute"
            return JSONResponse({"detail": detail}, status_code=503)
        hits = [] if params["q"] == "nothing" else HITS
        if params.get("lang"):
            hits = [h for h in hits if h["language"] == params["lang"]]
        body = {"query": params["q"], "mode": params.get("mode", "hybrid"), "did_you_mean": None}
        return JSONResponse({**body, "count": len(hits), "took_ms": 12.3, "data": hits})

    @app.get("/api/suggest")
    def suggest(q: str) -> dict[str, Any]:
        titles = [("episode", h["episode_title"], h["id"]) for h in HITS]
        found = [(kind, text, id_) for kind, text, id_ in titles if q.lower() in text.lower()]
        return {"query": q, "suggestions": [{"text": t, "kind": k, "id": i} for k, t, i in found]}

    @app.post("/api/clicks", status_code=204)
    def clicks() -> None:
        return None

    return app


class Site:
    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self.sessions: list[str] = []
        self.url = ""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The stand-in app, served on a free port of 127.0.0.1."""
    site = Site()
    with serving(standin_app(site.calls, site.sessions)) as url:
        site.url = url
        yield site


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podseek's own app over a real small index (the catalog fixtures, MiniLM)."""
    from podseek.catalog.store import CatalogStore
    from podseek.config import Settings
    from podseek.index.episode_index import build_index
    from podseek.models.registry import load_encoder
    from podseek.serve.app import create_app
    from tests.search_catalog import fill_catalog

    home = tmp_path_factory.mktemp("real-site")
    with CatalogStore(home / "catalog.sqlite") as catalog:
        fill_catalog(catalog)
        build_index(catalog, load_encoder("minilm", home), home / "index", 2000, progress=False)
    settings = Settings(_env_file=None, home=home, model="minilm")
    with serving(create_app(settings), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser) as page:
        yield page


def results(page: Page):
    return page.locator("#results > li > article")


def test_search_from_the_box(page: Page, site: Site, tmp_path: Path) -> None:
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{site.url}/")
    box = page.get_by_role("combobox", name="Search episodes")
    expect(box).to_be_focused()
    languages = page.locator("#lang option")
    expect(languages).to_have_count(3)  # "Any language" and the two from /api/facets
    assert [o.get_attribute("value") for o in languages.all()] == ["", "en", "de"]
    expect(languages.nth(1)).to_have_text("English (5,000)")

    box.fill("meteor shower")
    box.press("Enter")
    expect(results(page)).to_have_count(3)
    expect(page.get_by_role("status")).to_have_text("3 results in 12 ms")
    assert site.calls[-1] == {"q": "meteor shower", "mode": "hybrid", "k": "10"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", site.sessions[-1]), site.sessions
    assert "q=meteor+shower" in page.url and "mode=hybrid" in page.url

    first, second, hostile = (results(page).nth(i) for i in range(3))
    link = first.get_by_role("heading", name="Watching the Geminids").get_by_role("link")
    expect(link).to_have_attribute("href", "https://nightsky.example/001")
    expect(first.locator(".show-title")).to_have_text("Night Sky Notes")
    expect(first.locator("time")).to_have_attribute("datetime", "2017-12-14T10:00:00Z")
    expect(first.locator("time")).to_have_text("Dec 14, 2017")
    expect(first.locator(".duration")).to_have_text("45 min")
    expect(first.locator(".language")).to_have_text("English")
    expect(first.locator(".snippet mark")).to_have_text(["meteor", "shower"])
    audio = first.locator("audio")
    expect(audio).to_have_attribute("src", AUDIO)
    expect(audio).to_have_attribute("preload", "none")
    assert audio.evaluate("a => a.controls")

    expect(second.get_by_role("heading", name="Sternschnuppen im Winter")).to_be_visible()
    expect(second.locator("h2 a, audio")).to_have_count(0)  # no URLs, no link and no player
    expect(second.locator(".snippet mark")).to_have_text(["Meteor"])  # case-insensitive
    expect(second.locator(".duration")).to_have_text("31 min")
    expect(second).to_have_attribute("lang", "de")

    # Untrusted data stays text: no element made of it, no javascript: link, nothing ran.
    expect(hostile.locator("h2")).to_have_text("<img src=x onerror=window.__pwned=1>")
    expect(hostile.locator(".show-title")).to_have_text("Bad <b>Show</b>")
    expect(hostile.locator(".snippet")).to_have_text(
        "Meteor facts <script>window.__pwned = 1</script> and more"
    )
    expect(hostile.locator("img, script, b, h2 a, audio, time")).to_have_count(0)
    for href in [a.get_attribute("href") or "" for a in page.locator("#results a").all()]:
        assert href.startswith(("https://", "/?")), href  # the page's own links, or http(s)
    assert page.evaluate("() => window.__pwned") is None

    page.screenshot(path=tmp_path / "search.png", full_page=True)

    # The URL is the search: opening it again searches on load.
    searches = len(site.calls)
    page.reload()
    expect(results(page)).to_have_count(3)
    expect(box).to_have_value("meteor shower")
    assert len(site.calls) == searches + 1
    assert site.sessions[-1] == site.sessions[-2]  # one session per tab, reloads included

    # Nothing was fetched from anywhere but this server (no CDN, fonts or scripts).
    assert requested and all(url.startswith(site.url) for url in requested), requested
    assert not console_errors, console_errors


def test_filters_live_in_the_url_and_history_goes_back(page: Page, site: Site) -> None:
    page.goto(
        f"{site.url}/?q=winter&lang=de&mode=keyword&after=2017-12-01&before=2018-01-01"
        "&min_duration=600&max_duration=3600"
    )
    expect(results(page)).to_have_count(1)  # the stand-in honours lang=de
    expect(page.get_by_label("Search episodes")).to_have_value("winter")
    expect(page.get_by_label("Mode")).to_have_value("keyword")
    expect(page.get_by_label("Language")).to_have_value("de")
    expect(page.get_by_label("Published after")).to_have_value("2017-12-01")
    expect(page.get_by_label("Published before")).to_have_value("2018-01-01")
    expect(page.get_by_label("Min. length (minutes)")).to_have_value("10")
    expect(page.get_by_label("Max. length (minutes)")).to_have_value("60")
    assert site.calls[-1] == {
        "q": "winter",
        "mode": "keyword",
        "lang": "de",
        "after": "2017-12-01",
        "before": "2018-01-01",
        "min_duration": "600",
        "max_duration": "3600",
        "k": "10",
    }

    # A new search from the form: the minutes go to the API as seconds, empty ones not at all.
    page.get_by_label("Language").select_option("")
    page.get_by_label("Mode").select_option("semantic")
    page.get_by_label("Published after").fill("")
    page.get_by_label("Min. length (minutes)").fill("")
    page.get_by_label("Max. length (minutes)").fill("30")
    page.get_by_label("Search episodes").fill("geminids")
    page.get_by_role("button", name="Search").click()
    expect(results(page)).to_have_count(3)
    assert site.calls[-1] == {
        "q": "geminids",
        "mode": "semantic",
        "before": "2018-01-01",
        "max_duration": "1800",
        "k": "10",
    }
    assert page.url.endswith("/?q=geminids&mode=semantic&before=2018-01-01&max_duration=1800")

    page.go_back()
    expect(page.get_by_label("Search episodes")).to_have_value("winter")
    expect(page.get_by_label("Language")).to_have_value("de")
    expect(results(page)).to_have_count(1)
    page.go_forward()
    expect(page.get_by_label("Search episodes")).to_have_value("geminids")
    expect(page.get_by_label("Max. length (minutes)")).to_have_value("30")
    expect(results(page)).to_have_count(3)


def test_status_line_and_a_page_without_facets(page: Page, site: Site) -> None:
    page.route("**/api/facets", lambda route: route.abort())
    page.goto(f"{site.url}/")
    box = page.get_by_label("Search episodes")
    status = page.get_by_role("status")
    expect(status).to_have_attribute("aria-live", "polite")

    box.press("Enter")
    expect(status).to_have_text("Type a few words to search.")

    box.fill("nothing")
    box.press("Enter")
    expect(status).to_have_text("No episodes found")
    expect(results(page)).to_have_count(0)

    box.fill("unavailable")
    box.press("Enter")
    expect(status).to_have_text("the index is still loading; try again in a minute")

    # Without /api/facets there is only "Any language", and searching still works.
    expect(page.locator("#lang option")).to_have_count(1)
    box.fill("meteor")
    box.press("Enter")
    expect(results(page)).to_have_count(3)
    expect(status).to_have_text("3 results in 12 ms")


def test_keyboard(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/?q=meteor")
    expect(results(page)).to_have_count(3)
    box = page.get_by_label("Search episodes")

    page.locator("h1").click()  # focus leaves the box
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("meteor")  # the slash was not typed

    box.press("ArrowDown")
    expect(results(page).nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(results(page).nth(1)).to_be_focused()
    page.keyboard.press("End")
    expect(results(page).nth(2)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(results(page).nth(1)).to_be_focused()
    page.keyboard.press("Escape")
    expect(box).to_be_focused()

    # Tab from a result reaches its title link, its show link, "More like this", then its
    # audio player.
    box.press("ArrowDown")
    first = results(page).nth(0)
    page.keyboard.press("Tab")
    expect(first.get_by_role("heading").get_by_role("link")).to_be_focused()
    page.keyboard.press("Tab")
    expect(first.locator(".show-title a")).to_be_focused()
    page.keyboard.press("Tab")
    expect(first.get_by_role("link", name="More like this")).to_be_focused()
    page.keyboard.press("Tab")
    expect(first.locator("audio")).to_be_focused()


def test_the_real_server_answers_the_page(page: Page, real_site: str, tmp_path: Path) -> None:
    page.goto(real_site + "/")
    page.get_by_role("combobox", name="Search episodes").fill("meteor shower")
    page.keyboard.press("Enter")
    expect(results(page).first).to_contain_text("Watching the Geminids")
    expect(page.locator("#results mark").first).to_be_visible()
    assert "q=meteor+shower" in page.url or "q=meteor%20shower" in page.url
    expect(page.locator("#lang option[value='de']")).to_have_count(1)
    page.screenshot(path=tmp_path / "real-search.png", full_page=True)
    assert (tmp_path / "real-search.png").stat().st_size > 10_000
