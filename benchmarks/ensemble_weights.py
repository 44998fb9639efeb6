"""Two encoders' runs fused with other weights than podseek's even sum, on the hand-written set.

podseek's ensemble sums the two encoders' min-max normalised hybrid lists with equal weights
(``ENSEMBLE_ALPHA``). This scores other weights, and a partner that only joins when the
query reads as English (py3langid, as podseek detects languages: an English-only partner such
as MiniLM), from the TREC runs that ``zero_shot_quality.py --out DIR`` wrote, so nothing is
encoded or searched again. ranx ``fuse(norm="min-max", method="wsum")`` does the fusion; at
weight 0.5 it ranks as podseek's ensemble does (tests/search/test_ensemble.py).

    python benchmarks/ensemble_weights.py --runs benchmarks/results/full-run/dev \
        --first e5-small-pipeline-hybrid-adaptive --second use-tuned-hybrid-adaptive
"""

import argparse
from pathlib import Path

from ranx import Qrels, Run, evaluate, fuse
from zero_shot_quality import COLUMNS, DEVSET, METRICS, slices

from podseek.beir import load_beir
from podseek.catalog.cleaning import detect_language


def english(text: str) -> bool:
    """Whether podseek would read the query as English (short ones are taken as English:
    py3langid needs a few words, and most listeners' queries here are English)."""
    return detect_language(text, min_letters=12) in ("en", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="zero_shot_quality's --out/split")
    parser.add_argument("--first", required=True, help="a run file's name, without .trec")
    parser.add_argument("--second", required=True)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--weights", default="0.3,0.4,0.5,0.6,0.7", help="the first run's")
    parser.add_argument("--english-gate", action="store_true", help="second run: English only")
    args = parser.parse_args()

    queries = load_beir(DEVSET, args.split)
    first = Run.from_file(str(args.runs / f"{args.first}.trec"), kind="trec")
    second = Run.from_file(str(args.runs / f"{args.second}.trec"), kind="trec")
    parts = slices(queries)
    rows: dict[str, dict[str, float]] = {}
    for label, run in (
        (args.first, first),
        (args.second, second),
        *(
            (f"{args.first} x {w} + {args.second} x {1 - w:.1f}", _fused(first, second, w))
            for w in (float(w) for w in args.weights.split(","))
        ),
    ):
        if args.english_gate and " + " in label:
            gated = {
                q: (run[q] if english(queries.queries[q]) else first[q]) for q in queries.queries
            }
            run, label = Run(gated), label + " (second on English queries only)"
        rows[label] = {}
        for part in parts:
            scores = evaluate(Qrels(part.qrels), Run({q: run[q] for q in part.queries}), METRICS)
            for metric, value in scores.items():
                rows[label][f"{part.name}_{metric}"] = float(value)
    names = [part.name for part in parts]
    columns = [f"{name}_{metric}" for name, metric in COLUMNS if name in names]
    print("| run | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label, row in rows.items():
        print(f"| {label} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")


def _fused(first: Run, second: Run, weight: float) -> Run:
    return fuse(
        [first, second], norm="min-max", method="wsum", params={"weights": [weight, 1 - weight]}
    )


if __name__ == "__main__":
    main()
