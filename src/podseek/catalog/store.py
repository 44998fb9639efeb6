"""Catalog storage: one SQLite file in the workspace.

SQLite gives what the catalog needs with nothing to run: a write happens in one transaction,
so a crash or Ctrl-C during an ingest leaves the previous catalog complete and readable, and
readers (the index builder, the server) can read while an ingest writes (WAL journal).
"""

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from podseek.catalog.episode import Episode
from podseek.catalog.transcripts import Segment
from podseek.errors import PodseekError

SCHEMA_VERSION = 1

_SEGMENTS = TypeAdapter(list[Segment])

# The catalog stores every field of the Episode model, one column each.
_EPISODE_COLUMNS = tuple(Episode.model_fields)

# Insert a record, or update every field of an existing one but first_seen.
_UPSERT = (
    f"INSERT INTO episodes ({', '.join(_EPISODE_COLUMNS)}, content_hash, first_seen, updated_at) "
    f"VALUES ({', '.join('?' * (len(_EPISODE_COLUMNS) + 3))}) ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_EPISODE_COLUMNS, "content_hash", "updated_at"))
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    show_id TEXT NOT NULL,
    show_title TEXT NOT NULL,
    show_description TEXT NOT NULL,
    episode_title TEXT NOT NULL,
    episode_description TEXT NOT NULL,
    language TEXT NOT NULL,
    categories TEXT NOT NULL,       -- JSON list of strings
    published_at TEXT,              -- ISO 8601, UTC
    duration_s INTEGER,
    audio_url TEXT NOT NULL,
    episode_url TEXT NOT NULL,
    image_url TEXT NOT NULL,
    content_hash TEXT NOT NULL,     -- changes whenever any field above changes
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_source ON episodes (source);
CREATE INDEX IF NOT EXISTS episodes_show ON episodes (show_id);
CREATE INDEX IF NOT EXISTS episodes_language ON episodes (language);
CREATE TABLE IF NOT EXISTS ingests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    location TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary TEXT NOT NULL           -- JSON: counts and skipped rows by reason
);
-- an episode's transcript: its timed segments, as the file it came from gave them
CREATE TABLE IF NOT EXISTS transcripts (
    episode_id TEXT PRIMARY KEY,
    form TEXT NOT NULL,             -- srt, vtt, json or html
    segments TEXT NOT NULL,         -- JSON list of {{start, end, text, speaker}}
    content_hash TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- a transcript goes with its episode
CREATE TRIGGER IF NOT EXISTS transcripts_follow_episodes AFTER DELETE ON episodes
BEGIN DELETE FROM transcripts WHERE episode_id = old.id; END;
INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""

# Every write that changes a record counts one revision: what readers that derive something
# from the catalog (suggestions, the speller, shows) compare, since the file's own mtime and
# its write-ahead log change on reads and checkpoints too.
_BUMP_REVISION = (
    "INSERT INTO meta VALUES ('revision', '1') "
    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
)


def catalog_revision(path: Path) -> int | None:
    """How many changing writes the catalog at ``path`` has committed (0 for one that has
    had none); ``None`` when there is no catalog there. Opened read-only: checking never
    creates or changes a catalog."""
    if not Path(path).is_file():
        return None
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else 0


def read_transcripts(path: Path, episode_ids: list[str]) -> dict[str, list[Segment]]:
    """``{episode id: segments}`` of those of ``episode_ids`` with a transcript, read from the
    catalog at ``path`` without a writer's connection (what search reads moments from); empty
    when there is no catalog there."""
    if not episode_ids or not Path(path).is_file():
        return {}
    found: dict[str, list[Segment]] = {}
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            marks = ", ".join("?" * len(episode_ids))
            query = f"SELECT episode_id, segments FROM transcripts WHERE episode_id IN ({marks})"
            for episode_id, data in conn.execute(query, episode_ids):
                found[episode_id] = _SEGMENTS.validate_json(data)
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return found


@dataclass(frozen=True)
class ShowRecord:
    """What the catalog knows about one show, from all of its records (show search).

    ``episode_ids`` are its episodes; ``show_level_ids`` its records that describe the show
    and no particular episode (a row of a show table, a feed with no items), which are the
    show's own rows, not episodes: ``episode_count`` is ``len(episode_ids)``.
    """

    show_id: str
    title: str
    description: str  # the longest of its records' show descriptions
    language: str  # its records' most common language ('' when none has one)
    categories: tuple[str, ...]  # every category of its records, once (case-insensitively)
    episode_ids: tuple[str, ...]  # sorted, as show_level_ids
    show_level_ids: tuple[str, ...]

    @property
    def episode_count(self) -> int:
        return len(self.episode_ids)


# One row per show, in one pass over the records. SQLite takes a bare column of a query whose
# only min/max aggregate is max(...) from the row with that maximum: the title and description
# of the record with the longest show description.
_SHOW_LEVEL = "(episode_title = '' AND episode_description = '' AND audio_url = '')"
_SHOWS = f"""
SELECT show_id, show_title, show_description, max(length(show_description)),
       json_group_array(language) FILTER (WHERE language != '') AS languages,
       json_group_array(DISTINCT categories) AS categories,
       json_group_array(id) FILTER (WHERE NOT {_SHOW_LEVEL}) AS episode_ids,
       json_group_array(id) FILTER (WHERE {_SHOW_LEVEL}) AS show_level_ids
FROM episodes WHERE show_id != '' GROUP BY show_id ORDER BY show_id
"""


def _most_common(values: list[str]) -> str:
    """The most common value (the first in sort order of those tied), '' for none."""
    counts = Counter(values)
    return min(counts, key=lambda value: (-counts[value], value)) if counts else ""


def _union(category_lists: list[str]) -> tuple[str, ...]:
    """The categories of JSON lists, once each (case-insensitively), in first-seen order."""
    seen: dict[str, str] = {}
    for listed in category_lists:
        for category in json.loads(listed):
            seen.setdefault(category.lower(), category)
    return tuple(seen.values())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _to_row(episode: Episode) -> tuple[Any, ...]:
    data = episode.model_dump()
    data["categories"] = json.dumps(list(episode.categories), ensure_ascii=False)
    data["published_at"] = episode.published_at.isoformat() if episode.published_at else None
    return tuple(data[column] for column in _EPISODE_COLUMNS)


def _from_row(row: sqlite3.Row) -> Episode:
    data = {column: row[column] for column in _EPISODE_COLUMNS}
    data["categories"] = tuple(json.loads(data["categories"]))
    try:
        return Episode.model_validate(data)
    except ValidationError:  # a record stored before the checks of issue 16: readable still
        return Episode.repaired(data)


class CatalogStore:
    """The episode catalog of one workspace.

    Args:
        path: the SQLite file; its folder is created when missing.

    Example:
        >>> store = CatalogStore(tmp_path / "catalog.sqlite")  # doctest: +SKIP
        >>> with store.write() as batch:                          # doctest: +SKIP
        ...     batch.upsert(episode)
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise PodseekError(f"cannot open the catalog at {self.path}: {error}") from error

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "CatalogStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, source: str) -> "CatalogWrite":
        """A transaction that adds or updates the records of one source.

        Nothing is visible to readers until the ``with`` block ends without error; an
        exception (including ``KeyboardInterrupt``) rolls everything back.
        """
        return CatalogWrite(self._conn, source)

    def delete(self, episode_ids: list[str]) -> int:
        """Remove records by id in one transaction; returns how many existed."""
        with self.write("delete") as batch:
            return batch.delete(episode_ids)

    def source_of(self, episode_id: str) -> str | None:
        """The source a record was filed under, or ``None`` when there is no such record."""
        row = self._conn.execute(
            "SELECT source FROM episodes WHERE id = ?", (episode_id,)
        ).fetchone()
        return row[0] if row else None

    # Reading -------------------------------------------------------------------------------

    def count(self, source: str | None = None) -> int:
        if source is None:
            return self._conn.execute("SELECT count(*) FROM episodes").fetchone()[0]
        query = "SELECT count(*) FROM episodes WHERE source = ?"
        return self._conn.execute(query, (source,)).fetchone()[0]

    def get(self, episode_id: str) -> Episode | None:
        row = self._conn.execute("SELECT * FROM episodes WHERE id = ?", (episode_id,)).fetchone()
        return _from_row(row) if row else None

    def transcript(self, episode_id: str) -> list[Segment] | None:
        """An episode's transcript segments, in time order; ``None`` when it has none."""
        row = self._conn.execute(
            "SELECT segments FROM transcripts WHERE episode_id = ?", (episode_id,)
        ).fetchone()
        return _SEGMENTS.validate_json(row[0]) if row else None

    def transcript_count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM transcripts").fetchone()[0]

    def untranscribed(self, limit: int | None = None, show_id: str | None = None) -> list[str]:
        """Ids of the episodes with an audio URL and no transcript, newest first (undated
        last), at most ``limit``, optionally of one show: what speech recognition does."""
        query = (
            "SELECT id FROM episodes e WHERE audio_url != '' AND NOT EXISTS "
            "(SELECT 1 FROM transcripts t WHERE t.episode_id = e.id)"
            + (" AND show_id = ?" if show_id else "")
            + " ORDER BY published_at IS NULL, published_at DESC, id"
            + (f" LIMIT {int(limit)}" if limit is not None else "")
        )
        return [row[0] for row in self._conn.execute(query, (show_id,) if show_id else ())]

    def iter_transcripts(self) -> Iterator[tuple[Episode, str, list[Segment]]]:
        """``(episode, its content hash, its transcript's segments)`` of every episode with a
        transcript, in id order: what the segment index is built from."""
        rows = self._conn.execute(
            "SELECT e.*, t.segments AS transcript FROM episodes e "
            "JOIN transcripts t ON t.episode_id = e.id ORDER BY e.id"
        )
        for row in rows:
            yield _from_row(row), row["content_hash"], _SEGMENTS.validate_json(row["transcript"])

    def get_many(self, episode_ids: list[str]) -> dict[str, Episode]:
        """``{id: Episode}`` for the ids that exist."""
        found: dict[str, Episode] = {}
        for start in range(0, len(episode_ids), 500):
            chunk = episode_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT * FROM episodes WHERE id IN ({marks})"
            for row in self._conn.execute(query, chunk):
                found[row["id"]] = _from_row(row)
        return found

    def iter_episodes(self, source: str | None = None) -> Iterator[Episode]:
        """Every record, in id order (optionally of one source)."""
        if source is None:
            rows = self._conn.execute("SELECT * FROM episodes ORDER BY id")
        else:
            query = "SELECT * FROM episodes WHERE source = ? ORDER BY id"
            rows = self._conn.execute(query, (source,))
        for row in rows:
            yield _from_row(row)

    def content_hashes(self) -> dict[str, str]:
        """``{id: content_hash}`` for every record: what an incremental index compares."""
        return dict(self._conn.execute("SELECT id, content_hash FROM episodes"))

    def languages(self) -> dict[str, int]:
        """Records per language, most common first (the search page's language filter)."""
        return self._grouped("language")

    def titles(self) -> Iterator[tuple[str, str, str, str]]:
        """``(id, show_id, show_title, episode_title)`` of every record, in id order: what
        suggestions as you type are built from. Plain tuples from one query, no ``Episode``
        built, so reading a large catalog's titles stays cheap."""
        cursor = self._conn.cursor()
        cursor.row_factory = None  # tuples, not sqlite3.Row
        yield from cursor.execute(
            "SELECT id, show_id, show_title, episode_title FROM episodes ORDER BY id"
        )

    def _grouped(self, expression: str, limit: int | None = None) -> dict[str, int]:
        query = (
            f"SELECT {expression} AS k, count(*) AS n FROM episodes GROUP BY k ORDER BY n DESC, k"
        )
        if limit:
            query += f" LIMIT {int(limit)}"
        return {
            (key if key not in (None, "") else "unknown"): n for key, n in self._conn.execute(query)
        }

    def stats(self, top_shows: int = 10) -> dict[str, Any]:
        """Counts of the catalog by kind, source, language, year and show, and the skipped
        rows of each source's latest ingest by reason."""
        conn = self._conn
        show_level = "episode_title = '' AND episode_description = '' AND audio_url = ''"
        totals = conn.execute(
            f"SELECT count(*), sum({show_level}), count(DISTINCT show_id) FROM episodes"
        ).fetchone()

        latest = conn.execute(
            "SELECT source, kind, location, finished_at, summary FROM ingests "
            "WHERE id IN (SELECT max(id) FROM ingests GROUP BY source) ORDER BY source"
        ).fetchall()
        skipped: dict[str, int] = {}
        for row in latest:
            for reason, n in json.loads(row["summary"]).get("skipped", {}).items():
                skipped[reason] = skipped.get(reason, 0) + n
        return {
            "catalog": str(self.path),
            "records": totals[0],
            "episodes": totals[0] - (totals[1] or 0),
            "show_level_records": totals[1] or 0,
            "shows": totals[2],
            "transcripts": self.transcript_count(),
            "by_source": self._grouped("source"),
            "by_language": self.languages(),
            "by_year": self._grouped("substr(published_at, 1, 4)"),
            "top_shows": self._grouped("show_title", top_shows),
            "skipped": dict(sorted(skipped.items(), key=lambda item: -item[1])),
            "ingests": [
                {
                    "source": row["source"],
                    "kind": row["kind"],
                    "location": row["location"],
                    "finished_at": row["finished_at"],
                    **json.loads(row["summary"]),
                }
                for row in latest
            ],
        }

    def shows(self) -> list[ShowRecord]:
        """Every show of the catalog (records with a show id), in show id order: one grouped
        query. A record is a show-level one when it has no episode title, description or
        audio URL (as :attr:`Episode.is_show_level`)."""
        return [
            ShowRecord(
                show_id=row[0],
                title=row[1],
                description=row[2],
                language=_most_common(json.loads(row[4])),
                categories=_union(sorted(json.loads(row[5]))),
                episode_ids=tuple(sorted(json.loads(row[6]))),
                show_level_ids=tuple(sorted(json.loads(row[7]))),
            )
            for row in self._conn.execute(_SHOWS)
        ]


class CatalogWrite:
    """One source's ingest, as a single SQLite transaction (see :meth:`CatalogStore.write`)."""

    def __init__(self, conn: sqlite3.Connection, source: str) -> None:
        self._conn = conn
        self.source = source
        self.started_at = _now()
        self.seen: set[str] = set()
        self.added = self.updated = self.unchanged = self.removed = self.deleted = 0
        self.transcripts = 0  # transcripts added or changed

    def __enter__(self) -> "CatalogWrite":
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise PodseekError(f"the catalog is busy or read-only: {error}") from error
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self._conn.execute("ROLLBACK")
            return
        if self.added or self.updated or self.removed or self.deleted or self.transcripts:
            self._conn.execute(_BUMP_REVISION)
        self._conn.execute("COMMIT")

    def upsert(self, episode: Episode) -> str:
        """Add or update one record; returns "added", "updated" or "unchanged"."""
        self.seen.add(episode.id)
        digest = episode.content_hash()
        row = self._conn.execute(
            "SELECT content_hash FROM episodes WHERE id = ?", (episode.id,)
        ).fetchone()
        if row is not None and row[0] == digest:
            self.unchanged += 1
            return "unchanged"
        now = _now()
        self._conn.execute(_UPSERT, (*_to_row(episode), digest, now, now))
        if row is None:
            self.added += 1
            return "added"
        self.updated += 1
        return "updated"

    def set_transcript(self, episode_id: str, form: str, segments: list[Segment]) -> bool:
        """Store the transcript of an episode this write added or kept; whether it changed."""
        data = _SEGMENTS.dump_json(segments)
        digest = hashlib.sha256(form.encode() + b"\0" + data).hexdigest()
        row = self._conn.execute(
            "SELECT content_hash FROM transcripts WHERE episode_id = ?", (episode_id,)
        ).fetchone()
        if row is not None and row[0] == digest:
            return False
        self._conn.execute(
            "INSERT INTO transcripts VALUES (?, ?, ?, ?, ?) ON CONFLICT(episode_id) DO UPDATE "
            "SET form = excluded.form, segments = excluded.segments, "
            "content_hash = excluded.content_hash, updated_at = excluded.updated_at",
            (episode_id, form, data.decode(), digest, _now()),
        )
        self.transcripts += 1
        return True

    def delete(self, episode_ids: list[str]) -> int:
        """Remove records by id, in this transaction; returns how many existed."""
        before = self._conn.total_changes
        self._conn.executemany("DELETE FROM episodes WHERE id = ?", [(i,) for i in episode_ids])
        deleted = self._conn.total_changes - before
        self.deleted += deleted
        return deleted

    def remove_unseen(self) -> int:
        """Delete this source's records that the current ingest did not see (``--replace``)."""
        stale = [
            episode_id
            for (episode_id,) in self._conn.execute(
                "SELECT id FROM episodes WHERE source = ?", (self.source,)
            )
            if episode_id not in self.seen
        ]
        self._conn.executemany("DELETE FROM episodes WHERE id = ?", [(i,) for i in stale])
        self.removed = len(stale)
        return self.removed

    def log(self, kind: str, location: str, summary: dict[str, Any]) -> None:
        """Record this ingest's summary; it commits with the records."""
        self._conn.execute(
            "INSERT INTO ingests (source, kind, location, started_at, finished_at, summary) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self.source, kind, location, self.started_at, _now(), json.dumps(summary)),
        )
