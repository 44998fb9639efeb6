"""Zero-shot quality of each built-in encoder x search mode on the hand-written set.

Indexes the Listen Notes catalog with every encoder (cached in the bench workspace, so a
rerun only searches), runs one split's queries in each mode, and scores the runs with ranx:
recall@10, MRR@10 and nDCG@10, overall and by query kind and language. Encoder ensembles
are scored too, as podseek searches with ``PODSEEK_ENSEMBLE_MODEL``: e5-small's hybrid
ranking and each other encoder's, min-max normalised and summed (a ``Searcher`` with a
``partner``; its time per query includes encoding the query with both). Writes a TREC run
file per run and a metrics JSON, and prints a Markdown table.

The set has two halves: decide on ``--split dev``; report ``--split test`` once, at the end.
A model tuned by ``podseek train`` is scored the same way once its folder is in the bench
workspace's ``models/``; ``--ensemble-with`` then fuses the others with it.

    python benchmarks/zero_shot_quality.py --data ../shared/data [--split dev]
    python benchmarks/zero_shot_quality.py --models e5-small-pipeline,use-multilingual \
        --ensemble-with e5-small-pipeline --out benchmarks/results/full-run
"""

import argparse
import json
import time
from pathlib import Path

from ranx import Qrels, Run, evaluate

from podseek.beir import QuerySet, load_beir
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.registry import BUILTINS, load_encoder
from podseek.search.engine import Searcher, SearchMode
from podseek.search.fusion import Fusion

METRICS = ["recall@10", "mrr@10", "ndcg@10"]
DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"


KINDS = ("paraphrase", "lexical", "known-item", "topical")
# The table's columns: a topical query has many right answers, so it is scored by nDCG; a
# known-item query has one, so by its rank.
COLUMNS = (
    ("all", "recall@10"),
    ("all", "mrr@10"),
    ("all", "ndcg@10"),
    ("paraphrase", "recall@10"),
    ("lexical", "recall@10"),
    ("known-item", "mrr@10"),
    ("topical", "ndcg@10"),
    ("non-English", "recall@10"),
    ("cross-lingual", "recall@10"),
)
# Each other encoder is fused with the default one, unless --ensemble-with names another.
ENSEMBLE_WITH = "e5-small"


def slices(dev: QuerySet) -> list[QuerySet]:
    """The whole set, each kind of query, and the queries not in English."""
    kinds = {q: m.get("kind") for q, m in dev.metadata.items()}
    langs = {q: m.get("lang") for q, m in dev.metadata.items()}
    cross = {q for q, m in dev.metadata.items() if m.get("note", "").startswith("Cross-lingual")}
    parts = [dev.subset(set(dev.queries), "all")]
    parts += [dev.subset({q for q, k in kinds.items() if k == kind}, kind) for kind in KINDS]
    parts.append(dev.subset({q for q, lang in langs.items() if lang != "en"}, "non-English"))
    parts.append(dev.subset(cross, "cross-lingual"))
    return [part for part in parts if part.queries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--models", default=",".join(BUILTINS))
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zero-shot"))
    parser.add_argument("--ensemble-with", default=ENSEMBLE_WITH, metavar="MODEL")
    args = parser.parse_args()
    args.out = args.out / args.split
    args.out.mkdir(parents=True, exist_ok=True)

    dev = load_beir(DEVSET, args.split)
    runs_by_label: dict[str, Run] = {}
    searchers: dict[str, Searcher] = {}
    with CatalogStore(args.workspace / "catalog.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(args.data / "listennotes-dec2017"), progress=False)
        report: dict[str, dict[str, dict[str, float]]] = {}
        for model in args.models.split(","):
            encoder = load_encoder(model, args.workspace)
            folder = args.workspace / f"index-{model}"
            built = build_index(catalog, encoder, folder, 2000, progress=True)
            print(
                f"# {model}: {built.rows} episodes, encoded {built.encoded} "
                f"({built.episodes_per_second:.1f}/s)",
                flush=True,
            )
            index = EpisodeIndex(folder)
            searcher = Searcher(index, encoder)
            runs = [
                (f"{model}/semantic", SearchMode.SEMANTIC, Fusion.CONVEX),
                (f"{model}/hybrid-adaptive", SearchMode.HYBRID, Fusion.ADAPTIVE),
                (f"{model}/hybrid-convex", SearchMode.HYBRID, Fusion.CONVEX),
                (f"{model}/hybrid-rrf", SearchMode.HYBRID, Fusion.RRF),
            ]
            if model == args.models.split(",")[0]:  # keyword search does not use the encoder
                runs.insert(0, ("bm25", SearchMode.KEYWORD, Fusion.CONVEX))
            for label, mode, fusion in runs:
                searcher.fusion = fusion
                started = time.perf_counter()
                ids = list(dev.queries)
                ranked = searcher.rank([dev.queries[q] for q in ids], k=100, mode=mode)
                seconds = time.perf_counter() - started
                run = Run(
                    {q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)},
                    name=label,
                )
                runs_by_label[label] = run
                report[label] = {"ms_per_query": round(1000 * seconds / len(ids), 1)}
            searcher.fusion = Fusion.ADAPTIVE
            searchers[model] = searcher
    for other, partner in searchers.items():
        if other == args.ensemble_with or args.ensemble_with not in searchers:
            continue
        first = searchers[args.ensemble_with]
        both = Searcher(first.index, first.query_vectors.encoder, partners=[partner])
        for cold in (first, partner):  # every query encoded again by both, as a new search
            cold.query_vectors = type(cold.query_vectors)(cold.query_vectors.encoder)
        both.query_vectors = first.query_vectors
        label = f"{args.ensemble_with}+{other}/hybrid-adaptive"
        ids = list(dev.queries)
        started = time.perf_counter()
        ranked = both.rank([dev.queries[q] for q in ids], k=100, mode=SearchMode.HYBRID)
        seconds = time.perf_counter() - started
        runs_by_label[label] = Run(
            {q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)},
            name=label,
        )
        report[label] = {"ms_per_query": round(1000 * seconds / len(ids), 1)}
    for searcher in searchers.values():
        searcher.index.close()
    parts = slices(dev)
    for label, run in runs_by_label.items():
        run.save(str(args.out / f"{label.replace('/', '-')}.trec"), kind="trec")
        for part in parts:
            scores = evaluate(Qrels(part.qrels), Run({q: run[q] for q in part.queries}), METRICS)
            for metric, value in scores.items():
                report[label][f"{part.name}_{metric}"] = round(float(value), 4)
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2))
    names = [part.name for part in parts]
    columns = [f"{name}_{metric}" for name, metric in COLUMNS if name in names]
    counts = ", ".join(f"{len(part.queries)} {part.name}" for part in parts[1:])
    print(f"\n{args.split} split: {len(dev.queries)} queries ({counts})\n")
    print("| run | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label, row in report.items():
        print(f"| {label} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
