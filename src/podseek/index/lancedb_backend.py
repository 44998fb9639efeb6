"""The embedded default backend: one LanceDB table on disk, with vector, scalar and BM25 indexes.

LanceDB keeps every write as a new table version, so a crash mid-write leaves the last good
version readable. From ``ann_min_rows`` on, an IVF-HNSW-SQ index answers vector searches and
``refine_factor`` re-ranks its candidates with the full vectors for recall. Below that size,
search is exact, in NumPy over an in-memory copy of the vectors and filter columns: a matrix
product over vectors already in memory beats LanceDB's flat scan of the table (measured in
``benchmarks/index_latency.py``; figures in docs/results.md). Keyword search is always
LanceDB's BM25 index.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from podseek.errors import PodseekError
from podseek.index.base import (
    DISPLAY_FIELDS,
    AnnSettings,
    Hit,
    IndexRow,
    Metric,
    SearchFilters,
    chunks,
    from_micros,
    micros,
)


def _schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("vector", pa.list_(pa.float32(), dimension)),
            ("content_hash", pa.string()),
            ("show_id", pa.string()),
            ("show_title", pa.string()),
            ("episode_title", pa.string()),
            ("text", pa.string()),
            ("language", pa.string()),
            ("categories", pa.list_(pa.string())),
            ("published_at", pa.timestamp("us", tz="UTC")),
            # int64: the catalog's durations fit int32 (7 days at most), but a column that
            # holds any int a record can carry never fails a write (issue 16)
            ("duration_s", pa.int64()),
            ("audio_url", pa.string()),
            ("episode_url", pa.string()),
        ]
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def where_clause(filters: SearchFilters | None) -> str | None:
    """The SQL condition LanceDB applies before ranking (so k results come back when k
    episodes pass the filters)."""
    if filters is None or filters.is_empty():
        return None
    parts = []
    if filters.language is not None:
        parts.append(f"language = {_quote(filters.language)}")
    if filters.show_id is not None:
        parts.append(f"show_id = {_quote(filters.show_id)}")
    if filters.not_show_id is not None:
        parts.append(f"show_id != {_quote(filters.not_show_id)}")
    if filters.category is not None:
        parts.append(f"array_has_any(categories, [{_quote(filters.category.lower())}])")
    for bound, op in ((filters.after, ">="), (filters.before, "<")):
        if bound is not None:
            stamp = bound.astimezone(UTC) if bound.tzinfo else bound
            # the year zero-padded: strftime writes year 1 as "1", which LanceDB refuses
            parts.append(f"published_at {op} TIMESTAMP '{stamp.year:04d}-{stamp:%m-%d %H:%M:%S}'")
    if filters.min_duration is not None:
        parts.append(f"duration_s >= {int(filters.min_duration)}")
    if filters.max_duration is not None:
        parts.append(f"duration_s <= {int(filters.max_duration)}")
    return " AND ".join(parts)


@dataclass
class ExactSearch:
    """Vectors and filter columns of a small table in memory, for exact NumPy search.

    Built from the table on first use and dropped by every write of this backend; a process
    that must see another process's writes opens the index again.
    """

    ids: list[str]
    row_ids: list[int]  # LanceDB's row id of each row, for fetching by row id
    vectors: np.ndarray  # (n, dim) float32, normalised
    language: np.ndarray
    show_id: np.ndarray
    categories: list[list[str]]
    published_us: np.ndarray  # int64 microseconds since the epoch; min int64 when unknown
    duration_s: np.ndarray  # float64 seconds; NaN when unknown

    @classmethod
    def load(cls, table: Any, dimension: int) -> "ExactSearch":
        columns = ["id", "vector", "language", "show_id", "categories", "published_at"]
        data = table.search().select([*columns, "duration_s"]).with_row_id(True)
        data = data.limit(None).to_arrow()
        flat = data.column("vector").combine_chunks().flatten().to_numpy()
        published = data.column("published_at").cast(pa.int64()).fill_null(np.iinfo(np.int64).min)
        duration = data.column("duration_s").cast(pa.float64()).to_numpy(zero_copy_only=False)
        return cls(
            ids=data.column("id").to_pylist(),
            row_ids=data.column("_rowid").to_pylist(),
            vectors=np.ascontiguousarray(flat.reshape(-1, dimension), dtype=np.float32),
            language=np.asarray(data.column("language").to_pylist(), dtype=object),
            show_id=np.asarray(data.column("show_id").to_pylist(), dtype=object),
            categories=data.column("categories").to_pylist(),
            published_us=published.to_numpy(),
            duration_s=duration,
        )

    def mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Rows that pass ``filters`` (the same conditions as :func:`where_clause`)."""
        if filters is None or filters.is_empty():
            return None
        keep = np.ones(len(self.ids), dtype=bool)
        if filters.language is not None:
            keep &= self.language == filters.language
        if filters.show_id is not None:
            keep &= self.show_id == filters.show_id
        if filters.not_show_id is not None:
            keep &= self.show_id != filters.not_show_id
        if filters.category is not None:
            wanted = filters.category.lower()
            keep &= np.fromiter((wanted in c for c in self.categories), bool, len(self.ids))
        never = np.iinfo(np.int64).min
        if filters.after is not None:
            keep &= (self.published_us != never) & (self.published_us >= micros(filters.after))
        if filters.before is not None:
            keep &= (self.published_us != never) & (self.published_us < micros(filters.before))
        with np.errstate(invalid="ignore"):
            if filters.min_duration is not None:
                keep &= self.duration_s >= filters.min_duration
            if filters.max_duration is not None:
                keep &= self.duration_s <= filters.max_duration
        return keep

    def search(self, vector: np.ndarray, limit: int, filters: SearchFilters | None) -> list[Hit]:
        scores = self.vectors @ vector.astype(np.float32)
        keep = self.mask(filters)
        candidates = np.flatnonzero(keep) if keep is not None else np.arange(len(scores))
        if len(candidates) > limit:
            top = np.argpartition(-scores[candidates], limit - 1)[:limit]
            candidates = candidates[top]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in order]


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """``table``'s rows as dicts; a stored date Python cannot represent (written before the
    catalog checked dates) reads as no date instead of failing every search that finds it."""
    try:
        return table.to_pylist()
    except (OverflowError, ValueError):
        stamps = table.column("published_at").cast(pa.int64()).to_pylist()
        table = table.drop_columns(["published_at"])
        rows = table.to_pylist()
        for row, stamp in zip(rows, stamps, strict=True):
            row["published_at"] = from_micros(stamp)
        return rows


class LanceDBBackend:
    """One LanceDB table of episodes.

    Args:
        folder: the LanceDB database folder.
        table: the table's name (a full rebuild writes a new table; see ``EpisodeIndex``).
        dimension: vector size; checked against an existing table.
        ann: index and query settings.
    """

    metric = Metric.COSINE

    def __init__(
        self, folder: Path, table: str, dimension: int, ann: AnnSettings | None = None
    ) -> None:
        import lancedb  # heavy; imported when a backend is made

        self.folder = Path(folder)
        self.dimension = dimension
        self.ann = ann or AnnSettings()
        self._db = lancedb.connect(str(self.folder))
        if table in self._db.list_tables().tables:
            self._table = self._db.open_table(table)
            stored = self._table.schema.field("vector").type.list_size
            if stored != dimension:
                raise PodseekError(
                    f"index table {table!r} holds {stored}-d vectors, not {dimension}-d"
                )
        else:
            self._table = self._db.create_table(table, schema=_schema(dimension))
        self.table_name = table
        self._exact: ExactSearch | None = None
        self._uses_ann: bool | None = None
        # id -> row id of the rows searches have found: fetching by row id is a direct read,
        # where ``id IN (...)`` is a filtered scan, which is slower (docs/results.md). Row
        # ids hold for the table version this handle reads; this backend's own writes clear
        # them.
        self._row_ids: dict[str, int] = {}

    def _written(self) -> None:
        """Forget what was read from the previous version."""
        self._exact = None
        self._row_ids = {}

    # writing -------------------------------------------------------------------------------

    def upsert(self, rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        vectors = np.stack([row.vector for row in rows]).astype(np.float32, copy=False)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors are {vectors.shape[1]}-d, the index {self.dimension}-d")
        columns: dict[str, list[Any]] = {name: [] for name in DISPLAY_FIELDS}
        for row in rows:
            for name, value in row.fields().items():
                columns[name].append(value)
        data = pa.table(
            {
                **columns,
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.ravel()), self.dimension
                ),
                "content_hash": [row.content_hash for row in rows],
            }
        ).select(_schema(self.dimension).names)
        # the table's own schema: one made before duration_s was int64 keeps its int32
        data = data.cast(self._table.schema)
        self._written()
        (
            self._table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(data)
        )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self._written()
        for chunk in chunks(ids, 1000):
            self._table.delete(f"id IN ({', '.join(_quote(i) for i in chunk)})")

    def optimize(self) -> dict[str, Any]:
        """Build the indexes a search needs, or fold new rows into existing ones."""
        from lancedb.index import FTS, Bitmap, BTree, HnswSq, LabelList

        rows = self.count()
        existing = {index.name for index in self._table.list_indices()}
        built: dict[str, Any] = {"rows": rows}
        if rows == 0:
            return built
        if not existing:
            self._table.create_index("id", config=BTree())
            self._table.create_index("language", config=Bitmap())
            self._table.create_index("show_id", config=BTree())
            self._table.create_index("categories", config=LabelList())
            self._table.create_index("published_at", config=BTree())
            self._table.create_index("duration_s", config=BTree())
            self._table.create_index("text", config=FTS())
        else:
            self._table.optimize()
        self._written()  # compaction moves rows
        self._uses_ann = None  # the indexes just changed; ask the table again
        has_ann = self.uses_ann
        if rows >= self.ann.min_rows and not has_ann:
            self._table.create_index(
                "vector",
                config=HnswSq(
                    distance_type=self.metric.value,
                    num_partitions=max(1, rows // self.ann.rows_per_partition),
                    m=self.ann.m,
                    ef_construction=self.ann.ef_construction,
                ),
            )
            has_ann = True
        self._uses_ann = has_ann
        built["vector_index"] = "IVF_HNSW_SQ" if has_ann else "exact"
        return built

    # reading -------------------------------------------------------------------------------

    def count(self) -> int:
        return self._table.count_rows()

    @property
    def uses_ann(self) -> bool:
        """Whether vector search goes through the ANN index (else it is exact, in NumPy)."""
        if self._uses_ann is None:
            self._uses_ann = any(i.index_type.startswith("Ivf") for i in self._table.list_indices())
        return self._uses_ann

    def vector_search(
        self, vectors: np.ndarray, limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        if not self.uses_ann:
            if self._exact is None:
                self._exact = ExactSearch.load(self._table, self.dimension)
                self._row_ids.update(zip(self._exact.ids, self._exact.row_ids, strict=True))
            return [self._exact.search(v, limit, filters) for v in np.atleast_2d(vectors)]
        where = where_clause(filters)
        refine = max(1, min(self.ann.refine_factor, self.ann.max_refined // limit))
        results = []
        for vector in np.atleast_2d(vectors):
            query = self._table.search(vector.astype(np.float32)).distance_type(self.metric.value)
            if where:
                query = query.where(where, prefilter=True)
            query = query.nprobes(self.ann.nprobes).refine_factor(refine)
            # HNSW must look at least as far as the candidates the refine step re-ranks
            query = query.ef(max(self.ann.ef, limit * refine))
            table = self._found(query.select(["id", "_distance"]).limit(limit))
            ids = table.column("id").to_pylist()
            distances = table.column("_distance").to_numpy()
            results.append([(i, float(1.0 - d)) for i, d in zip(ids, distances, strict=True)])
        return results

    def _found(self, query: Any) -> pa.Table:
        """``query``'s rows, their row ids noted for :meth:`fetch`."""
        table = query.with_row_id(True).to_arrow()
        ids = table.column("id").to_pylist()
        self._row_ids.update(zip(ids, table.column("_rowid").to_pylist(), strict=True))
        return table

    def keyword_search(
        self, queries: Sequence[str], limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        where = where_clause(filters)
        results = []
        for text in queries:
            # BM25 reads a query as words: a quoted part would ask LanceDB for a phrase
            # search, which needs token positions the index does not keep
            text = text.replace('"', " ")
            if not text.strip():
                results.append([])
                continue
            query = self._table.search(text, query_type="fts")
            if where:
                query = query.where(where, prefilter=True)
            table = self._found(query.select(["id", "_score"]).limit(limit))
            ids = table.column("id").to_pylist()
            scores = table.column("_score").to_numpy()
            results.append([(i, float(s)) for i, s in zip(ids, scores, strict=True)])
        return results

    def content_hashes(self) -> dict[str, str]:
        table = self._table.search().select(["id", "content_hash"]).limit(None).to_arrow()
        return dict(
            zip(
                table.column("id").to_pylist(),
                table.column("content_hash").to_pylist(),
                strict=True,
            )
        )

    def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        known = [self._row_ids[i] for i in ids if i in self._row_ids]
        found = {}
        if known:
            taken = self._table.take_row_ids(known).select(list(DISPLAY_FIELDS)).to_arrow()
            found = {row["id"]: row for row in _rows(taken)}
        rest = [i for i in ids if i not in found]  # unknown row id (or a stale one)
        if rest:
            where = f"id IN ({', '.join(_quote(i) for i in rest)})"
            query = self._table.search().where(where).select(list(DISPLAY_FIELDS))
            found.update((row["id"], row) for row in _rows(query.limit(len(rest)).to_arrow()))
        return found

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        if not ids:
            return np.zeros((0, self.dimension), dtype=np.float32)
        where = f"id IN ({', '.join(_quote(i) for i in ids)})"
        table = self._table.search().where(where).select(["id", "vector"]).limit(len(ids))
        table = table.to_arrow()
        order = {i: n for n, i in enumerate(table.column("id").to_pylist())}
        matrix = np.asarray(table.column("vector").to_pylist(), dtype=np.float32)
        return matrix[[order[i] for i in ids]]

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every id and vector (for exact baselines and evaluation)."""
        table = self._table.search().select(["id", "vector"]).limit(None).to_arrow()
        flat = table.column("vector").combine_chunks().flatten().to_numpy()
        return table.column("id").to_pylist(), flat.reshape(-1, self.dimension)

    @property
    def version(self) -> int:
        """The table version this handle reads (a snapshot records which one it copies)."""
        return self._table.version

    def read_table(self, ids: Sequence[str] | None = None) -> pa.Table:
        """Every column of the rows of ``ids`` (all rows when ``None``), as Arrow."""
        if ids is None:
            return self._table.to_arrow()
        parts = [
            self._table.search()
            .where(f"id IN ({', '.join(_quote(i) for i in chunk)})")
            .limit(len(chunk))
            .to_arrow()
            for chunk in chunks(list(ids), 1000)
        ]
        schema = self._table.schema
        return (
            pa.concat_tables([p.select(schema.names) for p in parts])
            if parts
            else schema.empty_table()
        )

    def table_names(self) -> list[str]:
        return list(self._db.list_tables().tables)

    def drop_other_tables(self) -> None:
        """Drop every table of the database but this backend's (after a rebuild switched)."""
        for name in self.table_names():
            if name != self.table_name:
                self._db.drop_table(name)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def close(self) -> None:
        self._table = None  # LanceDB holds no locks; dropping the handle is enough
