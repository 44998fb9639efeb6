"""What listeners expect beside a result list, over HTTP on a real small index: shows, more
like this, suggestions, did you mean, sorting, and the search log that feeds training."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.queries.logs import import_search_logs
from podseek.queries.store import LOG_CLICK, QueryStore
from podseek.serve.app import create_app
from tests.search_catalog import minilm_home

NIGHT_SKY = "rss:show:https://nightsky.example"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return minilm_home(tmp_path_factory.mktemp("listener"))


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, home=home, model="minilm", search_log=home / "log.jsonl")
    with TestClient(create_app(settings)) as client:
        yield client


def log_lines(home: Path) -> list[dict]:
    return [json.loads(line) for line in (home / "log.jsonl").read_text().splitlines()]


def test_show_search_ranks_shows_with_their_facts(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "astronomy night sky", "type": "show"}).json()
    top = body["data"][0]
    assert top["id"] == NIGHT_SKY and top["show_title"] == "Night Sky Notes"
    assert top["episode_count"] == 3 and top["language"] == "en"
    assert isinstance(top["categories"], list)
    assert top["episodes"] and all(e["id"].startswith("rss:show:") for e in top["episodes"])
    assert len({show["id"] for show in body["data"]}) == body["count"]  # each show once


def test_date_sort_over_http(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "kitchen bread", "sort": "date", "k": 5}).json()
    assert body["sort"] == "date"
    dated = [r["published_at"] for r in body["data"] if r["published_at"]]
    assert len(dated) >= 2 and dated == sorted(dated, reverse=True)


def test_more_like_this(client: TestClient) -> None:
    response = client.get("/api/episodes/rss:show:ns-001/similar", params={"k": 4})
    assert response.status_code == 200, response.text
    ids = [r["id"] for r in response.json()["data"]]
    assert len(ids) == 4 and "rss:show:ns-001" not in ids
    others = client.get(
        "/api/episodes/rss:show:ns-001/similar", params={"same_show": "exclude", "lang": "en"}
    ).json()
    assert others["data"] and all(r["show_id"] != NIGHT_SKY for r in others["data"])
    assert {r["language"] for r in others["data"]} == {"en"}
    only = client.get("/api/episodes/rss:show:ns-001/similar", params={"same_show": "only"})
    assert {r["show_id"] for r in only.json()["data"]} == {NIGHT_SKY}


def test_suggestions_as_you_type(client: TestClient) -> None:
    body = client.get("/api/suggest", params={"q": "night"}).json()
    assert {"text": "Night Sky Notes", "kind": "show", "id": NIGHT_SKY} in body["suggestions"]
    words = client.get("/api/suggest", params={"q": "gemin"}).json()["suggestions"]
    assert any(s["text"].startswith("Watching the Geminids") for s in words)  # a word's start
    assert client.get("/api/suggest", params={"q": "zzqx"}).json()["suggestions"] == []


def test_did_you_mean_is_offered_not_applied(client: TestClient) -> None:
    # "astronomy" is in three episodes' text; the typo is in none
    body = client.get("/api/search", params={"q": "astronmy podcast"}).json()
    assert body["query"] == "astronmy podcast"  # never rewritten
    assert body["did_you_mean"] == "astronomy podcast"
    shows = client.get("/api/search", params={"q": "astronmy", "type": "show"}).json()
    assert shows["did_you_mean"] == "astronomy"
    assert client.get("/api/search", params={"q": "astronomy"}).json()["did_you_mean"] is None


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/episodes/nope:1/similar", {}, "episode_id: no episode with id 'nope:1'"),
        ("/api/episodes/rss:show:ns-001/similar", {"same_show": "maybe"}, "same_show: Input"),
        ("/api/episodes/rss:show:ns-001/similar", {"k": 0}, "k: Input should be greater"),
        ("/api/suggest", {"q": ""}, "q: String should have at least 1 character"),
        ("/api/suggest", {"q": "   "}, "q: must contain something other than spaces"),
        ("/api/suggest", {"q": "x" * 500}, "q: String should have at most 100 characters"),
        ("/api/suggest", {}, "q: Field required"),
        ("/api/search", {"q": "a", "sort": "oldest"}, "sort: Input should be 'relevance'"),
        ("/api/search", {"q": "a", "type": "podcast"}, "type: Input should be 'episode'"),
        ("/api/search", {"q": "a", "type": "show", "sort": "date"}, "sort: date orders"),
        ("/api/search", {"q": "a", "session": "has spaces"}, "session: String should match"),
    ],
)
def test_bad_input_is_a_readable_422(client: TestClient, path, params, message) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_searches_and_clicks_feed_training_pairs(client: TestClient, home: Path) -> None:
    session = "tab42"
    client.get("/api/search", params={"q": "falling stars in december", "session": session})
    found = client.get("/api/search", params={"q": "meteor shower", "session": session}).json()
    clicked = found["data"][0]["id"]
    response = client.post(
        "/api/clicks", json={"query": "meteor shower", "episode_id": clicked, "session_id": session}
    )
    assert response.status_code == 204
    lines = [line for line in log_lines(home) if line["session_id"] == session]
    assert [line["query"] for line in lines] == [
        "falling stars in december",
        "meteor shower",
        "meteor shower",
    ]
    assert lines[-1]["clicked_episode_id"] == clicked and lines[0]["results"] >= 1
    assert all(set(line) >= {"session_id", "timestamp", "query"} for line in lines)
    assert not any("ip" in key or "agent" in key for line in lines for key in line)
    # the log is what `podseek queries import-logs` reads: a click pair and a reformulation
    with (
        CatalogStore(home / "catalog.sqlite") as catalog,
        QueryStore(home / "queries.sqlite") as store,
    ):
        report = import_search_logs(home / "log.jsonl", catalog, store)
        pairs = {(p["source"], p["query"], p["episode_id"]) for p in store.iter_pairs()}
    assert (LOG_CLICK, "meteor shower", clicked) in pairs
    assert report.reformulation_pairs == 1 and report.skipped.total() == 0


def test_a_bad_click_is_a_422(client: TestClient) -> None:
    response = client.post("/api/clicks", json={"query": "", "episode_id": "x"})
    assert response.status_code == 422 and "query" in response.json()["detail"]


def test_the_new_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/suggest", "/api/clicks", "/api/episodes/{episode_id}/similar"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/search"]["get"]["parameters"]}
    assert {"type", "sort", "session", "lang", "show"} <= parameters
