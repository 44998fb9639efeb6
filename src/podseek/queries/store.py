"""Where generated queries and training pairs live: one SQLite file in the workspace.

Generation is slow (minutes to hours on a laptop), so every batch is committed in its own
transaction together with the episodes it covers: an interrupted run loses at most the batch
in flight, and a rerun asks only for the episodes not yet done (or changed since).

Tables:
    meta       run settings (generator, queries per episode, seed, windows per episode) and
               the last filter report
    generated  raw queries: (episode_id, position) -> query, as the generator wrote them
    done       episodes generated for, with the content hash they were generated from
    pairs      training pairs after filtering: synthetic ones and those from search logs

The ``episode_id`` of a row is what the queries were written for: an episode's id, or a
transcript window's (``episode-id#t=61.50``, :mod:`podseek.queries.segments`).
"""

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generated (
    episode_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    query TEXT NOT NULL,
    PRIMARY KEY (episode_id, position)
);
CREATE TABLE IF NOT EXISTS done (
    episode_id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pairs (
    query_id TEXT PRIMARY KEY,
    query TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pairs_source ON pairs (source);
"""

# Where a training pair came from: Spotify's three sources.
SYNTHETIC = "synthetic"
LOG_CLICK = "log-click"  # a search followed by a click on the episode
LOG_REFORMULATION = "log-reformulation"  # a failed search, then a successful one soon after


def query_id(source: str, query: str, episode_id: str) -> str:
    """A stable id for a pair, so importing or filtering twice writes the same rows."""
    digest = hashlib.sha1(f"{source}\x1f{episode_id}\x1f{query}".encode()).hexdigest()
    return f"{'s' if source == SYNTHETIC else 'l'}{digest[:15]}"


class QueryStore:
    """The generated queries and training pairs of one workspace."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "QueryStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    # ------------------------------------------------------------------------ generation

    def done_hashes(self) -> dict[str, str]:
        """Episode id -> the content hash its queries were generated from."""
        return dict(self.conn.execute("SELECT episode_id, content_hash FROM done"))

    def save_batch(self, batch: Sequence[tuple[str, str, Sequence[str]]]) -> None:
        """Store ``(episode_id, content_hash, queries)`` for a batch, all or nothing."""
        with self.conn:
            self.conn.execute("BEGIN")
            for episode_id, content_hash, queries in batch:
                self.conn.execute("DELETE FROM generated WHERE episode_id = ?", (episode_id,))
                self.conn.executemany(
                    "INSERT INTO generated (episode_id, position, query) VALUES (?, ?, ?)",
                    [(episode_id, n, query) for n, query in enumerate(queries)],
                )
                self.conn.execute(
                    "INSERT OR REPLACE INTO done (episode_id, content_hash) VALUES (?, ?)",
                    (episode_id, content_hash),
                )

    def forget(self, ids: Sequence[str]) -> None:
        """Forget the raw queries of ``ids`` and that they were generated for, all at once."""
        if not ids:
            return
        with self.conn:
            self.conn.execute("BEGIN")
            for table in ("generated", "done"):
                self.conn.executemany(
                    f"DELETE FROM {table} WHERE episode_id = ?", [(i,) for i in ids]
                )

    def clear_generated(self) -> None:
        """Forget every generated query (a new run with other settings)."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM generated")
            self.conn.execute("DELETE FROM done")
            self.conn.execute("DELETE FROM pairs WHERE source = ?", (SYNTHETIC,))
            self.conn.execute("DELETE FROM meta WHERE key IN ('run', 'filter_report')")

    def generated(self) -> dict[str, list[str]]:
        """Episode id -> its raw queries in generation order."""
        out: dict[str, list[str]] = {}
        rows = self.conn.execute(
            "SELECT episode_id, query FROM generated ORDER BY episode_id, position"
        )
        for episode_id, query in rows:
            out.setdefault(episode_id, []).append(query)
        return out

    def generated_count(self) -> tuple[int, int]:
        """(episodes done, raw queries)."""
        episodes = self.conn.execute("SELECT COUNT(*) FROM done").fetchone()[0]
        queries = self.conn.execute("SELECT COUNT(*) FROM generated").fetchone()[0]
        return episodes, queries

    # ----------------------------------------------------------------------------- pairs

    def replace_pairs(self, source: str, pairs: Iterable[tuple[str, str]]) -> int:
        """Replace every pair of ``source`` with ``(query, episode_id)`` pairs, atomically."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM pairs WHERE source = ?", (source,))
            return self._insert((source, q, e) for q, e in pairs)

    def add_pairs(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """Add ``(source, query, episode_id)`` rows; rows already there are kept once."""
        with self.conn:
            self.conn.execute("BEGIN")
            return self._insert(rows)

    def _insert(self, rows: Iterable[tuple[str, str, str]]) -> int:
        before = self.conn.total_changes
        self.conn.executemany(
            "INSERT OR IGNORE INTO pairs (query_id, query, episode_id, source) VALUES (?, ?, ?, ?)",
            [(query_id(s, q, e), q, e, s) for s, q, e in rows],
        )
        return self.conn.total_changes - before

    def iter_pairs(self, sources: Sequence[str] | None = None) -> Iterator[dict[str, str]]:
        """Pairs as dicts (query_id, query, episode_id, source), ordered by id."""
        sql = "SELECT query_id, query, episode_id, source FROM pairs"
        params: list[str] = []
        if sources:
            sql += f" WHERE source IN ({','.join('?' * len(sources))})"
            params = list(sources)
        for qid, query, episode_id, source in self.conn.execute(sql + " ORDER BY query_id", params):
            yield {"query_id": qid, "query": query, "episode_id": episode_id, "source": source}

    def pair_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT source, COUNT(*) FROM pairs GROUP BY source"))
