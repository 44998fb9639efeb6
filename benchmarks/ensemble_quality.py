"""Encoders fused, as podseek searches with ``PODSEEK_ENSEMBLE_MODEL``: quality on one half
of the hand-written set, each of the workspace's encoders alone against their fusion.

Opens the workspace's index and its ensemble indexes the way ``podseek search`` does (those
are built by ``podseek index`` with the setting), ranks the half's queries in hybrid mode
with each, and scores them with ranx. The time is per query of one batch; with
``--one-by-one`` each query is searched alone, as a listener's search is, and the p50 / p99
of those are printed (``--query-engine onnx-int8`` for podseek's default engine). Recall@10
is also given for the paraphrases, the non-English and the cross-lingual queries;
``--misses`` lists the queries the fusion finds nothing relevant for in its top 10.

    PODSEEK_HOME=podseek-data PODSEEK_ENSEMBLE_MODEL=use-multilingual,mpnet podseek index
    PODSEEK_HOME=podseek-data PODSEEK_ENSEMBLE_MODEL=use-multilingual,mpnet \\
        python benchmarks/ensemble_quality.py [--split dev]
"""

import argparse
import time
from pathlib import Path

import numpy as np
from ranx import Qrels, Run, evaluate
from zero_shot_quality import slices

from podseek.beir import load_beir
from podseek.config import Settings
from podseek.index.episode_index import EpisodeIndex, open_ensemble_indexes
from podseek.models.onnx_queries import QueryEngine
from podseek.models.registry import load_encoder, query_languages
from podseek.search.engine import Searcher, SearchMode

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"
METRICS = ["recall@10", "mrr@10", "ndcg@10"]
# recall@10 of these slices of the half too (zero_shot_quality's)
SLICES = ("paraphrase", "non-English", "cross-lingual")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--query-engine", choices=[e.value for e in QueryEngine], default="torch")
    parser.add_argument("--one-by-one", action="store_true", help="time each query alone")
    parser.add_argument("--misses", action="store_true", help="list the fusion's misses")
    args = parser.parse_args()

    settings = Settings()
    main_index = EpisodeIndex.open(settings)
    ensemble_indexes = open_ensemble_indexes(settings, main_index.manifest, print)
    if not ensemble_indexes:
        raise SystemExit("PODSEEK_ENSEMBLE_MODEL is empty, the index's own model, or unbuilt")
    half = load_beir(DEVSET, args.split)
    searchers = {}
    for index in (main_index, *ensemble_indexes):
        model = index.manifest.model.name
        encoder = load_encoder(model, settings.home, QueryEngine(args.query_engine))
        searchers[model] = Searcher(index, encoder)
    first, *others = searchers.values()
    # new query-vector caches: the fusion's time includes encoding each query with all;
    # an English-only partner (MiniLM, mpnet) joins English queries only, as in podseek search
    partners = [
        Searcher(
            other.index,
            other.query_vectors.encoder,
            languages=query_languages(other.index.manifest.model.name, settings.home),
        )
        for other in others
    ]
    fused = Searcher(first.index, first.query_vectors.encoder, partners=partners)
    searchers[" + ".join(searchers)] = fused
    ids = list(half.queries)
    print(f"{args.split} half: {len(ids)} queries; hybrid; {first.index.manifest.rows} episodes")
    timing = "ms p50 / p99, one query at a time" if args.one_by_one else "ms / query"
    parts = {part.name: part for part in slices(half) if part.name in SLICES}
    columns = " | ".join([*METRICS, *(f"{name} recall@10" for name in parts), timing])
    print(f"| search | {columns} |\n|---|" + "---:|" * (4 + len(parts)))
    texts = [half.queries[q] for q in ids]
    for label, searcher in searchers.items():
        if args.one_by_one:
            searcher.rank(["warm up"], k=100)  # first-call costs (sessions, exact-search vectors)
            ranked, took = [], []
            for text in texts:
                started = time.perf_counter()
                ranked += searcher.rank([text], k=100, mode=SearchMode.HYBRID)
                took.append(1000 * (time.perf_counter() - started))
            ms = f"{np.percentile(took, 50):.1f} / {np.percentile(took, 99):.1f}"
        else:
            started = time.perf_counter()
            ranked = searcher.rank(texts, k=100, mode=SearchMode.HYBRID)
            ms = f"{1000 * (time.perf_counter() - started) / len(ids):.1f}"
        if searcher is fused:
            fused_ranked = ranked
        run = Run({q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)})
        scores = [evaluate(Qrels(half.qrels), run, METRICS)[m] for m in METRICS]
        for part in parts.values():
            part_run = Run({q: run[q] for q in part.queries})
            scores.append(evaluate(Qrels(part.qrels), part_run, "recall@10"))
        print(f"| {label} | " + " | ".join(f"{s:.3f}" for s in scores) + f" | {ms} |")
    if args.misses:  # the fusion's: what no encoder put in the top 10
        for query, hits in zip(ids, fused_ranked, strict=True):
            relevant = {i for i, grade in half.qrels[query].items() if grade > 0}
            ranks = [n for n, (i, _) in enumerate(hits, 1) if i in relevant]
            if not ranks or ranks[0] > 10:
                meta = half.metadata[query]
                first = ranks[0] if ranks else "-"
                print(
                    f"miss ({meta.get('lang')}, {meta.get('kind')}, first at {first}): "
                    f"{half.queries[query]}"
                )


if __name__ == "__main__":
    main()
