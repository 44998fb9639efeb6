"""Search latency, recall and build time of podseek's two backends: LanceDB and Milvus (Lite).

The same clustered synthetic unit vectors as ``index_latency.py`` (with languages, ~10% 'de',
and one of 20 categories per row) go into a LanceDB table and into a collection of a Milvus
Lite server that this script starts on 127.0.0.1 (a free port, its data in the workspace,
stopped at the end). Both are built through podseek's own backends (``upsert`` then
``optimize``), with ``AnnSettings.min_rows`` low enough that both build their ANN index:

- LanceDB: IVF_HNSW_SQ (one IVF partition per 250k rows, HNSW M 20 / efConstruction 300 on
  8-bit scalar-quantised vectors; searched with ef 400, nprobes 20, refine_factor 10, i.e.
  the top 100 re-ranked with the full vectors);
- Milvus: HNSW (M 20, efConstruction 300, searched with ef 400), which Milvus Lite builds
  with FAISS ``IndexHNSWFlat``, one graph per segment.

For 200 query-like probes (stored vectors plus noise, as ``index_latency.py``) it measures,
one query at a time as a server answers them: vector search top 10 p50 / p99 and recall@10
against exact NumPy search over the same rows, unfiltered and with language = 'de'; and
keyword (BM25) search p50 / p99 for a few real words. Row texts are real episode texts of
the Listen Notes catalog (podseek's recipe, capped at 2,000 characters), cycled over the
rows, so that BM25 sees real term statistics; without the data, keyword search is skipped.

Built indexes are kept in the workspace and reused by the next run (same sizes, dimension,
texts and index settings); ``--rebuild`` builds them again.

    python benchmarks/backend_latency.py --sizes 10000,100000 --data ../shared/data
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from index_latency import (
    CATEGORIES,
    LANGUAGES,
    clustered,
    near,
    numpy_exact,
    percentile,
    synthetic_episode,
)

from podseek.catalog.cleaning import html_to_text
from podseek.catalog.episode import Episode, episode_text
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.index.base import AnnSettings, IndexRow, SearchFilters
from podseek.index.lancedb_backend import LanceDBBackend
from podseek.index.milvus_lite import milvus_lite_server

DIMENSION = 384  # e5-small's
K = 10
BATCH = 50_000  # rows per upsert call
KEYWORDS = ["christmas", "trump", "football", "bitcoin", "meditation", "jazz", "star wars"]
FILTERS = {"none": SearchFilters(), "language=de": SearchFilters(language="de")}
INDEXES = {
    "lancedb": "IVF_HNSW_SQ (M 20, efC 300; ef 400, nprobes 20, refine 10)",
    "milvus": "HNSW via FAISS, per segment (M 20, efC 300; ef 400)",
}
LITE_NOTE = (
    "Milvus Lite is a single-process Python server for development and tests: its numbers "
    "are not Milvus cluster (or Milvus standalone) performance."
)


# the rows ---------------------------------------------------------------------------------


def load_texts(data: Path, max_chars: int) -> list[str] | None:
    """Real episode texts (show title, show description, episode title, episode
    description, as podseek encodes them), or None without the Listen Notes data."""
    folder = data / "listennotes-dec2017"
    if not (folder / "episodes.csv").is_file():
        return None
    texts = []
    for raw in ListenNotesSource(folder).records():
        if not hasattr(raw, "episode_title"):  # a Skip
            continue
        episode = Episode(
            id="x:0",
            source="x",
            show_title=html_to_text(raw.show_title),
            show_description=html_to_text(raw.show_description),
            episode_title=html_to_text(raw.episode_title),
            episode_description=html_to_text(raw.episode_description),
        )
        text = episode_text(episode, max_chars)
        if text:
            texts.append(text)
    return texts


class Rows:
    """``n`` synthetic rows: clustered vectors, languages, categories and (cycled) texts."""

    def __init__(self, n: int, dim: int, texts: list[str] | None) -> None:
        rng = np.random.default_rng(n)  # the seeds of index_latency.synthetic_backend
        self.n = n
        self.vectors = clustered(n, dim, seed=n)
        self.languages = np.array([LANGUAGES[i] for i in rng.integers(0, len(LANGUAGES), n)])
        self.categories = [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), n)]
        self.texts = texts or ["Episode"]

    def text(self, i: int) -> str:
        return self.texts[i % len(self.texts)]

    def batches(self) -> Iterator[list[IndexRow]]:
        for start in range(0, self.n, BATCH):
            yield [
                IndexRow(
                    synthetic_episode(i, str(self.languages[i]), self.categories[i]),
                    self.text(i),
                    "h",
                    self.vectors[i],
                )
                for i in range(start, min(self.n, start + BATCH))
            ]


def fingerprint(n: int, dim: int, texts: list[str] | None, ann: AnnSettings) -> str:
    """What a cached index was built from: a rebuild is due when any of it changes."""
    digest = hashlib.sha1(f"{n} {dim} {ann.m} {ann.ef_construction}".encode())
    for text in texts or ["Episode"]:
        digest.update(text.encode("utf-8"))
    return digest.hexdigest()[:16]


# the Milvus Lite server -------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux), NaN where unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# building, with a cache ---------------------------------------------------------------------


class BuildCache:
    """Build times and fingerprints of the indexes in the workspace (``builds.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, key: str, print_: str) -> dict | None:
        entry = self.entries.get(key)
        return entry if entry and entry["fingerprint"] == print_ else None

    def put(self, key: str, entry: dict) -> None:
        self.entries[key] = entry
        self.path.write_text(json.dumps(self.entries, indent=2))


def build(backend, rows: Rows) -> dict:
    started = time.perf_counter()
    for batch in rows.batches():
        backend.upsert(batch)
    inserted = time.perf_counter()
    built = backend.optimize()
    done = time.perf_counter()
    return {"insert_s": inserted - started, "index_s": done - inserted, "built": built}


def lancedb_index(workspace: Path, rows: Rows, ann: AnnSettings, cache: BuildCache, key: str):
    folder = workspace / "lancedb" / f"rows-{rows.n}"
    entry = cache.get(f"lancedb:{rows.n}", key)
    if entry and folder.is_dir():
        backend = LanceDBBackend(folder, "episodes", DIMENSION, ann)
        if backend.count() == rows.n and backend.uses_ann:
            return backend, entry, True
        backend.close()
    shutil.rmtree(folder, ignore_errors=True)
    backend = LanceDBBackend(folder, "episodes", DIMENSION, ann)
    entry = {"fingerprint": key, **build(backend, rows)}
    cache.put(f"lancedb:{rows.n}", entry)
    return backend, entry, False


def milvus_index(uri: str, rows: Rows, ann: AnnSettings, cache: BuildCache, key: str):
    from podseek.index.milvus_backend import MilvusBackend, connect

    name = f"bench_{rows.n}"
    record = {"benchmark": key}
    admin = connect(uri, timeout=600)
    try:
        entry = cache.get(f"milvus:{rows.n}", key)
        if entry and admin.has_collection(name):
            admin.load_collection(name)  # a restarted server holds it released
            backend = MilvusBackend(uri, name, DIMENSION, ann=ann, record=record, timeout=600)
            if backend.count() == rows.n and backend.uses_ann:
                return backend, entry, True
            backend.close()
        if admin.has_collection(name):
            admin.drop_collection(name)
    finally:
        admin.close()
    backend = MilvusBackend(uri, name, DIMENSION, ann=ann, record=record, timeout=600)
    entry = {"fingerprint": key, **build(backend, rows)}
    cache.put(f"milvus:{rows.n}", entry)
    return backend, entry, False


# measuring --------------------------------------------------------------------------------


def ms(values: Sequence[float]) -> str:
    return f"{1000 * percentile(values, 50):.1f} / {1000 * percentile(values, 99):.1f}"


def timed(call: Callable[[], list], repeats: int) -> tuple[list[float], list]:
    times, answers_ = [], []
    for _ in range(repeats):
        tick = time.perf_counter()
        answers_.append(call())
        times.append(time.perf_counter() - tick)
    return times, answers_


def vector_columns(search, probes: np.ndarray, truths: dict) -> list[str]:
    """p50 / p99 and recall@10 of ``search(probe, filters)`` per filter."""
    cells = []
    for label, filters in FILTERS.items():
        for probe in probes[:10]:  # warm up: caches, lazy loads, connections
            search(probe, filters)
        times, hits = [], []
        for probe in probes:
            tick = time.perf_counter()
            hits.append(search(probe, filters))
            times.append(time.perf_counter() - tick)
        recalls = [
            len({i for i, _ in got} & truth) / K
            for got, truth in zip(hits, truths[label], strict=True)
        ]
        cells += [ms(times), f"{statistics.mean(recalls):.3f}"]
    return cells


def keyword_cells(backend, queries: list[str]) -> tuple[str, dict[str, list[str]]]:
    for word in KEYWORDS:  # warm up
        backend.keyword_search([word], K)
    times, top = [], {}
    for query in queries:
        tick = time.perf_counter()
        hits = backend.keyword_search([query], K)[0]
        times.append(time.perf_counter() - tick)
        top[query] = [i for i, _ in hits]
    return ms(times), top


def measure_size(args, n: int, texts: list[str] | None, uri: str | None, cache: BuildCache):
    ann = AnnSettings(min_rows=args.ann_min_rows)
    rows = Rows(n, DIMENSION, texts)
    key = fingerprint(n, DIMENSION, texts, ann)
    rng = np.random.default_rng(0)
    probes = near(rows.vectors[rng.integers(0, n, args.queries)], rng)
    truths, exact_times = {}, {}
    for label, filters in FILTERS.items():
        mask = rows.languages == filters.language if filters.language else None
        truths[label], exact_times[label] = [], []
        for probe in probes:
            tick = time.perf_counter()
            top = numpy_exact(rows.vectors, mask, probe, K)
            exact_times[label].append(time.perf_counter() - tick)
            truths[label].append({f"s:{r}" for r in top})
    queries = (KEYWORDS * (args.queries // len(KEYWORDS) + 1))[: args.queries]
    out = []
    exact = [ms(exact_times["none"]), "1.000", ms(exact_times["language=de"]), "1.000"]
    out.append(f"| NumPy exact, in process | {n:,} | brute force | | | {' | '.join(exact)} | |")
    keyword_tops = {}
    for kind in ("lancedb", "milvus"):
        if kind == "milvus" and uri is None:
            continue
        if kind == "lancedb":
            backend, entry, cached = lancedb_index(args.workspace, rows, ann, cache, key)
        else:
            backend, entry, cached = milvus_index(uri, rows, ann, cache, key)
        try:
            assert backend.uses_ann, f"{kind} did not build its ANN index"

            def search(probe, filters, backend=backend):
                hits = backend.vector_search(probe[None, :], K, filters)[0]
                assert len(hits) == K
                return hits

            cells = vector_columns(search, probes, truths)
            keyword = "no data"
            if texts is not None:
                keyword, keyword_tops[kind] = keyword_cells(backend, queries)
        finally:
            backend.close()
        mark = " (cached)" if cached else ""
        name = "LanceDB, in process" if kind == "lancedb" else "Milvus Lite, gRPC"
        out.append(
            f"| {name} | {n:,} | {INDEXES[kind]} | {entry['insert_s']:.1f}{mark} | "
            f"{entry['index_s']:.1f}{mark} | {' | '.join(cells)} | {keyword} |"
        )
        print(f"  {kind} {n:,}: {out[-1]}", file=sys.stderr, flush=True)
    return out, keyword_tops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/podseek-bench/backends"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ann-min-rows",
        type=int,
        default=1000,
        help="AnnSettings.min_rows: both backends build their ANN index from this size on",
    )
    parser.add_argument("--text-chars", type=int, default=2000, help="podseek's text cap")
    parser.add_argument("--no-milvus", action="store_true", help="LanceDB only")
    parser.add_argument("--rebuild", action="store_true", help="ignore cached indexes")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if min(sizes) < args.ann_min_rows:
        parser.error("--ann-min-rows above a size: that size would be searched exactly")
    args.workspace.mkdir(parents=True, exist_ok=True)
    cache = BuildCache(args.workspace / "builds.json")
    if args.rebuild:
        cache.entries = {}

    texts = load_texts(args.data, args.text_chars)
    if texts is None:
        print(
            f"no Listen Notes data under {args.data}: rows get a placeholder text and keyword "
            "search is skipped",
            file=sys.stderr,
        )
    else:
        lengths = [len(t) for t in texts]
        print(
            f"row texts: {len(texts):,} Listen Notes episodes cycled over the rows, "
            f"{statistics.mean(lengths):,.0f} characters on average (cap {args.text_chars})"
        )
        for word in KEYWORDS:
            pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
            share = sum(1 for t in texts if pattern.search(t)) / len(texts)
            print(f"  keyword {word!r}: in {share:.2%} of the texts")
    print(f"dimension {DIMENSION}, {args.queries} queries per cell, top {K}, one at a time\n")

    header = (
        "| backend | rows | vector index | insert s | index s | vector p50 / p99 ms | "
        "recall@10 | language=de (~10%) p50 / p99 ms | recall@10 (de) | keyword p50 / p99 ms |"
    )
    table = [header, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    overlaps = []
    server = (
        contextlib.nullcontext((None, None))
        if args.no_milvus
        else milvus_lite_server(args.workspace / "milvus")
    )
    with server as (uri, pid):
        for n in sizes:
            print(f"size {n:,} ...", file=sys.stderr, flush=True)
            lines, tops = measure_size(args, n, texts, uri, cache)
            table += lines
            if len(tops) == 2:
                shared = [
                    len(set(tops["lancedb"][q]) & set(tops["milvus"][q])) / K for q in KEYWORDS
                ]
                overlaps.append(f"{n:,} rows: {statistics.mean(shared):.2f}")
        server_mb = rss_mb(pid) if pid else float("nan")

    print("\n".join(table))
    print()
    if overlaps:
        print(
            "keyword top-10 overlap, LanceDB vs Milvus (their tokenizers and BM25 parameters "
            f"differ; cycled texts make ties): {'; '.join(overlaps)}"
        )
    if pid:
        print(f"Milvus Lite server resident memory at the end: {server_mb:,.0f} MB")
    print(f"CPU cores: {os.cpu_count()}; built indexes kept in {args.workspace}")
    print(LITE_NOTE)


if __name__ == "__main__":
    main()
