"""How ANN query settings trade recall@10 for latency on LanceDB's IVF-HNSW-SQ index.

Builds one index over clustered synthetic vectors (as ``index_latency.py`` does) and times a
grid of ``nprobes`` x ``ef`` x ``refine_factor``, printing recall@10 against exact NumPy
search and p50 retrieval latency for each: the evidence behind ``AnnSettings``' defaults.

    python benchmarks/ann_tuning.py --size 100000 --dim 512
"""

import argparse
import itertools
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from index_latency import near, numpy_exact, synthetic_backend

from podseek.index.base import SearchFilters
from podseek.index.lancedb_backend import AnnSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--nprobes", default="10,20,50,100")
    parser.add_argument("--ef", default="100,300")
    parser.add_argument("--refine", default="10,30")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ann-tuning-"))
    try:
        backend, _meta, vectors, build = synthetic_backend(
            folder, args.size, args.dim, AnnSettings(min_rows=1)
        )
        print(f"{args.size:,} x {args.dim}: built in {build:.0f} s\n")
        rng = np.random.default_rng(1)
        picks = rng.integers(0, len(vectors), args.probes)
        probes = near(vectors[picks], rng)
        truth = [{f"s:{r}" for r in numpy_exact(vectors, None, p, 10)} for p in probes]
        print("| nprobes | ef | refine_factor | recall@10 | p50 ms | p99 ms |")
        print("|---:|---:|---:|---:|---:|---:|")
        grid = itertools.product(
            map(int, args.nprobes.split(",")), map(int, args.ef.split(",")),
            map(int, args.refine.split(",")),
        )  # fmt: skip
        for nprobes, ef, refine in grid:
            backend.ann = replace(backend.ann, nprobes=nprobes, ef=ef, refine_factor=refine)
            recalls, latencies = [], []
            for probe, expected in zip(probes, truth, strict=True):
                tick = time.perf_counter()
                hits = backend.vector_search(probe[None, :], 10, SearchFilters())[0]
                latencies.append(1000 * (time.perf_counter() - tick))
                recalls.append(len({i for i, _ in hits} & expected) / 10)
            print(
                f"| {nprobes} | {ef} | {refine} | {np.mean(recalls):.3f} | "
                f"{np.percentile(latencies, 50):.1f} | {np.percentile(latencies, 99):.1f} |",
                flush=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
