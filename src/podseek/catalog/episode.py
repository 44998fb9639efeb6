"""The one ``Episode`` model, and the one recipe that turns it into the text we encode."""

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# The reference recipe joins the four fields with ". "; a field that already ends a sentence
# is joined with a space so that we never write "Why?. Because".
_SENTENCE_END = (".", "!", "?", "…", ":", ";")
# Recorded with every index: an index built from another recipe must be rebuilt.
TEXT_RECIPE = "show_title. show_description. episode_title. episode_description (v1)"


class Episode(BaseModel):
    """One episode (or one show, for show-level sources) in the catalog.

    Text fields are clean plain text (see :mod:`podseek.catalog.cleaning`); empty strings mean
    "not given". A show-level record has empty episode fields.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id: '<source>:<native id>'.")
    source: str = Field(description="Name of the source this record was ingested from.")
    show_id: str = ""
    show_title: str = ""
    show_description: str = ""
    episode_title: str = ""
    episode_description: str = ""
    language: str = Field("", description="ISO 639-1 code, or '' when unknown.")
    categories: tuple[str, ...] = ()
    published_at: datetime | None = Field(None, description="Publication time in UTC.")
    duration_s: int | None = Field(None, description="Length of the audio in seconds.")
    audio_url: str = ""
    episode_url: str = ""
    image_url: str = ""

    @property
    def is_show_level(self) -> bool:
        """True for a record that describes a show with no particular episode."""
        return not (self.episode_title or self.episode_description or self.audio_url)

    def content_hash(self) -> str:
        """A digest of every field, so that re-ingesting can tell changed records apart."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha1(payload.encode("utf-8")).hexdigest()


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
