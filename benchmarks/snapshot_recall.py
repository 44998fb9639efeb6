"""Recall@10 and latency of a snapshot's graph by search breadth, for two kinds of query.

Opens the full snapshot of a workspace's index (the part a search reads) and, for
``ef_search`` 128, 400 and 1000, searches 40 TREC topic texts encoded by the index's model
and 40 probes drawn from the data (a stored vector plus a little noise), and prints recall@10
against exact search over every row, and the p50 of one search.

    python benchmarks/snapshot_recall.py --home /tmp/podseek-bench/serve-1m --data ../shared/data
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from serve_load import topics

from podseek.index.snapshot import SNAPSHOTS, Part, SnapshotSettings
from podseek.models.registry import load_encoder


def exact_top10(part: Part, query: np.ndarray) -> set[int]:
    scores = np.empty(part.size, np.float32)
    for start in range(0, part.size, 200_000):
        scores[start : start + 200_000] = np.asarray(part.vectors[start : start + 200_000]) @ query
    return set(np.argpartition(-scores, 10)[:10].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()

    manifest = json.loads((args.home / "index" / "manifest.json").read_text())
    part = Part(args.home / "index" / SNAPSHOTS / manifest["snapshot"] / "base", SnapshotSettings())
    encoder = load_encoder(manifest["model"]["name"], args.home)
    texts = topics(args.data / "trec-podcasts-topics")[:40]
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, part.size, 40))
    probes = np.asarray(part.vectors[rows]) + 0.05 * rng.normal(size=(40, part.vectors.shape[1]))
    probes = (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32)
    kinds = {"topic queries": encoder.encode_queries(texts), "probes from the data": probes}
    print("| queries | ef_search | recall@10 | p50 ms |\n|---|---:|---:|---:|")
    for kind, queries in kinds.items():
        truth = [exact_top10(part, q) for q in queries]
        for ef in (128, 400, 1000):
            part.settings = SnapshotSettings(ef_search=ef)
            recalls, times = [], []
            for query, top in zip(queries, truth, strict=True):
                started = time.perf_counter()
                hits = part.vector_search(query, 10, None)
                times.append(time.perf_counter() - started)
                recalls.append(len(top & {row for row, _ in hits}) / 10)
            print(f"| {kind} | {ef} | {np.mean(recalls):.3f} | {np.median(times) * 1000:.2f} |")


if __name__ == "__main__":
    main()
