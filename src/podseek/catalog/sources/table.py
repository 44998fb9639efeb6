"""Any table of episodes or shows (CSV, TSV, JSON Lines, JSON, Parquet) with a column mapping.

A mapping says which column holds which :class:`RawEpisode` field, and which fields take a
fixed value. It comes from ``--map``/``--set`` options or from a TOML file; podseek ships
mappings for the datasets it was built on (``podseek ingest table FILE --mapping taddy``).

Mapping file format::

    source = "taddy"                  # the source name records are filed under
    format = "parquet"                # optional: csv, tsv, jsonl, json, parquet
    categories_separator = " | "      # optional: how a categories column is split

    [columns]                         # field = column; "a|b" takes the first non-empty
    id = "uuid"
    episode_title = "name"

    [values]                          # field = fixed value for every row
    language = "en"
"""

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from podseek.catalog.build import RawEpisode, Skip
from podseek.catalog.sources.rows import (
    FORMATS,
    check_file,
    delimited_columns,
    infer_format,
    parquet_columns,
    read_rows,
)
from podseek.errors import PodseekError

FIELDS = (
    "id",
    "show_id",
    "show_title",
    "show_description",
    "episode_title",
    "episode_description",
    "language",
    "categories",
    "published_at",
    "duration",
    "audio_url",
    "episode_url",
    "image_url",
)
ALIASES = {
    "title": "episode_title",
    "description": "episode_description",
    "show": "show_title",
    "date": "published_at",
    "pub_date": "published_at",
    "duration_s": "duration",
    "audio": "audio_url",
    "url": "episode_url",
    "image": "image_url",
    "lang": "language",
}
TEXT_FIELDS = ("show_title", "show_description", "episode_title", "episode_description")
EPISODE_FIELDS = ("episode_title", "episode_description", "audio_url")


def canonical_field(name: str) -> str:
    """The mapping field a user's name means, or a :class:`PodseekError` listing the fields."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in FIELDS:
        raise PodseekError(f"unknown field {name!r} in the mapping; fields are {', '.join(FIELDS)}")
    return key


@dataclass
class TableMapping:
    """Which column (or fixed value) fills each episode field."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    format: str | None = None
    categories_separator: str = ","

    @classmethod
    def from_pairs(
        cls, columns: Mapping[str, str], values: Mapping[str, str] | None = None, **options: Any
    ) -> "TableMapping":
        mapping = cls(**options)
        mapping.update(columns, values or {})
        return mapping

    def update(self, columns: Mapping[str, str], values: Mapping[str, str]) -> None:
        """Add ``field -> column`` and ``field -> value`` entries, replacing earlier ones."""
        for name, column in columns.items():
            key = canonical_field(name)
            self.values.pop(key, None)
            self.columns[key] = [c.strip() for c in str(column).split("|") if c.strip()]
        for name, value in values.items():
            key = canonical_field(name)
            self.columns.pop(key, None)
            self.values[key] = str(value)

    @classmethod
    def load(cls, name_or_path: str) -> "TableMapping":
        """A mapping from a TOML file, or one of the mappings shipped with podseek by name."""
        path = Path(name_or_path)
        if path.suffix != ".toml" and not path.exists():
            shipped = resources.files("podseek.catalog") / "mappings" / f"{name_or_path}.toml"
            if not shipped.is_file():
                raise PodseekError(
                    f"no mapping named {name_or_path!r}; shipped ones are "
                    f"{', '.join(shipped_mappings())}, or give a .toml path"
                )
            text = shipped.read_text(encoding="utf-8")
        else:
            try:
                text = check_file(path).read_text(encoding="utf-8")
            except (OSError, UnicodeError) as error:
                raise PodseekError(f"{path}: cannot read: {error}") from error
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise PodseekError(f"{name_or_path}: not a valid mapping file: {error}") from error
        unknown = set(data) - {"source", "format", "categories_separator", "columns", "values"}
        if unknown:
            raise PodseekError(f"{name_or_path}: unknown key(s) {', '.join(sorted(unknown))}")
        return cls.from_pairs(
            data.get("columns", {}),
            data.get("values", {}),
            source=data.get("source"),
            format=data.get("format"),
            categories_separator=data.get("categories_separator", ","),
        )

    def check(self, available: list[str], location: str) -> None:
        """Refuse a mapping that names a missing column or fills no text field."""
        if not any(f in self.columns or f in self.values for f in TEXT_FIELDS):
            raise PodseekError(
                f"the mapping fills no text field; map at least one of {', '.join(TEXT_FIELDS)}"
            )
        for key, columns in self.columns.items():
            missing = [c for c in columns if c not in available]
            if missing:
                raise PodseekError(
                    f"{location}: no column {missing[0]!r} (mapped to {key}); "
                    f"its columns are {', '.join(available)}"
                )

    def raw_episode(self, row: Mapping[str, Any]) -> RawEpisode:
        values: dict[str, Any] = dict(self.values)
        for key, columns in self.columns.items():
            values[key] = next((row[c] for c in columns if row.get(c) not in (None, "")), None)
        categories = values.pop("categories", None)
        if isinstance(categories, str):
            categories = categories.split(self.categories_separator)
        return RawEpisode(
            native_id=values.pop("id", None),
            categories=categories,  # any kind: build_episode keeps what is text
            episode_required=self.describes_episodes,
            **values,
        )

    @property
    def describes_episodes(self) -> bool:
        """A table that maps an episode field holds episodes, and a row with none of them
        filled is an empty episode; a table of shows maps none, and its rows are shows."""
        return any(f in self.columns or f in self.values for f in EPISODE_FIELDS)


def shipped_mappings() -> list[str]:
    folder = resources.files("podseek.catalog") / "mappings"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


class TableSource:
    """The rows of one table file, mapped to episodes (or to shows)."""

    kind = "table"

    def __init__(
        self,
        path: Path,
        mapping: TableMapping,
        fmt: str | None = None,
        name: str | None = None,
    ) -> None:
        self.path = check_file(Path(path))
        self.format = fmt or mapping.format or infer_format(self.path)
        if self.format not in FORMATS:
            raise PodseekError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        self.mapping = mapping
        self.name = name or mapping.source or f"table:{self.path.stem.split('.')[0]}"
        self.location = str(self.path.resolve())
        self._rows: int | None = None
        if self.format in ("csv", "tsv"):
            columns = delimited_columns(self.path, "," if self.format == "csv" else "\t")
        elif self.format == "parquet":
            columns, self._rows = parquet_columns(self.path)
        else:
            columns = None  # JSON rows may differ; a missing key reads as empty
        if columns is not None:
            mapping.check(columns, str(self.path))
        else:
            mapping.check(list({c for cs in mapping.columns.values() for c in cs}), str(self.path))

    def total(self) -> int | None:
        return self._rows

    def records(self) -> Iterator[RawEpisode | Skip]:
        for row in read_rows(self.path, self.format):
            yield row if isinstance(row, Skip) else self.mapping.raw_episode(row)
