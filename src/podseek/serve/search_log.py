"""The server's own search log: listeners' searches and clicks, for the product's use.

Spotify's loop: what listeners search and then play becomes training pairs. Each search and
each click is one JSON line in the format ``podseek queries import-logs`` reads
(:mod:`podseek.queries.logs`), so a log feeds training with no conversion:

    {"session_id": "k3f9...", "timestamp": "2026-12-03T10:00:00.120Z", "query": "xmas food",
     "clicked_episode_id": null, "type": "episode", "results": 10}
    {"session_id": "k3f9...", "timestamp": "2026-12-03T10:00:41.007Z", "query": "xmas food",
     "clicked_episode_id": "listennotes:950"}

Privacy: no IP address, user agent or cookie is written. The session id is a random token the
page keeps for one browser tab (``sessionStorage``), so searches of one visit can be linked
(a reformulation) and nothing links two visits; a request without one gets a fresh random id.
Suggestions only show a past query searched at least twice (:mod:`podseek.search.suggest`).

Every worker appends to the same file: each record is one ``write`` on a file opened with
``O_APPEND``, so lines of concurrent writers never interleave, and a crash leaves at most a
last partial line, which the importer skips and counts.
"""

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podseek.errors import PodseekError

MAX_SESSION_CHARS = 64


def new_session_id() -> str:
    return secrets.token_hex(8)


class SearchLog:
    """Appends searches and clicks to one JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            raise PodseekError(f"cannot open the search log {path}: {error.strerror}") from None

    def _append(self, record: dict[str, Any]) -> None:
        record = {
            "session_id": record.pop("session_id") or new_session_id(),
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **record,
        }
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

    def search(self, session_id: str | None, query: str, kind: str, results: int) -> None:
        """One search as the listener typed it (``kind``: episode or show)."""
        self._append(
            {
                "session_id": session_id,
                "query": query,
                "clicked_episode_id": None,
                "type": kind,
                "results": results,
            }
        )

    def click(self, session_id: str | None, query: str, episode_id: str) -> None:
        """A result the listener played or opened, with the query that found it."""
        self._append({"session_id": session_id, "query": query, "clicked_episode_id": episode_id})

    def close(self) -> None:
        os.close(self._fd)
