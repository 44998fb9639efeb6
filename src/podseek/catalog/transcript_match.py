"""Transcript files for episodes already in the catalog: a show ingested from its feed, whose
transcripts came as a folder (an export of the publisher's captions, a transcription service's
output). Each file is matched to one episode by a rule and stored as its transcript; the
episode's record is left as the feed gave it.

A rule says what a file's name is to be compared with:

- ``id``: the episode's id, or its id in its source (a feed's guid);
- ``audio``: the name of the episode's audio file, without its suffix
  (``.../ep-42.mp3`` and ``ep-42.srt``);
- ``title``: the episode's title, compared as words (``459-ai-coding-v2.vtt`` and
  "AI coding v2": a leading number is dropped);
- ``KIND=REGEX``: one of the three, compared by what the pattern finds in both (its first
  group, or the whole match): ``audio=themnshow\\d+`` matches
  ``themnshow054-20240914-DRAFT-transcript.srt`` to ``themnshow054-20240914-FINAL.mp3``;
- a table (``.csv`` or ``.tsv`` with ``file`` and ``episode`` columns): ``episode`` holds the
  episode's id, its id in its source, its audio URL or its page URL.

Names are compared case-folded, accents and punctuation aside. A file that matches no episode,
or more than one, is a counted skip with its reason, as is a transcript that runs past the
episode's stated duration (the wrong file, most likely). Every file is matched before one is
stored, in one transaction: an interrupted run stores nothing.
"""

import csv
import re
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from podseek.catalog.episode import Episode
from podseek.catalog.sources.transcripts import episode_title
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcripts import (
    TOO_LONG,
    TranscriptError,
    read_transcript,
    runs_past_the_audio,
    transcript_format,
)
from podseek.errors import PodseekError

KINDS = ("id", "audio", "title")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
LOG_SOURCE = "transcript-files"  # how the catalog's ingest log names these runs
_WORDS = re.compile(r"[\W_]+")


def name_key(text: str) -> str:
    """``text`` as names are compared: case-folded, accents dropped, punctuation as spaces.

    Example:
        >>> name_key("Épisode_42 — Ça va?")
        'episode 42 ca va'
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_WORDS.sub(" ", plain).split())


def audio_stem(url: str) -> str:
    """The audio file's name without its suffix: ``https://h/a/ep-42.mp3?x=1`` -> ``ep-42``."""
    return PurePosixPath(unquote(urlparse(url).path)).stem


def native_id(episode: Episode) -> str:
    """The episode's id in its source (a feed's guid): its podseek id less ``<source>:``."""
    return episode.id.removeprefix(f"{episode.source}:")


def read_map_table(path: Path) -> dict[str, str]:
    """``{file name: episode}`` from a CSV or TSV table with ``file`` and ``episode`` columns."""
    delimiter = TABLE_SUFFIXES.get(path.suffix.lower())
    if delimiter is None:
        raise PodseekError(f"--map {path}: a table must be .csv or .tsv")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PodseekError(f"--map {path}: cannot read it: {error}") from error
    if not rows or not {"file", "episode"} <= set(rows[0]):
        raise PodseekError(f"--map {path}: needs a header with 'file' and 'episode' columns")
    table: dict[str, str] = {}
    for row in rows:
        name, episode = (row.get("file") or "").strip(), (row.get("episode") or "").strip()
        if name and episode:
            table.setdefault(Path(name).name, episode)
    return table


@dataclass(frozen=True)
class MatchRule:
    """What a transcript file's name is compared with (see the module's docstring)."""

    kind: str  # one of KINDS, or "table"
    pattern: re.Pattern[str] | None = None
    table: dict[str, str] | None = None
    text: str = ""  # the rule as given, for messages

    @classmethod
    def parse(cls, text: str) -> "MatchRule":
        """The rule ``--map`` names: ``id``, ``audio``, ``title``, ``KIND=REGEX`` or a table."""
        kind, _, pattern = text.partition("=")
        if kind in KINDS:
            if not _:
                return cls(kind, text=text)
            try:
                compiled = re.compile(pattern, re.IGNORECASE)
            except re.error as error:
                raise PodseekError(f"--map {text}: not a regular expression: {error}") from None
            if not pattern:
                raise PodseekError(f"--map {text}: give a pattern after '='")
            return cls(kind, compiled, text=text)
        path = Path(text)
        if path.suffix.lower() in TABLE_SUFFIXES:
            if not path.is_file():
                raise PodseekError(f"--map {text}: no such table")
            return cls("table", table=read_map_table(path), text=text)
        raise PodseekError(
            f"--map {text}: give id, audio, title, KIND=REGEX (KIND one of those) "
            "or a .csv/.tsv table with file and episode columns"
        )

    def _found(self, text: str) -> str | None:
        """What the pattern finds in ``text`` (all of it without a pattern), as a key."""
        if self.pattern is None:
            return name_key(text) or None
        found = self.pattern.search(text)
        if found is None:
            return None
        return name_key(found.group(1) if self.pattern.groups else found.group(0)) or None

    def file_key(self, path: Path) -> str | None:
        """The key a transcript file stands for; ``None`` when its name does not fit."""
        if self.table is not None:
            episode = self.table.get(path.name)
            return name_key(episode) if episode else None
        if self.kind == "title" and self.pattern is None:
            return name_key(episode_title(path.stem)) or None
        return self._found(path.stem)

    def episode_keys(self, episode: Episode) -> set[str]:
        """The keys an episode answers to."""
        if self.table is not None:
            values = [episode.id, native_id(episode), episode.audio_url, episode.episode_url]
            return {name_key(value) for value in values if value}
        if self.kind == "id":
            values = [episode.id, native_id(episode)]
        elif self.kind == "audio":
            values = [audio_stem(episode.audio_url)] if episode.audio_url else []
        else:
            values = [episode.episode_title]
        keys = (self._found(value) for value in values)
        return {key for key in keys if key}

    def describe(self) -> str:
        return "by table" if self.table is not None else f"by {self.kind}"


@dataclass
class MatchSummary:
    """What one run did, by count; ``skipped`` counts the files left out, by reason."""

    location: str
    rule: str
    read: int = 0
    attached: int = 0  # transcripts added or changed
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = dict(self.skipped.most_common())
        data["seconds"] = round(self.seconds, 3)
        return data


def _episodes(store: CatalogStore, show: str | None) -> Iterator[Episode]:
    """The catalog's episodes, or those of one show (by title, case aside, or by id)."""
    wanted = show.strip() if show else None
    found = False
    for episode in store.iter_episodes():
        if (
            wanted is None
            or wanted.casefold() == episode.show_title.casefold()
            or wanted == episode.show_id
        ):
            found = True
            yield episode
    if wanted is not None and not found:
        raise PodseekError(f"--show {show}: no show of that title or id in the catalog")


def attach_transcripts(
    store: CatalogStore,
    folder: Path,
    rule: MatchRule,
    show: str | None = None,
    progress: bool | None = None,
) -> MatchSummary:
    """Store each transcript file of ``folder`` (not its subfolders) as the transcript of the
    catalog episode that ``rule`` matches it to (among ``show``'s, when given)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PodseekError(f"{folder}: no such folder of transcripts")
    started = time.perf_counter()
    summary = MatchSummary(str(folder.resolve()), rule.text)
    by_key: dict[str, set[str]] = defaultdict(set)
    durations: dict[str, int | None] = {}
    for episode in _episodes(store, show):
        for key in rule.episode_keys(episode):
            by_key[key].add(episode.id)
        durations[episode.id] = episode.duration_s
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not any(transcript_format(p.name) for p in files):
        raise PodseekError(f"{folder}: no transcript files (.srt, .vtt, .json, .html)")
    how = rule.describe()
    taken: set[str] = set()
    bar = tqdm(
        files,
        desc="match transcripts",
        unit=" files",
        leave=False,
        disable=None if progress is None else not progress,
    )
    with bar, store.write(LOG_SOURCE) as batch:
        for path in bar:
            summary.read += 1
            form = transcript_format(path.name)
            if form is None:
                summary.skipped["not a transcript file (.srt, .vtt, .json, .html)"] += 1
                continue
            key = rule.file_key(path)
            matches = by_key.get(key, set()) if key else set()
            if key is None:
                summary.skipped[f"its name does not fit the rule ({how})"] += 1
            elif not matches:
                summary.skipped[f"no episode matches its name ({how})"] += 1
            elif len(matches) > 1:
                summary.skipped[f"its name matches several episodes ({how})"] += 1
            elif (episode_id := next(iter(matches))) in taken:
                summary.skipped["another file matched its episode (the first is kept)"] += 1
            else:
                try:
                    segments = read_transcript(path)
                except TranscriptError as error:
                    summary.skipped[f"transcript not readable: {error}"] += 1
                    continue
                if runs_past_the_audio(segments, durations[episode_id]):
                    summary.skipped[TOO_LONG] += 1
                    continue
                taken.add(episode_id)
                if batch.set_transcript(episode_id, form, segments):
                    summary.attached += 1
                else:
                    summary.unchanged += 1
        summary.seconds = time.perf_counter() - started
        batch.log("transcript-files", summary.location, summary.to_dict())
    return summary
