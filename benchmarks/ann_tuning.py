"""How ANN query settings trade recall@10 for latency on LanceDB's IVF-HNSW-SQ index.

Builds one index, over clustered synthetic vectors (as ``index_latency.py`` does) or, with
``--real``, over the real episodes indexed by ``index_latency.py`` probed with real queries
(the dev set and the TREC podcast topics), and times a grid of ``nprobes`` x ``ef`` x
``refine_factor``, printing recall@10 against exact NumPy search and p50 retrieval latency:
the evidence behind ``AnnSettings``' defaults.

    python benchmarks/ann_tuning.py --size 100000 --dim 512
    python benchmarks/ann_tuning.py --real --data ../shared/data
"""

import argparse
import itertools
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from index_latency import DEVSET, near, numpy_exact, real_backend, synthetic_backend

from podseek.beir import load_beir
from podseek.config import get_settings
from podseek.index.base import AnnSettings, SearchFilters
from podseek.models.registry import load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--nprobes", default="10,20,50,100")
    parser.add_argument("--ef", default="100,300")
    parser.add_argument("--refine", default="10,30")
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ann-tuning-"))
    try:
        if args.real:
            model = get_settings().model
            backend, _meta, vectors, ids, build, _ = real_backend(
                args.workspace, args.data, AnnSettings(min_rows=1), model
            )
            encoder = load_encoder(model, args.workspace)
            topics = args.data / "trec-podcasts-topics" / "podcasts_2020_topics_test.xml"
            texts = [*load_beir(DEVSET).queries.values()]
            texts += re.findall(r"<query>(.*?)</query>", topics.read_text(encoding="utf-8"))
            probes = encoder.encode_queries(texts)
        else:
            backend, _meta, vectors, build = synthetic_backend(
                folder, args.size, args.dim, AnnSettings(min_rows=1)
            )
            ids = [f"s:{n}" for n in range(len(vectors))]
            rng = np.random.default_rng(1)
            probes = near(vectors[rng.integers(0, len(vectors), args.probes)], rng)
        print(
            f"{len(vectors):,} x {vectors.shape[1]}, {len(probes)} probes: built in {build:.0f} s\n"
        )
        truth = [{ids[r] for r in numpy_exact(vectors, None, p, 10)} for p in probes]
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
