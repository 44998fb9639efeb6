"""A Milvus collection as the search backend, for a catalog that outgrows one machine's disk.

One collection per index table, holding the vector, the display and filter fields and the
episode text; Milvus's BM25 function turns the text into a sparse vector on insert, so keyword
search runs in Milvus too. Below ``ann.min_rows`` the vector index is FLAT (exact, like
LanceDB's NumPy search); ``optimize`` switches it to HNSW from that size on.

Filter values are written into Milvus expressions as escaped string literals or integers, never
pasted as they are: pymilvus's own id helpers (``get``/``delete``/``query`` with ``ids=``,
``query_iterator``) quote ids without escaping, so this module builds every expression itself.
"""

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from podseek.errors import PodseekError
from podseek.extras import install_command, require
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

logger = logging.getLogger(__name__)

MILVUS_EXTRA = f"the milvus extra is not installed: {install_command('milvus')}"
MAX_VARCHAR_BYTES = 65_535  # Milvus's limit for a VARCHAR field
MAX_CATEGORIES = 256
MAX_CATEGORY_BYTES = 1024
MAX_TOPK = 16_384  # Milvus refuses larger limits
WRITE_BATCH = 500  # rows per upsert request: ~2.5 MB with 768-d vectors and 2k-char texts
READ_BATCH = 1000
RECORD_PREFIX = "podseek."  # collection properties that record what built the collection
FLAT = "FLAT"
HNSW = "HNSW"
_STRING_FIELDS = ("show_id", "show_title", "episode_title", "text", "language")
_STRING_FIELDS += ("audio_url", "episode_url", "content_hash")
_SCALAR_INDEXED = ("language", "show_id", "published_at", "duration_s")


def string_literal(value: str) -> str:
    """``value`` as a double-quoted Milvus string literal that can only ever be data.

    Backslash and double quote are escaped, and so are the line breaks and tab that a
    literal may not hold raw; both Milvus's parser and Milvus Lite's read these escapes.
    """
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def redact(uri: str) -> str:
    """``uri`` without a ``user:password@`` part, for messages and logs."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


# pymilvus pings the server every 10 s, idle or not. Milvus permits that; Milvus Lite's gRPC
# server keeps gRPC's default policy, which allows no ping while no request is open, and
# from ~80 s idle on it answers GOAWAY "too_many_pings": the next request then goes through
# a reconnect that can fail ("cannot reach Milvus"). On Milvus Lite the client pings only
# during a request, and no more often than gRPC's servers allow by default (5 minutes).
LITE_GRPC_OPTIONS = {"grpc.keepalive_permit_without_calls": 0, "grpc.keepalive_time_ms": 360_000}
_is_lite: dict[str, bool] = {}  # uri -> whether the server there is Milvus Lite


def connect(uri: str, token: str = "", timeout: float = 60.0) -> Any:
    """A ``MilvusClient`` whose keepalive pings the server at ``uri`` accepts.

    pymilvus shares one connection per address and token within a process, set up with the
    options of the first client and kept until the process ends; so the server is asked
    what it is on a connection of its own (closed at once, well before its first ping),
    once per ``uri``, before the shared one is made. Raises whatever pymilvus raises when
    the server cannot be reached.
    """
    from pymilvus import MilvusClient

    if uri not in _is_lite:
        probe = MilvusClient(uri=uri, token=token, timeout=timeout, dedicated=True)
        try:
            _is_lite[uri] = probe.get_server_version().startswith("milvus_lite")
        finally:
            probe.close()
    options = LITE_GRPC_OPTIONS if _is_lite[uri] else {}
    return MilvusClient(uri=uri, token=token, timeout=timeout, grpc_options=options)


def _clip(value: str, max_bytes: int) -> str:
    """``value`` cut to ``max_bytes`` of UTF-8 on a character boundary (Milvus counts bytes)."""
    data = value.encode("utf-8")
    return value if len(data) <= max_bytes else data[:max_bytes].decode("utf-8", "ignore")


def filter_expression(filters: SearchFilters | None) -> str:
    """The Milvus boolean expression applied before ranking; ``""`` means no filter.

    Same meaning as :func:`podseek.index.lancedb_backend.where_clause`: categories are stored
    lowercased, so the category matches case-insensitively; a missing date or duration
    (null) passes no date or duration bound.
    """
    if filters is None or filters.is_empty():
        return ""
    parts = []
    if filters.language is not None:
        parts.append(f"language == {string_literal(filters.language)}")
    if filters.show_id is not None:
        parts.append(f"show_id == {string_literal(filters.show_id)}")
    if filters.not_show_id is not None:
        parts.append(f"show_id != {string_literal(filters.not_show_id)}")
    if filters.category is not None:
        wanted = _clip(filters.category.lower(), MAX_CATEGORY_BYTES)
        parts.append(f"array_contains(categories, {string_literal(wanted)})")
    if filters.after is not None:
        parts.append(f"published_at >= {micros(filters.after)}")
    if filters.before is not None:
        parts.append(f"published_at < {micros(filters.before)}")
    if filters.min_duration is not None:
        parts.append(f"duration_s >= {int(filters.min_duration)}")
    if filters.max_duration is not None:
        parts.append(f"duration_s <= {int(filters.max_duration)}")
    return " and ".join(f"({part})" for part in parts)


def _ids_expression(ids: Sequence[str]) -> str:
    return f"id in [{', '.join(string_literal(i) for i in ids)}]"


# The text analyzer of BM25, set to what LanceDB's full-text index does by default (lower
# case, ASCII folding, tokens of at most 40 characters, English stop words removed, English
# stemming): Milvus' standard analyzer keeps stop words ("history of the war" found
# nothing in LanceDB and 5 episodes in Milvus). The two BM25s still rank differently
# (Milvus keeps its statistics per segment), so keyword lists agree only in part.
ANALYZER: dict[str, Any] = {
    "tokenizer": "standard",
    "filter": [
        "lowercase",
        "asciifolding",
        {"type": "length", "max": 40},
        {"type": "stop", "stop_words": ["_english_"]},
        {"type": "stemmer", "language": "english"},
    ],
}


class MilvusBackend:
    """One Milvus collection of episodes.

    Args:
        uri: the Milvus server, e.g. ``http://127.0.0.1:19530``.
        collection: the collection's name (a full rebuild writes a new one; see
            ``EpisodeIndex``).
        dimension: vector size; checked against an existing collection.
        token: ``user:password`` or an API key; never logged.
        ann: when to switch from exact search to HNSW, and its build and search breadth.
        siblings: name prefix of the collections that belong to the same index, which
            :meth:`table_names` lists and :meth:`drop_other_tables` may drop; default: the
            collection's name up to its last ``_`` (``episodes_`` for ``episodes_<hash>``).
        record: what built the collection (model, text recipe), kept as collection
            properties; opening a collection with a different record is refused.
        timeout: seconds for each request.
    """

    metric = Metric.COSINE

    def __init__(
        self,
        uri: str,
        collection: str,
        dimension: int,
        token: str | None = None,
        ann: AnnSettings | None = None,
        siblings: str | None = None,
        record: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        require("milvus", "pymilvus", what="the Milvus backend")  # imported when used

        self.uri = uri
        self.dimension = dimension
        self.ann = ann or AnnSettings()
        self.table_name = collection
        head, sep, _ = collection.rpartition("_")
        self.siblings = siblings if siblings is not None else (head + sep or collection)
        self.record = {f"{RECORD_PREFIX}{k}": str(v) for k, v in (record or {}).items()}
        self.timeout = timeout
        try:
            self._client = connect(uri, token or "", timeout)
        except Exception as error:  # names the server, never the token or a password
            raise PodseekError(f"cannot reach Milvus at {redact(uri)}: {error}") from None
        try:
            if self._client.has_collection(collection):
                self._check_existing()
            else:
                self._create()
        except BaseException:
            self._client.close()
            raise
        self._uses_ann: bool | None = None

    # the collection ------------------------------------------------------------------------

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        for name in _STRING_FIELDS:
            options: dict[str, Any] = {}
            if name == "text":
                options = {"enable_analyzer": True, "analyzer_params": ANALYZER}
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES, **options)
        schema.add_field(
            "categories",
            DataType.ARRAY,
            element_type=DataType.VARCHAR,
            max_capacity=MAX_CATEGORIES,
            max_length=MAX_CATEGORY_BYTES,
        )
        # microseconds since the epoch, like LanceDB's timestamp column; null when unknown
        schema.add_field("published_at", DataType.INT64, nullable=True)
        schema.add_field("duration_s", DataType.INT64, nullable=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="text_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        index = self._client.prepare_index_params()
        self._add_vector_index(index, FLAT)
        index.add_index(
            "sparse", index_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
        )
        for name in _SCALAR_INDEXED:
            index.add_index(name, index_name=name, index_type="INVERTED")
        properties = {f"{RECORD_PREFIX}format": "1", **self.record}
        self._client.create_collection(
            self.table_name,
            schema=schema,
            consistency_level="Strong",  # a write is visible to the next read
            properties=properties,
        )
        # the collection is empty, so there is nothing to wait for: pymilvus would poll each
        # index's state after a fixed half-second sleep (3 s for these six)
        self._client.create_index(self.table_name, index, sync=False)
        self._client.load_collection(self.table_name)

    def _add_vector_index(self, index: Any, kind: str) -> None:
        params = {"M": self.ann.m, "efConstruction": self.ann.ef_construction}
        index.add_index(
            "vector",
            index_name="vector",
            index_type=kind,
            metric_type=self.metric.value.upper(),
            params=params if kind == HNSW else {},
        )

    def _check_existing(self) -> None:
        """Refuse a collection of another size, another model or recipe, or not podseek's."""
        info = self._client.describe_collection(self.table_name)
        properties = {str(k): str(v) for k, v in (info.get("properties") or {}).items()}
        name = self.table_name
        if f"{RECORD_PREFIX}format" not in properties:
            raise PodseekError(f"Milvus collection {name!r} was not made by podseek")
        vector = next((f for f in info["fields"] if f["name"] == "vector"), None)
        stored = int(vector["params"]["dim"]) if vector else None
        if stored != self.dimension:
            raise PodseekError(
                f"Milvus collection {name!r} holds {stored}-d vectors, not {self.dimension}-d"
            )
        built = {k: v for k, v in properties.items() if k in self.record}
        if built != self.record:
            theirs = {k.removeprefix(RECORD_PREFIX): v for k, v in built.items()}
            ours = {k.removeprefix(RECORD_PREFIX): v for k, v in self.record.items()}
            raise PodseekError(
                f"Milvus collection {name!r} was built with {json.dumps(theirs)}, "
                f"not {json.dumps(ours)}; rebuild it with `podseek index`"
            )

    # writing -------------------------------------------------------------------------------

    def upsert(self, rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        vectors = np.stack([row.vector for row in rows]).astype(np.float32, copy=False)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors are {vectors.shape[1]}-d, the index {self.dimension}-d")
        records = []
        for row, vector in zip(rows, vectors, strict=True):
            fields = row.fields()
            if len(fields["id"].encode("utf-8")) > MAX_VARCHAR_BYTES:
                raise PodseekError(f"episode id longer than {MAX_VARCHAR_BYTES} bytes")
            record: dict[str, Any] = {"id": fields["id"], "vector": vector.tolist()}
            for name in _STRING_FIELDS:
                value = row.content_hash if name == "content_hash" else fields[name]
                record[name] = _clip(value or "", MAX_VARCHAR_BYTES)
            record["categories"] = [
                _clip(c, MAX_CATEGORY_BYTES) for c in fields["categories"][:MAX_CATEGORIES]
            ]
            published = fields["published_at"]
            record["published_at"] = micros(published) if published is not None else None
            duration = fields["duration_s"]
            record["duration_s"] = int(duration) if duration is not None else None
            records.append(record)
        for chunk in chunks(records, WRITE_BATCH):
            self._client.upsert(self.table_name, chunk)

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for chunk in chunks(ids, READ_BATCH):
            self._client.delete(self.table_name, filter=_ids_expression(chunk))

    def optimize(self) -> dict[str, Any]:
        """Seal new rows into indexed segments; from ``ann.min_rows`` on, switch to HNSW.

        The switch releases the collection, swaps the vector index and loads it again:
        searches in other processes fail for that moment (Milvus cannot drop a loaded index).
        """
        rows = self.count()
        built: dict[str, Any] = {"rows": rows}
        if rows == 0:
            return built
        try:  # seals new rows into segments that get indexed; searches see them either way
            self._client.flush(self.table_name)
        except Exception as error:  # a Milvus server rate-limits flushes per collection
            logger.warning("Milvus flush of %r skipped: %s", self.table_name, error)
        self._uses_ann = None
        has_ann = self.uses_ann
        if rows >= self.ann.min_rows and not has_ann:
            self._client.release_collection(self.table_name)
            self._client.drop_index(self.table_name, "vector")
            index = self._client.prepare_index_params()
            self._add_vector_index(index, HNSW)
            self._client.create_index(self.table_name, index)
            self._client.load_collection(self.table_name)
            has_ann = True
        self._uses_ann = has_ann
        built["vector_index"] = HNSW if has_ann else "exact"
        return built

    # reading -------------------------------------------------------------------------------

    def count(self) -> int:
        # count(*) sees deletes at once; get_collection_stats counts deleted rows until a
        # compaction on a Milvus server
        result = self._client.query(self.table_name, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    @property
    def uses_ann(self) -> bool:
        """Whether vector search goes through HNSW (else Milvus searches exactly, FLAT)."""
        if self._uses_ann is None:
            index = self._client.describe_index(self.table_name, "vector")
            self._uses_ann = str(index.get("index_type", FLAT)).upper() != FLAT
        return self._uses_ann

    def vector_search(
        self, vectors: np.ndarray, limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        """Cosine similarity as the score (Milvus's COSINE "distance" is the similarity)."""
        vectors = np.atleast_2d(vectors).astype(np.float32, copy=False)
        limit = min(limit, MAX_TOPK)
        if limit <= 0 or len(vectors) == 0:
            return [[] for _ in vectors]
        params: dict[str, Any] = {"metric_type": self.metric.value.upper()}
        if self.uses_ann:
            params["params"] = {"ef": max(self.ann.ef, limit)}
        expression = filter_expression(filters)
        results: list[list[Hit]] = []
        for start in range(0, len(vectors), 256):
            answer = self._client.search(
                self.table_name,
                data=vectors[start : start + 256].tolist(),
                anns_field="vector",
                filter=expression,
                limit=limit,
                output_fields=["id"],
                search_params=params,
            )
            results.extend([(h["id"], float(h["distance"])) for h in hits] for hits in answer)
        return results

    def keyword_search(
        self, queries: Sequence[str], limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        """BM25 over the episode text, higher is better.

        Milvus Lite reports BM25 as a negative distance (``-score``), a Milvus server as the
        score itself; BM25 is never negative, so the absolute value is the score for both.
        """
        results: list[list[Hit]] = [[] for _ in queries]
        asked = [(n, q) for n, q in enumerate(queries) if q.strip()]
        limit = min(limit, MAX_TOPK)
        if not asked or limit <= 0:
            return results
        expression = filter_expression(filters)
        for chunk in chunks(asked, 256):
            answer = self._client.search(
                self.table_name,
                data=[_clip(q, MAX_VARCHAR_BYTES) for _, q in chunk],
                anns_field="sparse",
                filter=expression,
                limit=limit,
                output_fields=["id"],
                search_params={"metric_type": "BM25"},
            )
            for (n, _), hits in zip(chunk, answer, strict=True):
                found = [(h["id"], abs(float(h["distance"]))) for h in hits]
                results[n] = [(i, s) for i, s in found if s > 0]
        return results

    def _pages(self, fields: list[str], expression: str = "") -> Iterator[list[dict[str, Any]]]:
        """Every row passing ``expression``, in id order, a page at a time.

        Pages by ``id > last id`` like pymilvus's ``query_iterator``, but with the id
        escaped (pymilvus pastes it between quotes as it is).
        """
        last: str | None = None
        while True:
            cursor = 'id != ""' if last is None else f"id > {string_literal(last)}"
            where = f"({cursor}) and ({expression})" if expression else cursor
            page = self._client.query(
                self.table_name,
                filter=where,
                output_fields=fields,
                limit=READ_BATCH,
                iterator="True",  # the server returns each page in id order
                reduce_stop_for_best="True",
            )
            if not page:  # a short page is not the end: a server may stop a page early
                return
            yield page
            last = max(row["id"] for row in page)

    def content_hashes(self) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for page in self._pages(["id", "content_hash"]):
            hashes.update((row["id"], row["content_hash"]) for row in page)
        return hashes

    def _get(self, ids: Sequence[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(ids, READ_BATCH):
            rows = self._client.query(
                self.table_name, filter=_ids_expression(chunk), output_fields=fields
            )
            found.update((row["id"], row) for row in rows)
        return found

    def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Display fields, typed as LanceDB gives them (``published_at`` a UTC datetime)."""
        if not ids:
            return {}
        rows = self._get(list(dict.fromkeys(ids)), list(DISPLAY_FIELDS))
        fetched = {}
        for i, row in rows.items():
            out = {name: row.get(name) for name in DISPLAY_FIELDS}
            out["categories"] = list(out["categories"] or [])
            out["published_at"] = from_micros(out["published_at"])
            fetched[i] = out
        return fetched

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        if not ids:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = self._get(list(dict.fromkeys(ids)), ["id", "vector"])
        return np.asarray([rows[i]["vector"] for i in ids], dtype=np.float32)

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every id and vector (for exact baselines and evaluation)."""
        ids: list[str] = []
        chunks: list[np.ndarray] = []
        for page in self._pages(["id", "vector"]):
            ids.extend(row["id"] for row in page)
            chunks.append(np.asarray([row["vector"] for row in page], dtype=np.float32))
        if not chunks:
            return ids, np.zeros((0, self.dimension), dtype=np.float32)
        return ids, np.concatenate(chunks)

    def table_names(self) -> list[str]:
        """The collections of this index: those named with :attr:`siblings` in front."""
        return [n for n in self._client.list_collections() if n.startswith(self.siblings)]

    def drop_other_tables(self) -> None:
        """Drop the index's other collections (after a rebuild switched), podseek's only."""
        for name in self.table_names():
            if name == self.table_name:
                continue
            properties = self._client.describe_collection(name).get("properties") or {}
            if f"{RECORD_PREFIX}format" in properties:
                self._client.drop_collection(name)
            else:
                logger.warning("kept Milvus collection %r: not made by podseek", name)

    def size_bytes(self) -> int:
        """0: Milvus does not tell a client how much disk a collection takes."""
        return 0

    def drop(self) -> None:
        """Drop this backend's collection (tests, and throwaway indexes)."""
        self._client.drop_collection(self.table_name)

    def close(self) -> None:
        self._client.close()
