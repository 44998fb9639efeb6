"""Training pairs from search logs: Spotify's other two sources beside synthetic queries.

A search log is a JSON Lines file, one search per line:

    {"session_id": "s1", "timestamp": "2026-11-29T10:00:00Z", "query": "xmas food",
     "clicked_episode_id": null}
    {"session_id": "s1", "timestamp": "2026-11-29T10:00:40Z",
     "query": "healthy eating at christmas", "clicked_episode_id": "listennotes:abc"}

- ``session_id`` (string): searches of one listener's visit.
- ``timestamp``: ISO 8601 (a time without a zone is UTC) or seconds since the epoch.
- ``query`` (string): what was typed.
- ``clicked_episode_id`` (string or null): the catalog id of the episode the listener played
  or opened from the results (podseek's ids, as the API returns them); null when nothing was.

Two kinds of pairs come out: a successful search gives ``(query, clicked episode)``
(``log-click``), and a failed search (no click) followed within ``window`` minutes in the same
session by a successful one gives ``(failed query, the episode finally found)``
(``log-reformulation``): the words the listener tried first, which search did not understand
yet. Lines that cannot be read and clicks on episodes the catalog lacks are skipped, counted by
reason.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from podseek.catalog.cleaning import parse_datetime
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.filters import normalize
from podseek.queries.store import LOG_CLICK, LOG_REFORMULATION, QueryStore


@dataclass(frozen=True)
class Search:
    """One search of a session."""

    session_id: str
    at: datetime
    query: str
    clicked: str | None


@dataclass
class LogImportReport:
    """What an import read, derived and skipped."""

    lines: int = 0
    searches: int = 0
    sessions: int = 0
    click_pairs: int = 0
    reformulation_pairs: int = 0
    added: int = 0  # new pairs (a re-import adds none)
    failed_without_success: int = 0
    skipped: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in vars(self).items() if k != "skipped"},
            "skipped": dict(self.skipped),
        }


def parse_search(record: Any) -> Search:
    """One log line as a :class:`Search`; ``ValueError`` says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    session = record.get("session_id")
    if not isinstance(session, str | int) or str(session) == "":
        raise ValueError("no session_id")
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("no query")
    stamp = record.get("timestamp")
    at = parse_datetime(stamp) if isinstance(stamp, str | int | float) else None
    if at is None or isinstance(stamp, bool):
        raise ValueError("bad timestamp")
    clicked = record.get("clicked_episode_id")
    if clicked is not None and (not isinstance(clicked, str) or not clicked.strip()):
        raise ValueError("bad clicked_episode_id")
    return Search(str(session), at, query.strip(), clicked.strip() if clicked else None)


def read_searches(path: Path, report: LogImportReport) -> dict[str, list[Search]]:
    """The searches of a log file, grouped by session and sorted by time."""
    if not path.is_file():
        raise PodseekError(f"search log not found: {path}")
    sessions: dict[str, list[Search]] = {}
    with path.open("rb") as lines:
        for raw in lines:
            report.lines += 1
            if not raw.strip():
                report.skipped["empty line"] += 1
                continue
            try:
                search = parse_search(json.loads(raw.decode("utf-8")))
            except UnicodeDecodeError:
                report.skipped["not UTF-8"] += 1
                continue
            except json.JSONDecodeError:
                report.skipped["not JSON"] += 1
                continue
            except ValueError as error:
                report.skipped[str(error)] += 1
                continue
            report.searches += 1
            sessions.setdefault(search.session_id, []).append(search)
    for searches in sessions.values():
        searches.sort(key=lambda s: s.at)
    report.sessions = len(sessions)
    return sessions


def derive_pairs(
    sessions: dict[str, list[Search]], window: timedelta, report: LogImportReport
) -> list[tuple[str, str, str]]:
    """``(source, query, episode_id)`` rows from sessions (episode ids not checked yet)."""
    rows: list[tuple[str, str, str]] = []
    for searches in sessions.values():
        for n, search in enumerate(searches):
            if search.clicked:
                rows.append((LOG_CLICK, search.query, search.clicked))
                continue
            success = next(
                (
                    later
                    for later in searches[n + 1 :]
                    if later.clicked and later.at - search.at <= window
                ),
                None,
            )
            if success is not None and normalize(success.query) == normalize(search.query):
                continue  # a search, then a click on its results (podseek serve logs both)
            if success is None:
                report.failed_without_success += 1
                continue
            assert success.clicked is not None
            rows.append((LOG_REFORMULATION, search.query, success.clicked))
    return rows


def import_search_logs(
    path: Path, catalog: CatalogStore, store: QueryStore, window_minutes: float = 5.0
) -> LogImportReport:
    """Read a search log and add its pairs to the workspace's training pairs."""
    if window_minutes <= 0:
        raise PodseekError("--window must be a positive number of minutes")
    report = LogImportReport()
    sessions = read_searches(path, report)
    rows = derive_pairs(sessions, timedelta(minutes=window_minutes), report)
    known = catalog.get_many(sorted({episode for _, _, episode in rows}))
    kept = []
    for source, query, episode in rows:
        if episode not in known:
            report.skipped["unknown episode"] += 1
            continue
        kept.append((source, query, episode))
        if source == LOG_CLICK:
            report.click_pairs += 1
        else:
            report.reformulation_pairs += 1
    report.added = store.add_pairs(kept)
    return report
