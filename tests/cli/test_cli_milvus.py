"""``podseek index`` and ``search`` with the index on a real Milvus Lite server, chosen by the
backend setting alone, answering as the same workspace does on LanceDB."""

import importlib.util
import json
import uuid

import pytest
from typer.testing import CliRunner

from podseek.catalog.store import CatalogStore
from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.index.episode_index import read_manifest
from podseek.index.milvus_backend import MILVUS_EXTRA
from tests.search_catalog import fill_catalog

runner = CliRunner()
SEARCHES = [
    ["meteor shower"],
    ["bread", "--mode", "keyword"],
    ["christmas food", "--mode", "keyword"],
    ["saturn rings", "--mode", "semantic"],
    ["sourdough starter", "--mode", "hybrid", "--k", "5"],
    ["food", "--lang", "en", "--min-duration", "1800"],
    ["stars", "--after", "2017-12-01", "--before", "2018-01-01", "--mode", "semantic"],
]


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def answers() -> list[list[tuple[str, str]]]:
    """``(id, title)`` of every result of every search, in order."""
    found = []
    for search in SEARCHES:
        result = run("search", *search, "--json")
        assert result.exit_code == 0, result.output
        (answer,) = json.loads(result.stdout)["results"]
        found.append([(hit["id"], hit["episode_title"]) for hit in answer["data"]])
    return found


def use(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> Settings:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(f"PODSEEK_{name.upper()}", raising=False)
        else:
            monkeypatch.setenv(f"PODSEEK_{name.upper()}", value)
    get_settings.cache_clear()
    return get_settings()


def test_index_and_search_on_milvus_answer_as_on_lancedb(
    workspace: Settings, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CatalogStore(workspace.catalog_path) as catalog:
        fill_catalog(catalog)
    assert run("index", "--model", "minilm").exit_code == 0
    on_lancedb = answers()
    assert all(on_lancedb) and on_lancedb[0][0][1] == "Watching the Geminids"

    prefix = f"t{uuid.uuid4().hex[:10]}"
    use(monkeypatch, backend="milvus", milvus_uri=milvus_uri, milvus_collection=prefix)
    result = run("index", "--model", "minilm", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # another backend: a rebuild there
    assert report["rebuilt"] and report["encoded"] == report["rows"] == 12
    assert report["backend"] == f"milvus at {milvus_uri}"
    manifest = read_manifest(workspace.index_dir)
    assert (manifest.backend, manifest.uri) == ("milvus", milvus_uri)
    assert manifest.collection == f"{prefix}_{manifest.table}"
    assert answers() == on_lancedb

    text = run("index", "--model", "minilm").stdout
    assert text.startswith(f"index updated in milvus at {milvus_uri} with minilm: 12 episodes")
    assert " MB" not in text  # Milvus does not say how much disk it takes

    # the backend and the server left unset: the index stays where its manifest says
    use(monkeypatch, backend=None, milvus_uri=None)
    again = json.loads(run("index", "--model", "minilm", "--json").stdout)
    assert (again["rebuilt"], again["encoded"], again["backend"]) == (
        False,
        0,
        f"milvus at {milvus_uri}",
    )
    assert answers() == on_lancedb
    assert read_manifest(workspace.index_dir).backend == "milvus"


@pytest.mark.skipif(importlib.util.find_spec("pymilvus") is None, reason=MILVUS_EXTRA)
def test_an_unreachable_milvus_is_one_line(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CatalogStore(workspace.catalog_path) as catalog:
        fill_catalog(catalog)
    use(monkeypatch, backend="milvus", milvus_uri="http://me:hunter2@127.0.0.1:1")
    result = runner.invoke(app, ["index", "--model", "minilm"])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach Milvus at http://***@127.0.0.1:1" in result.stderr
    assert "hunter2" not in result.output
    assert read_manifest(workspace.index_dir) is None


def test_an_ensemble_index_on_milvus_keeps_collections_of_its_own(
    workspace: Settings, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podseek.index.episode_index import EpisodeIndex, open_ensemble_indexes

    with CatalogStore(workspace.catalog_path) as catalog:
        fill_catalog(catalog)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = use(
        monkeypatch,
        backend="milvus",
        milvus_uri=milvus_uri,
        milvus_collection=prefix,
        ensemble_model="use-multilingual",
    )
    result = run("index", "--model", "minilm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ensemble"]["rows"] == 12
    main = EpisodeIndex.open(settings)
    (ensemble,) = open_ensemble_indexes(settings, main.manifest, pytest.fail)
    assert read_manifest(settings.ensemble_index_dirs[0]).collection.startswith(
        f"{prefix}_ensemble_"
    )
    # a rebuild of either drops its own other tables only: neither sees the other's
    assert main.backend.table_names() == [main.backend.table_name]
    assert ensemble.backend.table_names() == [ensemble.backend.table_name]
    main.close(), ensemble.close()
    assert answers()[0][0][1] == "Watching the Geminids"


def test_a_segment_index_on_milvus_finds_moments(
    workspace: Settings, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podseek.catalog.transcripts import Segment

    said = [Segment(start=60.0 * n, end=60.0 * n + 50, text=f"small talk {n}") for n in range(6)]
    said[4] = Segment(
        start=240.0, end=290.0, text="a telescope mirror ground by hand", speaker="Jo"
    )
    with CatalogStore(workspace.catalog_path) as catalog:
        fill_catalog(catalog)
        with catalog.write("rss:show") as batch:
            batch.set_transcript("rss:show:ns-001", "vtt", said)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = use(monkeypatch, backend="milvus", milvus_uri=milvus_uri, milvus_collection=prefix)
    result = run("index", "--model", "minilm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["segments"]["rows"] == 5  # the last cue is in the 5th
    segments = read_manifest(settings.segments_index_dir)
    assert segments.backend == "milvus" and segments.collection.startswith(f"{prefix}_segments_")
    found = run("search", "grinding a telescope mirror", "--json")
    (answer,) = json.loads(found.stdout)["results"]
    (geminids,) = [hit for hit in answer["data"] if hit["id"] == "rss:show:ns-001"]
    assert geminids["moments"][0]["start"] == 240.0
    assert geminids["moments"][0]["speaker"] == "Jo"
