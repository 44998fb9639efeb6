"""Latency of what listeners expect beside a result list (issue 18), over a workspace such as
the 100k one `make bench-serve` builds: suggestions as you type, "did you mean", show search,
"more like this", date sort, and the search log's cost.

First the build of the catalog aids (suggestions, speller, shows: once per catalog state),
then each feature through a real server (uvicorn on 127.0.0.1, one keep-alive connection,
the answer cache off so that every request is computed), p50 / p99 over distinct requests.

    python benchmarks/listener_features.py --home /tmp/podseek-bench/serve-100k \\
        --data ../shared/data
"""

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import uvicorn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from serve_load import free_port, topics  # noqa: E402

from podseek.catalog.store import CatalogStore  # noqa: E402
from podseek.config import Settings  # noqa: E402
from podseek.search.aids import CatalogAids  # noqa: E402
from podseek.serve.app import create_app  # noqa: E402

DEVSET = REPO / "benchmarks" / "devset" / "listennotes" / "queries.jsonl"


def percentiles(times_ms: list[float]) -> str:
    ordered = sorted(times_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):7.2f} / {p99:7.2f}"


def typo(query: str, rng: random.Random) -> str:
    """The query with one letter dropped from its longest word (a typing slip)."""
    words = query.split()
    n = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[n]
    if len(word) >= 5:
        cut = rng.randrange(1, len(word) - 1)
        words[n] = word[:cut] + word[cut + 1 :]
    return " ".join(words)


def build_times(settings: Settings) -> None:
    aids = CatalogAids(settings.catalog_path, settings.search_log)
    print("| catalog aid | build s |\n|---|---:|")
    for part in ("suggester", "speller", "shows"):
        started = time.perf_counter()
        getattr(aids, part)
        print(f"| {part} | {time.perf_counter() - started:.1f} |")


class Server:
    """The real app under uvicorn in a thread, with one keep-alive HTTP connection."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        while True:  # the index and the aids load before /readyz answers 200
            try:
                if self.get("/readyz")[0] == 200:
                    break
            except OSError:
                self.connection.close()
            time.sleep(0.5)

    def get(self, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """GET ``path``; with a ``body``, POST it as JSON."""
        if body is None:
            self.connection.request("GET", path)
        else:
            headers = {"Content-Type": "application/json"}
            self.connection.request("POST", path, json.dumps(body), headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def timed(self, requests: list[str | tuple[str, dict]]) -> list[float]:
        times = []
        for request in requests:
            path, body = request if isinstance(request, tuple) else (request, None)
            started = time.perf_counter()
            status, answer = self.get(path, body)
            times.append((time.perf_counter() - started) * 1000)
            if status not in (200, 204):
                raise SystemExit(f"{path}: HTTP {status} {answer[:200]!r}")
        return times

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/podseek-bench/serve-100k"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=100, help="distinct requests per feature")
    args = parser.parse_args()

    rng = random.Random(0)
    log = args.home / "bench-search-log.jsonl"
    log.unlink(missing_ok=True)
    settings = Settings(home=args.home, answer_cache_size=0, search_log=log)
    with CatalogStore(settings.catalog_path) as catalog:
        records = catalog.count()
        titles = list(catalog.titles())
    # every search case gets queries of its own: a query another case encoded would be
    # answered from the query-vector cache, which hides the encoder's time
    queries = [json.loads(line)["text"] for line in DEVSET.read_text().splitlines()]
    queries += topics(args.data / "trec-podcasts-topics")
    queries = [q for q in queries if len(q) <= settings.max_query_chars]  # the API's limit
    rng.shuffle(queries)
    print(f"# {records:,} catalog records, {len(queries)} distinct queries (hand-written, TREC)\n")
    build_times(settings)

    server = Server(settings)
    n = args.n
    picked = rng.sample(titles, min(n, len(titles)))
    prefixes = [
        (t[3] or t[2])[: rng.randint(2, 12)].strip() or "a" for t in picked
    ]  # what a listener has typed of a title
    quoted = urllib.parse.quote
    slices = iter(range(0, len(queries), n))

    def own() -> list[str]:
        start = next(slices)
        return queries[start : start + n]

    cases: dict[str, list] = {
        "suggest (prefix of a title)": [f"/api/suggest?q={quoted(p)}" for p in prefixes],
        "search, episodes (hybrid)": [f"/api/search?q={quoted(q)}" for q in own()],
        "search, episodes, sort=date": [f"/api/search?q={quoted(q)}&sort=date" for q in own()],
        "search, shows (hybrid)": [f"/api/search?q={quoted(q)}&type=show" for q in own()],
        "search with a typo (did you mean)": [
            f"/api/search?q={quoted(typo(q, rng))}" for q in own()
        ],
        "more like this": [f"/api/episodes/{quoted(t[0], safe='')}/similar" for t in picked],
        "click (POST /api/clicks, written to the log)": [
            ("/api/clicks", {"query": q, "episode_id": t[0], "session_id": "bench"})
            for q, t in zip(queries, picked, strict=False)
        ],
        "more like this, other shows": [
            f"/api/episodes/{quoted(t[0], safe='')}/similar?same_show=exclude" for t in picked
        ],
    }
    print("\n| request (answer cache off) | n | p50 / p99 ms |\n|---|---:|---:|")
    offered = 0
    for label, paths in cases.items():
        server.timed(paths[:5])  # first-call costs
        times = server.timed(paths[5:n])
        print(f"| {label} | {len(times)} | {percentiles(times)} |")
        if "typo" in label:
            offered = sum(
                json.loads(server.get(p)[1]).get("did_you_mean") is not None for p in paths
            )
    server.stop()
    lines = sum(1 for _ in log.open())
    print(f"\n# did you mean offered for {offered} of {n} queries with a typo")
    print(f"# the search log took {lines:,} lines ({log.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
