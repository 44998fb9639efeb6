"""Episodes per second of USE-multilingual on CPU: the torch port vs the numpy engine.

Texts are real ListenNotes episodes (title + cleaned description, 300-1000 characters), the
kind of text podseek indexes. Each engine encodes the same texts after a warm-up; the best of
``--repeats`` runs is printed, with the cosine between the engines' vectors.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/encode_use.py --data ../shared/data
"""

import argparse
import csv
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from podseek.catalog.cleaning import html_to_text
from podseek.models.use_multilingual import UseNumpyEncoder, build_use_multilingual


def episode_texts(data: Path, count: int, min_chars: int = 300, max_chars: int = 1000) -> list[str]:
    """The first ``count`` ListenNotes episodes whose text has min_chars..max_chars characters."""
    texts = []
    with open(data / "listennotes-dec2017" / "episodes.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = f"{row['title']}. {html_to_text(row['description'])}"
            if min_chars <= len(text) <= max_chars:
                texts.append(text)
            if len(texts) == count:
                break
    return texts


def best_rate(encode: Callable[[Sequence[str]], np.ndarray], texts: list[str], repeats: int):
    """(texts per wall second, texts per CPU second, the vectors), from the fastest run.

    CPU seconds are reported too because a shared machine's wall clock includes other
    processes; with one thread, texts per CPU second is what a quiet core would give.
    """
    encode(texts[:32])  # warm-up: allocator, BLAS threads, tokenizer caches
    best_wall, best_cpu, vectors = float("inf"), float("inf"), None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        vectors = encode(texts)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(texts) / best_wall, len(texts) / best_cpu, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    args = parser.parse_args()

    texts = episode_texts(args.data, args.count)
    model = build_use_multilingual()
    chars = np.mean([len(t) for t in texts])
    print(
        f"{len(texts)} episodes, {chars:.0f} characters on average, load {os.getloadavg()[0]:.1f}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        numpy_encoder = UseNumpyEncoder(model, threads=threads)

        def torch_encode(batch: Sequence[str]) -> np.ndarray:
            return model.encode(list(batch), batch_size=args.batch_size, convert_to_numpy=True)

        def numpy_encode(batch: Sequence[str], encoder: UseNumpyEncoder = numpy_encoder):
            return encoder.encode_episodes(batch, batch_size=args.batch_size)

        torch_rate, torch_cpu, torch_vectors = best_rate(torch_encode, texts, args.repeats)
        numpy_rate, numpy_cpu, numpy_vectors = best_rate(numpy_encode, texts, args.repeats)
        cosine = (torch_vectors * numpy_vectors).sum(axis=1).min()
        print(
            f"{threads} thread(s): "
            f"torch {torch_rate:6.1f} episodes/s ({torch_cpu:6.1f} per CPU s), "
            f"numpy {numpy_rate:6.1f} episodes/s ({numpy_cpu:6.1f} per CPU s), "
            f"numpy/torch {numpy_rate / torch_rate:.2f}x, min cosine {cosine:.6f}"
        )


if __name__ == "__main__":
    main()
