"""Listen Notes: the Kaggle "All podcast episodes published in December 2017" dataset.

A folder with ``podcasts.csv`` (id, title, image, description, language, categories
" | "-separated, website, author, itunes_id) and ``episodes.csv`` (id, podcast_id, title,
audio, audio_length, description as HTML, pub_date), joined on ``podcast_id``: the format of
the public walkthrough that podseek reproduces.
"""

from collections.abc import Iterator
from pathlib import Path

from podseek.catalog.build import RawEpisode, Skip
from podseek.catalog.sources.rows import delimited_columns, read_delimited
from podseek.errors import PodseekError

PODCAST_COLUMNS = ("id", "title", "description", "language", "categories", "image")
EPISODE_COLUMNS = ("id", "podcast_id", "title", "audio", "audio_length", "description", "pub_date")


class ListenNotesSource:
    """Episodes of a Listen Notes folder, each joined with its podcast."""

    kind = "listennotes"

    def __init__(self, folder: Path, name: str = "listennotes") -> None:
        folder = Path(folder)
        if folder.is_file():  # accept a path to either CSV
            folder = folder.parent
        if not folder.is_dir():
            raise PodseekError(
                f"{folder}: no such folder; expected podcasts.csv and episodes.csv from Kaggle's "
                '"All podcast episodes published in December 2017" (Listen Notes) dataset'
            )
        self.podcasts_csv = folder / "podcasts.csv"
        self.episodes_csv = folder / "episodes.csv"
        for path, required in (
            (self.podcasts_csv, PODCAST_COLUMNS),
            (self.episodes_csv, EPISODE_COLUMNS),
        ):
            if not path.is_file():
                raise PodseekError(f"{path}: missing; a Listen Notes folder has {path.name}")
            columns = delimited_columns(path, ",")
            missing = [c for c in required if c not in columns]
            if missing:
                raise PodseekError(f"{path}: missing column(s) {', '.join(missing)}")
        self.name = name
        self.location = str(folder.resolve())

    def total(self) -> int | None:
        return None

    def records(self) -> Iterator[RawEpisode | Skip]:
        podcasts = {
            row["id"].strip(): row
            for row in read_delimited(self.podcasts_csv, ",")
            if not isinstance(row, Skip)
        }
        for row in read_delimited(self.episodes_csv, ","):
            if isinstance(row, Skip):
                yield row
                continue
            podcast = podcasts.get(row["podcast_id"].strip())
            if podcast is None:
                yield Skip("unknown show (podcast_id not in podcasts.csv)")
                continue
            yield RawEpisode(
                native_id=row["id"].strip(),
                show_id=podcast["id"].strip(),
                show_title=podcast["title"],
                show_description=podcast["description"],
                episode_title=row["title"],
                episode_description=row["description"],
                language=podcast["language"],
                categories=podcast["categories"].split("|"),
                published_at=row["pub_date"],
                duration=row["audio_length"],
                audio_url=row["audio"],
                image_url=podcast["image"],
                episode_required=True,
            )
