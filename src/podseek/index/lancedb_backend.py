"""The embedded default backend: one LanceDB table on disk, with vector, scalar and BM25 indexes.

LanceDB keeps every write as a new table version, so a crash mid-write leaves the last good
version readable. Small tables are searched exactly (a flat scan of a few thousand vectors
takes milliseconds); from ``ann_min_rows`` on, an IVF-HNSW-SQ index answers, and
``refine_factor`` re-ranks its candidates with the full vectors for recall.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from podseek.errors import PodseekError
from podseek.index.base import DISPLAY_FIELDS, Hit, IndexRow, Metric, SearchFilters


@dataclass(frozen=True)
class AnnSettings:
    """How vector search is indexed and queried (tuned in ``benchmarks/index_latency.py``)."""

    min_rows: int = 50_000  # below this, exact search
    nprobes: int = 20
    refine_factor: int = 10
    ef: int = 100
    m: int = 20
    ef_construction: int = 300


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
            ("duration_s", pa.int32()),
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
    if filters.category is not None:
        parts.append(f"array_has_any(categories, [{_quote(filters.category.lower())}])")
    for bound, op in ((filters.after, ">="), (filters.before, "<")):
        if bound is not None:
            stamp = bound.astimezone(UTC) if bound.tzinfo else bound
            parts.append(f"published_at {op} TIMESTAMP '{stamp:%Y-%m-%d %H:%M:%S}'")
    if filters.min_duration is not None:
        parts.append(f"duration_s >= {int(filters.min_duration)}")
    if filters.max_duration is not None:
        parts.append(f"duration_s <= {int(filters.max_duration)}")
    return " AND ".join(parts)


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
        data = data.cast(_schema(self.dimension))
        (
            self._table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(data)
        )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
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
        has_ann = any(index.index_type.startswith("Ivf") for index in self._table.list_indices())
        if rows >= self.ann.min_rows and not has_ann:
            self._table.create_index(
                "vector",
                config=HnswSq(
                    distance_type=self.metric.value,
                    m=self.ann.m,
                    ef_construction=self.ann.ef_construction,
                ),
            )
            has_ann = True
        built["vector_index"] = "IVF_HNSW_SQ" if has_ann else "exact"
        return built

    # reading -------------------------------------------------------------------------------

    def count(self) -> int:
        return self._table.count_rows()

    @property
    def uses_ann(self) -> bool:
        return any(i.index_type.startswith("Ivf") for i in self._table.list_indices())

    def vector_search(
        self, vectors: np.ndarray, limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        where = where_clause(filters)
        ann = self.uses_ann
        results = []
        for vector in np.atleast_2d(vectors):
            query = self._table.search(vector.astype(np.float32)).distance_type(self.metric.value)
            if where:
                query = query.where(where, prefilter=True)
            if ann:
                query = query.nprobes(self.ann.nprobes).refine_factor(self.ann.refine_factor)
                query = query.ef(self.ann.ef)
            table = query.select(["id", "_distance"]).limit(limit).to_arrow()
            ids = table.column("id").to_pylist()
            distances = table.column("_distance").to_numpy()
            results.append([(i, float(1.0 - d)) for i, d in zip(ids, distances, strict=True)])
        return results

    def keyword_search(
        self, queries: Sequence[str], limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        where = where_clause(filters)
        results = []
        for text in queries:
            if not text.strip():
                results.append([])
                continue
            query = self._table.search(text, query_type="fts")
            if where:
                query = query.where(where, prefilter=True)
            table = query.select(["id", "_score"]).limit(limit).to_arrow()
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
        if not ids:
            return {}
        where = f"id IN ({', '.join(_quote(i) for i in ids)})"
        rows = self._table.search().where(where).select(list(DISPLAY_FIELDS)).limit(len(ids))
        return {row["id"]: row for row in rows.to_list()}

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

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def close(self) -> None:
        self._table = None  # LanceDB holds no locks; dropping the handle is enough
