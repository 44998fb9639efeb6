"""The HTTP API against a real small index (LanceDB on disk, MiniLM with its int8 query engine)."""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from podseek.config import Settings
from podseek.serve.app import create_app
from tests.search_catalog import minilm_home

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("serve")
    return minilm_home(home)


def settings_for(home: Path, **overrides) -> Settings:
    values = {"home": home, "model": "minilm", "api_key": KEY, **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(home))) as client:
        yield client


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_search_returns_results_with_every_field(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "meteor shower tonight", "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3 and body["mode"] == "hybrid"
    top = body["data"][0]
    assert top["id"] == "rss:show:ns-001"
    for field in (
        "score",
        "show_title",
        "episode_title",
        "snippet",
        "published_at",
        "duration_s",
        "language",
        "audio_url",
    ):
        assert field in top
    assert top["audio_url"].startswith("https://")


def test_filters_narrow_the_results(client: TestClient) -> None:
    german = client.get("/api/search", params={"q": "history", "lang": "de"}).json()
    assert german["count"] >= 1 and {r["language"] for r in german["data"]} == {"de"}
    long_ones = client.get(
        "/api/search", params={"q": "food", "min_duration": 1800, "mode": "semantic"}
    ).json()
    assert "listennotes:2" in [r["id"] for r in long_ones["data"]]  # "Bread basics", 2,400 s
    assert all(r["duration_s"] >= 1800 for r in long_ones["data"])
    dated = client.get(
        "/api/search", params={"q": "stars", "after": "2017-12-01", "before": "2018-01-01"}
    ).json()
    assert "rss:show:ns-001" in [r["id"] for r in dated["data"]]  # the Geminids, 14 December
    assert all("2017-12" in r["published_at"] for r in dated["data"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "q: Field required"),
        ({"q": ""}, "q: String should have at least 1 character"),
        ({"q": "   "}, "q: must contain something other than spaces"),
        ({"q": "x" * 501}, "q: String should have at most 500 characters"),
        ({"q": "a", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"q": "a", "k": 101}, "k: Input should be less than or equal to 100"),
        ({"q": "a", "k": "ten"}, "k: Input should be a valid integer"),
        ({"q": "a", "mode": "fuzzy"}, "mode: Input should be"),
        ({"q": "a", "lang": "english"}, "lang: String should match pattern"),
        ({"q": "a", "after": "last week"}, "after: 'last week' is not a date"),
        ({"q": "a", "min_duration": -1}, "min_duration: Input should be greater than or equal"),
        ({"q": "a", "min_duration": 60, "max_duration": 30}, "must not be more than"),
    ],
)
def test_every_bad_parameter_is_a_readable_422(client: TestClient, params, message) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_episode_by_id(client: TestClient) -> None:
    episode = client.get("/api/episodes/rss:show:https://nightsky.example/002.mp3").json()
    assert episode["episode_title"] == "Saturn's rings"
    missing = client.get("/api/episodes/nope:1")
    assert missing.status_code == 404 and "nope:1" in missing.json()["detail"]


def test_write_routes_need_the_key(client: TestClient) -> None:
    new = {"id": "api:1", "episode_title": "Whales singing", "show_title": "Sea"}
    assert client.post("/api/episodes", json=new).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/episodes", json=new, headers=wrong).status_code == 401
    basic = {"Authorization": f"Basic {KEY}"}
    assert client.delete("/api/episodes/x:1", headers=basic).status_code == 401


def test_write_routes_are_off_without_a_key(home: Path) -> None:
    with TestClient(create_app(settings_for(home, api_key=None))) as client:
        response = client.post("/api/episodes", json={"id": "a:1"}, headers=AUTH)
        assert response.status_code == 403 and "PODSEEK_API_KEY" in response.json()["detail"]


# an episode no test catalog holds, for the write routes
WHALES = {
    "id": "api:whales",
    "show_title": "Deep Blue",
    "episode_title": "Humpback whale songs",
    "episode_description": "Why humpback whales sing, and how far their songs carry.",
    "language": "en",
    "audio_url": "https://blue.example/whales.mp3",
}


def test_upsert_then_find_then_delete_then_gone(client: TestClient) -> None:
    new = [WHALES]
    before = client.get("/api/search", params={"q": "whale songs", "k": 1}).json()
    assert before["data"][0]["id"] != "api:whales"  # and this answer is now cached
    response = client.post("/api/episodes", json=new, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 1
    found = client.get("/api/search", params={"q": "whale songs", "k": 1}).json()
    assert found["data"][0]["id"] == "api:whales"
    again = client.post("/api/episodes", json=new[0], headers=AUTH).json()
    assert again["unchanged"] == 1
    assert client.delete("/api/episodes/api:whales", headers=AUTH).status_code == 204
    gone = client.get("/api/search", params={"q": "whale songs", "k": 5}).json()
    assert "api:whales" not in [r["id"] for r in gone["data"]]
    cached_before_delete = client.get("/api/search", params={"q": "whale songs", "k": 1}).json()
    assert cached_before_delete["data"][0]["id"] != "api:whales"
    assert client.get("/api/episodes/api:whales").status_code == 404
    assert client.delete("/api/episodes/api:whales", headers=AUTH).status_code == 404


def suggestions_settle(client: TestClient, prefix: str, wanted: bool) -> list[str]:
    """The suggestions for ``prefix`` once the server's background rebuild of the catalog
    aids has (or has not, after 30 s) made ``wanted`` true of the whale episode among them."""
    deadline = time.time() + 30
    while True:
        body = client.get("/api/suggest", params={"q": prefix}).json()
        texts = [s["text"] for s in body["suggestions"]]
        if ("Humpback whale songs" in texts) == wanted or time.time() > deadline:
            return texts
        time.sleep(0.2)


def test_suggestions_follow_the_catalog_and_reads_keep_the_answers(client: TestClient) -> None:
    assert "Humpback whale songs" not in suggestions_settle(client, "humpb", wanted=False)
    builds = cache_metric(client, "podseek_catalog_aids_builds")
    assert client.post("/api/episodes", json=WHALES, headers=AUTH).status_code == 200
    assert "Humpback whale songs" in suggestions_settle(client, "humpb", wanted=True)
    # writes that change nothing, reads (of episodes, of facets) and time pass: answers stay
    params = {"q": "whale songs", "k": 3}
    first = client.get("/api/search", params=params).content
    hits = cache_metric(client, "podseek_answer_cache_hits")
    for _ in range(3):
        assert client.post("/api/episodes", json=WHALES, headers=AUTH).json()["unchanged"] == 1
        assert client.get("/api/episodes/api:whales").status_code == 200
        assert client.get("/api/facets").status_code == 200
        time.sleep(1.1)  # past the server's once-a-second look at the catalog
        assert client.get("/api/search", params=params).content == first
    assert cache_metric(client, "podseek_answer_cache_hits") == hits + 3
    assert cache_metric(client, "podseek_catalog_aids_builds") == builds + 1  # one per write
    assert client.delete("/api/episodes/api:whales", headers=AUTH).status_code == 204
    assert "Humpback whale songs" not in suggestions_settle(client, "humpb", wanted=False)


def test_bad_episode_bodies_are_422(client: TestClient) -> None:
    assert client.post("/api/episodes", json=[], headers=AUTH).status_code == 422
    bad = client.post("/api/episodes", json=[{"episode_title": "no id"}], headers=AUTH)
    assert bad.status_code == 422 and "episode 0: id: Field required" in bad.json()["detail"]
    typed = client.post("/api/episodes", json={"id": "a:1", "duration_s": "long"}, headers=AUTH)
    assert typed.status_code == 422 and "duration_s" in typed.json()["detail"]
    text = client.post("/api/episodes", content=b"\xff\xfe", headers=AUTH)
    assert text.status_code == 422


def test_operations_routes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model"] == "minilm"
    client.get("/api/search", params={"q": "bread"})
    client.get("/api/search", params={"q": "bread"})
    metrics = client.get("/metrics").text
    assert 'podseek_http_requests_total{method="GET",route="/api/search",status="200"}' in metrics
    assert "podseek_http_request_duration_seconds_bucket" in metrics
    assert "podseek_index_episodes" in metrics
    hits = [line for line in metrics.splitlines() if line.startswith("podseek_query_cache_hits")]
    assert float(hits[0].split()[-1]) >= 1
    assert client.get("/docs").status_code == 200
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


def cache_metric(client: TestClient, name: str) -> float:
    line = next(
        line for line in client.get("/metrics").text.splitlines() if line.startswith(name + " ")
    )
    return float(line.split()[-1])


def test_a_repeated_search_is_answered_from_the_answer_cache(home: Path) -> None:
    # its own server: the shared one rebuilds its answers after the write tests' changes
    with TestClient(create_app(settings_for(home))) as client:
        repeated_searches_are_cached(client)


def repeated_searches_are_cached(client: TestClient) -> None:
    params = {"q": "sourdough bread starter", "k": 4, "mode": "semantic"}
    first = client.get("/api/search", params=params)
    hits = cache_metric(client, "podseek_answer_cache_hits")
    misses = cache_metric(client, "podseek_answer_cache_misses")
    second = client.get("/api/search", params=params)
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert cache_metric(client, "podseek_answer_cache_hits") == hits + 1
    other_k = client.get("/api/search", params={**params, "k": 2}).json()
    assert other_k["count"] == 2  # another k is another answer
    assert cache_metric(client, "podseek_answer_cache_misses") == misses + 1


def test_the_answer_cache_can_be_turned_off(home: Path) -> None:
    app = create_app(settings_for(home, answer_cache_size=0))
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/api/search", params={"q": "bread"}).json()["count"] >= 1
        assert cache_metric(client, "podseek_answer_cache_hits") == 0


def test_not_ready_without_an_index(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path))) as client:
        assert client.get("/readyz").status_code == 503
        response = client.get("/api/search", params={"q": "x"})
        assert response.status_code == 503 and "podseek index" in response.json()["detail"]


def test_a_new_index_version_is_picked_up_without_failing_requests(home: Path) -> None:
    app = create_app(settings_for(home))
    with TestClient(app) as client:
        service = app.state.service
        service.check_every_s = 0.0
        before = service.reloads
        client.get("/api/search", params={"q": "bread"})
        encoded = service.cache_counts()["query_misses"]
        # `podseek index` writes a new manifest (here: the same rows, a new updated_at)
        manifest = home / "index" / "manifest.json"
        data = json.loads(manifest.read_text())
        time.sleep(0.01)
        manifest.write_text(json.dumps({**data, "updated_at": "2030-01-01T00:00:00+00:00"}))
        os.utime(manifest)
        statuses = set()
        deadline = time.time() + 30
        while service.reloads == before and time.time() < deadline:
            statuses.add(client.get("/api/search", params={"q": "bread"}).status_code)
        assert service.reloads == before + 1
        statuses.add(client.get("/api/search", params={"q": "bread"}).status_code)
        assert statuses == {200}
        # the new version answered the recent searches before it took over, and query
        # vectors outlive index versions of the same model
        assert service.cache_counts()["answer_hits"] >= 1
        assert service.cache_counts()["query_misses"] == encoded


SWEEP = [
    "' OR 1=1 --",
    "id = 'x' OR 1=1",
    "language = 'de' --",
    "title:foo",
    '"unbalanced',
    '"meteor shower" tonight',  # a phrase query: LanceDB needs positions for it
    "a AND (b OR",
    "AND",
    "OR OR OR",
    '+-&&||!(){}[]^"~*?:\\/',
    "<script>alert(1)</script>",
    "\x00",
    "\u202e evil",
    "😀",
    "%",
    "\\",
    "\n\n",
]


@pytest.mark.parametrize("query", SWEEP)
def test_bad_input_sweep_never_breaks_the_server(client: TestClient, query: str) -> None:
    """Injection-looking text in every free-text parameter, in every mode: an answer or a
    readable 422, never a 500 (the filters are escaped; BM25 reads the query as words)."""
    for mode in ("hybrid", "keyword", "semantic"):
        params = {"q": query, "mode": mode, "show": query, "category": query}
        response = client.get("/api/search", params=params)
        assert response.status_code in (200, 422), (mode, response.text)
        body = response.json()
        if response.status_code == 422:
            assert body["detail"].split(":")[0] in ("q", "show", "category"), body
        else:
            assert body["query"] == query.strip() and body["mode"] == mode
            assert body["count"] == len(body["data"])


@pytest.mark.parametrize(
    "raw",
    [
        "/api/search?q=%ff%fe",  # not UTF-8
        "/api/search?q=caf%e9",
        "/api/search?q=a&k=1e9",
        "/api/search?q=a&lang=%00",
        "/api/search?q=" + "x" * 60_000,  # long URLs: 1 MB ones stop at the HTTP layer
        "/api/search?q=a&min_duration=99999999999999999999",
    ],
)
def test_raw_bad_requests_are_answered(client: TestClient, raw: str) -> None:
    response = client.get(raw)
    assert response.status_code in (200, 422), response.text


def test_a_huge_body_is_refused_cleanly(client: TestClient) -> None:
    huge = b'{"id": "a:1", "episode_title": "' + b"x" * 1_000_000 + b'"'  # 1 MB, unterminated
    assert client.post("/api/episodes", content=huge, headers=AUTH).status_code == 422


def test_podseek_serve_prints_its_address_once_it_answers(home: Path) -> None:
    """The address line comes after the index and its encoders are loaded: a request sent
    as soon as it is printed is answered."""
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PODSEEK_HOME": str(home), "PODSEEK_MODEL": "minilm"}
    command = [sys.executable, "-m", "podseek", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().startswith(f"podseek: loading {home}")
        ready = server.stdout.readline()
        assert ready.startswith(f"podseek: searching {home} at http://127.0.0.1:{port}/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
