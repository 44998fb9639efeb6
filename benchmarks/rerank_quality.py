"""A trained re-ranker on one half of the hand-written set: the workspace's search alone
against the same search re-ranked, at several weights, by query kind and language, with the
time a query takes.

Opens the workspace the way ``podseek search`` does (its index, ensemble index and segment
index), once without the re-ranker and once with it, and ranks the half's queries in hybrid
mode. The re-ranker's scores are kept per (query, episode) after the first weighted pass, so
the other weights reuse them: the ms / query column is measured on the first pass only.

    PODSEEK_HOME=podseek-data podseek train-reranker --name reranker
    PODSEEK_HOME=podseek-data python benchmarks/rerank_quality.py --reranker reranker \\
        [--split dev] [--depth 30] [--weights 0.3,0.5,1.0]
"""

import argparse
import time
from collections.abc import Sequence

import numpy as np
from ranx import Qrels, Run, evaluate
from zero_shot_quality import COLUMNS, DEVSET, slices

from podseek.beir import load_beir
from podseek.config import Settings
from podseek.models.reranker import Reranker, load_reranker
from podseek.search.engine import Searcher, SearchMode
from podseek.search.workspace import open_searcher


class RememberedScores(Reranker):
    """The re-ranker, keeping each (query, text) score it computed: the weights after the
    first are a different mix of the same scores."""

    def __init__(self, reranker: Reranker) -> None:
        super().__init__(reranker.model, reranker.name, reranker.languages)
        self.known: dict[tuple[str, str], float] = {}

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if (query, t) not in self.known]
        for text, value in zip(missing, super().score(query, missing), strict=True):
            self.known[(query, text)] = float(value)
        return np.array([self.known[(query, t)] for t in texts], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", required=True, help="a trained re-ranker or a folder")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--depth", type=int, default=30, help="episodes re-ranked")
    parser.add_argument("--weights", default="0.2,0.3,0.4,0.5,0.7,1.0")
    args = parser.parse_args()

    settings = Settings(reranker=None)
    half = load_beir(DEVSET, args.split)
    ids = list(half.queries)
    texts = [half.queries[q] for q in ids]
    reranker = RememberedScores(load_reranker(args.reranker, settings.home))
    searchers: dict[str, Searcher] = {"first stage": open_searcher(settings)}
    for weight in (float(w) for w in args.weights.split(",")):
        searcher = open_searcher(settings)
        searcher.reranker, searcher.rerank_depth, searcher.rerank_weight = (
            reranker,
            args.depth,
            weight,
        )
        searchers[f"re-ranked, weight {weight:.1f}"] = searcher
    parts = slices(half)
    names = [part.name for part in parts]
    columns = [(name, metric) for name, metric in COLUMNS if name in names]
    print(
        f"{args.split} half: {len(ids)} queries; hybrid; re-ranker {args.reranker} "
        f"over the top {args.depth}"
    )
    print("| search | " + " | ".join(f"{n} {m}" for n, m in columns) + " | ms / query |")
    print("|---|" + "---:|" * (len(columns) + 1))
    for label, searcher in searchers.items():
        searcher.rank(["warm up"], k=1)
        scored = len(reranker.known)
        started = time.perf_counter()
        ranked = searcher.rank(texts, k=100, mode=SearchMode.HYBRID)
        ms = 1000 * (time.perf_counter() - started) / len(ids)
        run = {q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)}
        row = []
        for name, metric in columns:
            part = next(p for p in parts if p.name == name)
            score = evaluate(Qrels(part.qrels), Run({q: run[q] for q in part.queries}), metric)
            row.append(f"{score:.3f}")
        # a pass that only re-mixed remembered scores says nothing about a search's time
        timing = "(scores reused)" if scored and len(reranker.known) == scored else f"{ms:.1f}"
        print(f"| {label} | " + " | ".join(row) + f" | {timing} |", flush=True)


if __name__ == "__main__":
    main()
