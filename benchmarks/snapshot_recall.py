"""Recall@10 and latency of a snapshot's vector search by lists probed, result depth and
filter plan, for two kinds of query; with ``--hnsw``, against the HNSW graph it replaced.

Opens the full snapshot of a workspace's index (the part a search reads) and searches 40
TREC topic texts encoded by the index's model and 40 probes drawn from the data (a stored
vector plus a little noise). It prints recall@10 against exact search over every row (or
every row a filter keeps), and the p50 of one search:

- unfiltered, by the inverted file's lists probed and the results asked for (10 for a
  semantic search, 100 for hybrid fusion's candidates: 100 and 400 re-ranked in float32);
- with the catalog's own filters (the language and the category nearest 10% and 3% of the
  rows, and the language nearest 50%), each through the three plans: the inverted file
  with the filter's mask (more lists probed as the filter drops rows), every list with the
  mask (what a selective date filter gets), and a scan of the kept rows' 4-bit codes
  gathered once per filter value (what a selective language, show or category filter
  gets; the first search, which gathers them, is timed apart). Real filters keep rows that
  sit together in vector space (one language's episodes), unlike the random masks of
  ``ann_libraries.py``, and that is what a filtered ANN search finds hardest;
- with ``--hnsw``, the graph the snapshot held before (faiss HNSW over 8-bit codes, M 32,
  ef_construction 128), built over the same vectors: its build time, size, and recall@10
  and p50 at ef_search 128 and 400, the same re-ranking after it.

    python benchmarks/snapshot_recall.py --home /tmp/podseek-bench/serve-1m --data ../shared/data
"""

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from search_parts import nearest_share
from serve_load import topics

from podseek.index.base import SearchFilters
from podseek.index.snapshot import (
    IVF,
    SNAPSHOTS,
    Part,
    SnapshotSettings,
    _sample,
    _write_ivf,
    read_meta,
)
from podseek.models.registry import load_encoder


def exact_top10(part: Part, query: np.ndarray, keep: np.ndarray | None) -> set[int]:
    scores = np.empty(part.size, np.float32)
    for start in range(0, part.size, 200_000):
        scores[start : start + 200_000] = np.asarray(part.vectors[start : start + 200_000]) @ query
    if keep is not None:
        scores[~keep] = -np.inf
    top = np.argpartition(-scores, 10)[:10]
    return set(top[np.isfinite(scores[top])].tolist())


def catalog_filters(part: Part) -> dict[str, SearchFilters]:
    """The language nearest 10% and 50% of the rows and the category nearest 3%."""
    values = part.columns["language_values"]
    counts = np.bincount(part.columns["language_codes"], minlength=len(values))
    languages = Counter({str(v): int(n) for v, n in zip(values, counts, strict=True)})
    categories = Counter(str(c).lower() for c in part.columns["category_values"])
    chosen = {}
    for share in (0.10, 0.50):
        language, kept = nearest_share(languages, part.size, share)
        chosen[f"language={language} ({kept:.0%})"] = SearchFilters(language=language)
    category, kept = nearest_share(categories, part.size, 0.03)
    chosen[f"category={category} ({kept:.0%})"] = SearchFilters(category=category)
    return chosen


def measure(
    part: Part,
    queries: np.ndarray,
    truth: list[set[int]],
    settings: SnapshotSettings,
    keep: np.ndarray | None,
    key: SearchFilters | None = None,
    limit: int = 10,
) -> tuple[float, float]:
    """Mean recall@10 and p50 ms of ``part.vector_search`` for ``limit`` results under
    ``settings`` (``key``: the filter whose gathered codes a scan keeps)."""
    part.settings = settings
    recalls, times = [], []
    for query, top in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = part.vector_search(query, limit, keep, key)[:10]
        times.append(time.perf_counter() - started)
        recalls.append(len(top & {row for row, _ in hits}) / max(1, len(top)))
    return float(np.mean(recalls)), float(np.median(times) * 1000)


def compare_hnsw(
    folder: Path, part: Part, kinds: dict[str, np.ndarray], truths: dict[str, list[set[int]]]
) -> None:
    """The former graph over ``part``'s vectors, searched and re-ranked as it was."""
    import faiss

    vectors = part.vectors
    graph = faiss.IndexHNSWSQ(
        vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT
    )
    graph.hnsw.efConstruction = 128
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    graph.train(_sample(vectors, 100_000))
    graph.add(np.ascontiguousarray(vectors, dtype=np.float32))  # at once, as it was built
    built = time.perf_counter() - started
    ivf_mb = (folder / IVF).stat().st_size / 2**20
    with tempfile.TemporaryDirectory() as scratch:
        faiss.write_index(graph, f"{scratch}/hnsw.faiss")
        graph_mb = Path(f"{scratch}/hnsw.faiss").stat().st_size / 2**20
        started = time.perf_counter()
        _write_ivf(Path(scratch) / IVF, np.asarray(vectors))
        ivf_built = time.perf_counter() - started
    print(
        f"\nHNSW graph: built in {built:.0f} s, {graph_mb:,.0f} MB; "
        f"the inverted file: built in {ivf_built:.0f} s, {ivf_mb:,.0f} MB"
    )
    faiss.omp_set_num_threads(1)
    print(
        "\n| queries | HNSW ef_search | results | recall@10 | p50 ms |\n|---|---:|---:|---:|---:|"
    )
    for kind, queries in kinds.items():
        for ef, limit in ((128, 10), (400, 100)):
            recalls, times = [], []
            for query, top in zip(queries, truths[kind], strict=True):
                started = time.perf_counter()
                wanted = limit * 4
                params = faiss.SearchParametersHNSW(efSearch=max(ef, wanted))
                _, found = graph.search(query[None, :], wanted, params=params)
                hits = part._rerank(query, limit, found[0][found[0] >= 0])[:10]
                times.append(time.perf_counter() - started)
                recalls.append(len(top & {row for row, _ in hits}) / max(1, len(top)))
            print(
                f"| {kind} | {ef} | {limit} | {np.mean(recalls):.3f} | "
                f"{np.median(times) * 1000:.2f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--hnsw", action="store_true", help="compare the former HNSW graph")
    args = parser.parse_args()

    manifest = json.loads((args.home / "index" / "manifest.json").read_text())
    folder = args.home / "index" / SNAPSHOTS / manifest["snapshot"]
    meta = read_meta(folder)
    if meta["kind"] == "delta":  # the graph is its base's
        folder = folder.parent / meta["base"]
    part = Part(folder / "base", SnapshotSettings())
    encoder = load_encoder(manifest["model"]["name"], args.home)
    texts = topics(args.data / "trec-podcasts-topics")[:40]
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, part.size, 40))
    probes = np.asarray(part.vectors[rows]) + 0.05 * rng.normal(size=(40, part.vectors.shape[1]))
    probes = (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32)
    kinds = {"topic queries": encoder.encode_queries(texts), "probes from the data": probes}
    default = SnapshotSettings()
    print(
        f"{part.size:,} rows; {part.ivf.nlist} lists, {default.probes} probed by default; "
        f"re-ranked: {default.refine} per result, at least {default.min_candidates}"
    )
    truths = {
        kind: [exact_top10(part, q, None) for q in queries] for kind, queries in kinds.items()
    }

    print("\n| queries | lists probed | results | recall@10 | p50 ms |\n|---|---:|---:|---:|---:|")
    for kind, queries in kinds.items():
        for probes in (16, 32, 64, 128):
            for limit in (10, 100):
                settings = SnapshotSettings(probes=probes)
                recall, p50 = measure(part, queries, truths[kind], settings, None, limit=limit)
                print(f"| {kind} | {probes} | {limit} | {recall:.3f} | {p50:.2f} |", flush=True)
    if args.hnsw:
        compare_hnsw(folder / "base", part, kinds, truths)

    scan = SnapshotSettings(exact_share=1.0)
    plans = {
        "inverted file with the mask": (SnapshotSettings(exact_share=0.0), False),
        "every list with the mask": (scan, False),
        "scan of the gathered 4-bit codes": (scan, True),
    }
    print("\n| queries | filter | plan | recall@10 | p50 ms |\n|---|---|---|---:|---:|")
    gathering = {}
    for label, filters in catalog_filters(part).items():
        keep = part.mask(filters)
        started = time.perf_counter()  # the first search with a filter value gathers its codes
        part.settings = scan
        part.vector_search(kinds["probes from the data"][0], 10, keep, filters)
        gathering[label] = (time.perf_counter() - started) * 1000
        for kind, queries in kinds.items():
            truth = [exact_top10(part, q, keep) for q in queries]
            for plan, (settings, gathered) in plans.items():
                key = filters if gathered else None
                recall, p50 = measure(part, queries, truth, settings, keep, key)
                print(f"| {kind} | {label} | {plan} | {recall:.3f} | {p50:.2f} |", flush=True)
    print("\n| filter | first search, gathering the 4-bit codes, ms |\n|---|---:|")
    for label, ms in gathering.items():
        print(f"| {label} | {ms:.0f} |")


if __name__ == "__main__":
    main()
