"""The LanceDB backend, searched through its serving snapshot (:mod:`podseek.index.snapshot`).

Reads come from the snapshot the manifest names: its full part, and the delta on top of it
(rows written since, searched beside the full part; the rows they replace masked out of it).
Writes go to LanceDB, the source of truth; the first read after one writes the snapshot of
what LanceDB now holds (a delta when few rows changed) and reads that, so a handle always
answers for the rows it wrote.
"""

import heapq
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from podseek.index.base import AnnSettings, Hit, IndexRow, SearchFilters
from podseek.index.lancedb_backend import LanceDBBackend
from podseek.index.snapshot import Part, SnapshotSettings, read_meta, refresh

MAX_REMEMBERED = 100_000  # ids found by searches, kept for fetching their rows


class SnapshotBackend:
    """A :class:`LanceDBBackend` whose reads are answered by a snapshot.

    Args:
        lance: the table.
        root: the folder of the table's snapshots.
        name: the snapshot to open (the manifest names it); ``None`` writes one on the first
            read.
        ann: the index settings; below ``ann.min_rows`` rows, vector search is exact.
    """

    def __init__(
        self,
        lance: LanceDBBackend,
        root: Path,
        name: str | None = None,
        ann: AnnSettings | None = None,
    ) -> None:
        self.lance = lance
        self.root = Path(root)
        self.ann = ann or AnnSettings()
        self.settings = SnapshotSettings(ann_min_rows=self.ann.min_rows)
        self.dimension = lance.dimension
        self.table_name = lance.table_name
        self.metric = lance.metric
        self.name: str | None = None
        self._found: dict[str, tuple[Part, int]] = {}
        self._stale = name is None  # written since the snapshot was opened (or none yet)
        if name is not None:
            self._open(name)

    def _open(self, name: str) -> None:
        folder = self.root / name
        meta = read_meta(folder)
        if meta["kind"] == "delta":
            self.base = Part(self.root / meta["base"] / "base", self.settings)
            delta = folder / "delta"
            self.delta = Part(delta, self.settings) if delta.exists() else None
            dead = np.load(folder / "dead.npy")
        else:
            self.base = Part(folder / "base", self.settings)
            self.delta = None
            dead = np.zeros(0, dtype=np.int64)
        self.alive: np.ndarray | None = None
        if len(dead):
            self.alive = np.ones(self.base.size, dtype=bool)
            self.alive[dead] = False
        self.dead_rows = len(dead)
        self.parts = [p for p in (self.base, self.delta) if p is not None]
        self.name = name
        self.version = int(meta["version"])
        self._found = {}

    def _current(self) -> "SnapshotBackend":
        """This backend, its snapshot first brought in step with the table if it was
        written (or none was opened)."""
        if self._stale:
            self._open(refresh(self.root, self.lance, self.name, self.settings))
            self._stale = False
        return self

    # writes go to LanceDB ----------------------------------------------------------------

    def upsert(self, rows: Sequence[IndexRow]) -> None:
        self._stale = self._stale or bool(rows)
        self.lance.upsert(rows)

    def delete(self, ids: Iterable[str]) -> None:
        self._stale = True
        self.lance.delete(ids)

    def optimize(self) -> dict[str, Any]:
        built = self.lance.optimize()
        self._stale = True  # the snapshot may now want its inverted file
        self._current()
        return built

    def drop_other_tables(self) -> None:
        self.lance.drop_other_tables()

    def size_bytes(self) -> int:
        snapshots = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return self.lance.size_bytes() + snapshots

    @property
    def uses_ann(self) -> bool:
        return self._current().base.ivf is not None

    # reads -------------------------------------------------------------------------------

    def count(self) -> int:
        self._current()
        return sum(p.size for p in self.parts) - self.dead_rows

    def content_hashes(self) -> dict[str, str]:
        return self.lance.content_hashes()

    def _keep(self, part: Part, filters: SearchFilters | None) -> np.ndarray | None:
        keep = part.mask(filters)
        if part is self.base and self.alive is not None:
            keep = self.alive if keep is None else keep & self.alive
        return keep

    def _hits(self, found: list[list[tuple[int, float]]], limit: int) -> list[Hit]:
        """The best ``limit`` of each part's ``(row, score)`` lists, as ``(id, score)``."""
        if len(self.parts) == 1:  # a full snapshot: its list is ranked already
            rows = found[0][:limit]
            ids = self.base.ids_of([row for row, _ in rows])
            for episode_id, (row, _) in zip(ids, rows, strict=True):
                self._remember(episode_id, self.base, row)
            return [(i, score) for i, (_, score) in zip(ids, rows, strict=True)]
        best = heapq.nlargest(
            limit,
            ((score, n, row) for n, rows in enumerate(found) for row, score in rows),
        )
        ids: dict[tuple[int, int], str] = {}
        for n, part in enumerate(self.parts):
            rows = [row for _, m, row in best if m == n]
            if rows:
                ids.update(zip(((n, r) for r in rows), part.ids_of(rows), strict=True))
        hits = []
        for score, n, row in best:
            episode_id = ids[n, row]
            self._remember(episode_id, self.parts[n], row)
            hits.append((episode_id, score))
        return hits

    def _remember(self, episode_id: str, part: Part, row: int) -> None:
        if len(self._found) >= MAX_REMEMBERED:
            self._found.clear()
        self._found[episode_id] = (part, row)

    def vector_search(
        self, vectors: np.ndarray, limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        self._current()
        keeps = [self._keep(part, filters) for part in self.parts]
        key = _scan_key(filters)
        return [
            self._hits(
                [
                    part.vector_search(vector, limit, keep, key)
                    for part, keep in zip(self.parts, keeps, strict=True)
                ],
                limit,
            )
            for vector in np.atleast_2d(vectors)
        ]

    def keyword_search(
        self, queries: Sequence[str], limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        self._current()
        return [
            self._hits([self._keywords(part, text, limit, filters) for part in self.parts], limit)
            for text in queries
        ]

    def _keywords(
        self, part: Part, text: str, limit: int, filters: SearchFilters | None
    ) -> list[tuple[int, float]]:
        """A part's best rows for ``text``; the base's rows a delta replaced are skipped,
        asking for more until ``limit`` remain or the list ends."""
        if part is not self.base or self.alive is None:
            return part.keyword_search(text, limit, filters)
        asked = limit
        while True:
            found = part.keyword_search(text, asked, filters)
            alive = [(row, score) for row, score in found if self.alive[row]]
            if len(alive) >= limit or len(found) < asked:
                return alive[:limit]
            asked *= 4

    def _locate(self, episode_id: str) -> tuple[Part, int] | None:
        if episode_id in self._found:
            return self._found[episode_id]
        if self.delta is not None:
            row = self.delta.position(episode_id)
            if row is not None:
                return self.delta, row
        row = self.base.position(episode_id)
        if row is not None and (self.alive is None or self.alive[row]):
            return self.base, row
        return None

    def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self._current()
        by_part: dict[int, tuple[Part, list[int]]] = {}
        for episode_id in ids:
            located = self._locate(episode_id)
            if located is not None:
                part, row = located
                by_part.setdefault(id(part), (part, []))[1].append(row)
        found: dict[str, dict[str, Any]] = {}
        for part, rows in by_part.values():
            found.update((row["id"], row) for row in part.take(rows))
        return found

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        self._current()
        matrix = np.zeros((len(ids), self.dimension), dtype=np.float32)
        for n, episode_id in enumerate(ids):
            located = self._locate(episode_id)
            if located is None:
                raise KeyError(episode_id)
            part, row = located
            matrix[n] = part.vectors[row]
        return matrix

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        self._current()
        ids: list[str] = []
        blocks = []
        for part in self.parts:
            rows = np.arange(part.size)
            if part is self.base and self.alive is not None:
                rows = np.flatnonzero(self.alive)
            ids.extend(part.ids.take(rows).to_pylist())
            blocks.append(np.asarray(part.vectors[rows], dtype=np.float32))
        return ids, np.concatenate(blocks) if blocks else np.zeros((0, self.dimension))

    def table_names(self) -> list[str]:
        return self.lance.table_names()

    def close(self) -> None:
        self.lance.close()


def _scan_key(filters: SearchFilters | None) -> SearchFilters | None:
    """``filters`` where they name a set of rows that listeners filter by again and again (a
    language, a show, a category), so that a part keeps those rows' scan codes gathered;
    ``None`` for dates and durations, whose values are endless."""
    if filters is None or filters.is_empty():
        return None
    ranges = (filters.after, filters.before, filters.min_duration, filters.max_duration)
    if filters.not_show_id is not None or any(value is not None for value in ranges):
        return None
    return filters
