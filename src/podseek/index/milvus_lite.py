"""A local Milvus Lite server (``milvus-lite server``) for tests, benchmarks and trying the
Milvus backend on a laptop: a separate process speaking Milvus' gRPC protocol, so pymilvus
talks to it exactly as it talks to a Milvus cluster. Not for production: Milvus Lite 3 is a
single-process Python server."""

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from podseek.errors import PodseekError

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(uri: str) -> bool:
    """Whether a Milvus server at ``uri`` answers a request."""
    from pymilvus import MilvusClient

    try:
        # its own connection, closed below: a shared one would outlive the probe, pinging
        client = MilvusClient(uri=uri, timeout=2, dedicated=True)
    except Exception:
        return False
    try:
        client.list_collections()
        return True
    except Exception:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def milvus_lite_server(folder: Path) -> Iterator[tuple[str, int]]:
    """``(uri, pid)`` of a Milvus Lite server on a free port of 127.0.0.1 with its data in
    ``folder / "db"`` (its log in ``folder / "server.log"``), stopped with SIGINT (its clean
    shutdown: it closes its database and lock) when the block ends."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "db")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--max-workers", "4"]
    with log_path.open("wb") as log:
        # its own session: a Ctrl-C meant for the caller's process group (a test that
        # interrupts a pipeline, a developer stopping a benchmark) must not stop the server
        # under the remaining work; it is stopped below, on purpose
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not answers(uri):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise PodseekError(f"Milvus Lite did not start on {uri}:\n{tail}")
                time.sleep(0.2)
            yield uri, server.pid
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
