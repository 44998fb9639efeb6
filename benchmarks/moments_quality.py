"""Transcript search on the Talk Python moments set: episode hit@10 and moment hit@10 of
description-only, segments-only and combined search, on one half of the set.

A moment hits when the judged episode is in the top 10 and one of the moments it carries
starts within 30 s of the judged window. Combined search is measured with each weight of the
episodes' own list and each way of scoring an episode by its windows (``--grid``), and with
each way of placing a moment in its window (``Placement``).

    export PODSEEK_HOME=/tmp/talkpython
    podseek ingest transcripts ../shared/data/podcast-transcripts/talkpython \\
        --show "Talk Python To Me"
    podseek index
    python benchmarks/moments_quality.py [--split dev] [--grid]
"""

import argparse
import time
from collections import defaultdict
from pathlib import Path

from ranx import Qrels, Run, evaluate

from podseek.beir import load_beir
from podseek.config import Settings
from podseek.search.engine import Searcher, SearchMode
from podseek.search.segments import SEGMENT_ALPHA, Aggregation, Placement
from podseek.search.workspace import open_searcher

DEVSET = Path(__file__).resolve().parent / "devset" / "talkpython-moments"
SLACK_S = 30.0
K = 10


def moment_hits(answers: list, queries: list[dict]) -> list[bool]:
    """Whether each query's judged episode is in its top ``K`` with a moment near the window."""
    hits = []
    for results, query in zip(answers, queries, strict=True):
        meta = query["metadata"]
        episode = f"transcripts:talk-python-to-me:{meta['episode']}"
        low, high = meta["start"] - SLACK_S, meta["end"] + SLACK_S
        hits.append(
            any(
                r.id == episode and any(low <= m.start <= high for m in r.moments)
                for r in results.data[:K]
            )
        )
    return hits


def measure(
    searcher: Searcher, queries: list[dict], qrels: dict, segments: bool, mode: SearchMode
) -> dict[str, float | list[bool]]:
    started = time.perf_counter()
    answers = [searcher.search(q["text"], K, mode, segments=segments) for q in queries]
    ms = 1000 * (time.perf_counter() - started) / len(queries)
    run = Run(
        {
            q["_id"]: {r.id: r.score for r in a.data} or {"none": 0.0}
            for q, a in zip(queries, answers, strict=True)
        }
    )
    scores = evaluate(Qrels(qrels), run, [f"hit_rate@{K}", f"mrr@{K}"], make_comparable=True)
    episode_hits = [
        any(r.id in qrels[q["_id"]] for r in a.data[:K])
        for q, a in zip(queries, answers, strict=True)
    ]
    return {
        "episode": scores[f"hit_rate@{K}"],
        "mrr": scores[f"mrr@{K}"],
        "moment": sum(moment_hits(answers, queries)) / len(queries),
        "ms": ms,
        "episode_hits": episode_hits,
        "moment_hits": moment_hits(answers, queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--mode", choices=[m.value for m in SearchMode], default="hybrid")
    parser.add_argument("--grid", action="store_true", help="every weight and aggregation")
    args = parser.parse_args()

    settings = Settings()
    searcher = open_searcher(settings, note=lambda line: print(f"note: {line}"))
    if searcher.segments is None:
        raise SystemExit("no segment index in the workspace: ingest the transcripts, index")
    half = load_beir(DEVSET, args.split)
    queries = [{"_id": q, "text": t, "metadata": half.metadata[q]} for q, t in half.queries.items()]
    mode = SearchMode(args.mode)
    segments = searcher.segments
    print(
        f"{args.split} half: {len(queries)} queries, {mode} mode, model "
        f"{searcher.index.manifest.model.name}, {searcher.index.manifest.rows} episodes, "
        f"{segments.searcher.index.manifest.rows} segments"
    )

    default = Placement.OVERLAP
    variants: list[tuple[str, bool, float, Aggregation, Placement]] = [
        ("description only", False, SEGMENT_ALPHA, Aggregation.MAX, default),
        ("segments only", True, 0.0, Aggregation.MAX, default),
    ]
    alphas = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7) if args.grid else (SEGMENT_ALPHA,)
    hows = tuple(Aggregation) if args.grid else (Aggregation.MAX,)
    for how in hows:
        for alpha in alphas:
            variants.append((f"combined, alpha {alpha}, {how}", True, alpha, how, default))
    for placement in (Placement.WORDS, Placement.WINDOW):
        label = f"combined, alpha {SEGMENT_ALPHA}, moments placed by {placement}"
        variants.append((label, True, SEGMENT_ALPHA, Aggregation.MAX, placement))

    print("| search | episode hit@10 | MRR@10 | moment hit@10 | ms / query |")
    print("|---|---:|---:|---:|---:|")
    kinds: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        kinds[q["metadata"]["kind"]].append(i)
    by_kind = {}
    for label, use_segments, alpha, how, placement in variants:
        segments.alpha, segments.how, segments.placement = alpha, how, placement
        got = measure(searcher, queries, half.qrels, use_segments, mode)
        print(
            f"| {label} | {got['episode']:.3f} | {got['mrr']:.3f} | {got['moment']:.3f} "
            f"| {got['ms']:.0f} |"
        )
        if label in ("description only", "segments only") or (
            alpha == SEGMENT_ALPHA and how is Aggregation.MAX and placement is default
        ):
            by_kind[label] = got
    print("\nby kind (episode hit@10 / moment hit@10):")
    print("| search | " + " | ".join(f"{k} ({len(v)})" for k, v in kinds.items()) + " |")
    print("|---|" + "---:|" * len(kinds))
    for label, got in by_kind.items():
        cells = []
        for members in kinds.values():
            e = sum(got["episode_hits"][i] for i in members) / len(members)  # type: ignore[index]
            m = sum(got["moment_hits"][i] for i in members) / len(members)  # type: ignore[index]
            cells.append(f"{e:.2f} / {m:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
