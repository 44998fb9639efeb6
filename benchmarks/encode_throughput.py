"""Episodes encoded per second by each built-in encoder, on real Listen Notes episode texts.

Texts are built with the same recipe and cap as ``podseek index`` (``episode_text``, 2,000
characters). Each encoder is loaded once (load time reported), warmed up, then timed over
the same episodes; query encoding is timed one query at a time, as a search does it.

    python benchmarks/encode_throughput.py --data ../shared/data --episodes 1000
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from podseek.beir import load_beir
from podseek.catalog.episode import episode_text
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.models.registry import BUILTINS, load_encoder

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"


def sample_texts(data: Path, count: int) -> list[str]:
    """The encoder texts of ``count`` Listen Notes episodes, a seeded sample."""
    with tempfile.TemporaryDirectory() as tmp, CatalogStore(Path(tmp) / "c.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(data / "listennotes-dec2017"), progress=False)
        episodes = list(catalog.iter_episodes())
    rng = np.random.default_rng(0)
    picks = rng.choice(len(episodes), size=min(count, len(episodes)), replace=False)
    return [episode_text(episodes[i], 2000) for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--models", default=",".join(BUILTINS))
    args = parser.parse_args()
    texts = sample_texts(args.data, args.episodes)
    queries = list(load_beir(DEVSET).queries.values())
    print(
        f"{len(texts)} episodes, mean {statistics.mean(map(len, texts)):.0f} characters; "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}\n"
    )
    print("| encoder | load s | episodes/s | query p50 ms | query p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        started = time.perf_counter()
        encoder = load_encoder(name, args.workspace)
        load = time.perf_counter() - started
        encoder.encode_episodes(texts[:16])
        started = time.perf_counter()
        encoder.encode_episodes(texts, batch_size=32)
        rate = len(texts) / (time.perf_counter() - started)
        latencies = []
        for query in queries:
            tick = time.perf_counter()
            encoder.encode_queries([query])
            latencies.append(1000 * (time.perf_counter() - tick))
        print(
            f"| {name} | {load:.1f} | {rate:.1f} | {np.percentile(latencies, 50):.1f} | "
            f"{np.percentile(latencies, 99):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
