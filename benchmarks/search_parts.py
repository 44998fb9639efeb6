"""Where one uncached search spends its time, part by part, through the serving snapshot and
through LanceDB itself, in one run over the same index.

Opens the workspace's index as ``podseek serve`` does, once per path (``PODSEEK_SNAPSHOT``
on and off), each in a process of its own so that its memory is its own, and times over the
216 TREC podcast topic texts, one at a time:

- the parts: encoding the query, the vector search for the hybrid fusion's candidates, the
  BM25 search, fetching the rows of ten results;
- whole uncached searches, end to end (the query encoded each time: no query-vector cache,
  no answer cache): hybrid and semantic, k=10, unfiltered and with a language filter and a
  category filter (the language and category of the catalog whose share of the episodes is
  nearest 10% and 5%); hybrid also with its keyword half after its vector half instead of
  beside it (``Searcher(overlap=False)``);
- recall@10 of the vector search against exact search (unfiltered and filtered), the
  overlap of each path's hybrid top 10 with the other's, and the process's resident memory.

    python benchmarks/search_parts.py --home /tmp/podseek-bench/serve-1m --data ../shared/data
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from serve_load import topics

from podseek.config import Settings
from podseek.index.base import SearchFilters
from podseek.index.episode_index import EpisodeIndex
from podseek.models.registry import load_encoder
from podseek.search.engine import QueryVectorCache, Searcher, SearchMode

PATHS = ("snapshot", "lancedb")


def timed(part: Callable[[int], object], n: int) -> tuple[float, float]:
    """p50 and p99 in ms of ``part(i)`` for i in range(n)."""
    times = []
    for i in range(n):
        started = time.perf_counter()
        part(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), float(np.percentile(times, 99))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def nearest_share(counts: Counter, total: int, share: float) -> tuple[str, float]:
    value = min(counts, key=lambda v: abs(counts[v] / total - share))
    return value, counts[value] / total


def filters_of(index: EpisodeIndex, folder: Path) -> dict[str, SearchFilters]:
    """No filter, and the language and category nearest 10% and 5% of the episodes; the ids
    each keeps are saved in ``folder`` (for the exact filtered ground truth)."""
    table = index.backend._table.search().select(["id", "language", "categories"])
    table = table.limit(None).to_arrow()
    ids = table.column("id").to_pylist()
    languages = table.column("language").to_pylist()
    categories = [set(c or []) for c in table.column("categories").to_pylist()]
    language, language_share = nearest_share(Counter(languages), len(ids), 0.10)
    category, category_share = nearest_share(
        Counter(c for row in categories for c in row), len(ids), 0.05
    )
    chosen = {
        "none": SearchFilters(),
        f"language={language} ({language_share:.0%})": SearchFilters(language=language),
        f"category={category} ({category_share:.0%})": SearchFilters(category=category),
    }
    kept = {
        "language": [i for i, v in zip(ids, languages, strict=True) if v == language],
        "category": [i for i, v in zip(ids, categories, strict=True) if category in v],
    }
    (folder / "kept.json").write_text(json.dumps(kept))
    return chosen


def measure(
    home: Path, data: Path, path: str, filters: dict[str, SearchFilters], work: Path
) -> dict:
    """One path's figures (run in a process of its own)."""
    settings = Settings(home=home, snapshot=path == "snapshot")
    started = time.perf_counter()
    index = EpisodeIndex.open(settings)
    opened_s = time.perf_counter() - started
    encoder = load_encoder(index.manifest.model.name, home, settings.query_engine)
    uncached = QueryVectorCache(encoder, size=0)  # every search encodes its query
    searcher = Searcher(
        index, encoder, settings.hybrid_depth, settings.hybrid_fusion, query_vectors=uncached
    )
    serial = Searcher(  # the keyword half after the vector half, as before it overlapped
        index,
        encoder,
        settings.hybrid_depth,
        settings.hybrid_fusion,
        query_vectors=uncached,
        overlap=False,
    )
    backend = index.backend
    queries = topics(data / "trec-podcasts-topics")
    vectors = encoder.encode_queries(queries)
    depth, n = settings.hybrid_depth, len(queries)

    ids, matrix = backend.all_vectors()
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    kept = json.loads((work / "kept.json").read_text())
    recalls: dict[str, float] = {}
    for label, chosen in filters.items():
        keep = None
        if not chosen.is_empty():
            allowed = set(kept["language" if chosen.language else "category"])
            keep = np.fromiter((i in allowed for i in ids), bool, len(ids))
        found = []
        for vector in vectors[:100]:
            scores = matrix @ vector
            if keep is not None:
                scores = np.where(keep, scores, -np.inf)
            truth = {ids[i] for i in np.argsort(-scores)[:10] if np.isfinite(scores[i])}
            hits = backend.vector_search(vector, 10, chosen)[0]
            found.append(len(truth & {i for i, _ in hits}) / max(1, len(truth)))
        recalls[label] = float(np.mean(found))
    keyword = [backend.keyword_search([q], depth)[0] for q in queries]
    parts: list[tuple[str, Callable[[int], object]]] = [
        ("encode the query", lambda i: encoder.encode_queries([queries[i]])),
        (f"vector search, {depth} candidates", lambda i: backend.vector_search(vectors[i], depth)),
        (f"BM25 search, {depth} candidates", lambda i: backend.keyword_search([queries[i]], depth)),
        ("fetch 10 rows found", lambda i: backend.fetch([d for d, _ in keyword[i][:10]])),
    ]
    for label, chosen in filters.items():
        for mode in (SearchMode.HYBRID, SearchMode.SEMANTIC):
            parts.append(
                (
                    f"uncached {mode.value} end to end, {label}",
                    lambda i, m=mode, f=chosen: searcher.search(queries[i], 10, m, f),
                )
            )
        parts.append(
            (
                f"uncached hybrid end to end, {label}, keyword half not overlapped",
                lambda i, f=chosen: serial.search(queries[i], 10, SearchMode.HYBRID, f),
            )
        )
    rows = []
    for name, part in parts:
        timed(part, n)  # a first pass warms caches and sessions
        rows.append((name, *timed(part, n)))
    top = [[r.id for r in searcher.search(q, 10).data] for q in queries]
    return {
        "episodes": backend.count(),
        "opened_s": opened_s,
        "recall": recalls,
        "parts": rows,
        "hybrid_top10": top,
        "rss_mb": rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a workspace with an index")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)  # one child's path
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.path:  # a child: one path, figures as JSON on stdout
        raw = json.loads((args.work / "filters.json").read_text())
        chosen = {k: SearchFilters(**v) for k, v in raw.items()}
        print(json.dumps(measure(args.home, args.data, args.path, chosen, args.work)))
        return

    work = Path(tempfile.mkdtemp())
    index = EpisodeIndex.open(Settings(home=args.home, snapshot=False))
    filters = filters_of(index, work)
    index.close()
    as_json = {k: {"language": f.language, "category": f.category} for k, f in filters.items()}
    (work / "filters.json").write_text(json.dumps(as_json))
    results = {}
    for path in PATHS:
        child = [sys.executable, __file__, "--home", str(args.home), "--data", str(args.data)]
        done = subprocess.run(
            [*child, "--path", path, "--work", str(work)], capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"{path}: {done.stderr.strip().splitlines()[-1]}")
        results[path] = json.loads(done.stdout.strip().splitlines()[-1])

    snap, lance = results["snapshot"], results["lancedb"]
    overlap = [
        len(set(a) & set(b)) / max(1, len(a))
        for a, b in zip(snap["hybrid_top10"], lance["hybrid_top10"], strict=True)
    ]
    print(f"{snap['episodes']:,} episodes, {len(snap['hybrid_top10'])} topic texts, one at a time")
    print(f"hybrid top-10 overlap, snapshot against LanceDB: {np.mean(overlap):.3f}\n")
    print("| | snapshot p50 | p99 | LanceDB p50 | p99 | p50 ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for (name, p50, p99), (_, l50, l99) in zip(snap["parts"], lance["parts"], strict=True):
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {l50:.1f} | {l99:.1f} | {l50 / p50:.1f}x |")
    for label in snap["recall"]:
        print(
            f"| vector recall@10 against exact, {label} | {snap['recall'][label]:.3f} | | "
            f"{lance['recall'][label]:.3f} | | |"
        )
    print(f"| resident memory, MB | {snap['rss_mb']:,.0f} | | {lance['rss_mb']:,.0f} | | |")
    print(f"| opening the index, s | {snap['opened_s']:.1f} | | {lance['opened_s']:.1f} | | |")


if __name__ == "__main__":
    main()
