"""Error statuses by whose the error is: a caller's mistake is a 4xx, the server's own failure
a 5xx (503 when the index is gone, 500 otherwise), always one line of JSON, never a traceback."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from podseek.errors import Conflict, NotFound, PodseekError, Unavailable
from podseek.serve.app import create_app
from tests.search_catalog import minilm_home
from tests.serve.test_api import AUTH, settings_for


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace indexed once, its query engine exported by a first start; each test that
    breaks it works on a copy."""
    home = minilm_home(tmp_path_factory.mktemp("errors"))
    with TestClient(create_app(settings_for(home))) as client:
        assert client.get("/readyz").status_code == 200
    return home


@pytest.fixture
def client(built: Path, tmp_path: Path) -> Iterator[TestClient]:
    home = shutil.copytree(built, tmp_path / "home")
    app = create_app(settings_for(home))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client


def one_line(response) -> str:
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, response.text
    assert "Traceback" not in response.text
    return detail


def test_each_kind_carries_its_status() -> None:
    assert PodseekError.http_status == 500
    assert (NotFound.http_status, Conflict.http_status, Unavailable.http_status) == (
        404,
        409,
        503,
    )
    assert all(issubclass(kind, PodseekError) for kind in (NotFound, Conflict, Unavailable))


def test_a_callers_mistakes_are_4xx(client: TestClient) -> None:
    missing = client.get("/api/episodes/nope:1")
    assert missing.status_code == 404 and "nope:1" in one_line(missing)
    gone = client.delete("/api/episodes/nope:1", headers=AUTH)
    assert gone.status_code == 404 and "nope:1" in one_line(gone)
    taken = {"id": "rss:show:ns-001", "episode_title": "Not yours"}
    conflict = client.post("/api/episodes", json=taken, headers=AUTH)
    assert conflict.status_code == 409 and "rss:show" in one_line(conflict)
    bad = client.get("/api/search", params={"q": "stars", "k": 0})
    assert bad.status_code == 422 and one_line(bad).startswith("k: ")


def test_the_index_removed_under_a_running_app_is_a_503(client: TestClient) -> None:
    assert client.get("/api/search", params={"q": "meteor shower"}).status_code == 200
    assert client.get("/readyz").status_code == 200
    home = client.app_state.service.settings.home  # type: ignore[attr-defined]
    shutil.rmtree(home / "index")
    for mode in ("semantic", "keyword", "hybrid"):
        response = client.get("/api/search", params={"q": "sourdough bread", "mode": mode})
        assert response.status_code == 503, (mode, response.text)
        assert "was removed" in one_line(response) and "podseek index" in one_line(response)
    assert client.get("/readyz").status_code == 503


def test_a_damaged_index_is_a_500_with_one_line(built: Path, tmp_path: Path) -> None:
    """The LanceDB table damaged under a server that reads it (with its serving snapshot on,
    the snapshot in memory would still answer: the table is read without one here)."""
    home = shutil.copytree(built, tmp_path / "home")
    app = create_app(settings_for(home, snapshot=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/search", params={"q": "meteor shower"}).status_code == 200
        data = [path for path in (home / "index").rglob("*.lance") if path.parent.name == "data"]
        assert data, "the LanceDB table's data files"
        for path in data:  # the manifest stays: the index is there, but cannot be read
            path.unlink()
        response = client.get("/api/search", params={"q": "sourdough bread", "mode": "semantic"})
        assert response.status_code == 500, response.text
        assert one_line(response).startswith("internal error (")
        assert "lance" not in response.text.lower()  # no internals: the server's log has them


@pytest.mark.parametrize("kind", [PodseekError, NotFound, Conflict, Unavailable])
def test_the_cli_says_each_kind_in_one_line_and_exits_1(
    kind: type[PodseekError], capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from podseek.cli.common import user_errors

    @user_errors
    def command() -> None:
        raise kind("what went wrong, and where")

    with pytest.raises(typer.Exit) as stop:
        command()
    assert stop.value.exit_code == 1
    assert capsys.readouterr().err == "error: what went wrong, and where\n"
