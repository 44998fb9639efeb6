"""A serving snapshot of one LanceDB index version: what a search reads, kept in memory.

LanceDB stays the index's source of truth (versions, upserts, deletes, migration). Searching
it costs a fixed overhead per call (planning, its async runtime, Arrow conversion), and a
hybrid search makes four calls; at a small catalog that overhead is most of the time, and at
a million rows a filtered ANN search is slower than scanning the rows the filter keeps.
The snapshot holds the same rows in structures made for one query at a time:

- **vectors**: a faiss inverted file (IVF) of 4-bit product-quantised residuals in faiss's
  fast-scan layout (SIMD table lookups), whose candidates are re-ranked exactly with the
  float32 vectors, memory-mapped from disk; below ``ann_min_rows`` rows, exact search over
  them. It replaced an HNSW graph over 8-bit codes: at a million rows it builds in seconds
  instead of minutes, takes a sixth of the memory, and finds more of the exact neighbours
  in less time (benchmarks/snapshot_recall.py --hnsw; docs/results.md);
- **filters**: the filter columns in NumPy; a filter becomes a row mask. The planner sends
  a search whose filter keeps at most ``exact_share`` of the rows to a scan of those rows,
  and a wider one to the inverted file with the mask as a selector and more lists probed.
  The scan reads 4-bit codes too (one per dimension), gathered once per filter value (a
  language, a show, a category) and kept while they fit ``scan_cache_bytes``; a filter on
  dates or durations scans every list of the inverted file with the mask instead. Either
  way the candidates are re-ranked with the float32 vectors;
- **keywords**: a tantivy BM25 index with LanceDB's analyzer (its ``FTS()`` defaults: the
  simple tokenizer, tokens over 40 bytes dropped, lower case, English stemming and stop
  words, ASCII folding), with the filters as tantivy queries;
- **rows**: the display fields as an Arrow IPC file, memory-mapped: a fetch reads slices.

Every snapshot folder is written once and never changed, so a reader keeps the version it
opened. A **full** snapshot holds every row. A **delta** names a full one as its base and
holds the rows written since (new or changed; searched exactly, and by a small BM25 index of
their own) and the base rows they replace or that were deleted (masked out), so that an
upsert through the API costs the changed rows, not a new index. ``podseek index`` writes a
full snapshot again when the delta grows past ``max_delta_share`` of the rows. The BM25 of a
delta's rows uses the delta's own term statistics, so their keyword scores are approximate
until the next full snapshot.
"""

import json
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from podseek.errors import PodseekError
from podseek.index.base import DISPLAY_FIELDS, SearchFilters, micros

SNAPSHOTS = "snapshots"  # the snapshot folders, inside the index folder
NEVER = np.iinfo(np.int64).min  # a missing date in the published column
TOKENIZER = "podseek"
IVF = "ivf.faiss"  # the inverted file, in a part's folder
FORMAT = 2  # 2: an inverted file instead of an HNSW graph


@dataclass(frozen=True)
class SnapshotSettings:
    """How a snapshot is built and searched (``benchmarks/snapshot_recall.py`` measures these
    parameters; figures in docs/results.md)."""

    ann_min_rows: int = 50_000  # below this, exact search (as LanceDB's own path)
    # the inverted file's lists: the square root of the rows, at least 16
    # lists probed by an unfiltered search (and more by a filtered one, see vector_search)
    probes: int = 32
    # candidates re-ranked with float32 vectors: limit * refine, and at least
    # min_candidates, as 4-bit codes order the rows coarsely
    refine: int = 4
    min_candidates: int = 100
    # a filter that keeps at most this share of the rows is a scan of those rows: a real
    # filter keeps rows that sit together (one language's episodes), which an ANN index
    # searched with the filter's mask reaches only from far away
    # (benchmarks/snapshot_recall.py)
    exact_share: float = 0.2
    # the gathered fast-scan codes of filter values, kept for their next search
    scan_cache_bytes: int = 256 * 2**20
    # `podseek index` writes a full snapshot again when a delta would hold more rows
    max_delta_share: float = 0.05


# LanceDB's English stop words (NLTK's list), removed after stemming as LanceDB does; tantivy's
# own English list is shorter (it keeps "over", so "overeating", stemmed to "over", matched
# where LanceDB matches nothing). Found by querying a LanceDB full-text index word by word.
STOP_WORDS = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his
himself she her hers herself it its itself they them their theirs themselves what which
who whom this that these those am is are was were be been being have has had having do
does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on
off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will
just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma
mightn mustn needn shan shouldn wasn weren won wouldn
""".split()  # noqa: SIM905  (a word list reads better as text)


def analyzer() -> Any:
    """LanceDB's default full-text analyzer, rebuilt in tantivy (see the module docstring)."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .filter(tantivy.Filter.custom_stopword(STOP_WORDS))
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _bm25_schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=False, tokenizer_name=TOKENIZER, index_option="freq")
    for name in ("language", "show_id", "categories"):
        builder.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("row", stored=False, fast=True, indexed=False)
    builder.add_integer_field("published", stored=False, fast=True, indexed=True)
    builder.add_integer_field("duration", stored=False, fast=True, indexed=True)
    return builder.build()


def _open_bm25(folder: Path) -> Any:
    import tantivy

    index = tantivy.Index(_bm25_schema(), path=str(folder))
    index.register_tokenizer(TOKENIZER, analyzer())
    return index


# building ----------------------------------------------------------------------------------


def _write_part(folder: Path, table: pa.Table, settings: SnapshotSettings) -> None:
    """One part's files from ``table`` (the LanceDB rows: display fields, content hash and
    vector): rows.arrow, vectors.npy, columns.npz, bm25/ and, from ``ann_min_rows`` rows,
    ivf.faiss, scan.faiss and scan_codes.npy."""
    folder.mkdir(parents=True)
    dimension = table.schema.field("vector").type.list_size
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    vectors = np.ascontiguousarray(flat.reshape(-1, dimension), dtype=np.float32)
    np.save(folder / "vectors.npy", vectors)

    rows = table.select([*DISPLAY_FIELDS, "content_hash"]).combine_chunks()
    with (
        pa.OSFile(str(folder / "rows.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, rows.schema) as writer,
    ):
        writer.write_table(rows, max_chunksize=64 * 1024)

    published = table.column("published_at").cast(pa.int64()).fill_null(NEVER).to_numpy()
    duration = table.column("duration_s").cast(pa.float64()).to_numpy(zero_copy_only=False)
    columns: dict[str, np.ndarray] = {"published_us": published, "duration_s": duration}
    for name in ("language", "show_id"):
        values, codes = np.unique(
            np.asarray(table.column(name).fill_null("").to_pylist(), dtype=object),
            return_inverse=True,
        )
        columns[f"{name}_values"] = values.astype(str)
        columns[f"{name}_codes"] = codes.astype(np.int32)
    categories = table.column("categories").combine_chunks()
    columns["category_offsets"] = categories.offsets.to_numpy()
    columns["category_values"] = np.asarray(categories.flatten().to_pylist(), dtype=str)
    np.savez(folder / "columns.npz", **columns)

    _write_bm25(folder / "bm25", table)
    if len(vectors) >= settings.ann_min_rows:
        _write_ivf(folder / IVF, vectors)
        _write_scan_codes(folder, vectors)


def _write_bm25(folder: Path, table: pa.Table) -> None:
    import tantivy

    folder.mkdir()
    index = _open_bm25(folder)
    writer = index.writer(heap_size=256_000_000, num_threads=1)
    names = ["text", "language", "show_id", "categories", "published_at", "duration_s"]
    batches = table.select(names).cast(_int_dates(table)).to_batches(max_chunksize=10_000)
    records = (record for batch in batches for record in batch.to_pylist())  # a batch in memory
    for row, record in enumerate(records):
        fields: dict[str, Any] = {
            "text": record["text"] or "",
            "language": record["language"] or "",
            "show_id": record["show_id"] or "",
            "row": row,
        }
        document = tantivy.Document(**fields)
        for category in record["categories"] or []:
            document.add_text("categories", category)
        if record["published_at"] is not None:
            document.add_integer("published", record["published_at"])
        if record["duration_s"] is not None:
            document.add_integer("duration", int(record["duration_s"]))
        writer.add_document(document)
    writer.commit()
    writer.wait_merging_threads()


def _int_dates(table: pa.Table) -> pa.Schema:
    """The schema of the BM25 columns with dates as int64 microseconds (a stored date Python
    cannot represent stays readable)."""
    names = ["text", "language", "show_id", "categories", "published_at", "duration_s"]
    fields = [table.schema.field(name) for name in names]
    return pa.schema([f.with_type(pa.int64()) if f.name == "published_at" else f for f in fields])


def _write_ivf(path: Path, vectors: np.ndarray) -> None:
    """An inverted file over ``vectors``: as many lists as the square root of the rows (at
    least 16), each row's residual to its list's centre as 4-bit product-quantised codes,
    two dimensions to a code, packed for fast scan."""
    import faiss

    rows, dimension = vectors.shape
    lists = max(16, round(np.sqrt(rows)))
    pieces = dimension // 2 if dimension % 2 == 0 else dimension
    index = faiss.IndexIVFPQFastScan(
        faiss.IndexFlatIP(dimension), dimension, lists, pieces, 4, faiss.METRIC_INNER_PRODUCT
    )
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # a search may have set this thread's to 1
    # k-means wants some dozens of rows per list: a sample of those, at least 100,000
    index.train(_sample(vectors, max(100_000, 64 * lists)))
    for start in range(0, rows, 100_000):  # a memory-mapped matrix is read a block at a time
        index.add(np.ascontiguousarray(vectors[start : start + 100_000], dtype=np.float32))
    faiss.write_index(index, str(path))


def _write_scan_codes(folder: Path, vectors: np.ndarray) -> None:
    """4-bit product-quantised codes of ``vectors``, one per dimension, for the scans of
    selective filters (:meth:`Part.vector_search`): the trained, empty quantiser in
    scan.faiss and the codes in scan_codes.npy (memory-mapped, so workers share them). Two
    dimensions to a code would halve them, but lost recall on rows that sit close together
    (tests/index/test_snapshot.py)."""
    import faiss

    dimension = vectors.shape[1]
    index = faiss.IndexPQ(dimension, dimension, 4, faiss.METRIC_INNER_PRODUCT)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index.train(_sample(vectors, 100_000))
    np.save(folder / "scan_codes.npy", index.sa_encode(vectors))
    faiss.write_index(index, str(folder / "scan.faiss"))


def _sample(vectors: np.ndarray, size: int) -> np.ndarray:
    """Up to ``size`` rows of ``vectors`` drawn at random (the same ones each time), in file
    order, to train a quantiser on."""
    rows = np.sort(np.random.default_rng(0).permutation(len(vectors))[:size])
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def _new_folder(root: Path, version: int, kind: str) -> Path:
    return root / f"v{version:06d}-{kind}-{uuid.uuid4().hex[:8]}"


def write_full(
    root: Path,
    name: str,
    table: pa.Table,
    version: int,
    settings: SnapshotSettings | None = None,
) -> Path:
    """A full snapshot of ``table`` (index table ``name`` at LanceDB version ``version``),
    written beside the final folder and renamed into place when complete; returns the
    folder."""
    settings = settings or SnapshotSettings()
    final = _new_folder(root, version, "full")
    building = final.with_name(final.name + ".building")
    try:
        _write_part(building / "base", table, settings)
        meta = {"kind": "full", "table": name, "version": version, "rows": table.num_rows}
        _write_meta(building, meta)
        os.replace(building, final)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def write_delta(
    root: Path,
    name: str,
    base: str,
    table: pa.Table,
    dead: np.ndarray,
    version: int,
    settings: SnapshotSettings | None = None,
) -> Path:
    """A delta on full snapshot ``base``: ``table`` holds the rows written since it, ``dead``
    the positions of the base rows they replace or that were deleted (``name``: the index
    table)."""
    settings = settings or SnapshotSettings()
    final = _new_folder(root, version, "delta")
    building = final.with_name(final.name + ".building")
    try:
        building.mkdir(parents=True)
        if table.num_rows:
            _write_part(building / "delta", table, settings)
        np.save(building / "dead.npy", np.asarray(dead, dtype=np.int64))
        meta = {"kind": "delta", "table": name, "version": version, "base": base}
        meta["rows"] = table.num_rows
        _write_meta(building, meta)
        os.replace(building, final)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    (folder / "snapshot.json").write_text(json.dumps({"format": FORMAT, **meta}), encoding="utf-8")


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PodseekError(
            f"{folder}: unreadable snapshot ({error}); run `podseek index`"
        ) from None
    if meta.get("format") != FORMAT:
        raise PodseekError(f"{folder}: snapshot format {meta.get('format')}; run `podseek index`")
    return meta


def readable(folder: Path) -> bool:
    """Whether ``folder`` holds a snapshot this version of podseek reads (one written by an
    older version is replaced by the next ``podseek index``)."""
    return _meta_if_readable(folder) is not None


def _meta_if_readable(folder: Path) -> dict[str, Any] | None:
    try:
        return read_meta(folder)
    except PodseekError:
        return None


def prune(root: Path, keep: Sequence[str]) -> None:
    """Remove snapshot folders other than ``keep`` and the full ones they stand on. A reader
    that has one open keeps reading it: its files stay until it closes them."""
    if not root.is_dir():
        return
    wanted = set(keep)
    for name in keep:
        meta_path = root / name / "snapshot.json"
        if meta_path.exists():
            base = json.loads(meta_path.read_text(encoding="utf-8")).get("base")
            if base:
                wanted.add(base)
    for folder in root.iterdir():
        if folder.name not in wanted:
            shutil.rmtree(folder, ignore_errors=True)


# searching ---------------------------------------------------------------------------------


class Part:
    """One part of a snapshot (a full snapshot's rows, or a delta's), opened for search."""

    def __init__(self, folder: Path, settings: SnapshotSettings) -> None:
        self.settings = settings
        source = pa.memory_map(str(folder / "rows.arrow"), "r")
        self.rows = pa.ipc.open_file(source).read_all()
        self.size = self.rows.num_rows
        # one chunk: Arrow's take on a chunked column first joins its chunks (a copy of the
        # whole column per call); the ids are small enough to join once, here
        self.ids = self.rows.column("id").combine_chunks()
        has_ivf = (folder / IVF).exists()
        # small parts are read into memory; large ones stay on disk, read where re-ranked
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r" if has_ivf else None)
        import faiss

        self.ivf = self.scan = None
        if has_ivf:
            self.ivf = faiss.read_index(str(folder / IVF))
            self.scan = faiss.read_index(str(folder / "scan.faiss"))
            self.scan_codes = np.load(folder / "scan_codes.npy", mmap_mode="r")
        else:
            # exact search in faiss, not NumPy: a matrix-vector product through a threaded
            # BLAS slows down many times over when the other cores are busy (docs/results.md)
            self.flat = faiss.IndexFlatIP(self.vectors.shape[1])
            self.flat.add(np.ascontiguousarray(self.vectors, dtype=np.float32))
        self._scans: OrderedDict[Hashable, tuple[np.ndarray, Any]] = OrderedDict()
        self._scans_bytes = 0
        self._scans_lock = threading.Lock()
        with np.load(folder / "columns.npz") as columns:
            self.columns = {name: columns[name] for name in columns.files}
        self.languages = {v: n for n, v in enumerate(self.columns["language_values"])}
        self.shows = {v: n for n, v in enumerate(self.columns["show_id_values"])}
        self._categories: dict[str, np.ndarray] | None = None
        self.bm25 = _open_bm25(folder / "bm25")
        self.bm25_searcher = self.bm25.searcher()
        self._positions: dict[str, int] | None = None

    # filters -----------------------------------------------------------------------------

    def _category_rows(self, category: str) -> np.ndarray:
        if self._categories is None:  # built on the first category filter
            offsets = self.columns["category_offsets"]
            values = self.columns["category_values"]
            rows = np.repeat(np.arange(self.size), np.diff(offsets))
            order = np.argsort(values, kind="stable")
            names, starts = np.unique(values[order], return_index=True)
            bounds = [*starts[1:], len(order)]
            self._categories = {
                str(name): rows[order[start:end]]
                for name, start, end in zip(names, starts, bounds, strict=True)
            }
        return self._categories.get(category, np.zeros(0, dtype=np.int64))

    def mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Rows that pass ``filters`` (LanceDB's ``where_clause`` conditions); ``None``: all."""
        if filters is None or filters.is_empty():
            return None
        keep = np.ones(self.size, dtype=bool)
        for value, codes, known in (
            (filters.language, "language_codes", self.languages),
            (filters.show_id, "show_id_codes", self.shows),
        ):
            if value is not None:
                keep &= self.columns[codes] == known.get(value, -1)
        if filters.not_show_id is not None:
            keep &= self.columns["show_id_codes"] != self.shows.get(filters.not_show_id, -1)
        if filters.category is not None:
            chosen = np.zeros(self.size, dtype=bool)
            chosen[self._category_rows(filters.category.lower())] = True
            keep &= chosen
        published = self.columns["published_us"]
        if filters.after is not None:
            keep &= (published != NEVER) & (published >= micros(filters.after))
        if filters.before is not None:
            keep &= (published != NEVER) & (published < micros(filters.before))
        duration = self.columns["duration_s"]
        with np.errstate(invalid="ignore"):
            if filters.min_duration is not None:
                keep &= duration >= filters.min_duration
            if filters.max_duration is not None:
                keep &= duration <= filters.max_duration
        return keep

    # vectors -----------------------------------------------------------------------------

    def vector_search(
        self,
        vector: np.ndarray,
        limit: int,
        keep: np.ndarray | None,
        key: Hashable | None = None,
    ) -> list[tuple[int, float]]:
        """The ``limit`` nearest rows that ``keep`` allows, as ``(row, cosine)``. ``key``
        names ``keep`` where the same mask will come again (a filter on a language, a show,
        a category): its rows' fast-scan codes are gathered once and kept."""
        if self.size == 0 or limit <= 0:
            return []
        import faiss

        # one query, one thread: faiss's OpenMP threads wait for cores that other requests
        # (and other processes) are using, which made a search several times slower on a
        # busy machine (docs/results.md). The setting is this thread's own.
        faiss.omp_set_num_threads(1)
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        kept = self.size if keep is None else int(np.count_nonzero(keep))
        if kept == 0:
            return []
        if self.ivf is None:
            with _selector(keep) as selector:
                scores, rows = self.flat.search(query, min(limit, kept), params=selector)
            return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        wanted = min(kept, max(limit * self.settings.refine, self.settings.min_candidates))
        lists = self.ivf.nlist
        if keep is None:
            params = faiss.SearchParametersIVF(nprobe=min(lists, self.settings.probes))
            _, found = self.ivf.search(query, wanted, params=params)
        elif kept <= wanted:  # so few rows that all of them are re-ranked: exact
            return self._rerank(query[0], limit, np.flatnonzero(keep))
        elif kept <= self.settings.exact_share * self.size and key is not None:
            # a selective filter on a value: a scan of the kept rows' gathered 4-bit codes
            # (one per dimension, finer than the inverted file's), the best re-ranked
            rows, scan = self._scan_of(key, keep)
            _, found = scan.search(query, wanted)
            found = rows[found[0][found[0] >= 0]][None, :]
        else:
            # the mask as a selector. The lists near the query hold a filter's rows in the
            # filter's share, fewer where its rows sit together elsewhere: a selective
            # filter probes every list, a wider one as many more lists as it drops rows
            probes = self.settings.probes * self.size / kept
            if kept <= self.settings.exact_share * self.size:
                probes = lists
            with _selector(keep) as selector:
                params = faiss.SearchParametersIVF(nprobe=min(lists, int(probes)), sel=selector.sel)
                _, found = self.ivf.search(query, wanted, params=params)
        return self._rerank(query[0], limit, found[0][found[0] >= 0])

    def _scan_of(self, key: Hashable, keep: np.ndarray) -> tuple[np.ndarray, Any]:
        """The rows ``keep`` allows and a fast-scan index of their 4-bit codes, gathered on
        the first search with ``key`` and kept (the least recently used dropped first) while
        all kept fit ``scan_cache_bytes``."""
        import faiss

        with self._scans_lock:
            if key in self._scans:
                self._scans.move_to_end(key)
                return self._scans[key]
        rows = np.flatnonzero(keep)
        gathered = faiss.clone_index(self.scan)  # trained, empty
        gathered.add_sa_codes(np.ascontiguousarray(self.scan_codes[rows]))
        scan = (rows, faiss.IndexPQFastScan(gathered))
        size = self._bytes(rows)
        with self._scans_lock:
            if key not in self._scans and size <= self.settings.scan_cache_bytes:
                self._scans[key] = scan
                self._scans_bytes += size
                while self._scans_bytes > self.settings.scan_cache_bytes:
                    old_rows, _ = self._scans.popitem(last=False)[1]
                    self._scans_bytes -= self._bytes(old_rows)
        return scan

    def _bytes(self, rows: np.ndarray) -> int:
        """What the gathered scan of ``rows`` holds: their row numbers and their codes."""
        return rows.nbytes + len(rows) * self.scan_codes.shape[1]

    def _rerank(self, vector: np.ndarray, limit: int, rows: np.ndarray) -> list[tuple[int, float]]:
        """``rows`` ordered by their exact float32 cosine, the best ``limit``."""
        rows = np.sort(rows)  # in file order: the memory-mapped reads go forward
        scores = np.asarray(self.vectors[rows]) @ vector
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(int(rows[i]), float(scores[i])) for i in order]

    # keywords ----------------------------------------------------------------------------

    def keyword_search(
        self, text: str, limit: int, filters: SearchFilters | None
    ) -> list[tuple[int, float]]:
        """The ``limit`` best rows by BM25, as ``(row, score)``."""
        import tantivy

        schema = self.bm25.schema
        tokens = list(dict.fromkeys(self.bm25_analyzer.analyze(text)))
        if not tokens or self.size == 0 or limit <= 0:
            return []
        words = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "text", t)) for t in tokens]
        )
        conditions = _conditions(schema, filters)
        if conditions:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, words)]
                + [
                    (tantivy.Occur.Must, tantivy.Query.const_score_query(c, 0.0))
                    for c in conditions
                ]
            )
        else:
            query = words
        hits = self.bm25_searcher.search(query, limit).hits
        if not hits:
            return []
        rows = self.bm25_searcher.fast_field_values("row", [address for _, address in hits])
        return [(int(row), float(score)) for (score, _), row in zip(hits, rows, strict=True)]

    @property
    def bm25_analyzer(self) -> Any:
        if not hasattr(self, "_analyzer"):
            self._analyzer = analyzer()
        return self._analyzer

    # rows --------------------------------------------------------------------------------

    def ids_of(self, rows: Sequence[int]) -> list[str]:
        return self.ids.take(pa.array(rows, type=pa.int64())).to_pylist()

    def position(self, episode_id: str) -> int | None:
        """The row of ``episode_id`` (a map of every id, made on first use)."""
        if self._positions is None:
            self._positions = {i: n for n, i in enumerate(self.ids.to_pylist())}
        return self._positions.get(episode_id)

    def take(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        from podseek.index.lancedb_backend import _rows

        # row by row, as zero-copy slices: a take would join every chunk of the memory-mapped
        # text column first, reading all of it
        fields = list(DISPLAY_FIELDS)
        return [_rows(self.rows.slice(row, 1).select(fields))[0] for row in rows]

    def content_hashes(self) -> Iterator[tuple[str, str]]:
        return zip(self.ids.to_pylist(), self.rows.column("content_hash").to_pylist(), strict=True)


@contextmanager
def _selector(keep: np.ndarray | None) -> Iterator[Any]:
    """faiss search parameters that admit the rows ``keep`` allows (``None``: all rows); the
    bitmap they point to lives until the search is done."""
    import faiss

    if keep is None:
        yield None
        return
    bits = np.packbits(keep, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(keep), faiss.swig_ptr(bits))
    yield faiss.SearchParameters(sel=selector)


def _conditions(schema: Any, filters: SearchFilters | None) -> list[Any]:
    """``filters`` as tantivy queries, one per condition."""
    import tantivy

    if filters is None or filters.is_empty():
        return []
    found = []
    for field, value in (
        ("language", filters.language),
        ("show_id", filters.show_id),
        ("categories", filters.category.lower() if filters.category is not None else None),
    ):
        if value is not None:
            found.append(tantivy.Query.term_query(schema, field, value))
    if filters.not_show_id is not None:
        other = tantivy.Query.term_query(schema, "show_id", filters.not_show_id)
        found.append(
            tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, tantivy.Query.all_query()), (tantivy.Occur.MustNot, other)]
            )
        )
    integer = tantivy.FieldType.Integer
    if filters.after is not None or filters.before is not None:
        lower = micros(filters.after) if filters.after is not None else NEVER + 1
        upper = micros(filters.before) if filters.before is not None else None
        found.append(
            tantivy.Query.range_query(
                schema, "published", integer, lower, upper, include_upper=upper is None
            )
        )
    if filters.min_duration is not None or filters.max_duration is not None:
        found.append(
            tantivy.Query.range_query(
                schema, "duration", integer, filters.min_duration, filters.max_duration
            )
        )
    return found


# keeping a snapshot in step with its table --------------------------------------------------


def _stored_hashes(folder: Path) -> tuple[list[str], list[str]]:
    """The ids and content hashes of a full snapshot's rows, in row order."""
    source = pa.memory_map(str(folder / "base" / "rows.arrow"), "r")
    rows = pa.ipc.open_file(source).read_all()
    return rows.column("id").to_pylist(), rows.column("content_hash").to_pylist()


def _can_extend(folder: Path, lance: Any, settings: SnapshotSettings) -> bool:
    """Whether a delta on the full snapshot in ``folder`` can stand for ``lance``'s table:
    the same table, and an inverted file exactly when the table is large enough for one."""
    meta = _meta_if_readable(folder)
    if meta is None or not (folder / "base").is_dir():
        return False
    has_ivf = (folder / "base" / IVF).exists()
    wants_ivf = lance.count() >= settings.ann_min_rows
    return meta.get("table") == lance.table_name and has_ivf == wants_ivf


def refresh(
    root: Path, lance: Any, previous: str | None, settings: SnapshotSettings | None = None
) -> str:
    """Write the snapshot of ``lance`` (a :class:`LanceDBBackend`) as it is now, and return
    its folder's name: a delta on the full snapshot under ``previous`` when few rows changed
    since it, a full one otherwise. Older folders are pruned (``previous`` is kept for the
    readers that have it open)."""
    settings = settings or SnapshotSettings()
    root = Path(root)
    base = None
    meta = _meta_if_readable(root / previous) if previous is not None else None
    if meta is not None:
        base = previous if meta["kind"] == "full" else meta["base"]
        if not _can_extend(root / base, lance, settings):
            base = None
    folder = None
    if base is not None:
        ids, hashes = _stored_hashes(root / base)
        now = lance.content_hashes()
        stored = dict(zip(ids, hashes, strict=True))
        changed = [i for i, h in now.items() if stored.get(i) != h]
        dead = [n for n, (i, h) in enumerate(zip(ids, hashes, strict=True)) if now.get(i) != h]
        if len(changed) + len(dead) <= settings.max_delta_share * max(1, len(now)):
            table = lance.read_table(changed)
            dead_rows = np.asarray(dead, dtype=np.int64)
            folder = write_delta(
                root, lance.table_name, base, table, dead_rows, lance.version, settings
            )
    if folder is None:
        folder = write_full(root, lance.table_name, lance.read_table(), lance.version, settings)
    prune(root, [folder.name] + ([previous] if previous else []))
    return folder.name
