"""From a source's raw values to a clean :class:`Episode`, in one place for every reader.

Readers only pick values out of their format into a :class:`RawEpisode`; this module cleans
them (HTML, language, date, duration), derives the stable id, and decides what to skip.
"""

from dataclasses import dataclass, field
from typing import Any

from podseek.catalog.cleaning import (
    clean_line,
    detect_language,
    html_to_text,
    native_episode_id,
    normalise_language,
    parse_datetime,
    parse_duration,
)
from podseek.catalog.episode import Episode, episode_text


@dataclass(frozen=True)
class Skip:
    """A row or item that could not become a record, and why (counted in the summary)."""

    reason: str


@dataclass
class RawEpisode:
    """Values as a source gives them: HTML, free-form dates and durations, language names."""

    native_id: Any = None
    show_id: Any = None
    show_title: Any = None
    show_description: Any = None
    episode_title: Any = None
    episode_description: Any = None
    language: Any = None
    categories: list[str] = field(default_factory=list)
    published_at: Any = None
    duration: Any = None
    audio_url: Any = None
    episode_url: Any = None
    image_url: Any = None
    # Feeds and episode tables describe episodes only; tables of shows may leave the episode
    # fields empty, and such a row becomes a show-level record.
    episode_required: bool = False


@dataclass
class BuildResult:
    """An episode, plus what was noticed and fixed on the way (counted, not skipped)."""

    episode: Episode
    notes: list[str]


def build_episode(raw: RawEpisode, source: str, min_detect_chars: int = 20) -> BuildResult | Skip:
    """Clean ``raw`` into an :class:`Episode` of ``source``, or say why it is skipped."""
    notes: list[str] = []
    show_title = clean_line(raw.show_title)
    episode_title = clean_line(raw.episode_title)
    show_description = html_to_text(_text(raw.show_description))
    episode_description = html_to_text(_text(raw.episode_description))
    audio_url = clean_line(raw.audio_url)
    if not (show_title or show_description or episode_title or episode_description):
        return Skip("no text (no title or description)")
    if raw.episode_required and not (episode_title or episode_description or audio_url):
        return Skip("empty episode (no title, description or audio)")

    published_at = parse_datetime(raw.published_at)
    if published_at is None and raw.published_at not in (None, ""):
        notes.append("unparseable date (kept without a date)")
    duration_s = parse_duration(raw.duration)
    if duration_s is None and raw.duration not in (None, "", 0, "0"):
        notes.append("unusable duration (kept without a duration)")

    native_id = native_episode_id(raw.native_id, audio_url, show_title, episode_title, published_at)
    if not native_id:
        return Skip("no id (no guid, audio URL or title)")
    show_id = clean_line(raw.show_id) or (
        native_episode_id(None, "", show_title) if show_title else ""
    )
    categories = tuple(dict.fromkeys(c for c in (clean_line(c) for c in raw.categories) if c))

    episode = Episode(
        id=f"{source}:{native_id}",
        source=source,
        show_id=f"{source}:{show_id}" if show_id else "",
        show_title=show_title,
        show_description=show_description,
        episode_title=episode_title,
        episode_description=episode_description,
        language="",
        categories=categories,
        published_at=published_at,
        duration_s=duration_s,
        audio_url=audio_url,
        episode_url=clean_line(raw.episode_url),
        image_url=clean_line(raw.image_url),
    )
    if (episode_title or audio_url) and not episode_description:
        notes.append("empty episode description (kept: title and show describe it)")

    language = normalise_language(_text(raw.language))
    if not language:
        language = detect_language(episode_text(episode), min_detect_chars)
        notes.append("language detected from text" if language else "language unknown")
    return BuildResult(episode.model_copy(update={"language": language}), notes)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
