"""Shared fixtures: an empty workspace per test, the shared real data when present, and a
real Milvus Lite server (started once per session, by the tests that ask for it)."""

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing may download at run time; make any accidental hub access fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from podseek.config import Settings, get_settings
from podseek.index.milvus_backend import MILVUS_EXTRA

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at an empty workspace folder, for the library and the CLI alike."""
    monkeypatch.setenv("PODSEEK_HOME", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)  # no podseek.toml or .env of the developer's leaks in
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real podcast data (``PODSEEK_DATA_DIR`` or ``../shared/data``)."""
    folder = Path(os.environ.get("PODSEEK_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (folder / "listennotes-dec2017").is_dir():
        pytest.skip(f"shared podcast data not found at {folder} (set PODSEEK_DATA_DIR)")
    return folder


START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(uri: str) -> bool:
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=2)
    except Exception:
        return False
    try:
        client.list_collections()
        return True
    except Exception:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a Milvus Lite server with its data in a temporary folder.

    The server is ``milvus-lite server``, a separate process as a real Milvus would be, so
    the tests go through gRPC and pymilvus exactly as production does.
    """
    if not all(importlib.util.find_spec(name) for name in ("pymilvus", "milvus_lite")):
        pytest.skip(MILVUS_EXTRA)
    data: Path = tmp_path_factory.mktemp("milvus")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (data / "server.log").open("wb")
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data / "db")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--max-workers", "4"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(uri):
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (data / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Milvus Lite did not start on {uri}:\n{output}")
            time.sleep(0.2)
        yield uri
    finally:
        # SIGINT is the server's clean shutdown (it closes its database and lock)
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        with contextlib.suppress(OSError):
            log.close()
