"""Episodes per second of each query generator, on real Listen Notes episodes.

Each generator writes ``--per-episode`` queries (default 3, as the walkthrough) for the same
``--n`` episodes, drawn at random (seed 0) from the 5,633 Listen Notes episodes, in batches
of ``--batch`` episodes as ``podseek queries generate`` hands them over. Gemma runs on each
installed engine (llama-cpp needs ``pip install 'podseek[llama]'``) and at each
``--max-chars`` cap on the episode text in its prompt. The last column projects the time for
all 5,633 episodes (load included). ``--seq2seq FOLDER`` adds a local doc2query folder
(none ships on PyPI; the tests run that path with a tiny random T5, whose speed would say
nothing about a real one).

    python benchmarks/generation_throughput.py --data ../shared/data --n 64
"""

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from podseek.catalog.episode import Episode
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.queries.generators import (
    DEFAULT_MAX_CHARS,
    ENGINES,
    GemmaGenerator,
    QueryGenerator,
    load_generator,
)

CATALOG_EPISODES = 5633


def timed_run(
    generator: QueryGenerator, episodes: Sequence[Episode], per_episode: int, batch: int
) -> tuple[float, list[list[str]]]:
    """Seconds to generate for every episode, batch after batch, and the queries."""
    queries: list[list[str]] = []
    started = time.perf_counter()
    for start in range(0, len(episodes), batch):
        queries += generator.generate(episodes[start : start + batch], per_episode, seed=0)
    return time.perf_counter() - started, queries


def report(
    label: str,
    load: float,
    seconds: float,
    episodes: Sequence[Episode],
    queries: list[list[str]],
    prompt_tokens: str = "",
    max_chars: str = "",
) -> None:
    rate = len(episodes) / seconds
    projected = (load + CATALOG_EPISODES / rate) / 60
    flat = [q for qs in queries for q in qs]
    empty = sum(not q for q in flat) / max(len(flat), 1)
    chars = statistics.mean(len(q) for q in flat) if flat else 0.0
    shown = f"{rate:,.0f}" if rate >= 100 else f"{rate:.3f}"
    print(
        f"| {label} | {max_chars} | {prompt_tokens} | {load:.1f} | {shown} | "
        f"{projected:.1f} | {chars:.0f} | {empty:.0%} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--n", type=int, default=64, help="episodes to generate for")
    parser.add_argument("--per-episode", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="episodes per generate() call")
    parser.add_argument(
        "--max-chars",
        default=str(DEFAULT_MAX_CHARS),
        help="comma-separated caps on the episode text in Gemma's prompt",
    )
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seq2seq", default="", help="a local seq2seq folder")
    parser.add_argument("--show", type=int, default=3, help="episodes whose queries to print")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, CatalogStore(Path(tmp) / "c.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(args.data / "listennotes-dec2017"), progress=False)
        everything = list(catalog.iter_episodes())
    picks = np.random.default_rng(0).choice(len(everything), size=args.n, replace=False)
    episodes = [everything[i] for i in picks]
    languages = ", ".join(sorted({e.language or "?" for e in episodes}))
    print(
        f"{len(episodes)} Listen Notes episodes (languages: {languages}), "
        f"{args.per_episode} queries each, batches of {args.batch}; {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}\n"
    )
    print(
        "| generator | max chars | prompt tokens (mean) | load s | episodes/s | "
        f"all {CATALOG_EPISODES:,} min | query chars | empty |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    examples: dict[str, list[list[str]]] = {}

    title = load_generator("title")
    seconds, queries = timed_run(title, episodes, args.per_episode, args.batch)
    report("title", 0.0, seconds, episodes, queries)

    for engine in args.engines.split(","):
        if engine == "llama-cpp" and importlib.util.find_spec("llama_cpp") is None:
            print(f"| gemma-270m / {engine}: not installed (pip install 'podseek[llama]') |")
            continue
        started = time.perf_counter()
        gemma = load_generator(
            "gemma-270m",
            engine=engine,
            models_dir=args.workspace / "models",
            batch_size=args.batch,  # as `podseek queries generate --batch` passes it
        )
        load = time.perf_counter() - started
        assert isinstance(gemma, GemmaGenerator)
        for max_chars in (int(value) for value in args.max_chars.split(",")):
            gemma.max_chars = max_chars
            tokens = statistics.mean(gemma.prompt_tokens(e) for e in episodes)
            gemma.generate(episodes[:1], 1, seed=0)  # warm-up: caches the English page
            seconds, queries = timed_run(gemma, episodes, args.per_episode, args.batch)
            label = f"gemma-270m / {engine}"
            report(label, load, seconds, episodes, queries, f"{tokens:.0f}", str(max_chars))
            examples[f"{label} / {max_chars} chars"] = queries
        del gemma

    if args.seq2seq:
        started = time.perf_counter()
        seq2seq = load_generator(f"seq2seq:{args.seq2seq}")
        load = time.perf_counter() - started
        seconds, queries = timed_run(seq2seq, episodes, args.per_episode, args.batch)
        report(seq2seq.name, load, seconds, episodes, queries)

    for index, episode in enumerate(episodes[: args.show]):
        print(f"\n{episode.episode_title!r} ({episode.language or '?'})")
        for label, queries in examples.items():
            print(f"  {label}: {queries[index]}")


if __name__ == "__main__":
    main()
