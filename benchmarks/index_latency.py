"""Query latency, recall against exact search, build time and size of the LanceDB index.

Sizes: the real catalog (Listen Notes + Taddy episodes, encoded with the default encoder)
and clustered synthetic vectors at larger sizes. For each, unfiltered and filtered
(language = 'de', ~10% of rows; a category, ~5%), it reports:

- p50 / p99 of one query end to end (encode a real query text with the encoder, then
  retrieve the top 10 from LanceDB) and of retrieval alone;
- recall@10 of LanceDB against exact NumPy search over the same rows and filter;
- the NumPy brute-force latency in the same run, as the baseline;
- index build time and size on disk.

    python benchmarks/index_latency.py --data ../shared/data --sizes real,100000,1000000
"""

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from podseek.beir import load_beir
from podseek.catalog.episode import Episode
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore
from podseek.config import get_settings
from podseek.index.base import AnnSettings, IndexRow, SearchFilters
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.index.lancedb_backend import LanceDBBackend
from podseek.models.registry import load_encoder

DEVSET = Path(__file__).resolve().parent / "devset" / "listennotes"
LANGUAGES = ["en"] * 16 + ["de", "de", "es", "sv"]  # de ~ 10%
CATEGORIES = [f"cat{i}" for i in range(20)]  # one of 20: ~5% each
FILTERS = {
    "none": SearchFilters(),
    "language=de": SearchFilters(language="de"),
    "category": SearchFilters(category="cat7"),
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 2,000 random centres: neighbour structure like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 2000, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def near(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Query-like probes: each stored vector plus noise of the same length, renormalised
    (cosine 0.71 to its source; real queries score 0.4 to 0.7 with their best episodes)."""
    noise = rng.normal(size=vectors.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    probes = vectors + noise
    return probes / np.linalg.norm(probes, axis=1, keepdims=True)


def synthetic_episode(i: int, language: str, category: str) -> Episode:
    """Row ``i`` of a synthetic catalog: 997 shows, dates over December 2017, durations."""
    return Episode(
        id=f"s:{i}",
        source="s",
        show_id=f"s:show{i % 997}",
        episode_title=f"Episode {i}",
        language=language,
        categories=(category,),
        published_at=datetime(2017, 12, 1 + i % 28, tzinfo=UTC),
        duration_s=60 + i % 5000,
    )


def synthetic_backend(
    folder: Path, n: int, dim: int, ann: AnnSettings
) -> tuple[LanceDBBackend, list, np.ndarray, float]:
    rng = np.random.default_rng(n)
    vectors = clustered(n, dim, seed=n)
    languages = [LANGUAGES[i] for i in rng.integers(0, len(LANGUAGES), n)]
    categories = [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), n)]
    backend = LanceDBBackend(folder, "episodes", dim, ann)
    started = time.perf_counter()
    for start in range(0, n, 50_000):
        rows = [
            IndexRow(
                synthetic_episode(i, languages[i], categories[i]),
                f"Episode {i}",
                "h",
                vectors[i],
            )
            for i in range(start, min(n, start + 50_000))
        ]
        backend.upsert(rows)
    backend.optimize()
    build = time.perf_counter() - started
    meta = [
        (language, [category]) for language, category in zip(languages, categories, strict=True)
    ]
    return backend, meta, vectors, build


def real_backend(workspace: Path, data: Path, ann: AnnSettings, model: str | None = None) -> tuple:
    """The real catalog (Listen Notes + Taddy) indexed with `model`, cached per model."""
    with CatalogStore(workspace / "catalog-real.sqlite") as catalog:
        ingest(catalog, ListenNotesSource(data / "listennotes-dec2017"), progress=False)
        taddy = data / "taddy-episodes-2023" / "podcastepisode.gz.parquet"
        ingest(catalog, TableSource(taddy, TableMapping.load("taddy")), progress=False)
        model = model or get_settings().model
        encoder = load_encoder(model, workspace)
        folder = workspace / f"index-real-{model}"
        started = time.perf_counter()
        report = build_index(catalog, encoder, folder, 2000, ann, progress=True)
        build = time.perf_counter() - started if report.encoded else float("nan")
    index = EpisodeIndex(folder, ann)
    if index.backend.count() >= ann.min_rows and not index.backend.uses_ann:
        started = time.perf_counter()
        index.backend.optimize()  # --ann-min-rows below the catalog's size: build the ANN index
        build = time.perf_counter() - started
    ids, vectors = index.backend.all_vectors()
    fields = index.backend.fetch(ids)
    meta = [(fields[i]["language"], fields[i]["categories"] or []) for i in ids]
    return index.backend, meta, vectors, ids, build, report


def numpy_exact(
    vectors: np.ndarray, mask: np.ndarray | None, query: np.ndarray, k: int
) -> np.ndarray:
    """Brute-force top k by cosine among the rows the mask keeps (row numbers)."""
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def measure(name, backend, meta, vectors, ids, encoder, query_texts, build, k=10) -> list[str]:
    rows = []
    rng = np.random.default_rng(0)
    # recall probes: real query vectors for the real catalog; for synthetic sizes, points
    # near stored vectors (the clustered neighbourhoods a real query lands in)
    probes = encoder.encode_queries(query_texts[:100])
    if ids is None:
        picks = rng.integers(0, len(vectors), 100)
        probes = near(vectors[picks], rng)
    languages = np.array([m[0] for m in meta])
    counts: dict[str, int] = {}
    for _, cats in meta:
        for category in cats:
            counts[category] = counts.get(category, 0) + 1
    for label, filters in FILTERS.items():
        if label == "category" and ids is not None:
            filters = SearchFilters(category=max(counts, key=counts.__getitem__))
        mask = None
        if filters.language:
            mask = languages == filters.language
        if filters.category:
            wanted = filters.category.lower()
            mask = np.fromiter((wanted in cats for _, cats in meta), bool, len(meta))
        retrieve, end_to_end, brute, recalls = [], [], [], []
        # three separate loops: NumPy's BLAS threads keep spinning after a large product
        # and would slow the encoder's next call if the loops were interleaved
        for text in query_texts:
            tick = time.perf_counter()
            vector = encoder.encode_queries([text])[0]
            hits = backend.vector_search(vector[None, :], k, filters)[0]
            end_to_end.append(time.perf_counter() - tick)
            assert len(hits) == k
        for n in range(len(query_texts)):
            tick = time.perf_counter()
            backend.vector_search(probes[n % len(probes)][None, :], k, filters)
            retrieve.append(time.perf_counter() - tick)
        for n in range(len(query_texts)):
            tick = time.perf_counter()
            numpy_exact(vectors, mask, probes[n % len(probes)], k)
            brute.append(time.perf_counter() - tick)
        for probe in probes:
            got = {i for i, _ in backend.vector_search(probe[None, :], k, filters)[0]}
            truth_rows = numpy_exact(vectors, mask, probe, k)
            truth = {ids[r] if ids is not None else f"s:{r}" for r in truth_rows}
            recalls.append(len(got & truth) / k)
        share = 1.0 if mask is None else float(mask.mean())
        rows.append(
            f"| {name} | {backend.count():,} | {label} ({share:.0%}) | "
            f"{'ANN' if backend.uses_ann else 'exact'} | "
            f"{1000 * percentile(end_to_end, 50):.1f} / {1000 * percentile(end_to_end, 99):.1f} | "
            f"{1000 * percentile(retrieve, 50):.1f} / {1000 * percentile(retrieve, 99):.1f} | "
            f"{statistics.mean(recalls):.3f} | {1000 * percentile(brute, 50):.1f} | "
            f"{build:.0f} | {backend.size_bytes() / 1e6:,.0f} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench"))
    parser.add_argument("--sizes", default="real,100000")
    parser.add_argument("--model", default=None, help="encoder (default: podseek's default)")
    parser.add_argument(
        "--query-engine",
        default=get_settings().query_engine,
        choices=["onnx-int8", "onnx", "torch"],
        help="what encodes the queries (default: podseek's setting)",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ann-min-rows", type=int, default=50_000)
    parser.add_argument("--nprobes", type=int, default=20)
    parser.add_argument("--refine-factor", type=int, default=10)
    args = parser.parse_args()
    ann = AnnSettings(
        min_rows=args.ann_min_rows, nprobes=args.nprobes, refine_factor=args.refine_factor
    )
    model = args.model or get_settings().model
    encoder = load_encoder(model, args.workspace, args.query_engine)
    print(f"encoder: {model}, queries encoded by {args.query_engine}\n")
    dev = load_beir(DEVSET)
    texts = list(dev.queries.values())
    texts = (texts * (args.queries // len(texts) + 1))[: args.queries]
    encoder.encode_queries(texts[:5])  # warm up
    print(
        "| index | rows | filter (share) | search | end-to-end p50 / p99 ms | "
        "retrieve p50 / p99 ms | recall@10 vs exact | numpy exact p50 ms | build s | MB |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        if size == "real":
            backend, meta, vectors, ids, build, _ = real_backend(
                args.workspace, args.data, ann, model
            )
            measure("real episodes", backend, meta, vectors, ids, encoder, texts, build)
            continue
        folder = Path(tempfile.mkdtemp(prefix=f"lat-{size}-", dir=args.workspace))
        try:
            backend, meta, vectors, build = synthetic_backend(
                folder, int(size), encoder.dimension, ann
            )
            measure("synthetic", backend, meta, vectors, None, encoder, texts, build)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
