"""From a source's raw values to a clean :class:`Episode`, in one place for every reader.

Readers only pick values out of their format into a :class:`RawEpisode`; this module cleans
them (HTML, language, date, duration), derives the stable id, and decides what to skip.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from podseek.catalog.cleaning import (
    clean_date,
    clean_duration,
    clean_line,
    detect_language,
    html_to_text,
    native_episode_id,
    normalise_language,
)
from podseek.catalog.episode import (
    MAX_CATEGORIES,
    MAX_CATEGORY_CHARS,
    TEXT_LIMITS,
    Episode,
    episode_text,
    id_problem,
)
from podseek.catalog.transcripts import Segment


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
    categories: Any = field(default_factory=list)  # a list of strings, normally
    published_at: Any = None
    duration: Any = None
    audio_url: Any = None
    episode_url: Any = None
    image_url: Any = None
    # Feeds and episode tables describe episodes only; tables of shows may leave the episode
    # fields empty, and such a row becomes a show-level record.
    episode_required: bool = False
    # what was said, for readers that have it: (form, segments) of the episode's transcript
    transcript: tuple[str, list[Segment]] | None = None
    # why a transcript the source names was left out (counted as a note; the episode stays)
    transcript_problem: str | None = None


@dataclass
class BuildResult:
    """An episode, plus what was noticed and fixed on the way (counted, not skipped)."""

    episode: Episode
    notes: list[str]


class BadValue(ValueError):
    """A raw value of a kind a field cannot hold (an object where text belongs)."""


def build_episode(raw: RawEpisode, source: str, min_detect_chars: int = 20) -> BuildResult | Skip:
    """Clean ``raw`` into an :class:`Episode` of ``source``, or say why it is skipped.

    Every value is checked against the catalog's ranges (see :mod:`podseek.catalog.episode`):
    a date or duration out of range is dropped with a note, a text over its cap is cut with
    a note, and a value of the wrong kind (a list or an object where text belongs) skips the
    row. This never raises on a row's values.
    """
    notes: list[str] = []
    try:
        return _build(raw, source, min_detect_chars, notes)
    except BadValue as error:
        return Skip(f"malformed value ({error})")
    except ValidationError as error:
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
        return Skip(f"invalid value ({', '.join(fields) or 'record'})")


def _build(
    raw: RawEpisode, source: str, min_detect_chars: int, notes: list[str]
) -> BuildResult | Skip:
    show_title = clean_line(_text(raw.show_title, "show_title"))
    episode_title = clean_line(_text(raw.episode_title, "episode_title"))
    show_description = html_to_text(_text(raw.show_description, "show_description"))
    episode_description = html_to_text(_text(raw.episode_description, "episode_description"))
    audio_url = clean_line(_text(raw.audio_url, "audio_url"))
    if not (show_title or show_description or episode_title or episode_description):
        return Skip("no text (no title or description)")
    if raw.episode_required and not (episode_title or episode_description or audio_url):
        return Skip("empty episode (no title, description or audio)")

    published_at, note = clean_date(raw.published_at)
    if note:
        notes.append(note)
    duration_s, note = clean_duration(raw.duration)
    if note:
        notes.append(note)

    native_id = native_episode_id(
        _text(raw.native_id, "id") or None, audio_url, show_title, episode_title, published_at
    )
    if not native_id:
        return Skip("no id (no guid, audio URL or title)")
    show_id = clean_line(_text(raw.show_id, "show_id"))
    if show_id and id_problem(f"{source}:{show_id}"):  # too long, or not printable
        show_id = "h" + hashlib.sha1(show_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    elif not show_id and show_title:
        show_id = native_episode_id(None, "", show_title)

    values = {
        "show_title": show_title,
        "show_description": show_description,
        "episode_title": episode_title,
        "episode_description": episode_description,
        "audio_url": audio_url,
        "episode_url": clean_line(_text(raw.episode_url, "episode_url")),
        "image_url": clean_line(_text(raw.image_url, "image_url")),
    }
    for name, value in values.items():
        limit = TEXT_LIMITS[name]
        if len(value) > limit:
            if name.endswith("_url"):
                notes.append(f"{name} longer than {limit:,} characters (dropped)")
                values[name] = ""
            else:
                notes.append(f"{name} longer than {limit:,} characters (cut)")
                values[name] = value[:limit]
    episode = Episode(
        id=f"{source}:{native_id}",
        source=source,
        show_id=f"{source}:{show_id}" if show_id else "",
        language="",
        categories=_categories(raw.categories, notes),
        published_at=published_at,
        duration_s=duration_s,
        **values,
    )
    if (episode_title or audio_url) and not episode_description:
        notes.append("empty episode description (kept: title and show describe it)")

    language = normalise_language(_text(raw.language, "language")[:100])
    if not language:
        language = detect_language(episode_text(episode), min_detect_chars)
        notes.append("language detected from text" if language else "language unknown")
    return BuildResult(episode.model_copy(update={"language": language}), notes)


def _text(value: Any, name: str) -> str:
    """A raw value as text: strings as they are, numbers written out, bytes decoded;
    anything else (a list, an object) cannot be a field's text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | Decimal | datetime | date):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadValue(f"{name} holds bytes that are not UTF-8") from None
    raise BadValue(f"{name} is a {type(value).__name__}, not text")


def _categories(values: Any, notes: list[str]) -> tuple[str, ...]:
    """Categories as a list of distinct, non-empty strings (at most 256 of 200 characters);
    a value that is not text is dropped with a note."""
    if values is None:
        return ()
    if isinstance(values, str | int | float):
        values = [values]
    elif not isinstance(values, list | tuple):
        notes.append("categories not a list (dropped)")
        return ()
    kept: list[str] = []
    for value in values:
        try:
            text = clean_line(_text(value, "categories"))
        except BadValue:
            notes.append("category not text (dropped)")
            continue
        if len(text) > MAX_CATEGORY_CHARS:
            notes.append(f"category longer than {MAX_CATEGORY_CHARS} characters (cut)")
            text = text[:MAX_CATEGORY_CHARS].strip()
        if text:
            kept.append(text)
    unique = tuple(dict.fromkeys(kept))
    if len(unique) > MAX_CATEGORIES:
        notes.append(f"more than {MAX_CATEGORIES} categories (the rest dropped)")
        unique = unique[:MAX_CATEGORIES]
    return unique
