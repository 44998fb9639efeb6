"""Recall@10 and latency of a snapshot's vector search by search breadth, re-rank depth and
filter plan, for two kinds of query.

Opens the full snapshot of a workspace's index (the part a search reads) and searches 40
TREC topic texts encoded by the index's model and 40 probes drawn from the data (a stored
vector plus a little noise). It prints recall@10 against exact search over every row (or
every row a filter keeps), and the p50 of one search:

- unfiltered, by ``ef_search`` and ``refine`` (candidates re-ranked with float32 vectors, per
  result wanted);
- with the catalog's own filters (the language and the category nearest 10% and 3% of the
  rows, and the language nearest 50%), each through both plans: the graph searched with
  the filter's mask, and an exact scan of the kept rows' 8-bit codes. Real filters keep rows
  that sit together in vector space (one language's episodes), unlike the random masks of
  ``ann_libraries.py``, and that is what a filtered graph search finds hardest.

    python benchmarks/snapshot_recall.py --home /tmp/podseek-bench/serve-1m --data ../shared/data
"""

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from search_parts import nearest_share
from serve_load import topics

from podseek.index.base import SearchFilters
from podseek.index.snapshot import SNAPSHOTS, Part, SnapshotSettings, read_meta
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
) -> tuple[float, float]:
    """Mean recall@10 and p50 ms of ``part.vector_search`` under ``settings``."""
    part.settings = settings
    recalls, times = [], []
    for query, top in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = part.vector_search(query, 10, keep)
        times.append(time.perf_counter() - started)
        recalls.append(len(top & {row for row, _ in hits}) / max(1, len(top)))
    return float(np.mean(recalls)), float(np.median(times) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
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
    print(f"{part.size:,} rows; default ef_search {default.ef_search}, refine {default.refine}")

    print("\n| queries | ef_search | refine | recall@10 | p50 ms |\n|---|---:|---:|---:|---:|")
    for kind, queries in kinds.items():
        truth = [exact_top10(part, q, None) for q in queries]
        for ef, refine in ((128, 4), (128, 10), (400, 4), (400, 10), (1000, 10)):
            settings = SnapshotSettings(ef_search=ef, refine=refine)
            recall, p50 = measure(part, queries, truth, settings, None)
            print(f"| {kind} | {ef} | {refine} | {recall:.3f} | {p50:.2f} |", flush=True)

    plans = {
        "graph with the mask": SnapshotSettings(exact_share=0.0),
        "exact scan of the kept rows": SnapshotSettings(exact_share=1.0),
    }
    print("\n| queries | filter | plan | recall@10 | p50 ms |\n|---|---|---|---:|---:|")
    for label, filters in catalog_filters(part).items():
        keep = part.mask(filters)
        for kind, queries in kinds.items():
            truth = [exact_top10(part, q, keep) for q in queries]
            for plan, settings in plans.items():
                recall, p50 = measure(part, queries, truth, settings, keep)
                print(f"| {kind} | {label} | {plan} | {recall:.3f} | {p50:.2f} |", flush=True)


if __name__ == "__main__":
    main()
