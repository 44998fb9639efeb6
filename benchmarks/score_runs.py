"""Score TREC run files against the Listen Notes dev set, overall and by query kind.

The GPU check writes its dev-set runs as TREC files (the GPU machine has no ranx); this scores
them here with podseek's ranx-based metrics.

Usage: python benchmarks/score_runs.py RUN.trec [RUN.trec ...] | a runs.tar.gz
"""

import argparse
import tarfile
import tempfile
from pathlib import Path

from podseek.beir import load_qrels, load_queries
from podseek.evaluation.metrics import score_runs

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"
METRICS = ("recall@10", "mrr@10", "recall@30")


def read_run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    qrels = load_qrels(DEVSET / "qrels" / "dev.tsv")
    _, meta = load_queries(DEVSET / "queries.jsonl")
    groups = {"all": set(qrels)}
    for qid, info in meta.items():
        kind = info.get("kind", "?")
        groups.setdefault(kind, set()).add(qid)
        if info.get("lang", "en") != "en":
            groups.setdefault("non-English", set()).add(qid)
    with tempfile.TemporaryDirectory() as tmp:
        files: list[Path] = []
        for path in args.runs:
            if path.name.endswith(".tar.gz"):
                with tarfile.open(path) as archive:
                    archive.extractall(tmp, filter="data")
                files += sorted(Path(tmp).rglob("*.trec"))
            else:
                files.append(path)
        header = "| run | " + " | ".join(f"{g} ({len(q)}) R@10" for g, q in groups.items())
        print(header + " | all MRR@10 | all R@30 |")
        print("|---" * (len(groups) + 3) + "|")
        for path in files:
            run = read_run(path)
            cells = []
            for queries in groups.values():
                subset = {q: qrels[q] for q in queries if q in qrels}
                cells.append(f"{score_runs(subset, run, ['recall@10'])['recall@10']:.3f}")
            overall = score_runs(qrels, run, METRICS)
            print(
                f"| {path.stem} | " + " | ".join(cells) + f" | {overall['mrr@10']:.3f} | "
                f"{overall['recall@30']:.3f} |"
            )


if __name__ == "__main__":
    main()
