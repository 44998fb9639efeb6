"""What each query engine costs and changes: latency of one query, agreement, dev-set quality.

For each transformer encoder (e5-small, minilm) and each engine (torch, onnx, onnx-int8), on
the hand-written dev queries: p50 / p99 ms to encode one query, the cosine of its vector to
torch's, and semantic recall@10 / MRR@10 over the Listen Notes index (episodes always encoded
by torch, as `podseek index` does). Run it on a quiet machine: other load skews the latency.

    python benchmarks/query_engines.py --data ../shared/data
"""

import argparse
import time
from pathlib import Path

import numpy as np
from ranx import Qrels, Run, evaluate

from podseek.beir import load_beir
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.onnx_queries import QueryEngine
from podseek.models.registry import load_encoder
from podseek.search.engine import Searcher, SearchMode

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--models", default="e5-small,minilm")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the dev queries")
    args = parser.parse_args()

    dev = load_beir(DEVSET)
    ids = list(dev.queries)
    texts = [dev.queries[q] for q in ids]
    rows = []
    with CatalogStore(args.workspace / "catalog.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(args.data / "listennotes-dec2017"), progress=False)
        for model in args.models.split(","):
            reference = load_encoder(model, args.workspace)  # torch
            folder = args.workspace / f"index-{model}"
            build_index(catalog, reference, folder, 2000, progress=True)
            index = EpisodeIndex(folder)
            expected = reference.encode_queries(texts)
            for engine in QueryEngine:
                encoder = load_encoder(model, args.workspace, engine)
                if hasattr(encoder, "prepare_queries"):
                    encoder.prepare_queries()
                encoder.encode_queries(texts[:5])  # warm up
                latencies = []
                for _ in range(args.repeats):
                    for text in texts:
                        started = time.perf_counter()
                        encoder.encode_queries([text])
                        latencies.append(1000 * (time.perf_counter() - started))
                vectors = encoder.encode_queries(texts)
                cosine = (vectors * expected).sum(axis=1)
                ranked = Searcher(index, encoder).rank(texts, k=100, mode=SearchMode.SEMANTIC)
                run = Run({q: dict(hits) for q, hits in zip(ids, ranked, strict=True)})
                scores = evaluate(Qrels(dev.qrels), run, ["recall@10", "mrr@10"])
                rows.append(
                    f"| {model} | {engine} | {np.percentile(latencies, 50):.1f} / "
                    f"{np.percentile(latencies, 99):.1f} | {cosine.min():.4f} / "
                    f"{cosine.mean():.4f} | {scores['recall@10']:.3f} | {scores['mrr@10']:.3f} |"
                )
                print(rows[-1], flush=True)
            index.close()
    print(f"\nDev set: {len(texts)} queries, one at a time, {args.repeats} passes\n")
    print(
        "| model | query engine | encode p50 / p99 ms | cosine to torch min / mean | "
        "recall@10 | MRR@10 |"
    )
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
