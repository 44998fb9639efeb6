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
"""

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

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


def run_phase(
    url: str, queries: list[str], clients: int, seconds: float, max_requests: int, during=None
) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    issued = iter(range(max_requests))

    def client(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.monotonic() < stop:
                with lock:
                    if next(issued, None) is None:
                        return
                query = rng.choice(queries)
                started = time.perf_counter()
                try:
                    status = str(http.get("/api/search", params={"q": query, "k": 10}).status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    side = None
    if during is not None:
        time.sleep(seconds / 3)
        side = during()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    # a 4xx is the API refusing a bad request (a TREC description over the query limit is
    # a 422): an answer, not an error; errors are 5xx and failed connections
    errors = sum(n for status, n in statuses.items() if not status.startswith(("2", "4")))
    return {
        "requests": len(latencies),
        "qps": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "errors": errors,
        "statuses": statuses,
        "side": side,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("podseek-data"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    queries = topics(args.data / "trec-podcasts-topics")
    env = {**os.environ, "PODSEEK_HOME": str(args.home)}
    port = free_port()
    podseek = [str(Path(sys.executable).parent / "podseek")]
    server = subprocess.Popen(
        [*podseek, "serve", "--port", str(port), "--workers", str(args.workers)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        httpx.get(url + "/api/search", params={"q": "warm up"})

        def swap() -> str:
            started = time.monotonic()
            subprocess.run(
                [*podseek, "ingest", "rss", str(FEED)], env=env, check=True, capture_output=True
            )
            subprocess.run([*podseek, "index"], env=env, check=True, capture_output=True)
            return f"new index version written after {time.monotonic() - started:.1f} s"

        rows = []
        for name, during in (("steady", None), ("index swap", swap)):
            result = run_phase(url, queries, args.clients, args.seconds, args.max_requests, during)
            rows.append((name, result))
            print(f"# {name}: {result}", flush=True)
        metrics = httpx.get(url + "/metrics").text
        loads = re.search(r"^podseek_index_loads (\S+)", metrics, re.M)
        hits = re.search(r"^podseek_query_cache_hits (\S+)", metrics, re.M)
        misses = re.search(r"^podseek_query_cache_misses (\S+)", metrics, re.M)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    print(
        f"\n{len(queries)} TREC podcast topic texts, {args.clients} clients, "
        f"{args.seconds:g} s per phase, {args.workers} worker(s), loopback\n"
    )
    print("| phase | requests | QPS | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['requests']:,} | {r['qps']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} |"
        )
    if loads and hits and misses:
        share = float(hits[1]) / max(1.0, float(hits[1]) + float(misses[1]))
        print(
            f"\nindex versions loaded by the worker: {float(loads[1]):.0f}; "
            f"query cache hits: {share:.0%}"
        )


if __name__ == "__main__":
    main()
