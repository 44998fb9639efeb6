"""A folder of transcripts with no episode records beside them (the Talk Python archive, a
radio station's exports): each file becomes an episode of the show named on the command line.

The file name gives the episode's number and title, as publishers name them:
``459-ai-coding-v2.vtt`` is episode 459, "Ai coding v2". The description is what is said,
from the start, up to the catalog's description limit, so that search finds the episode by
its words; the timed segments are stored whole with it.
"""

import re
from collections.abc import Iterator
from pathlib import Path

from podseek.catalog.build import RawEpisode, Skip
from podseek.catalog.episode import MAX_DESCRIPTION_CHARS
from podseek.catalog.transcripts import (
    Segment,
    TranscriptError,
    read_transcript,
    transcript_format,
)
from podseek.errors import PodseekError

# "459-ai-coding-v2", "0042_my_episode", "episode-7": an optional number, then the slug.
_NUMBERED = re.compile(r"^(?:(\d+)[-_ .]+)?(.*)$")


def _native_id(stem: str) -> str:
    """The episode's number when the name starts with one, else the name."""
    return _NUMBERED.match(stem).group(1) or stem  # type: ignore[union-attr]


def episode_title(stem: str) -> str:
    """The title a file name gives: its slug with spaces, first letter capitalised."""
    slug = _NUMBERED.match(stem).group(2) or stem  # type: ignore[union-attr]
    words = " ".join(re.split(r"[-_ .]+", slug)).strip()
    return words[:1].upper() + words[1:]


def spoken_text(segments: list[Segment], limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """What is said, from the start, cut at a word before ``limit`` characters."""
    text = " ".join(segment.text for segment in segments)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0]


class TranscriptFolderSource:
    """One episode per transcript file of a folder (not its subfolders)."""

    kind = "transcripts"

    def __init__(
        self, folder: Path, show: str, language: str | None = None, name: str | None = None
    ) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise PodseekError(f"{folder}: no such folder of transcripts")
        if not show.strip():
            raise PodseekError("--show must name the show the transcripts belong to")
        # by episode; of two files of one episode (a number, or a name in several forms) the
        # one first here is kept: a name with a title before a bare number ("551.vtt"), then
        # the shortest (Talk Python's "-no-names" copies lose to the one naming speakers)
        self.files = sorted(
            (p for p in folder.iterdir() if p.is_file()),
            key=lambda p: (_native_id(p.stem), p.stem.isdigit(), len(p.name), p.name),
        )
        if not any(transcript_format(p.name) for p in self.files):
            raise PodseekError(f"{folder}: no transcript files (.srt, .vtt, .json, .html)")
        self.show = show.strip()
        self.language = language
        slug = re.sub(r"[^a-z0-9]+", "-", self.show.lower()).strip("-") or "show"
        self.name = name or f"transcripts:{slug}"
        self.location = str(folder.resolve())

    def total(self) -> int | None:
        return len(self.files)

    def records(self) -> Iterator[RawEpisode | Skip]:
        for path in self.files:
            form = transcript_format(path.name)
            if form is None:
                yield Skip("not a transcript file (.srt, .vtt, .json, .html)")
                continue
            try:
                segments = read_transcript(path)
            except TranscriptError as error:
                yield Skip(f"transcript not readable: {error}")
                continue
            yield RawEpisode(
                native_id=_native_id(path.stem),
                show_title=self.show,
                episode_title=episode_title(path.stem),
                episode_description=spoken_text(segments),
                language=self.language,
                transcript=(form, segments),
                episode_required=True,
            )
