"""Zero-shot quality of each built-in encoder x search mode on the hand-written dev set.

Indexes the Listen Notes catalog with every encoder (cached in the bench workspace, so a
rerun only searches), runs the dev queries in each mode, and scores the runs with ranx:
recall@10, MRR@10 and nDCG@10, overall and for paraphrase / non-English queries. Writes a
TREC run file per run and a metrics JSON, and prints a Markdown table.

    python benchmarks/zero_shot_quality.py --data ../shared/data
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


def slices(dev: QuerySet) -> list[QuerySet]:
    """The whole set, and the parts that are hard for keyword search."""
    kinds = {q: m.get("kind") for q, m in dev.metadata.items()}
    langs = {q: m.get("lang") for q, m in dev.metadata.items()}
    return [
        dev.subset(set(dev.queries), "all"),
        dev.subset({q for q, k in kinds.items() if k == "paraphrase"}, "paraphrase"),
        dev.subset({q for q, k in kinds.items() if k == "lexical"}, "lexical"),
        dev.subset({q for q, lang in langs.items() if lang != "en"}, "non-English"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--models", default=",".join(BUILTINS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zero-shot"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    dev = load_beir(DEVSET)
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
                run.save(str(args.out / f"{label.replace('/', '-')}.trec"), kind="trec")
                report[label] = {"ms_per_query": round(1000 * seconds / len(ids), 1)}
                for part in slices(dev):
                    scores = evaluate(
                        Qrels(part.qrels), Run({q: run[q] for q in part.queries}), METRICS
                    )
                    for metric, value in scores.items():
                        report[label][f"{part.name}_{metric}"] = round(float(value), 4)
            index.close()
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2))
    columns = [
        f"{p}_{m}" for p in ("all", "paraphrase", "lexical", "non-English") for m in METRICS[:2]
    ]
    counts = ", ".join(f"{len(part.queries)} {part.name}" for part in slices(dev)[1:])
    print(f"\nDev set: {len(dev.queries)} queries ({counts})\n")
    print("| run | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label, row in report.items():
        print(f"| {label} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
