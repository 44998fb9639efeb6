"""Transcript windows as training material: which windows of an episode get synthetic
queries, what a generator reads for one, and finding a window again from its id.

A transcript's windows (:mod:`podseek.catalog.windows`, what the segment index holds) say
what is spoken, which the title and description of an episode often do not. Generating
queries for a few windows of every transcribed episode, and training on (query, window
text) pairs, teaches the encoder how listeners describe spoken content.

Which windows: up to ``n`` per episode, picked with a seed (the run's seed and the episode's
id, so ``--limit`` and a resumed run pick the same ones), spread over the episode: the windows
with words are cut into ``n`` runs of about equal length, in time order, and one window is
drawn from each, sharing no cue with the one drawn before it. The first and the last window
(the greeting, the sponsor read, the goodbye) are left out when there are enough others.

A generator reads a window as an :class:`Episode` copy whose id is the window's id
(``episode-id#t=61.50``), whose description is the window's words, and whose show description
is empty (the prompt's characters go to what is said); show and episode titles stay the
episode's, so a query may still name the show.
"""

import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.catalog.windows import (
    WINDOW_S,
    Window,
    parse_window_id,
    transcript_windows,
    window_hash,
    window_id,
)


@dataclass(frozen=True)
class WindowTarget:
    """A window that queries are written for: its episode, the window, and the record a
    generator and the filters read (:func:`window_episode`)."""

    episode: Episode
    window: Window

    @property
    def id(self) -> str:
        return window_id(self.episode.id, self.window)

    @property
    def record(self) -> Episode:
        return window_episode(self.episode, self.window)


def pick_windows(windows: Sequence[Window], n: int, seed: int, episode_id: str) -> list[Window]:
    """Up to ``n`` of an episode's ``windows``, spread over it, in time order (see the module
    docstring); the same ones for the same seed, episode and transcript."""
    candidates = [w for w in windows if w.text.strip()]
    if n <= 0 or not candidates:
        return []
    if len(candidates) > n + 2:  # leave the greeting and the goodbye out
        candidates = candidates[1:-1]
    runs = min(n, len(candidates))
    bounds = [round(k * len(candidates) / runs) for k in range(runs + 1)]
    rng = random.Random(zlib.crc32(episode_id.encode(), seed & 0xFFFFFFFF))
    chosen: list[Window] = []
    for k in range(runs):
        run = candidates[bounds[k] : bounds[k + 1]]
        free = [w for w in run if not chosen or w.first > chosen[-1].last]
        if free:
            chosen.append(rng.choice(free))
    return chosen


def window_episode(episode: Episode, window: Window) -> Episode:
    """The record a generator (and the filters) read for ``window`` of ``episode``."""
    return episode.model_copy(
        update={
            "id": window_id(episode.id, window),
            "episode_description": window.text,
            "show_description": "",
        }
    )


def target_hash(episode_hash: str, window: Window) -> str:
    """What a window's queries were generated from: its episode's fields and its words, so
    that a new title or a changed transcript generates them again."""
    return window_hash(episode_hash, window.text)


def window_parent(record_id: str) -> str | None:
    """The episode id in a window id, or ``None`` when ``record_id`` is not one."""
    if "#t=" not in record_id:
        return None
    try:
        episode_id, _ = parse_window_id(record_id)
    except ValueError:
        return None
    return episode_id or None


def find_windows(
    catalog: CatalogStore, record_ids: Iterable[str], episodes: dict[str, Episode] | None = None
) -> dict[str, WindowTarget]:
    """``{window id: target}`` of those of ``record_ids`` that are windows of a transcript
    in the catalog now (a window of a removed episode, or of an old transcript, is not).
    ``episodes``: catalog records already read, by id (others are read)."""
    parents: dict[str, set[str]] = {}
    for record_id in record_ids:
        parent = window_parent(record_id)
        if parent is not None:
            parents.setdefault(parent, set()).add(record_id)
    if not parents:
        return {}
    known = dict(episodes or {})
    missing = [p for p in parents if p not in known]
    known.update(catalog.get_many(missing))
    found: dict[str, WindowTarget] = {}
    for parent in sorted(parents):
        episode = known.get(parent)
        segments = catalog.transcript(parent) if episode is not None else None
        if episode is None or not segments:
            continue
        for window in transcript_windows(segments):
            target = WindowTarget(episode, window)
            if target.id in parents[parent]:
                found[target.id] = target
    return found


def overlapping(record_id: str, other_id: str) -> bool:
    """Whether two window ids name windows of one episode that share speech (they start
    less than a window's length apart)."""
    episode, start = parse_window_id(record_id)
    try:
        other_episode, other_start = parse_window_id(other_id)
    except ValueError:
        return False
    return episode == other_episode and abs(start - other_start) < WINDOW_S
