"""Locating raw CRM tables and reading their columns in the contract's logical types.

A table ``<name>`` lives in the raw folder as ``<name>.parquet``, ``<name>.csv`` or a folder
``<name>/`` of ``*.parquet`` part files (how large exports and the synthetic generator write it).
Columns are read one at a time and converted per file, so a 50M-row table never has to sit in
memory whole and part files may store a column with different physical types (int ids in one part,
text in another). Conversion never guesses: a value that cannot be read in its logical type becomes
null and is reported by position, so validation can name the rows and readers can refuse them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from crm.contract import LogicalType, TableSpec, table_spec

ARROW_TYPES: dict[LogicalType, pa.DataType] = {
    LogicalType.ID: pa.string(),
    LogicalType.STRING: pa.string(),
    LogicalType.FLOAT: pa.float64(),
    LogicalType.INTEGER: pa.int64(),
    LogicalType.DATE: pa.timestamp("us"),
    LogicalType.TIMESTAMP: pa.timestamp("us"),
}
"""How each logical type is held in memory; dates are midnight timestamps, comparable with both."""

EXPECTED_FORMS: dict[LogicalType, str] = {
    LogicalType.ID: "text or a whole number",
    LogicalType.STRING: "text",
    LogicalType.FLOAT: "a number",
    LogicalType.INTEGER: "a whole number",
    LogicalType.DATE: "an ISO 8601 date (YYYY-MM-DD; a time is dropped, a UTC offset refused)",
    LogicalType.TIMESTAMP: "an ISO 8601 timestamp (YYYY-MM-DD[ HH:MM[:SS]], UTC)",
}


class TableReadError(ValueError):
    """A raw table is missing, ambiguous or unreadable; ``str()`` names the table and the file."""

    def __init__(self, table: str, column: str | None, detail: str) -> None:
        self.table = table
        self.column = column
        self.detail = detail
        where = table if column is None else f"{table}.{column}"
        super().__init__(f"{where}: {detail}")


class ColumnTypeError(TableReadError):
    """A column's stored physical type cannot hold its logical type (e.g. bool amounts).

    ``positions``: the table's rows (0-based, across part files) stored in that type, so a
    report can count them and show them rather than rows of a part that is fine.
    """

    def __init__(self, table: str, column: str, detail: str, positions: np.ndarray) -> None:
        super().__init__(table, column, detail)
        self.positions = positions


class _IncompatibleTypeError(Exception):
    """Internal: the stored physical type (the message) cannot hold the logical type."""


class TableFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    PARQUET_PARTS = "parquet parts"


@dataclass(frozen=True)
class TableSource:
    """Where one table was found: its form and its file(s), part files in name order."""

    name: str
    format: TableFormat
    files: tuple[Path, ...]


@dataclass(frozen=True)
class ParsedColumn:
    """A column in its logical arrow type, plus the positions of values that could not be read."""

    values: pa.ChunkedArray
    unparsable: np.ndarray


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it: short, copy-pasteable messages."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def expected_locations(raw_dir: Path, name: str) -> str:
    """The three accepted forms of table ``name``, for 'not found' messages."""
    return (
        f"{display_path(raw_dir / f'{name}.parquet')}, {display_path(raw_dir / f'{name}.csv')} "
        f"or {display_path(raw_dir / name)}/*.parquet"
    )


def _part_files(folder: Path) -> tuple[Path, ...]:
    """Parquet parts directly in ``folder``; Spark markers (``_SUCCESS``, ``.crc``) are skipped."""
    return tuple(
        sorted(
            path
            for path in folder.glob("*.parquet")
            if path.is_file() and not path.name.startswith(("_", "."))
        )
    )


def find_table(raw_dir: Path, name: str) -> TableSource | None:
    """Locate table ``name`` in ``raw_dir``; ``None`` when absent.

    Raises :class:`TableReadError` when more than one form is present (which one is current would
    be a guess) or when the folder form holds no part files.
    """
    parquet_file, csv_file = raw_dir / f"{name}.parquet", raw_dir / f"{name}.csv"
    folder = raw_dir / name
    present = [path for path in (parquet_file, csv_file) if path.is_file()]
    if folder.is_dir():
        present.append(folder)
    if len(present) > 1:
        forms = ", ".join(display_path(path) + ("/" if path == folder else "") for path in present)
        raise TableReadError(
            name, None, f"ambiguous: the table is present in more than one form ({forms}); keep one"
        )
    if not present:
        return None
    if present[0] == parquet_file:
        return TableSource(name, TableFormat.PARQUET, (parquet_file,))
    if present[0] == csv_file:
        return TableSource(name, TableFormat.CSV, (csv_file,))
    parts = _part_files(folder)
    if not parts:
        raise TableReadError(
            name, None, f"folder {display_path(folder)}/ holds no *.parquet part files"
        )
    return TableSource(name, TableFormat.PARQUET_PARTS, parts)


def _empty_file_error(spec: TableSpec, path: Path) -> TableReadError:
    what = "a header with columns" if path.suffix == ".csv" else "a Parquet file with columns"
    columns = ", ".join(spec.required_names)
    return TableReadError(
        spec.name, None, f"table file {display_path(path)} is empty (expected {what} {columns})"
    )


_OTHER_DELIMITERS = (";", "\t", "|")
"""Separators of spreadsheet exports (a semicolon where the decimal mark is a comma)."""


def _repeated(names: list[str]) -> list[str]:
    """Column names given twice: readers would silently keep one copy and drop the other."""
    return sorted({name for name in names if names.count(name) > 1})


def _read_csv(path: Path, spec: TableSpec, columns: list[str] | None) -> pa.Table:
    """Read a CSV with every contract column as text (ids keep leading zeros; parsing is ours).

    Other columns get pyarrow's type inference. Only an empty field is null.
    """
    if path.stat().st_size == 0:
        raise _empty_file_error(spec, path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error) as error:
        raise _unreadable(spec.name, path, error) from None
    if not any(name.strip() for name in header):
        raise _empty_file_error(spec, path)
    if any(not name.strip() for name in header):
        raise TableReadError(
            spec.name,
            None,
            f"{display_path(path)} has {sum(not name.strip() for name in header)} header "
            "column(s) without a name (a spreadsheet's trailing commas, or a row index written "
            "with the data?); remove or name them",
        )
    repeated = _repeated(header)
    if repeated:
        raise TableReadError(
            spec.name, None, f"{display_path(path)} repeats header column(s) {', '.join(repeated)}"
        )
    other = next((mark for mark in _OTHER_DELIMITERS if mark in header[0]), None)
    if len(header) == 1 and other is not None:  # every contract table has two columns at least
        raise TableReadError(
            spec.name,
            None,
            f"{display_path(path)} has one header column {header[0][:80]!r}: it looks separated "
            f"by {other!r}; the contract's CSV files are comma-separated",
        )
    wanted = header if columns is None else [name for name in header if name in columns]
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header if name in spec.names},
                include_columns=wanted,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise _unreadable(spec.name, path, error) from None


def _unreadable(
    table: str, path: Path, error: Exception, column: str | None = None
) -> TableReadError:
    return TableReadError(table, column, f"cannot read {display_path(path)}: {error}")


class TableReader:
    """Reads one located table column by column.

    Parquet columns are read on demand (only metadata at construction); a CSV is parsed once,
    restricted to ``columns`` when given.
    """

    def __init__(self, source: TableSource, columns: list[str] | None = None) -> None:
        self.source = source
        self.spec = table_spec(source.name)
        self._csv: pa.Table | None = None
        if source.format is TableFormat.CSV:
            self._csv = _read_csv(source.files[0], self.spec, columns)
            self._schemas = [self._csv.schema]
            row_counts = [self._csv.num_rows]
        else:
            metadata = [self._metadata(path) for path in source.files]
            self._schemas = [meta.schema.to_arrow_schema() for meta in metadata]
            for path, schema in zip(source.files, self._schemas, strict=True):
                repeated = _repeated(schema.names)
                if repeated:
                    raise TableReadError(
                        self.spec.name,
                        None,
                        f"{display_path(path)} repeats column(s) {', '.join(repeated)}",
                    )
            row_counts = [meta.num_rows for meta in metadata]
        self._offsets = np.cumsum([0, *row_counts])

    def _metadata(self, path: Path) -> pq.FileMetaData:
        if path.stat().st_size == 0:
            raise _empty_file_error(self.spec, path)
        try:
            return pq.read_metadata(path)
        except (pa.ArrowException, OSError) as error:
            raise _unreadable(self.spec.name, path, error) from None

    @property
    def n_rows(self) -> int:
        return int(self._offsets[-1])

    @property
    def columns(self) -> list[str]:
        """Every column found in any file, in first-seen order (pandas index columns left out)."""
        seen: dict[str, None] = {}
        for schema in self._schemas:
            seen.update((name, None) for name in schema.names if not name.startswith("__index"))
        return list(seen)

    def files_missing(self, column: str) -> list[Path]:
        """Part files that lack ``column`` (empty when all have it, or when no file has it)."""
        lacking = [
            path
            for path, schema in zip(self.source.files, self._schemas, strict=True)
            if column not in schema.names
        ]
        return [] if len(lacking) == len(self.source.files) else lacking

    def missing_from_parts(self, column: str, shown: int) -> str | None:
        """What :meth:`files_missing` finds, said once for the validator and the engines'
        reader alike (naming up to ``shown`` part files), or ``None`` when no part lacks it."""
        lacking = self.files_missing(column)
        if not lacking:
            return None
        names = ", ".join(path.name for path in lacking[:shown])
        more = f" and {len(lacking) - shown} more" if len(lacking) > shown else ""
        return (
            f"column missing from {len(lacking)} of {len(self.source.files)} part files "
            f"({names}{more})"
        )

    def row_label(self, position: int) -> str:
        """How a user finds row ``position``: its 0-based row within its file (header excluded)."""
        if len(self.source.files) == 1:
            return str(position)
        file_index = int(np.searchsorted(self._offsets, position, side="right")) - 1
        local = position - int(self._offsets[file_index])
        return f"{self.source.files[file_index].name}:{local}"

    def raw_parts(self, column: str) -> list[pa.ChunkedArray]:
        """``column`` as stored, one array per file (physical types may differ between parts).

        A part that lacks the column (an attribute added in later exports) gives nulls of the
        type the first part that has it stores, as DuckDB's union by name reads it.
        """
        if self._csv is not None:
            return [self._csv.column(column)]
        parts: list[pa.ChunkedArray | None] = []
        for path, schema in zip(self.source.files, self._schemas, strict=True):
            if column not in schema.names:
                parts.append(None)
                continue
            try:
                parts.append(pq.ParquetFile(path).read(columns=[column]).column(0))
            except (pa.ArrowException, OSError) as error:
                raise _unreadable(self.spec.name, path, error, column) from None
        stored = next(part.type for part in parts if part is not None)
        sizes = np.diff(self._offsets)
        return [
            pa.chunked_array([pa.nulls(int(size), stored)]) if part is None else part
            for part, size in zip(parts, sizes, strict=True)
        ]

    def raw_values(self, column: str, positions: np.ndarray) -> list[Any]:
        """Stored values of ``column`` at ``positions`` (to show values that failed to parse)."""
        parts = self.raw_parts(column)
        file_of = np.searchsorted(self._offsets, positions, side="right") - 1
        return [
            parts[file_index][int(position - self._offsets[file_index])].as_py()
            for position, file_index in zip(positions, file_of, strict=True)
        ]

    def read(self, column: str) -> ParsedColumn:
        """``column`` in its contract type; raises :class:`ColumnTypeError` if it cannot be."""
        logical = self.spec.column(column).type
        chunks: list[pa.Array] = []
        bad: list[np.ndarray] = []
        wrong: list[tuple[Path, str, np.ndarray]] = []  # parts stored in an unusable type
        parts = zip(self.source.files, self.raw_parts(column), strict=True)
        for index, (path, raw) in enumerate(parts):
            try:
                values, unparsable = convert(raw, logical)
            except _IncompatibleTypeError as error:
                rows = np.arange(self._offsets[index], self._offsets[index + 1], dtype=np.int64)
                wrong.append((path, str(error), rows))
                continue
            chunks.extend(values.chunks)
            bad.append(unparsable)
        if wrong:
            path, stored, _ = wrong[0]
            others = f" and {len(wrong) - 1} more part file(s)" if len(wrong) > 1 else ""
            raise ColumnTypeError(
                self.spec.name,
                column,
                f"stored as {stored} in {display_path(path)}{others}; "
                f"expected {EXPECTED_FORMS[logical]}",
                np.concatenate([rows for _, _, rows in wrong]),
            )
        positions = np.flatnonzero(np.concatenate(bad)) if bad else np.empty(0, dtype=np.int64)
        return ParsedColumn(pa.chunked_array(chunks, type=ARROW_TYPES[logical]), positions)


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def convert(raw: pa.ChunkedArray, logical: LogicalType) -> tuple[pa.ChunkedArray, np.ndarray]:
    """``raw`` in the arrow type of ``logical`` and a boolean mask of values that could not be read.

    Text is parsed (surrounding blanks ignored, empty text is null); other physical types are cast
    when the cast cannot change meaning. Raises ``_IncompatibleTypeError(stored type)`` when no
    reading makes sense (bool amounts, float ids, numeric timestamps).
    """
    if pa.types.is_dictionary(raw.type):
        raw = raw.cast(raw.type.value_type)
    no_failures = np.zeros(len(raw), dtype=bool)
    target = ARROW_TYPES[logical]
    if pa.types.is_null(raw.type):
        return pa.chunked_array([pa.nulls(len(raw), target)]), no_failures
    textual = logical in (LogicalType.ID, LogicalType.STRING)
    if _is_text(raw.type):
        if textual:
            return _empty_to_null(raw.cast(target)), no_failures
        return _parse_text(raw, logical)
    if textual and pa.types.is_integer(raw.type):
        return raw.cast(target), no_failures
    if logical is LogicalType.FLOAT and _is_number(raw.type):
        return _nan_to_null(raw.cast(pa.float64())), no_failures
    if logical is LogicalType.INTEGER and pa.types.is_unsigned_integer(raw.type):
        beyond = pc.fill_null(pc.greater(raw, pa.scalar(2**63 - 1, pa.uint64())), False)
        kept = pc.if_else(beyond, pa.scalar(None, raw.type), raw)
        return kept.cast(target), _mask(beyond)
    if logical is LogicalType.INTEGER and pa.types.is_integer(raw.type):
        return raw.cast(target), no_failures
    if logical is LogicalType.INTEGER and _is_number(raw.type):
        return _whole_numbers(_nan_to_null(raw.cast(pa.float64())))
    if logical is LogicalType.DATE and pa.types.is_timestamp(raw.type) and raw.type.tz:
        # Local midnight in Paris is the previous day in UTC: which day is meant is ambiguous.
        raise _IncompatibleTypeError(f"{raw.type}, a time in a zone rather than a calendar day")
    if logical.is_temporal and (pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type)):
        return _to_day_if_date(raw.cast(target, safe=False), logical), no_failures
    raise _IncompatibleTypeError(str(raw.type))


def _empty_to_null(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """An empty id or label is a missing one, whatever the file format."""
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _is_number(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )


def _nan_to_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """NaN means 'missing' in pandas exports; make it a real null so null rates count it."""
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)


_INT64_BOUND = 2.0**63
"""64-bit integers lie in [-2**63, 2**63); a float outside (or an infinity) is none."""


def _whole_numbers(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Integers from floats; a fractional or out-of-range value is unreadable, not truncated."""
    out_of_range = pc.or_(pc.greater_equal(values, _INT64_BOUND), pc.less(values, -_INT64_BOUND))
    fractional = pc.invert(pc.equal(pc.floor(values), values))
    failed = pc.fill_null(pc.or_(fractional, out_of_range), False)
    kept = pc.if_else(failed, pa.scalar(None, pa.float64()), values)
    return kept.cast(pa.int64()), _mask(failed)


def _to_day_if_date(values: pa.ChunkedArray, logical: LogicalType) -> pa.ChunkedArray:
    if logical is LogicalType.DATE:
        return pc.floor_temporal(values, unit="day")
    return values


def _mask(flags: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(flags.to_numpy(zero_copy_only=False), dtype=bool)


_BLANKS = " \t\n\r\x0b\x0c"
"""The blanks ignored around a number or a time: ASCII whitespace, as the features engine's trim."""


def _parse_text(raw: pa.ChunkedArray, logical: LogicalType) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Parse text with arrow's fast casts; only if some value fails, find which with pandas."""
    text = _empty_to_null(pc.utf8_trim(raw.cast(pa.string()), characters=_BLANKS))
    if logical in (LogicalType.FLOAT, LogicalType.INTEGER):
        try:
            parsed = _nan_to_null(text.cast(pa.float64()))
            failed = np.zeros(len(text), dtype=bool)
        except pa.ArrowInvalid:
            numbers = pd.to_numeric(text.to_pandas(), errors="coerce")
            parsed = _nan_to_null(pa.chunked_array([pa.array(numbers, type=pa.float64())]))
            failed = _mask(pc.and_(pc.is_null(parsed), pc.invert(_is_null_or_nan_text(text))))
        if logical is LogicalType.FLOAT:
            return parsed, failed
        whole, fractional = _whole_numbers(parsed)
        return whole, failed | fractional
    return _parse_timestamps(text, logical)


def _is_null_or_nan_text(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(pc.equal(pc.utf8_lower(text), "nan"), True)


def _parse_timestamps(
    text: pa.ChunkedArray, logical: LogicalType
) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Read text exactly as the features engine does: DuckDB's cast to a UTC timestamp.

    ISO 8601 only (day-first/month-first text is ambiguous); an offset (``Z``, ``+02:00``) is
    converted to UTC, none means UTC. Parsing with the engine's own cast is what makes "the
    validator accepts it" imply "the features stage can read it".
    """
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("text_column", pa.table({"text": text}))
        parsed = con.sql(
            "SELECT CAST(TRY_CAST(text AS TIMESTAMPTZ) AS TIMESTAMP) AS stamp FROM text_column"
        ).to_arrow_table()["stamp"]
    parsed = parsed.cast(pa.timestamp("us"))
    failed = _mask(pc.and_(pc.is_null(parsed), pc.is_valid(text)))
    if logical is LogicalType.DATE:
        # As for a zoned Parquet timestamp: which calendar day "00:00+01:00" means is ambiguous
        # (converted to UTC it is the day before), so it is refused rather than shifted.
        failed |= _mask(pc.fill_null(pc.match_substring_regex(text, _TIME_WITH_OFFSET), False))
    return _to_day_if_date(parsed, logical), failed


_TIME_WITH_OFFSET = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"
"""A time of day followed by a UTC offset (``Z``, ``+01:00``, ``-0500``) at the end of a text."""


def _unified(parts: list[pa.ChunkedArray], table: str, column: str) -> pa.ChunkedArray:
    """An extra (non-contract) column across parts, cast to the first part's type."""
    try:
        cast = [part.cast(parts[0].type) for part in parts]
        return pa.chunked_array([chunk for part in cast for chunk in part.chunks])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise TableReadError(table, column, f"part files disagree on its type: {error}") from None


def read_table(raw_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """Table ``name`` as a DataFrame in contract types; ``None`` when an optional table is absent.

    Ids and text are pandas strings, timestamps and dates ``datetime64[us]`` (naive UTC; dates at
    midnight), floats ``float64`` (NaN for missing), integers nullable ``Int64``. Columns beyond the
    contract keep their stored types. Read only ``columns`` when given. Raises
    :class:`TableReadError` when the table (or a column) is missing or a value cannot be read: run
    ``churn validate`` first to see every problem at once.
    """
    spec = table_spec(name)
    source = find_table(raw_dir, name)
    if source is None:
        if spec.required:
            raise TableReadError(
                name, None, f"required table missing: expected {expected_locations(raw_dir, name)}"
            )
        return None
    reader = TableReader(source, columns)
    wanted = reader.columns if columns is None else columns
    missing = [column for column in wanted if column not in reader.columns]
    if missing:
        raise TableReadError(
            name, None, f"missing column(s) {', '.join(missing)}; found {', '.join(reader.columns)}"
        )
    arrays: dict[str, pa.ChunkedArray] = {}
    for column in wanted:
        if column not in spec.names:
            arrays[column] = _unified(reader.raw_parts(column), name, column)
            continue
        parsed = reader.read(column)
        if len(parsed.unparsable):
            expected = EXPECTED_FORMS[spec.column(column).type]
            raise TableReadError(
                name,
                column,
                f"{len(parsed.unparsable):,} value(s) are not {expected}; run `churn validate`",
            )
        arrays[column] = parsed.values
    frame = pa.table(arrays).to_pandas(split_blocks=True, self_destruct=True)
    for column in wanted:
        if column in spec.names and spec.column(column).type is LogicalType.INTEGER:
            frame[column] = frame[column].astype("Int64")
    return frame
