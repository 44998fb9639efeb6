"""Issue 16 through the API: values at the edge of their types are a 422, never a 500; a write
that answers an error has written nothing; what answered 200 is readable and searchable."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.cli.search import filter_date
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.index.base import IndexRow, SearchFilters
from podseek.index.episode_index import EpisodeIndex
from podseek.index.lancedb_backend import LanceDBBackend, where_clause
from podseek.serve import service as service_module
from podseek.serve.app import create_app
from tests.search_catalog import minilm_home

KEY = "edge-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
EPISODE = {
    "id": "api:edge",
    "show_title": "Edge Cases Weekly",
    "episode_title": "Dates at the end of time",
    "episode_description": "Why calendars stop at year 9999 and what software does then.",
    "language": "en",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("edges")
    return minilm_home(home)


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, home=home, model="minilm", api_key=KEY)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def in_step(home: Path) -> bool:
    """The catalog and the index hold the same records, each at the same version."""
    with CatalogStore(home / "catalog.sqlite") as catalog:
        wanted = catalog.content_hashes()
    index = EpisodeIndex(home / "index")
    try:
        return index.backend.content_hashes() == wanted
    finally:
        index.backend.close()


def search_all(client: TestClient, q: str) -> set[int]:
    return {
        client.get("/api/search", params={"q": q, "mode": mode, "k": 20}).status_code
        for mode in ("semantic", "keyword", "hybrid")
    }


# failure 1: a date that made every search that found it answer 500 -------------------------


def test_a_date_past_year_9999_in_utc_is_a_422(client: TestClient, home: Path) -> None:
    body = {**EPISODE, "published_at": "9999-12-31T23:59:59-01:00"}
    response = client.post("/api/episodes", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert "published_at" in response.json()["detail"]
    assert client.get("/api/episodes/api:edge").status_code == 404
    assert search_all(client, "calendars stop at year 9999") == {200}


def test_dates_at_the_ends_of_the_range_are_stored_and_searchable(
    client: TestClient, home: Path
) -> None:
    for stamp in ("1900-01-01T00:00:00+00:00", "2017-12-01T23:30:00-01:00"):
        body = {**EPISODE, "published_at": stamp}
        response = client.post("/api/episodes", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        assert search_all(client, "calendars stop at year 9999") == {200}
        found = client.get("/api/search", params={"q": "calendars year 9999", "k": 1}).json()
        assert found["data"][0]["id"] == "api:edge"
    stored = client.get("/api/episodes/api:edge").json()
    assert stored["published_at"] == "2017-12-02T00:30:00Z"
    assert client.delete("/api/episodes/api:edge", headers=AUTH).status_code == 204
    assert in_step(home)


# failure 2: a duration over int32 that blocked every later write --------------------------


def test_a_duration_over_seven_days_is_a_422_and_writes_go_on(
    client: TestClient, home: Path
) -> None:
    for duration in (1099511627776, 10**30, -1, 604801):
        body = {**EPISODE, "duration_s": duration}
        response = client.post("/api/episodes", json=body, headers=AUTH)
        assert response.status_code == 422, (duration, response.text)
    response = client.post("/api/episodes", json={**EPISODE, "duration_s": 604800}, headers=AUTH)
    assert response.status_code == 200, response.text
    longest = client.get(
        "/api/search", params={"q": "calendars", "min_duration": 604800, "mode": "keyword"}
    ).json()
    assert [r["id"] for r in longest["data"]] == ["api:edge"]
    assert client.delete("/api/episodes/api:edge", headers=AUTH).status_code == 204
    assert in_step(home)


# the rest of what the API accepted -----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"id": ""},
        {"id": "api:\x00nul"},
        {"id": "api:" + "x" * 600},
        {"episode_title": "NUL\x00in the title"},
        {"language": "x" * 40},
        {"categories": 5},
        {"categories": [{"nested": 1}]},
        {"published_at": "0001-01-01T00:00:00+01:00"},
        {"published_at": "²"},
    ],
)
def test_values_out_of_range_are_422(client: TestClient, body: dict) -> None:
    response = client.post("/api/episodes", json={**EPISODE, **body}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("episode: ")


def test_a_lone_surrogate_in_a_title_is_a_422(client: TestClient) -> None:
    raw = b'{"id": "api:s", "episode_title": "bad \\ud800 text"}'
    response = client.post(
        "/api/episodes", content=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text


def test_source_is_the_apis_own(client: TestClient, home: Path) -> None:
    response = client.post("/api/episodes", json={**EPISODE, "source": "rss:1865"}, headers=AUTH)
    assert response.status_code == 422 and "source" in response.json()["detail"]
    # nor can a key holder replace a feed's record by its id
    taken = {**EPISODE, "id": "rss:show:ns-001"}
    response = client.post("/api/episodes", json=taken, headers=AUTH)
    assert response.status_code == 409, response.text
    assert client.get("/api/episodes/rss:show:ns-001").json()["source"] == "rss:show"
    assert in_step(home)


# atomic writes -------------------------------------------------------------------------------


def test_a_write_that_fails_while_indexing_leaves_catalog_and_index_as_they_were(
    client: TestClient, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service_module.build_index

    def fails_after_writing(*args, **kwargs):
        real(*args, **kwargs)  # the index holds the new rows, the catalog has not committed
        raise OSError("disk full")

    monkeypatch.setattr(service_module, "build_index", fails_after_writing)
    response = client.post("/api/episodes", json=EPISODE, headers=AUTH)
    assert response.status_code == 500
    monkeypatch.setattr(service_module, "build_index", real)
    assert client.get("/api/episodes/api:edge").status_code == 404
    assert in_step(home)

    assert client.post("/api/episodes", json=EPISODE, headers=AUTH).status_code == 200
    monkeypatch.setattr(service_module, "build_index", fails_after_writing)
    assert client.delete("/api/episodes/api:edge", headers=AUTH).status_code == 500
    monkeypatch.setattr(service_module, "build_index", real)
    assert client.get("/api/episodes/api:edge").status_code == 200
    assert in_step(home)
    found = client.get("/api/search", params={"q": "calendars stop at year 9999", "k": 1})
    assert found.json()["data"][0]["id"] == "api:edge"
    assert client.delete("/api/episodes/api:edge", headers=AUTH).status_code == 204
    assert in_step(home)


# failure 5: date filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("after", "0001-01-01"),
        ("after", "²"),
        ("after", "0001-01-01T00:00:00+01:00"),
        ("before", "9999-12-31T23:59:59-01:00"),
        ("before", "next week"),
    ],
)
def test_a_date_filter_out_of_range_is_a_422(client: TestClient, name: str, value: str) -> None:
    for mode in ("semantic", "keyword", "hybrid"):
        response = client.get("/api/search", params={"q": "stars", "mode": mode, name: value})
        assert response.status_code == 422, (mode, response.text)
        assert response.json()["detail"].startswith(f"{name}: ")


def test_date_filters_at_the_ends_of_the_range_answer(client: TestClient) -> None:
    params = {"q": "stars", "after": "1900-01-01", "before": "2018-01-01T00:00:00+01:00"}
    assert {
        client.get("/api/search", params={**params, "mode": mode}).status_code
        for mode in ("semantic", "keyword", "hybrid")
    } == {200}


def test_the_where_clause_pads_the_year() -> None:
    early = datetime(1, 1, 1, tzinfo=UTC)
    assert "TIMESTAMP '0001-01-01 00:00:00'" in where_clause(SearchFilters(after=early))


@pytest.mark.parametrize("value", ["²", "0001-01-01", "9999-12-31T23:59:59-01:00"])
def test_the_cli_date_filter_is_one_line(value: str) -> None:
    with pytest.raises(PodseekError, match=r"^--after: "):
        filter_date(value, "--after")


def test_an_index_row_dated_past_year_9999_reads_as_undated(tmp_path: Path) -> None:
    """An index written before the catalog checked dates: the row that made every search
    that found it answer 500 now reads without a date."""
    backend = LanceDBBackend(tmp_path, "t", 4)
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    legacy = Episode.model_construct(id="x:1", source="x", episode_title="Late", published_at=late)
    dated = Episode(id="x:2", source="x", published_at=datetime(2017, 12, 1, tzinfo=UTC))
    vector = np.array([1, 0, 0, 0], dtype=np.float32)
    backend.upsert([IndexRow(legacy, "late", "h", vector), IndexRow(dated, "dated", "h", vector)])
    fetched = backend.fetch(["x:1", "x:2"])
    assert fetched["x:1"]["published_at"] is None
    assert fetched["x:2"]["published_at"] == datetime(2017, 12, 1, tzinfo=UTC)
