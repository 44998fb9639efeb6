"""Filters that keep only the generated queries worth training on, each one counted.

A small generator writes some queries that teach the encoder nothing or teach it wrongly:
empty lines, one-word or run-on text, the same query twice, lines copied from the prompt's
scaffolding or examples, the episode title again (the encoder already sees it in the episode
text), and queries so vague that their own episode is nowhere near the top of a search. The
last is the round-trip (consistency) check of InPars and Promptagator: a query is kept only
if the base encoder or BM25 finds its episode in the top ``k`` of the catalog.

A prompt echo is also a query about one of the prompt's example episodes (a small model
sometimes writes about the examples instead of the episode). Each filter gives a reason;
:class:`FilterReport` counts the queries each one removed, in the order they ran, so a
summary can say what each filter costs.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from podseek.catalog.cleaning import content_words
from podseek.catalog.episode import Episode, episode_text

# Lines that start like a prompt's scaffolding ("Episode:", "Search:") are the model
# continuing the page, not a query; the prompts' own labels are added to these.
SCAFFOLDING = ("episode", "show", "title", "description", "search", "searches", "query", "queries")


def normalize(text: str) -> str:
    """Lower case, accents kept, punctuation to spaces, spaces collapsed: how two queries are
    compared."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


@dataclass(frozen=True)
class FilterSettings:
    """Limits of the filters; ``round_trip_k = 0`` turns the round-trip check off."""

    min_words: int = 2
    max_words: int = 16
    min_chars: int = 6
    max_chars: int = 120
    round_trip_k: int = 20
    title_filter: bool = True  # off for the title generator, whose queries are titles


@dataclass
class FilterReport:
    """How many queries came in, how many each filter removed, and how many were kept."""

    generated: int = 0
    removed: Counter = field(default_factory=Counter)
    kept: int = 0
    # of those, the queries of transcript windows (podseek.queries.segments)
    window_queries: int = 0
    window_kept: int = 0
    round_trip_unchecked: int = 0  # window queries kept with no segment index to check them

    def to_dict(self) -> dict[str, Any]:
        total = max(1, self.generated)
        data: dict[str, Any] = {
            "generated": self.generated,
            "kept": self.kept,
            "kept_share": round(self.kept / total, 4),
            "removed": {
                reason: {"queries": n, "share": round(n / total, 4)}
                for reason, n in self.removed.items()
            },
        }
        if self.window_queries:
            data["windows"] = {"generated": self.window_queries, "kept": self.window_kept}
        if self.round_trip_unchecked:
            data["round_trip_unchecked"] = self.round_trip_unchecked
        return data


# The filters that look at one query at a time, in the order they run.
REASONS = ("empty", "too short", "too long", "prompt echo", "duplicate", "title copy")


class QueryFilter:
    """Applies the text filters to one episode's queries, then the round-trip check to all.

    A transcript window's queries come with the window's record (an episode copy whose
    description is the window's words: :func:`podseek.queries.segments.window_episode`), so
    the prompt-echo and title-copy filters compare them with what the generator read.

    Args:
        settings: limits.
        examples: the prompt's example queries; a generated copy of one is a prompt echo.
        labels: the prompt's line labels ("Episode", "Search", "Folge", ...); a line that
            starts with one and a colon is a prompt echo too.
    """

    def __init__(
        self, settings: FilterSettings, examples: Iterable[str] = (), labels: Iterable[str] = ()
    ) -> None:
        self.settings = settings
        self.examples = {normalize(example) for example in examples}
        self.example_pages: list[set[str]] = []  # content words of each example episode
        words = sorted({*SCAFFOLDING, *(label.casefold() for label in labels)}, key=len)
        self.markers = re.compile(
            r"^\s*(?:" + "|".join(re.escape(w) for w in reversed(words)) + r")\s*:", re.IGNORECASE
        )

    @classmethod
    def for_prompts(cls, settings: FilterSettings) -> "QueryFilter":
        """A filter that knows the examples and labels of podseek's few-shot prompts."""
        from podseek.queries.prompts import PAGES

        examples = [q for page in PAGES.values() for _, queries in page.examples for q in queries]
        labels = [
            label for page in PAGES.values() for label in (page.episode_label, page.query_label)
        ]
        made = cls(settings, examples, labels)
        made.example_pages = [
            content_words(" ".join([text, *queries]))
            for page in PAGES.values()
            for text, queries in page.examples
        ]
        return made

    def _copies_an_example(self, query: str, episode: Episode) -> bool:
        """True when the query is about one of the prompt's example episodes rather than its
        own: most of its words come from the example, few from the episode."""
        words = content_words(query)
        if len(words) < 2 or not self.example_pages:
            return False
        own = len(words & content_words(episode_text(episode))) / len(words)
        borrowed = max(len(words & page) / len(words) for page in self.example_pages)
        return borrowed >= 0.6 and own < 0.5

    def reason(self, query: str, episode: Episode, seen: set[str]) -> str | None:
        """Why ``query`` is dropped, or ``None`` to keep it (and remember it in ``seen``)."""
        s = self.settings
        norm = normalize(query)
        words = norm.split()
        if not norm:
            return "empty"
        if len(words) < s.min_words or len(query.strip()) < s.min_chars:
            return "too short"
        if len(words) > s.max_words or len(query.strip()) > s.max_chars:
            return "too long"
        if self.markers.match(query) or norm in self.examples:
            return "prompt echo"
        if self._copies_an_example(query, episode):
            return "prompt echo"
        if norm in seen:
            return "duplicate"
        if s.title_filter and _copies_title(words, episode.episode_title):
            return "title copy"
        seen.add(norm)
        return None

    def apply(
        self,
        generated: Sequence[tuple[Episode, Sequence[str]]],
        report: FilterReport,
        round_trip: Callable[[list[str], list[str]], list[bool]] | None = None,
    ) -> list[tuple[str, str]]:
        """The ``(query, episode id)`` pairs that pass every filter, in input order.

        ``round_trip(queries, episode_ids)`` says for each query whether its episode ranks in
        the top ``k``; ``None`` (or ``round_trip_k = 0``) skips the check.
        """
        candidates: list[tuple[str, str]] = []
        for episode, queries in generated:
            seen: set[str] = set()
            for query in queries:
                report.generated += 1
                why = self.reason(query, episode, seen)
                if why is None:
                    candidates.append((query.strip(), episode.id))
                else:
                    report.removed[why] += 1
        if round_trip is not None and self.settings.round_trip_k > 0 and candidates:
            found = round_trip([q for q, _ in candidates], [e for _, e in candidates])
            kept = [pair for pair, ok in zip(candidates, found, strict=True) if ok]
            if len(candidates) > len(kept):
                report.removed["round trip"] += len(candidates) - len(kept)
            candidates = kept
        report.kept += len(candidates)
        return candidates


def _copies_title(query_words: list[str], title: str) -> bool:
    """True when the query is the title again: the same words, give or take one."""
    title_words = normalize(title).split()
    if not title_words:
        return False
    query_set, title_set = set(query_words), set(title_words)
    overlap = len(query_set & title_set) / len(query_set | title_set)
    return overlap >= 0.8 or (len(title_set) >= 3 and query_set == title_set)
