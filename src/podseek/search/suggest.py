"""Suggestions as you type: shows, episode titles and popular past searches that start with
what the listener has typed so far.

A suggester is built once per index version from the catalog's titles
(:meth:`podseek.catalog.store.CatalogStore.titles`) and the search log's popular queries
(:func:`popular_queries`), then answers every keystroke from memory: a bisection over sorted
word-start keys finds the matches, and small per-block tables of the best ranks pick the top
few without looking at every match (a one-letter prefix matches a large share of a big
catalog's titles, and ranking them all would cost more than a keystroke can).
"""

import json
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from podseek.errors import PodseekError

SuggestionKind = Literal["show", "episode", "query"]

SHOWS_AT_MOST = 3  # shows in one answer, unless too few of the other kinds match
QUERIES_AT_MOST = 3  # past queries in one answer, the same
MAX_QUERY_CHARS = 100  # a longer past search is a sentence, not a suggestion
SHORT_PREFIX_CHARS = 2  # answers to prefixes this short are kept: they match the most
SHORT_ANSWERS_KEPT = 10_000  # at most (any script's letter pairs would be millions)

_NON_WORD = re.compile(r"[\W_]+")


class Suggestion(BaseModel):
    """One line under the search box (frozen: answers to short prefixes are shared)."""

    model_config = ConfigDict(frozen=True)

    text: str  # what to show, and to put in the box when chosen
    kind: SuggestionKind
    id: str | None  # the show's id, the episode's id, or None for a past query


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: words of letters and digits, one space
    apart, with a trailing space when ``text`` ends after a word (the listener finished it).

    Example:
        >>> fold("Die Römer am RHEIN!")
        'die romer am rhein '
    """
    if text.isascii():  # most titles: nothing to decompose
        plain = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    spaced = _NON_WORD.sub(" ", plain)
    folded = spaced.strip()
    return folded + " " if folded and spaced.endswith(" ") else folded


class _PrefixIndex:
    """Prefix search over word-start suffixes of titles, best matches first.

    ``keys`` are folded titles (:func:`fold`) in rank order, best first. Every word start of a
    key is one position in one string of all keys; positions are sorted by the text from them
    to their key's end, so the positions whose text starts with a prefix are one bisected
    range. Each position carries a value, ``rank`` for a title start and ``len(keys) + rank``
    for a later word, so the best matches of a range are its smallest values: a title-start
    match before any mid-title one, each in rank order.
    """

    BLOCK = 256  # positions summarised by one row of the first table
    FANOUT = 32  # rows of a table summarised by one row of the next
    KEEP = 128  # distinct smallest values kept per row: enough for find(count <= KEEP // 2)

    def __init__(self, keys: Sequence[str]) -> None:
        self.size = len(keys)
        # Each key ends with a space (so that "geminids " finds "... Geminids") and \x00,
        # which no prefix holds: no match runs on into the next key.
        self._text = text = "".join(key + " \x00" for key in keys)
        starts: list[int] = []  # where each key's words start in the text
        values: list[int] = []
        suffixes: list[str] = []  # the text from each start to its key's end, to sort by
        offsets = [0]  # where each key starts, and the text's end
        offset = 0
        for rank, key in enumerate(keys):
            end, at = offset + len(key) + 2, offset
            for word in key.split(" "):
                starts.append(at)
                values.append(rank if at == offset else self.size + rank)
                suffixes.append(text[at:end])
                at += len(word) + 1
            offset = end
            offsets.append(offset)
        order = np.array(sorted(range(len(suffixes)), key=suffixes.__getitem__), dtype=np.int64)
        del suffixes
        dtype = np.int32 if max(len(text), 2 * self.size) < 2**31 - 1 else np.int64
        self._sentinel = np.iinfo(dtype).max  # pads tables; sorts after every value
        self._starts = np.array(starts, dtype=dtype)[order]
        self._values = np.array(values, dtype=dtype)[order]
        self._offsets = np.array(offsets, dtype=dtype)
        self._tables = self._summaries()

    def key(self, rank: int) -> str:
        """The folded text of key ``rank``."""
        return self._text[self._offsets[rank] : self._offsets[rank + 1] - 2]

    def _summaries(self) -> list[np.ndarray]:
        """Tables of the ``KEEP`` smallest distinct values of each block of positions, then of
        each ``FANOUT`` rows of the table before, until one table is small."""
        tables = [self._smallest_per_row(self._values, self.BLOCK)]
        while len(tables[-1]) > self.FANOUT:
            tables.append(self._smallest_per_row(tables[-1], self.FANOUT))
        return tables

    def _smallest_per_row(self, values: np.ndarray, group: int) -> np.ndarray:
        rows = max(1, -(-len(values) // group))  # one row of padding when there are none
        padded = np.full((rows * group, *values.shape[1:]), self._sentinel, values.dtype)
        padded[: len(values)] = values
        grouped = np.sort(padded.reshape(rows, -1), axis=1)
        repeated = grouped[:, 1:] == grouped[:, :-1]
        grouped[:, 1:][repeated] = self._sentinel
        return np.sort(grouped, axis=1)[:, : self.KEEP]

    def find(self, prefix: str, count: int) -> list[tuple[bool, int]]:
        """Up to ``count`` ``(mid_title, rank)`` of distinct keys having a word that starts
        with ``prefix`` (a folded text), best first."""
        text, n = self._text, len(prefix)

        def key(start: int) -> str:
            return text[start : start + n]

        lo = bisect_left(self._starts, prefix, key=key)
        hi = bisect_right(self._starts, prefix, lo=lo, key=key)
        if lo == hi or count <= 0:
            return []
        found: list[tuple[bool, int]] = []
        seen: set[int] = set()
        for value in self._smallest_values(lo, hi, 2 * count):  # a key may match twice
            mid_title, rank = divmod(value, self.size)
            if rank not in seen:
                seen.add(rank)
                found.append((bool(mid_title), rank))
                if len(found) == count:
                    break
        return found

    def _smallest_values(self, lo: int, hi: int, count: int) -> list[int]:
        """The ``count`` smallest distinct values of positions ``lo:hi``, in order."""
        exact = count > self.KEEP  # more than the tables keep: every position of the range
        candidates = self._values[lo:hi] if exact else self._candidates(lo, hi)
        if len(candidates) > count:
            smallest = sorted(set(np.partition(candidates, count - 1)[:count].tolist()))
            if len(smallest) < count:  # repeated values hid some: rare, take them all
                smallest = np.unique(candidates)[:count].tolist()
        else:
            smallest = sorted(set(candidates.tolist()))
        return [value for value in smallest if value != self._sentinel]

    def _candidates(self, lo: int, hi: int) -> np.ndarray:
        """Values that hold the ``KEEP`` smallest distinct ones of ``lo:hi``: the positions at
        the range's ragged ends, and table rows for the whole blocks between them."""
        if hi - lo <= 2 * self.BLOCK:
            return self._values[lo:hi]
        first, last = -(-lo // self.BLOCK), hi // self.BLOCK
        parts = [self._values[lo : first * self.BLOCK], self._values[last * self.BLOCK : hi]]
        for level, table in enumerate(self._tables):
            if level == len(self._tables) - 1 or last - first <= 2 * self.FANOUT:
                parts.append(table[first:last].ravel())
                break
            up_first, up_last = -(-first // self.FANOUT), last // self.FANOUT
            parts.append(table[first : up_first * self.FANOUT].ravel())
            parts.append(table[up_last * self.FANOUT : last].ravel())
            first, last = up_first, up_last
        return np.concatenate(parts)


class _Entries:
    """The suggestions of one kind, best first, with their prefix index."""

    def __init__(self, kind: SuggestionKind, ranked: list[tuple[str, str, str | None]]) -> None:
        # ranked: (folded key, text, id), best first
        self.kind = kind
        self.texts = [text for _, text, _ in ranked]
        self.ids = [id_ for _, _, id_ in ranked]
        self.index = _PrefixIndex([key for key, _, _ in ranked])


class Suggester:
    """Suggestions for a prefix of a search, from one catalog version and its search log.

    Matching ignores case, accents and punctuation, and finds a title by its start or by the
    start of any of its words ("geminid" and "watching the gem" both find "Watching the
    Geminids"): listeners remember a distinctive word more often than a title's first one.

    Order: matches at a title's start come before matches later in a title, since a title that
    starts with what was typed is most likely the one meant. Then shows, past queries and
    episode titles, in that order: a show is a destination, a query someone else searched is a
    proven search, and episode titles are the bulk of the catalog. Shows with more records
    (episodes) come first, queries searched more often first, and shorter episode titles first (the
    closest completion of what was typed); ties are broken by text, then id.

    Mix: at most :data:`SHOWS_AT_MOST` shows and :data:`QUERIES_AT_MOST` queries while other
    kinds match, the rest episodes, so that a box of eight lines serves the three intents
    (go to a show, repeat a search, open an episode) instead of filling with one; when a kind
    runs short the others fill its places. A text is suggested once, by its best kind.

    Example:
        >>> suggester = Suggester.build(
        ...     [("rss:1", "rss:show", "Night Sky Notes", "Watching the Geminids")]
        ... )
        >>> [s.text for s in suggester.suggest("gemin")]
        ['Watching the Geminids']
    """

    def __init__(self, shows: _Entries, queries: _Entries, episodes: _Entries) -> None:
        self._kinds = (shows, queries, episodes)
        # (folded prefix, limit) -> answer, for the short prefixes that every listener types
        # first and that match the most titles
        self._short_answers: dict[tuple[str, int], list[Suggestion]] = {}

    @classmethod
    def build(
        cls,
        titles: Iterable[tuple[str, str, str, str]],
        queries: Mapping[str, int] | None = None,
    ) -> "Suggester":
        """A suggester for the catalog's titles and past queries.

        Args:
            titles: ``(episode_id, show_id, show_title, episode_title)`` of every record
                (:meth:`CatalogStore.titles`); a show-level record has an empty
                ``episode_title``.
            queries: past queries and how often each was searched (:func:`popular_queries`,
                which keeps only queries searched in several visits).
        """
        show_titles: dict[str, str] = {}  # show id -> its first title
        show_records: Counter[str] = Counter()  # show id -> its records
        episodes: dict[str, tuple[str, str]] = {}  # key -> (least id, title): copies once
        for episode_id, show_id, show_title, episode_title in titles:
            if show_id and show_title.strip():
                show_titles.setdefault(show_id, show_title.strip())
                show_records[show_id] += 1
            key = fold(episode_title).rstrip()
            if key and (key not in episodes or episode_id < episodes[key][0]):
                episodes[key] = (episode_id, episode_title.strip())

        # shows of one title: the one with most records, then the least id
        ranked_shows: dict[str, tuple[int, int, str, str, str]] = {}
        for show_id, title in show_titles.items():
            key = fold(title).rstrip()
            rank = (-show_records[show_id], len(key), key, show_id, title)
            if key and (key not in ranked_shows or rank < ranked_shows[key]):
                ranked_shows[key] = rank

        # spellings of one query: counts summed, shown as the most searched spelling
        totals: Counter[str] = Counter()
        spellings: dict[str, tuple[int, str]] = {}  # key -> (-count, spelling), least first
        for query, count in (queries or {}).items():
            key = fold(query).rstrip()
            if key and count > 0 and len(query) <= MAX_QUERY_CHARS:
                totals[key] += count
                spelling = (-count, " ".join(query.split()))
                spellings[key] = min(spellings.get(key, spelling), spelling)
        ranked_queries = sorted((-n, len(key), key, spellings[key][1]) for key, n in totals.items())
        ranked_episodes = sorted(
            (len(key), key, eid, title) for key, (eid, title) in episodes.items()
        )
        return cls(
            _Entries("show", [(r[2], r[4], r[3]) for r in sorted(ranked_shows.values())]),
            _Entries("query", [(key, text, None) for _, _, key, text in ranked_queries]),
            _Entries("episode", [(key, title, eid) for _, key, eid, title in ranked_episodes]),
        )

    def __len__(self) -> int:
        """How many titles and queries it can suggest (a text of two kinds counts twice)."""
        return sum(entries.index.size for entries in self._kinds)

    def suggest(self, prefix: str, limit: int = 8) -> list[Suggestion]:
        """Up to ``limit`` suggestions for what the listener typed so far, best first; none for
        an empty or blank prefix. Lengths are the caller's to check: this never raises."""
        typed = fold(prefix)
        if not typed or limit <= 0:
            return []
        if len(typed) > SHORT_PREFIX_CHARS:
            return self._suggest(typed, limit)
        answer = self._short_answers.get((typed, limit))
        if answer is None:
            answer = self._suggest(typed, limit)
            if len(self._short_answers) < SHORT_ANSWERS_KEPT:
                self._short_answers[typed, limit] = answer
        return list(answer)

    def _suggest(self, typed: str, limit: int) -> list[Suggestion]:
        # (mid_title, kind order, rank, entries), sorted: the order of the answer. Each kind
        # offers twice the limit, since a text found as another kind too is dropped.
        found = sorted(
            (mid_title, order, rank, entries)
            for order, entries in enumerate(self._kinds)
            for mid_title, rank in entries.index.find(typed, 2 * limit)
        )
        places = {"show": SHOWS_AT_MOST, "query": QUERIES_AT_MOST, "episode": limit}
        chosen, spare, seen = [], [], set()
        for match in found:
            rank, entries = match[2], match[3]
            text = entries.index.key(rank)
            if text in seen:
                continue
            seen.add(text)
            if places[entries.kind] > 0:
                places[entries.kind] -= 1
                chosen.append(match)
            else:
                spare.append(match)
        chosen = sorted(chosen[:limit] + spare[: limit - min(limit, len(chosen))])
        return [
            Suggestion(text=entries.texts[rank], kind=entries.kind, id=entries.ids[rank])
            for _, _, rank, entries in chosen
        ]


def popular_queries(log_path: Path, min_count: int = 2, limit: int = 50_000) -> dict[str, int]:
    """Past queries of a search log that several visits searched, and how many did.

    The log is JSON Lines, one search or click per line with at least ``"query"``
    (:mod:`podseek.queries.logs` documents the format; :mod:`podseek.serve.search_log` writes
    it). Queries are compared with spaces collapsed and case ignored; each is shown in its most
    frequent spelling. A query counts once per ``session_id`` (a line without one counts on
    its own): a search and the click on its result, or a listener retrying, are one visit.

    Privacy: a query searched in fewer than ``min_count`` visits is left out. Suggestions are
    shown to every listener, and a one-off search may be personal (a name, an illness, an
    address); only what several visits searched is shared.

    Args:
        log_path: the search log; a missing file has no queries.
        min_count: the fewest visits a query needs to be suggested.
        limit: the most queries returned, most searched first.

    Returns:
        ``{query as most often typed: visits}``, most searched first. Lines that cannot be
        read (not JSON, no query) are skipped.
    """
    visits: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    counted: set[tuple[str, str]] = set()  # (session, query) pairs seen
    try:
        with open(log_path, "rb") as lines:
            for number, line in enumerate(lines):
                try:
                    record = json.loads(line)
                except ValueError:  # not JSON, or bytes that are not UTF-8
                    continue
                query = record.get("query") if isinstance(record, dict) else None
                if not isinstance(query, str) or not query.split():
                    continue
                spelling = " ".join(query.split())
                key = spelling.casefold()
                session = record.get("session_id")
                own = str(session) if isinstance(session, str | int) and session != "" else None
                visit = (own if own is not None else f"\x00line {number}", key)
                if visit not in counted:
                    counted.add(visit)
                    visits[key] += 1
                    spellings[key][spelling] += 1
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise PodseekError(f"cannot read the search log {log_path}: {error.strerror}") from None
    popular = sorted((-n, key) for key, n in visits.items() if n >= min_count)[:limit]
    return {spellings[key].most_common(1)[0][0]: -minus_n for minus_n, key in popular}
