"""The ingest stage: read a source, clean every record, and merge it into the catalog.

Re-ingesting is idempotent: unchanged records are left alone, changed ones updated, new ones
added, and with ``replace`` the records a source no longer has are removed. One source is
one transaction, so an interrupted ingest leaves the previous catalog as it was.
"""

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from tqdm import tqdm

from podseek.catalog.build import BuildResult, RawEpisode, Skip, build_episode
from podseek.catalog.episode import id_problem
from podseek.catalog.sources import Source
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcripts import runs_past_the_audio
from podseek.errors import PodseekError


@dataclass
class IngestSummary:
    """What one ingest did, by count; ``skipped`` and ``notes`` are counted by reason."""

    source: str
    kind: str
    location: str
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    transcripts: int = 0  # transcripts added or changed
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        return self.added + self.updated + self.unchanged

    @property
    def per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = dict(self.skipped.most_common())
        data["notes"] = dict(self.notes.most_common())
        data["kept"] = self.kept
        data["per_second"] = round(self.per_second, 1)
        data["seconds"] = round(self.seconds, 3)
        return data


# A source name is the prefix of every id it files (ids are at most 512 bytes): a short one
# leaves room for the native id (at most 64 characters) after it.
MAX_SOURCE_BYTES = 200


def _build(raw: RawEpisode, source: str, min_detect_chars: int) -> BuildResult | Skip:
    """:func:`build_episode`, with whatever it did not foresee counted as a skip: one row
    must never stop the rest of its file."""
    try:
        return build_episode(raw, source, min_detect_chars)
    except Exception as error:  # the row is counted, the ingest goes on
        return Skip(f"unexpected error ({type(error).__name__})")


def _records(source: Source, summary: IngestSummary) -> Iterator[RawEpisode | Skip]:
    """The source's rows; a reader that fails part-way is one clear error for the file
    (the transaction rolls back: the catalog keeps what it had)."""
    try:
        yield from source.records()
    except PodseekError:
        raise
    except Exception as error:
        raise PodseekError(
            f"{source.location}: cannot read after row {summary.read:,}: "
            f"{type(error).__name__}: {error}"
        ) from error


def ingest(
    store: CatalogStore,
    source: Source,
    replace: bool = False,
    min_detect_chars: int = 20,
    progress: bool | None = None,
) -> IngestSummary:
    """Merge every record of ``source`` into ``store`` in one transaction.

    Args:
        store: the catalog to write.
        source: a reader (see :mod:`podseek.catalog.sources`).
        replace: also remove the source's records that it no longer has.
        min_detect_chars: shortest text whose language is detected when the source gives none.
        progress: show a progress bar; ``None`` shows one only on a terminal.

    Returns:
        The counts of what was read, added, updated, left unchanged, removed and skipped.
    """
    problem = id_problem(source.name)
    if problem or len(source.name.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise PodseekError(
            f"source name {source.name[:80]!r}: "
            f"{problem or f'must be at most {MAX_SOURCE_BYTES} bytes'}"
        )
    summary = IngestSummary(source.name, source.kind, source.location)
    started = time.perf_counter()
    bar = tqdm(
        total=source.total(),
        desc=f"ingest {source.name}",
        unit=" rows",
        disable=None if progress is None else not progress,
        leave=False,
    )
    with bar, store.write(source.name) as batch:
        for raw in _records(source, summary):
            summary.read += 1
            bar.update()
            built = raw if isinstance(raw, Skip) else _build(raw, source.name, min_detect_chars)
            if isinstance(built, Skip):
                summary.skipped[built.reason] += 1
                continue
            if built.episode.id in batch.seen:
                summary.skipped["duplicate id (first one kept)"] += 1
                continue
            summary.notes.update(built.notes)
            batch.upsert(built.episode)
            problem = raw.transcript_problem
            if raw.transcript is not None:
                if runs_past_the_audio(raw.transcript[1], built.episode.duration_s):
                    problem = "longer than the audio"
                else:
                    batch.set_transcript(built.episode.id, *raw.transcript)
            if problem:
                summary.notes[f"transcript left out: {problem}"] += 1
        if replace:
            if not batch.seen:
                raise PodseekError(
                    f"{source.location}: gave no records; refusing --replace, which would "
                    f"empty the source {source.name!r}"
                )
            batch.remove_unseen()
        summary.added, summary.updated = batch.added, batch.updated
        summary.unchanged, summary.removed = batch.unchanged, batch.removed
        summary.transcripts = batch.transcripts
        summary.seconds = time.perf_counter() - started
        batch.log(source.kind, source.location, summary.to_dict())
    return summary
