"""What transcripts cost: segments per hour of audio, the segment index's size, and search
latency with and without segments, at the size of a workspace of real transcripts and at
the demo's catalog size.

The real workspace is the Talk Python archive, ingested and indexed (its ``podseek index``
builds the segment index). The demo's size (5,633 episodes, ``make demo``'s Listen Notes
catalog, as if each had a transcript) is made of copies of those episodes with their
transcripts, whose vectors are the originals' plus noise (cosine about 0.9, as in
``serve_load.py``): the latency and size are real, quality on copies is not measured.

    export PODSEEK_HOME=/tmp/talkpython   # ingested and indexed (benchmarks/moments_quality.py)
    python benchmarks/segment_scale.py [--copies-home /tmp/podseek-bench/segments-5k]
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from podseek.catalog.store import CatalogStore
from podseek.catalog.windows import transcript_windows
from podseek.config import Settings
from podseek.index.base import AnnSettings
from podseek.index.episode_index import WindowRecords, build_index, read_manifest
from podseek.models.registry import load_encoder
from podseek.search.engine import QueryVectorCache, SearchMode
from podseek.search.workspace import open_searcher

DEMO_EPISODES = 5_633
QUERIES = [
    "why the test suite got slow",
    "deploying a web app without managing servers",
    "advice for scientists who never learned to program",
    "how async changed python web frameworks",
    "a library for dataframes faster than pandas",
    "what to do when an open source maintainer burns out",
    "wie man Python in der Schule unterrichtet",
    "cómo empaquetar una aplicación de python",
    "outils pour documenter un projet",
    "hashing passwords with salt",
]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def transcript_hours(catalog: CatalogStore) -> tuple[int, int, float]:
    """``(episodes with a transcript, windows, hours of talk)``."""
    episodes = windows = 0
    seconds = 0.0
    for _, _, segments in catalog.iter_transcripts():
        episodes += 1
        windows += len(transcript_windows(segments))
        seconds += segments[-1].end - segments[0].start
    return episodes, windows, seconds / 3600


def latencies(settings: Settings, rounds: int = 3) -> dict[str, tuple[float, float]]:
    """p50 and p95 ms of an uncached hybrid search (the query encoded each time), with and
    without segments."""
    searcher = open_searcher(settings)
    uncached = QueryVectorCache(searcher.query_vectors.encoder, size=0)
    searcher.query_vectors = uncached
    if searcher.segments is not None:
        searcher.segments.searcher.query_vectors = uncached
    searcher.search("warm up", 10)
    found = {}
    for label, segments in (("episodes only", False), ("with segments", True)):
        times = []
        for _ in range(rounds):
            for query in QUERIES:
                started = time.perf_counter()
                searcher.search(query, 10, SearchMode.HYBRID, segments=segments)
                times.append(1000 * (time.perf_counter() - started))
        times.sort()
        found[label] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return found


def report(settings: Settings, label: str) -> None:
    with CatalogStore(settings.catalog_path) as catalog:
        episodes, windows, hours = transcript_hours(catalog)
    segments = read_manifest(settings.segments_index_dir)
    index = read_manifest(settings.index_dir)
    assert segments is not None and index is not None
    print(f"\n## {label}: {episodes:,} episodes with transcripts, {hours:,.1f} hours of talk")
    print(f"- windows: {windows:,} ({windows / hours:,.1f} per hour of audio)")
    print(
        f"- segment index: {segments.rows:,} rows, {segments.vector_index} vector search, "
        f"{folder_bytes(settings.segments_index_dir) / 1e6:,.1f} MB on disk "
        f"(the episode index: {index.rows:,} rows, "
        f"{folder_bytes(settings.index_dir) / 1e6:,.1f} MB)"
    )
    print("| search (hybrid, query encoded each time) | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, (p50, p95) in latencies(settings).items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")


class CopyEncoder:
    """A copy's vector is its original's plus noise (cosine about 0.9); it passes for the
    real encoder (same name, fingerprint, dimension), so queries use that one."""

    def __init__(self, real, vectors_by_text: dict[str, np.ndarray], seed: int = 0) -> None:
        self.name = real.name
        self.fingerprint = getattr(real, "fingerprint", real.name)
        self.dimension = real.dimension
        self.vectors_by_text = vectors_by_text
        self.rng = np.random.default_rng(seed)

    def encode_episodes(self, texts: list[str], **_: object) -> np.ndarray:
        base = np.stack([self.vectors_by_text[t] for t in texts])
        noise = self.rng.normal(size=base.shape).astype(np.float32)
        noise *= 0.45 / np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = base + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stored_vectors(folder: Path) -> dict[str, np.ndarray]:
    """``{text: vector}`` of an index's rows (the originals' vectors, by their text)."""
    from podseek.index.episode_index import EpisodeIndex

    index = EpisodeIndex(folder, AnnSettings(snapshot=False))
    ids, vectors = index.backend.all_vectors()
    texts = index.backend.fetch(ids)
    index.close()
    return {texts[i]["text"]: v for i, v in zip(ids, vectors, strict=True)}


def build_copies(real: Settings, home: Path, size: int) -> Settings:
    """A workspace of ``size`` episodes: the real ones and copies, with their transcripts,
    indexed with copied vectors (episodes and windows)."""
    settings = Settings(home=home, model=real.model, ensemble_model="")
    if read_manifest(settings.segments_index_dir) is not None:
        return settings
    home.mkdir(parents=True, exist_ok=True)
    with CatalogStore(real.catalog_path) as source, CatalogStore(settings.catalog_path) as into:
        originals = list(source.iter_transcripts())
        with into.write("copies") as batch:
            for n in range(size):
                episode, _, segments = originals[n % len(originals)]
                copy = episode.model_copy(update={"id": f"{episode.id}~{n // len(originals)}"})
                batch.upsert(copy)
                batch.set_transcript(copy.id, "vtt", segments)
        encoder = load_encoder(real.model, real.home, real.query_engine)
        ann = AnnSettings.from_settings(settings)
        for folder, records in (
            (real.index_dir, None),
            (real.segments_index_dir, WindowRecords(into, settings.text_max_chars)),
        ):
            copies = CopyEncoder(encoder, stored_vectors(folder))
            target = settings.segments_index_dir if records else settings.index_dir
            started = time.perf_counter()
            built = build_index(
                into, copies, target, settings.text_max_chars, ann, chunk_size=50_000,
                records=records,
            )  # fmt: skip
            print(
                f"# {target.name}: {built.rows:,} rows, {built.vector_index}, "
                f"{time.perf_counter() - started:,.0f} s to build"
            )
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies-home", type=Path, default=Path("/tmp/podseek-bench/segments"))
    parser.add_argument("--size", type=int, default=DEMO_EPISODES, help="0: the real one only")
    args = parser.parse_args()
    real = Settings(ensemble_model="")
    report(real, "The Talk Python archive")
    if not args.size:
        return
    copies = build_copies(real, args.copies_home, args.size)
    report(copies, f"{args.size:,} episodes (copies of the archive)")


if __name__ == "__main__":
    main()
