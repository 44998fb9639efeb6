"""The HTTP API with the index on a real Milvus Lite server: search, upsert, delete."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.index.backends import BackendOptions
from podseek.index.episode_index import EpisodeIndex, build_index, read_manifest
from podseek.models.registry import load_encoder
from podseek.serve.app import create_app
from tests.search_catalog import fill_catalog
from tests.serve.test_api import AUTH, KEY, WHALES


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, milvus_uri: str) -> Settings:
    home = tmp_path_factory.mktemp("serve-milvus")
    values = {
        "home": home,
        "model": "minilm",
        "api_key": KEY,
        "backend": "milvus",
        "milvus_uri": milvus_uri,
        "milvus_collection": f"t{uuid.uuid4().hex[:10]}",
    }
    settings = Settings(_env_file=None, **values)
    with CatalogStore(home / "catalog.sqlite") as catalog:
        fill_catalog(catalog)
        build_index(
            catalog,
            load_encoder("minilm", home),
            home / "index",
            2000,
            progress=False,
            backend=BackendOptions.from_settings(settings),
        )
    return settings


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def count(settings: Settings) -> int:
    index = EpisodeIndex.open(settings)
    try:
        return index.backend.count()
    finally:
        index.close()


def test_search_filters_upsert_and_delete_on_milvus(client: TestClient, settings: Settings) -> None:
    assert read_manifest(settings.index_dir).backend == "milvus"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["episodes"] == 12
    top = client.get("/api/search", params={"q": "meteor shower tonight", "k": 3}).json()
    assert top["count"] == 3 and top["data"][0]["id"] == "rss:show:ns-001"
    assert top["data"][0]["published_at"] and top["data"][0]["audio_url"].startswith("https://")
    german = client.get("/api/search", params={"q": "history", "lang": "de"}).json()
    assert german["count"] >= 1 and {r["language"] for r in german["data"]} == {"de"}
    keyword = client.get("/api/search", params={"q": "bread", "mode": "keyword"}).json()
    assert keyword["data"][0]["id"] == "listennotes:2"

    new = WHALES
    before = client.get("/api/search", params={"q": "whale songs", "k": 1}).json()
    assert before["data"][0]["id"] != "api:whales"
    response = client.post("/api/episodes", json=[new], headers=AUTH)
    assert response.status_code == 200 and response.json()["added"] == 1, response.text
    for mode in ("hybrid", "semantic", "keyword"):
        found = client.get("/api/search", params={"q": "whale songs", "k": 1, "mode": mode})
        assert found.json()["data"][0]["id"] == "api:whales", mode
    assert count(settings) == 13
    manifest = read_manifest(settings.index_dir)
    assert (manifest.backend, manifest.rows) == ("milvus", 13)  # written where it lives
    assert not (settings.index_dir / "lancedb").exists()

    assert client.delete("/api/episodes/api:whales", headers=AUTH).status_code == 204
    gone = client.get("/api/search", params={"q": "whale songs", "k": 5}).json()
    assert "api:whales" not in [r["id"] for r in gone["data"]]
    assert count(settings) == 12


def test_a_served_milvus_index_needs_no_backend_setting(settings: Settings) -> None:
    """The manifest says where the index lives: a worker started with the default backend
    setting (and the server named only by the manifest) serves it from Milvus."""
    plain = Settings(_env_file=None, home=settings.home, model="minilm")
    with TestClient(create_app(plain)) as client:
        answer = client.get("/api/search", params={"q": "meteor shower", "k": 1}).json()
        assert answer["data"][0]["id"] == "rss:show:ns-001"
