"""Row readers for delimited text, JSON Lines and Parquet: dicts, or a reason to skip a row.

A problem with one row (wrong number of fields, bytes that are not UTF-8, a line that is not
JSON) skips that row; a problem with the whole file (missing, not the format it claims) is a
:class:`PodseekError`.
"""

import csv
import gzip
import io
import json
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from podseek.catalog.build import Skip
from podseek.errors import PodseekError

Row = dict[str, Any]
FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}

csv.field_size_limit(sys.maxsize)  # show notes can be long; the default limit is 128 KiB


def infer_format(path: Path) -> str:
    """The table format from the file name (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet``,
    optionally ``.gz``), or a :class:`PodseekError` that asks for ``--format``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise PodseekError(
        f"cannot tell the format of {path} from its name; pass --format ({', '.join(FORMATS)})"
    )


def check_file(path: Path) -> Path:
    if not path.exists():
        raise PodseekError(f"{path}: no such file")
    if not path.is_file():
        raise PodseekError(f"{path}: not a file")
    return path


def _open_text(path: Path) -> IO[str]:
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row can be
    # skipped while the rest of the file is read.
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(
            gzip.open(path), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _has_bad_bytes(values: Any) -> bool:
    for value in values:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def delimited_columns(path: Path, delimiter: str) -> list[str]:
    """The header row of a CSV/TSV file."""
    with _open_text(check_file(path)) as handle:
        try:
            header = next(csv.reader(handle, delimiter=delimiter), [])
        except (csv.Error, OSError, EOFError) as error:
            raise PodseekError(f"{path}: cannot read as {_name(delimiter)}: {error}") from error
    if _has_bad_bytes(header):
        raise PodseekError(f"{path}: the header row is not UTF-8 text")
    return [column.strip() for column in header]


class _Lines:
    """The lines of a text file, with the ones read since :meth:`mark` kept, so that a
    record that turns out malformed can be given back but for its first line."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._back: deque[str] = deque()
        self._since: list[str] = []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = self._back.popleft() if self._back else next(self._handle)
        self._since.append(line)
        return line

    def mark(self) -> None:
        self._since = []

    def give_back_all_but_first(self) -> None:
        self._back.extendleft(reversed(self._since[1:]))
        self._since = []


def read_delimited(path: Path, delimiter: str) -> Iterator[Row | Skip]:
    """Rows of a CSV/TSV file with a header row; quoted fields may span lines.

    A quote that is never closed, or text right after a closing quote, makes the record it
    starts malformed: that record is skipped and counted, and reading starts again on the
    line after its first one, so the good rows that an unclosed quote would have swallowed
    into one long field are read as rows.
    """
    columns = delimited_columns(path, delimiter)
    with _open_text(path) as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            next(reader, None)
            while True:
                lines.mark()
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    yield Skip("malformed row (unclosed quote or text after a quote)")
                    lines.give_back_all_but_first()
                    reader = csv.reader(lines, delimiter=delimiter, strict=True)
                    continue
                if not fields or fields == [""]:
                    continue
                if len(fields) != len(columns):
                    yield Skip("malformed row (wrong number of fields)")
                elif _has_bad_bytes(fields):
                    yield Skip("bytes that are not UTF-8")
                else:
                    yield dict(zip(columns, fields, strict=True))
        except (OSError, EOFError) as error:
            raise PodseekError(
                f"{path}: cannot read as {_name(delimiter)} after line {reader.line_num}: {error}"
            ) from error


def read_jsonl(path: Path) -> Iterator[Row | Skip]:
    """Objects of a JSON Lines file, one per line."""
    with _open_text(check_file(path)) as handle:
        try:
            for line in handle:
                if not line.strip():
                    continue
                if _has_bad_bytes([line]):
                    yield Skip("bytes that are not UTF-8")
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError):  # also numbers of 4,300+ digits
                    yield Skip("malformed row (not JSON)")
                    continue
                yield row if isinstance(row, dict) else Skip("malformed row (not a JSON object)")
        except (OSError, EOFError) as error:
            raise PodseekError(f"{path}: cannot read: {error}") from error


def read_json(path: Path) -> Iterator[Row | Skip]:
    """Objects of a JSON file holding one array of objects."""
    with _open_text(check_file(path)) as handle:
        try:
            data = json.load(handle)
        except (ValueError, RecursionError, OSError, EOFError) as error:
            raise PodseekError(f"{path}: not a JSON file: {error}") from error
    if not isinstance(data, list):
        raise PodseekError(f"{path}: expected a JSON array of objects")
    for row in data:
        yield row if isinstance(row, dict) else Skip("malformed row (not a JSON object)")


def read_parquet(path: Path) -> Iterator[Row | Skip]:
    """Rows of a Parquet file, read in batches.

    A row group that cannot be read (a corrupt page, a bad compression block) is skipped,
    each of its unread rows counted; a value Python cannot hold (a timestamp past year 9999)
    skips its row only.
    """
    parquet = _parquet_file(path)
    for group in range(parquet.metadata.num_row_groups):
        expected = parquet.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=4096, row_groups=[group]):
                rows = _batch_rows(batch)
                done += len(rows)
                yield from rows
        except (OSError, ValueError, ArithmeticError, MemoryError):  # ArrowInvalid, ...
            for _ in range(max(expected - done, 0)):
                yield Skip("unreadable Parquet data (corrupt page or row group)")


def _batch_rows(batch: Any) -> list[Row | Skip]:
    try:
        return batch.to_pylist()
    except (ValueError, OverflowError, ArithmeticError):
        rows: list[Row | Skip] = []
        for number in range(batch.num_rows):
            try:
                rows.append(batch.slice(number, 1).to_pylist()[0])
            except (ValueError, OverflowError, ArithmeticError):
                rows.append(Skip("value out of range (a date or number Python cannot hold)"))
        return rows


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq  # pyarrow is heavy; only Parquet readers need it

    try:
        return pq.ParquetFile(check_file(path))
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise PodseekError(f"{path}: not a Parquet file: {error}") from error


def parquet_columns(path: Path) -> tuple[list[str], int]:
    """Column names and row count of a Parquet file."""
    parquet = _parquet_file(path)
    return list(parquet.schema_arrow.names), parquet.metadata.num_rows


def read_rows(path: Path, fmt: str) -> Iterator[Row | Skip]:
    """Rows of ``path`` read as ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "csv":
        return read_delimited(path, ",")
    if fmt == "tsv":
        return read_delimited(path, "\t")
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "json":
        return read_json(path)
    if fmt == "parquet":
        return read_parquet(path)
    raise PodseekError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _name(delimiter: str) -> str:
    return "TSV" if delimiter == "\t" else "CSV"
