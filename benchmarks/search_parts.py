"""Where one uncached search spends its time, part by part, in a served workspace.

Opens the workspace's index as ``podseek serve`` does, encodes the 216 TREC podcast topic
texts once (a served query vector comes from the cache after its first search), then times
each part of a search over those texts one at a time: the vector search for the hybrid
fusion's candidates, the BM25 search, fetching rows, and whole searches (hybrid and semantic,
k=10), and prints p50 / p99 in ms plus the vector search's recall@10 against exact search.

    python benchmarks/search_parts.py --home /tmp/podseek-bench/serve-100k --data ../shared/data
"""

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from serve_load import topics

from podseek.config import Settings
from podseek.index.base import AnnSettings
from podseek.index.episode_index import EpisodeIndex
from podseek.models.registry import load_encoder
from podseek.search.engine import Searcher, SearchMode


def timed(part: Callable[[int], object], n: int) -> tuple[float, float]:
    """p50 and p99 in ms of ``part(i)`` for i in range(n)."""
    times = []
    for i in range(n):
        started = time.perf_counter()
        part(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), float(np.percentile(times, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a workspace with an index")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()

    settings = Settings(home=args.home)
    index = EpisodeIndex(settings.index_dir, AnnSettings.from_settings(settings))
    encoder = load_encoder(index.manifest.model.name, args.home, settings.query_engine)
    searcher = Searcher(index, encoder, settings.hybrid_depth, settings.hybrid_fusion)
    backend = index.backend
    queries = topics(args.data / "trec-podcasts-topics")
    vectors = searcher.query_vectors.encode(queries)
    depth = settings.hybrid_depth

    ids, matrix = backend.all_vectors()
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    recalls = []
    for vector in vectors:
        truth = {ids[i] for i in np.argsort(-(matrix @ vector))[:10]}
        found = backend.vector_search(vector, depth)[0][:10]
        recalls.append(len(truth & {i for i, _ in found}) / 10)
    keyword = [backend.keyword_search([q], depth)[0] for q in queries]

    n = len(queries)
    parts: list[tuple[str, Callable[[int], object]]] = [
        (f"vector search, {depth} candidates", lambda i: backend.vector_search(vectors[i], depth)),
        (f"BM25 search, {depth} candidates", lambda i: backend.keyword_search([queries[i]], depth)),
        ("fetch 10 rows found", lambda i: backend.fetch([d for d, _ in keyword[i][:10]])),
        ("hybrid search, k=10", lambda i: searcher.search(queries[i], 10)),
        ("semantic search, k=10", lambda i: searcher.search(queries[i], 10, SearchMode.SEMANTIC)),
    ]
    print(f"{backend.count():,} episodes, {n} topic texts, query vectors cached, one at a time")
    print(f"vector search recall@10 against exact: {np.mean(recalls):.3f}\n")
    print("| part | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, part in parts:
        timed(part, n)  # a first pass warms caches and sessions
        p50, p99 = timed(part, n)
        print(f"| {name} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
