"""Encoders fused, as podseek searches with ``PODSEEK_ENSEMBLE_MODEL``: quality on one half
of the hand-written set, each of the workspace's encoders alone against their fusion.

Opens the workspace's index and its ensemble indexes the way ``podseek search`` does (those
are built by ``podseek index`` with the setting), ranks the half's queries in hybrid mode
with each, and scores them with ranx.

    PODSEEK_HOME=podseek-data PODSEEK_ENSEMBLE_MODEL=use-multilingual,mpnet podseek index
    PODSEEK_HOME=podseek-data PODSEEK_ENSEMBLE_MODEL=use-multilingual,mpnet \\
        python benchmarks/ensemble_quality.py [--split dev]
"""

import argparse
import time
from pathlib import Path

from ranx import Qrels, Run, evaluate

from podseek.beir import load_beir
from podseek.config import Settings
from podseek.index.episode_index import EpisodeIndex, open_ensemble_indexes
from podseek.models.registry import load_encoder, query_languages
from podseek.search.engine import Searcher, SearchMode

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"
METRICS = ["recall@10", "mrr@10", "ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
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
        searchers[model] = Searcher(index, load_encoder(model, settings.home))
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
    print("| search | " + " | ".join(METRICS) + " | ms / query |\n|---|" + "---:|" * 4)
    for label, searcher in searchers.items():
        started = time.perf_counter()
        ranked = searcher.rank([half.queries[q] for q in ids], k=100, mode=SearchMode.HYBRID)
        ms = 1000 * (time.perf_counter() - started) / len(ids)
        run = Run({q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)})
        scores = evaluate(Qrels(half.qrels), run, METRICS)
        print(f"| {label} | " + " | ".join(f"{scores[m]:.3f}" for m in METRICS) + f" | {ms:.1f} |")


if __name__ == "__main__":
    main()
