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


def read_delimited(path: Path, delimiter: str) -> Iterator[Row | Skip]:
    """Rows of a CSV/TSV file with a header row; quoted fields may span lines."""
    columns = delimited_columns(path, delimiter)
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            next(reader, None)
            for fields in reader:
                if not fields or fields == [""]:
                    continue
                if len(fields) != len(columns):
                    yield Skip("malformed row (wrong number of fields)")
                elif _has_bad_bytes(fields):
                    yield Skip("bytes that are not UTF-8")
                else:
                    yield dict(zip(columns, fields, strict=True))
        except (csv.Error, OSError, EOFError) as error:
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
                except json.JSONDecodeError:
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
        except (json.JSONDecodeError, UnicodeError, OSError, EOFError) as error:
            raise PodseekError(f"{path}: not a JSON file: {error}") from error
    if not isinstance(data, list):
        raise PodseekError(f"{path}: expected a JSON array of objects")
    for row in data:
        yield row if isinstance(row, dict) else Skip("malformed row (not a JSON object)")


def read_parquet(path: Path) -> Iterator[Row | Skip]:
    """Rows of a Parquet file, read in batches."""
    yield from (row for batch in _parquet_batches(path) for row in batch)


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq  # pyarrow is heavy; only Parquet readers need it

    try:
        return pq.ParquetFile(check_file(path))
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise PodseekError(f"{path}: not a Parquet file: {error}") from error


def _parquet_batches(path: Path) -> Iterator[list[Row]]:
    for batch in _parquet_file(path).iter_batches(batch_size=4096):
        yield batch.to_pylist()


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
