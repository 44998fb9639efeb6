"""An episode's transcript as the overlapping windows that segment search indexes, and the
moment inside a window that a query is about.

A transcript's cues are a few seconds long: too little text to say what a passage is about.
TREC Podcasts retrieves two-minute segments, and so does podseek: windows of about
:data:`WINDOW_S` seconds that start every :data:`STEP_S` seconds, on cue boundaries, so that
every moment lies well inside at least one window. Each window is encoded with its episode's
show and title in front (what the passage is part of), and indexed as its own record, with
the episode's fields for the filters. Its id is the episode's id and its start time, so a hit
names the episode and the place to seek to.

A window is long; a listener wants the player to start where the thing is said.
:func:`best_span` finds it: the few cues of the window that share the most words with the
query (the window's start when none do).
"""

import bisect
import hashlib
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from podseek.catalog.cleaning import content_words
from podseek.catalog.episode import Episode
from podseek.catalog.transcripts import Segment

WINDOW_S = 120.0
STEP_S = 60.0
# the text recipe of a window record (part of the segment index's identity, as
# catalog.episode.TEXT_RECIPE is of the episode index's)
WINDOW_RECIPE = f"show_title. episode_title. window of {WINDOW_S:g}s every {STEP_S:g}s (v1)"
# a moment is a span of cues this long, at most: what a result shows and the player seeks to
SPAN_S = 20.0
_START = operator.attrgetter("start")  # bisection key: a cue's start
_ID_MARK = "#t="
_CUE_WORDS = re.compile(r"\s+")


@dataclass(frozen=True)
class Window:
    """The cues ``first`` to ``last`` (inclusive) of a transcript, from ``start`` to ``end``
    seconds, and what is said in them."""

    start: float
    end: float
    first: int
    last: int
    text: str


def transcript_windows(
    segments: Sequence[Segment], length: float = WINDOW_S, step: float = STEP_S
) -> list[Window]:
    """The windows of a transcript: each starts at the first cue at least ``step`` after the
    one before (the first at the first cue) and takes the cues that start within ``length``
    of it. A window whose cues the
    one before it already holds (a gap in the talk, the end of the episode) is left out."""
    windows: list[Window] = []
    first = 0
    while first < len(segments):
        start = segments[first].start
        last = first
        while last + 1 < len(segments) and segments[last + 1].start < start + length:
            last += 1
        if not windows or last > windows[-1].last:
            cues = segments[first : last + 1]
            text = " ".join(_CUE_WORDS.sub(" ", c.text).strip() for c in cues)
            end = max(c.end for c in cues)
            windows.append(Window(start, end, first, last, text))
        # the first cue at least a step after this window's start
        while first < len(segments) and segments[first].start < start + step:
            first += 1
    return windows


def window_id(episode_id: str, window: Window) -> str:
    """The record id of a window: its episode's id and its start, ``ep#t=61.5``."""
    return f"{episode_id}{_ID_MARK}{window.start:.2f}"


def parse_window_id(record_id: str) -> tuple[str, float]:
    """``(episode id, start seconds)`` of a window's record id."""
    episode_id, _, start = record_id.rpartition(_ID_MARK)
    return episode_id, float(start)


def window_text(episode: Episode, window: Window, max_chars: int) -> str:
    """What represents a window to the encoder and to keyword search: the show and the
    episode title (what the passage is part of), then what is said, cut at ``max_chars`` on a
    word boundary."""
    head = ". ".join(p.strip() for p in (episode.show_title, episode.episode_title) if p.strip())
    text = f"{head}. {window.text}" if head else window.text
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0]


def window_hash(episode_hash: str, text: str) -> str:
    """The content hash of a window record: its episode's fields and its text, so that a new
    title, filter field or transcript re-encodes it."""
    return hashlib.sha256(f"{episode_hash}\0{WINDOW_RECIPE}\0{text}".encode()).hexdigest()


@dataclass(frozen=True)
class Span:
    """A moment: the cues from ``start`` to ``end`` seconds, their words and speaker."""

    start: float
    end: float
    text: str
    speaker: str


def best_span(
    segments: Sequence[Segment],
    start: float,
    end: float,
    query: str,
    otherwise: float | None = None,
) -> Span:
    """The moment of the window ``start``..``end`` that ``query`` is about: of the spans of
    cues at most :data:`SPAN_S` long that begin in the window, the one holding the most of
    the query's content words (the earliest of equals), from the cue that says the first of
    them; with none in common (a paraphrase, another language), the span from ``otherwise``
    seconds (the window's start by default).

    ``segments`` are in time order, as the catalog keeps them: the window's cues are found by
    bisection and each cue's words are read once, since a search places a moment in each of
    its results' windows, over transcripts of a thousand cues and more."""
    wanted = content_words(query)
    first = bisect.bisect_left(segments, start - 0.01, key=_START)
    after = bisect.bisect_left(segments, end, key=_START)
    if first >= after:
        return Span(start, end, "", "")
    at = start if otherwise is None else otherwise
    best = next((i for i in range(first, after) if segments[i].start >= at - 0.01), first)
    best_score = 0
    if wanted:
        # the query's words each cue says, from the window's first cue to its last span's end
        reach = bisect.bisect_left(segments, segments[after - 1].start + SPAN_S, key=_START)
        said = [wanted & content_words(cue.text) for cue in segments[first:reach]]
        for i in range(first, after):
            words: set[str] = set()
            j = i
            while j < reach and segments[j].start < segments[i].start + SPAN_S:
                words |= said[j - first]
                j += 1
            if len(words) > best_score:
                best, best_score = i, len(words)
        if best_score:  # start where the first of its words is said
            while not said[best - first]:
                best += 1
    return _span(segments, best)


def _span(segments: Sequence[Segment], first: int) -> Span:
    cues = [segments[first]]
    for index in range(first + 1, len(segments)):
        if segments[index].start >= segments[first].start + SPAN_S:
            break
        cues.append(segments[index])
    text = " ".join(_CUE_WORDS.sub(" ", c.text).strip() for c in cues)
    speaker = next((c.speaker for c in cues if c.speaker), "")
    return Span(cues[0].start, max(c.end for c in cues), text, speaker)
