"""The one ``Episode`` model, and the one recipe that turns it into the text we encode."""

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# The reference recipe joins the four fields with ". "; a field that already ends a sentence
# is joined with a space so that we never write "Why?. Because".
_SENTENCE_END = (".", "!", "?", "…", ":", ";")
# Recorded with every index: an index built from another recipe must be rebuilt.
TEXT_RECIPE = "show_title. show_description. episode_title. episode_description (v1)"

# The range of every value the catalog accepts (issue 16): whatever a reader or the API hands
# in is checked against these, so that nothing the catalog holds can break the index (an
# int32 column, a timestamp Python cannot represent) or a search that returns it.
MIN_DATE = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_DATES = timedelta(days=366)  # a date up to a year ahead (scheduled episodes)
MAX_DURATION_S = 7 * 24 * 3600
MAX_ID_BYTES = 512
MAX_TITLE_CHARS = 2_000  # titles, show ids, language
MAX_URL_CHARS = 4_096
MAX_DESCRIPTION_CHARS = 50_000
MAX_CATEGORIES = 256
MAX_CATEGORY_CHARS = 200
# NUL, the other C0 controls but tab and line breaks, DEL, and lone surrogates (which are
# not Unicode text at all: they cannot be encoded to UTF-8, so SQLite and Arrow refuse them)
BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
TEXT_LIMITS = {
    "show_id": MAX_ID_BYTES,
    "show_title": MAX_TITLE_CHARS,
    "show_description": MAX_DESCRIPTION_CHARS,
    "episode_title": MAX_TITLE_CHARS,
    "episode_description": MAX_DESCRIPTION_CHARS,
    "audio_url": MAX_URL_CHARS,
    "episode_url": MAX_URL_CHARS,
    "image_url": MAX_URL_CHARS,
}


def max_date() -> datetime:
    """The latest publication date the catalog accepts: a year from now."""
    return datetime.now(UTC) + FUTURE_DATES


def date_problem(value: datetime) -> str | None:
    """Why ``value`` is not a date the catalog accepts, or ``None`` when it is; a naive
    value is taken as UTC."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        return "is out of range"
    if not MIN_DATE <= utc <= max_date():
        return f"must be between {MIN_DATE:%Y-%m-%d} and {max_date():%Y-%m-%d}"
    return None


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a record id (or a source name), or ``None`` when it can."""
    if not value:
        return "must not be empty"
    if not value.isprintable():
        return "must be printable (no control characters, line breaks or lone surrogates)"
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        return f"must be at most {MAX_ID_BYTES} bytes"
    return None


class Episode(BaseModel):
    """One episode (or one show, for show-level sources) in the catalog.

    Text fields are clean plain text (see :mod:`podseek.catalog.cleaning`); empty strings mean
    "not given". A show-level record has empty episode fields.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(
        description="Stable id: '<source>:<native id>'; printable, at most 512 bytes.",
        min_length=1,
        max_length=MAX_ID_BYTES,
    )
    source: str = Field(
        description="Name of the source this record was ingested from.",
        min_length=1,
        max_length=MAX_ID_BYTES,
    )
    show_id: str = Field("", max_length=MAX_ID_BYTES)
    show_title: str = Field("", max_length=MAX_TITLE_CHARS)
    show_description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)
    episode_title: str = Field("", max_length=MAX_TITLE_CHARS)
    episode_description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)
    language: str = Field("", description="ISO 639-1 code, or '' when unknown.", max_length=35)
    categories: tuple[Annotated[str, Field(min_length=1, max_length=MAX_CATEGORY_CHARS)], ...] = (
        Field((), max_length=MAX_CATEGORIES)
    )
    published_at: datetime | None = Field(
        None, description="Publication time in UTC, from 1900 to a year from now."
    )
    duration_s: int | None = Field(
        None,
        description="Length of the audio in seconds (up to 7 days).",
        ge=0,
        le=MAX_DURATION_S,
    )
    audio_url: str = Field("", max_length=MAX_URL_CHARS)
    episode_url: str = Field("", max_length=MAX_URL_CHARS)
    image_url: str = Field("", max_length=MAX_URL_CHARS)

    @field_validator("id", "source")
    @classmethod
    def _check_id(cls, value: str) -> str:
        problem = id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator(
        "show_id",
        "language",
        "show_title",
        "show_description",
        "episode_title",
        "episode_description",
        "audio_url",
        "episode_url",
        "image_url",
        "categories",
    )
    @classmethod
    def _check_text(cls, value: Any) -> Any:
        for text in value if isinstance(value, tuple) else (value,):
            if BAD_TEXT.search(text):
                raise ValueError(
                    "must be Unicode text without NUL, control characters or lone surrogates"
                )
        return value

    @field_validator("published_at")
    @classmethod
    def _check_date(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        problem = date_problem(value)
        if problem:
            raise ValueError(problem)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @property
    def is_show_level(self) -> bool:
        """True for a record that describes a show with no particular episode."""
        return not (self.episode_title or self.episode_description or self.audio_url)

    def content_hash(self) -> str:
        """A digest of every field, so that re-ingesting can tell changed records apart."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha1(payload.encode("utf-8")).hexdigest()

    @classmethod
    def repaired(cls, data: dict[str, Any]) -> "Episode":
        """An episode from stored values, with each value the model refuses replaced by
        "not given" (a catalog written before these checks may hold such values: reading it
        must not fail). Values that pass are kept as they are."""
        data = dict(data)
        for _ in range(len(cls.model_fields)):
            try:
                return cls.model_validate(data)
            except ValidationError as error:
                failed = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
                if not failed or failed & {"id", "source"}:
                    break
                for name in failed:
                    default = cls.model_fields[name].default
                    data[name] = default
        return cls.model_construct(**data)


def episode_text(episode: Episode, max_chars: int | None = None) -> str:
    """The text that represents an episode to an encoder or to keyword search.

    ``show title. show description. episode title. episode description``, the recipe of
    Spotify's podcast search and of the public walkthrough, skipping empty parts, cut at
    ``max_chars`` on a word boundary. Every stage that needs an episode's text calls this.

    Example:
        >>> episode_text(Episode(id="x:1", source="x", show_title="Food Talk",
        ...                      episode_title="Healthy at Christmas?"))
        'Food Talk. Healthy at Christmas?'
    """
    text = ""
    for part in (
        episode.show_title,
        episode.show_description,
        episode.episode_title,
        episode.episode_description,
    ):
        part = part.strip()
        if not part:
            continue
        if text:
            text += " " if text.endswith(_SENTENCE_END) else ". "
        text += part
    if max_chars is not None and len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        text = cut[:space] if space > max_chars // 2 else cut
    return text
