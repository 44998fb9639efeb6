"""Load on `podseek serve` over loopback: QPS, p50 / p99 latency and errors, then the same
while an index swap happens.

Starts `podseek serve` on 127.0.0.1 over a workspace that has a catalog and an index (for
example the Listen Notes one `make demo` builds), waits for /readyz, and runs N client
threads for T seconds each phase, bounded by --max-requests. Queries are the TREC podcast
track topics (their short <query> and their long <description>), cycled in a seeded order.

Phase "swap": a third of the way in, a small RSS feed is ingested into the same workspace and
`podseek index` runs (it encodes the new episodes and writes a new index version); the server
must pick the new version up without a failed request. The workspace's catalog keeps the
feed's episodes afterwards (`podseek ingest` of the same feed again changes nothing).

    python benchmarks/serve_load.py --home podseek-data --data ../shared/data

``--scale N`` first builds a workspace of N episodes at ``--home`` (when it has none): the
real Listen Notes + Taddy + Sommar episodes (~18k) encoded by the default encoder, then copies
of them (ids ``<id>~<n>``, the same text, the original's vector plus noise: cosine ~0.9 to
it) up to N, so that keyword search, filters and the vector index work on N real-looking
rows without encoding N texts. ``podseek index`` in the swap phase then encodes only the new
feed's episodes, as it would in production.

The clients are asyncio connections speaking HTTP/1.1 keep-alive directly, so that the load
generator takes little of the CPU it shares with the server.
"""

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np

FEED = Path(__file__).resolve().parent.parent / "tests" / "catalog" / "fixtures" / "show.xml"


def topics(folder: Path) -> list[str]:
    """Every <query> and <description> of the TREC podcast topic files."""
    texts: list[str] = []
    for path in sorted(folder.glob("*.xml")):
        raw = path.read_text(encoding="utf-8")
        for tag in ("query", "description"):
            texts += [" ".join(t.split()) for t in re.findall(rf"<{tag}>(.*?)</{tag}>", raw, re.S)]
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# the workspace ---------------------------------------------------------------------------


class CopyEncoder:
    """Encodes a copy of a real episode as the original's vector plus noise (cosine ~0.9):
    copies then sit near their original, as the episodes of one show do. It passes for the
    real encoder (same name, fingerprint, dimension), so queries use that one."""

    def __init__(self, real, vectors_by_text: dict[str, np.ndarray], seed: int = 0) -> None:
        self.name = real.name
        self.fingerprint = getattr(real, "fingerprint", real.name)
        self.dimension = real.dimension
        self.vectors_by_text = vectors_by_text
        self.rng = np.random.default_rng(seed)

    def encode_episodes(self, texts: Sequence[str], **_: object) -> np.ndarray:
        base = np.stack([self.vectors_by_text[t] for t in texts])
        noise = self.rng.normal(size=base.shape).astype(np.float32)
        noise *= 0.45 / np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = base + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    encode_queries = encode_episodes


class ClusteredEncoder:
    """Stands for the real encoder (same name, fingerprint, dimension) when the originals are
    not worth encoding (``--synthetic-vectors``): each text gets a unit vector near one of
    2,000 random centres, so that a million rows exist in minutes and still have the
    neighbour structure of real embeddings. Latency, memory and recall against exact search
    are measured on such vectors; search quality is not."""

    def __init__(self, real, seed: int = 0) -> None:
        self.name = real.name
        self.fingerprint = getattr(real, "fingerprint", real.name)
        self.dimension = real.dimension
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(size=(2000, self.dimension)).astype(np.float32)

    def encode_episodes(self, texts: Sequence[str], **_: object) -> np.ndarray:
        picked = self.centres[self.rng.integers(0, len(self.centres), len(texts))]
        noise = self.rng.normal(size=picked.shape).astype(np.float32)
        vectors = picked + 0.6 * noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build_workspace(home: Path, data: Path, size: int, synthetic_vectors: bool = False) -> None:
    """A workspace of ``size`` episodes: the real ones encoded (or given synthetic vectors),
    then copies (see above)."""
    from podseek.catalog.ingest import ingest
    from podseek.catalog.sources.listennotes import ListenNotesSource
    from podseek.catalog.sources.table import TableMapping, TableSource
    from podseek.catalog.store import CatalogStore
    from podseek.config import Settings
    from podseek.index.base import AnnSettings
    from podseek.index.episode_index import build_index
    from podseek.index.lancedb_backend import LanceDBBackend
    from podseek.models.registry import load_encoder

    settings = Settings(home=home)
    ann = AnnSettings.from_settings(settings)
    real_sources = [
        ListenNotesSource(data / "listennotes-dec2017"),
        TableSource(
            data / "taddy-episodes-2023" / "podcastepisode.gz.parquet", TableMapping.load("taddy")
        ),
        TableSource(data / "sommar-i-p1" / "episodes.csv", TableMapping.load("sommar-i-p1")),
    ]
    home.mkdir(parents=True, exist_ok=True)
    with CatalogStore(settings.catalog_path) as catalog:
        if catalog.count() >= size:
            return
        print(f"# building a {size:,}-episode workspace in {home}", flush=True)
        for source in real_sources:
            ingest(catalog, source, progress=False)
        originals = [e for e in catalog.iter_episodes() if "~" not in e.id]
        encoder = load_encoder(settings.model, home, settings.query_engine)
        originals_encoder = ClusteredEncoder(encoder) if synthetic_vectors else encoder
        report = build_index(
            catalog, originals_encoder, settings.index_dir, settings.text_max_chars, ann
        )
        print(f"# real episodes: {report.rows:,} ({report.encoded:,} encoded)", flush=True)

        with catalog.write("copies") as batch:
            for n in range(size - len(originals)):
                original = originals[n % len(originals)]
                copy = n // len(originals) + 1
                batch.upsert(original.model_copy(update={"id": f"{original.id}~{copy}"}))
        table = (
            LanceDBBackend(settings.index_dir / "lancedb", report.table, encoder.dimension, ann)
            ._table.search()
            .select(["text", "vector"])
            .limit(None)
            .to_arrow()
        )
        vectors = table.column("vector").combine_chunks().flatten().to_numpy()
        by_text = dict(
            zip(
                table.column("text").to_pylist(),
                vectors.reshape(-1, encoder.dimension),
                strict=True,
            )
        )
        copies = CopyEncoder(encoder, by_text)
        report = build_index(
            catalog, copies, settings.index_dir, settings.text_max_chars, ann, chunk_size=50_000
        )
        print(
            f"# workspace: {report.rows:,} episodes, vector index {report.vector_index}, "
            f"{report.seconds:.0f} s for the copies, of which {report.snapshot_seconds:.0f} s "
            "writing the serving snapshot",
            flush=True,
        )


# the load --------------------------------------------------------------------------------


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One GET on a kept-alive connection; the status code (the body is read and dropped)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        (
            int(v)
            for k, _, v in (h.partition(":") for h in lines[1:])
            if k.lower() == "content-length"
        ),
        None,
    )
    if length is None:
        raise ConnectionError("answer without Content-Length")
    await reader.readexactly(length)
    return status


async def run_phase(
    port: int,
    queries: list[str],
    clients: int,
    seconds: float,
    max_requests: int,
    during: Callable[[], str] | None = None,
) -> dict[str, object]:
    """``clients`` connections, each sending its next query as soon as the last is answered,
    for ``seconds``; with ``during``, it runs a third of the way in and the phase lasts until
    it has returned and ``seconds / 3`` more."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    budget = iter(range(max_requests))
    finished = asyncio.Event()

    async def client(n: int) -> None:
        rng = random.Random(n)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not finished.is_set() and next(budget, None) is not None:
                path = "/api/search?" + urlencode({"q": rng.choice(queries), "k": 10})
                started = time.perf_counter()
                try:
                    status = str(await _get(reader, writer, path))
                except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError) as error:
                    status = type(error).__name__
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    async def clock() -> str | None:
        if during is None:
            await asyncio.sleep(seconds)
            finished.set()
            return None
        await asyncio.sleep(seconds / 3)
        side = await asyncio.to_thread(during)
        await asyncio.sleep(seconds / 3)
        finished.set()
        return side

    started = time.monotonic()
    *_, side = await asyncio.gather(*(client(n) for n in range(clients)), clock())
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    # a 4xx is the API refusing a bad request (a TREC description over the query limit is
    # a 422): an answer, not an error; errors are 5xx and failed connections
    errors = sum(n for status, n in statuses.items() if not status.startswith(("2", "4")))
    return {
        "requests": len(latencies),
        "seconds": wall,
        "qps": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "errors": errors,
        "statuses": statuses,
        "side": side,
    }


def tree_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and its descendants (the server and its workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in (proc / "task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def metric(url: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)", httpx.get(url + "/metrics").text, re.M)
    return float(found[1]) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("podseek-data"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--scale", type=int, help="build a workspace of N episodes at --home")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-swap", action="store_true", help="skip the index-swap phase")
    parser.add_argument(
        "--synthetic-vectors",
        action="store_true",
        help="with --scale: clustered random vectors for the real episodes, not the encoder's",
    )
    parser.add_argument("--build-only", action="store_true", help="build the workspace, then stop")
    args = parser.parse_args()

    if args.scale:
        build_workspace(args.home, args.data, args.scale, args.synthetic_vectors)
    if args.build_only:
        return
    queries = topics(args.data / "trec-podcasts-topics")
    # the workspace has one encoder's index: without this, the swap's `podseek index` would
    # first encode every episode again for the default ensemble partner
    env = {**os.environ, "PODSEEK_HOME": str(args.home), "PODSEEK_ENSEMBLE_MODEL": ""}
    port = free_port()
    podseek = [str(Path(sys.executable).parent / "podseek")]
    server = subprocess.Popen(
        [*podseek, "serve", "--port", str(port), "--workers", str(args.workers)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        episodes = httpx.get(url + "/readyz").json()["episodes"]
        httpx.get(url + "/api/search", params={"q": "warm up"})

        def swap() -> str:
            started = time.monotonic()
            loads = metric(url, "podseek_index_loads")
            subprocess.run(
                [*podseek, "ingest", "rss", str(FEED)], env=env, check=True, capture_output=True
            )
            subprocess.run([*podseek, "index"], env=env, check=True, capture_output=True)
            written = time.monotonic() - started
            while metric(url, "podseek_index_loads") <= loads:  # searches trigger the check
                if time.monotonic() - started > written + 300:
                    return f"new version written after {written:.1f} s, NOT picked up"
                time.sleep(0.2)
            return (
                f"new version written after {written:.1f} s, "
                f"served after {time.monotonic() - started:.1f} s"
            )

        phases = [("steady", None)] + ([] if args.no_swap else [("index swap", swap)])
        rows = []
        for name, during in phases:
            result = asyncio.run(
                run_phase(port, queries, args.clients, args.seconds, args.max_requests, during)
            )
            rows.append((name, result))
            print(f"# {name}: {result}", flush=True)
        cache = {
            name: (
                metric(url, f"podseek_{name}_cache_hits"),
                metric(url, f"podseek_{name}_cache_misses"),
            )
            for name in ("query", "answer")
        }
        loads = metric(url, "podseek_index_loads")
        memory = tree_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    print(
        f"\n{episodes:,} episodes; {len(queries)} TREC podcast topic texts, {args.clients} "
        f"clients, {args.seconds:g} s per phase, {args.workers} worker(s), loopback\n"
    )
    print("| phase | requests | QPS | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['requests']:,} | {r['qps']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} |"
        )
    shares = ", ".join(
        f"{name} cache {hits:,.0f} hits / {misses:,.0f} misses"
        for name, (hits, misses) in cache.items()
        if hits == hits
    )
    print(f"\nindex versions loaded: {loads:.0f}; since the last load (one worker's): {shares}")
    print(f"server resident memory (all its processes): {memory:,.0f} MB")


if __name__ == "__main__":
    main()
