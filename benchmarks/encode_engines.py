"""Episodes encoded per second on the CPU by each engine and batch size: the model itself
(torch) against its float32 copy in ONNX Runtime (the ``episode_engine`` setting).

The same real Listen Notes episode texts for every run (``episode_text``, 2,000 characters, as
``podseek index`` builds them); each row after a warm-up batch; the cosine column is the
lowest between a run's vectors and torch's at batch 32, the vectors an index held before.

    python benchmarks/encode_engines.py --data ../shared/data --episodes 480
"""

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from encode_throughput import sample_texts

from podseek.models.device import CPU
from podseek.models.onnx_queries import EpisodeEngine
from podseek.models.registry import load_encoder

RUNS = (("torch", 32), ("torch", 8), ("onnx", 32), ("onnx", 16), ("onnx", 8), ("onnx", 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--episodes", type=int, default=480)
    parser.add_argument("--models", default="e5-small,minilm,mpnet")
    args = parser.parse_args()
    texts = sample_texts(args.data, args.episodes)
    print(f"{len(texts)} episodes; {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print("\n| encoder | engine | batch | episodes/s | lowest cosine to torch at 32 |")
    print("|---|---|---:|---:|---:|")
    for name in args.models.split(","):
        engines = {
            engine: load_encoder(name, args.workspace, device=CPU, episode_engine=engine)
            for engine in EpisodeEngine
        }
        reference = None
        for engine, batch in RUNS:
            encoder = engines[EpisodeEngine(engine)]
            encode(encoder, texts[:batch], batch)  # warm-up (and the export)
            started = time.perf_counter()
            vectors = encode(encoder, texts, batch)
            rate = len(texts) / (time.perf_counter() - started)
            reference = vectors if reference is None else reference
            cosine = float((vectors * reference).sum(axis=1).min())
            print(f"| {name} | {engine} | {batch} | {rate:.1f} | {cosine:.5f} |", flush=True)


def encode(encoder: Any, texts: list[str], batch: int) -> np.ndarray:
    """``texts`` encoded as episodes in batches of ``batch``; by the ONNX engine itself when
    the encoder has one (``encode_episodes`` caps its batch)."""
    if encoder.episode_engine is None:
        return encoder.encode_episodes(texts, batch_size=batch)
    prefixed = [encoder.episode_prefix + text for text in texts]
    return encoder.episode_engine.encode(prefixed, batch, by_length=True)


if __name__ == "__main__":
    main()
