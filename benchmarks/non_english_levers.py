"""Levers for the queries the English-only partner sits out, on one half of the hand-written set.

podseek's default search fuses e5-small, USE-multilingual and, for queries that read as
English, all-mpnet-base-v2. The queries mpnet sits out (mostly non-English, many of them
cross-lingual: a German query for an English episode) are ranked by the pair alone, and they
are the issue-15 target furthest behind. This scores, on those queries and on the whole half:

- the default, as ``podseek search`` ranks (``Searcher`` with both partners);
- mpnet joining every query (no language gate);
- mpnet joining the others through the episodes (pseudo-relevance feedback): its query vector
  is the mean of its stored vectors of the pair's top N episodes, so an encoder that cannot
  read the query can still rank by what the first two found;
- the pair's own fusions and weights (hybrid adaptive or convex, semantic; e5-small's share);
- recall@100 of the pair: the most a re-ranker of its top 100 could find.

Run it in a workspace that ``podseek index`` built with the default ensemble:

    PODSEEK_HOME=ws podseek ingest listennotes ../shared/data/listennotes-dec2017
    PODSEEK_HOME=ws podseek index
    PODSEEK_HOME=ws python benchmarks/non_english_levers.py [--split dev]
"""

import argparse
from collections.abc import Sequence

import numpy as np
from ranx import Qrels, Run, evaluate, fuse
from zero_shot_quality import DEVSET, slices

from podseek.beir import QuerySet, load_beir
from podseek.config import Settings
from podseek.index.episode_index import EpisodeIndex, open_ensemble_indexes
from podseek.models.onnx_queries import QueryEngine
from podseek.models.registry import load_encoder, query_languages
from podseek.search.engine import ENSEMBLE_ALPHA, Searcher, SearchMode
from podseek.search.fusion import Fusion, convex_combination

METRICS = ("recall@10", "mrr@10", "recall@100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--feedback", default="1,2,3,5,10", help="top episodes fed back")
    args = parser.parse_args()

    settings = Settings()
    engine = QueryEngine(settings.query_engine)
    main_index = EpisodeIndex.open(settings)
    use_index, mpnet_index = open_ensemble_indexes(settings, main_index.manifest, print)
    e5 = Searcher(main_index, load_encoder("e5-small", settings.home, engine))
    use = Searcher(use_index, load_encoder("use-multilingual", settings.home, engine))
    mpnet_encoder = load_encoder("mpnet", settings.home, engine)
    mpnet = Searcher(mpnet_index, mpnet_encoder, languages=query_languages("mpnet", settings.home))
    half = load_beir(DEVSET, args.split)
    ids = list(half.queries)
    texts = [half.queries[q] for q in ids]
    sat_out = {q for q, known in zip(ids, mpnet.knows(texts), strict=True) if not known}
    parts = [part for part in slices(half) if part.name in ("all", "non-English")]
    parts.append(half.subset(sat_out, "sat out"))

    def ranked(searcher: Searcher, mode: SearchMode = SearchMode.HYBRID) -> Run:
        return _run(ids, searcher.rank(texts, k=100, mode=mode))

    pair = Searcher(e5.index, e5.query_vectors.encoder, partners=[use])
    default = Searcher(e5.index, e5.query_vectors.encoder, partners=[use, mpnet])
    ungated = Searcher(mpnet_index, mpnet_encoder)
    rows = {
        "default (mpnet on English queries)": ranked(default),
        "mpnet on every query": ranked(
            Searcher(e5.index, e5.query_vectors.encoder, partners=[use, ungated])
        ),
    }
    pair_run = ranked(pair)
    mpnet_run = ranked(ungated)
    for n in (int(n) for n in args.feedback.split(",")):
        fed = _fed_back(pair_run, ungated, mpnet_run, sat_out, n)
        rows[f"mpnet through the pair's top {n} on the others"] = fed
    for fusion in (Fusion.ADAPTIVE, Fusion.CONVEX):
        e5.fusion = use.fusion = fusion
        mine, theirs = ranked(e5), ranked(use)
        for weight in (0.4, 0.5, 0.6):
            rows[f"the pair, hybrid {fusion.value}, e5-small x {weight}"] = _weighted(
                mine, theirs, weight
            )
    e5.fusion = use.fusion = Fusion.ADAPTIVE
    semantic = (ranked(e5, SearchMode.SEMANTIC), ranked(use, SearchMode.SEMANTIC))
    rows["the pair, semantic, e5-small x 0.5"] = _weighted(*semantic, 0.5)
    _table(args.split, parts, rows)


def _run(ids: Sequence[str], ranked: Sequence[list[tuple[str, float]]]) -> Run:
    return Run({q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)})


def _weighted(first: Run, second: Run, weight: float) -> Run:
    return fuse(
        [first, second], norm="min-max", method="wsum", params={"weights": [weight, 1 - weight]}
    )


def _fed_back(pair: Run, mpnet: Searcher, mpnet_run: Run, others: set[str], n: int) -> Run:
    """The default fusion, with mpnet's list for the ``others`` queries searched by the mean
    of its vectors of the pair's top ``n`` episodes (semantic; English queries keep mpnet's
    own hybrid list)."""
    fused = {}
    for query, scores in pair.to_dict().items():
        top = [i for i, _ in sorted(scores.items(), key=lambda item: -item[1])]
        if query in others:
            mean = np.mean(mpnet.backend.vectors(top[:n]), axis=0, keepdims=True)
            theirs = mpnet.backend.vector_search(mean / np.linalg.norm(mean), 100)[0]
        else:
            theirs = sorted(mpnet_run[query].items(), key=lambda item: -item[1])
        mine = [(i, scores[i]) for i in top]
        fused[query] = dict(convex_combination(mine, theirs, ENSEMBLE_ALPHA))
    return Run(fused)


def _table(split: str, parts: list[QuerySet], rows: dict[str, Run]) -> None:
    counts = ", ".join(f"{len(part.queries)} {part.name}" for part in parts)
    print(f"\n{split} half: {counts} queries\n")
    head = [f"{part.name} {metric}" for part in parts for metric in METRICS]
    print("| search | " + " | ".join(head) + " |\n|---|" + "---:|" * len(head))
    for label, run in rows.items():
        cells = []
        for part in parts:
            scores = evaluate(
                Qrels(part.qrels), Run({q: run[q] for q in part.queries}), list(METRICS)
            )
            cells += [f"{scores[metric]:.3f}" for metric in METRICS]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
