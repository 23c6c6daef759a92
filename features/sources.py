"""The raw CRM tables as backend tables in the contract's types, read in place.

Each table present in the raw folder (as ``<name>.parquet``, ``<name>.csv`` or ``<name>/`` of
Parquet parts, see ``crm.tables.find_table``) is registered with the backend, which reads the
files itself: nothing is loaded into Python. Columns are then cast to their contract types
(ids and text as strings, floats, integers, dates, naive UTC timestamps) so feature expressions
see the same types whatever the file format; an absent optional table is simply missing from the
result, and the build switches the families that need it off.

Run ``churn validate`` first (the DVC pipeline does): this module trusts the contract's rules
and only converts types.
"""

from __future__ import annotations

import csv
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from crm.contract import TABLES, LogicalType, TableSpec
from crm.tables import (
    TableFormat,
    TableReader,
    TableReadError,
    TableSource,
    expected_locations,
    find_table,
)

CONTRACT_TYPES: dict[LogicalType, dt.DataType] = {
    LogicalType.ID: dt.string,
    LogicalType.STRING: dt.string,
    LogicalType.FLOAT: dt.float64,
    LogicalType.INTEGER: dt.int64,
    LogicalType.DATE: dt.date,
    LogicalType.TIMESTAMP: dt.timestamp,
}
"""How each logical type is typed in feature expressions (timestamps are naive and mean UTC)."""


def load_raw_tables(con: ibis.BaseBackend, raw_dir: Path) -> dict[str, ir.Table]:
    """Every raw table found in ``raw_dir``, registered in ``con`` and cast to contract types.

    Optional tables that are absent are left out of the result. Raises
    ``crm.tables.TableReadError`` when ``customers`` is missing, a table is present in two forms,
    or a present table lacks a required column.
    """
    return register_raw_tables(con, locate_raw_tables(raw_dir))


def locate_raw_tables(raw_dir: Path) -> dict[str, TableSource]:
    """The files of every raw table in ``raw_dir``, checked without a features engine.

    Split from registering so a stage can refuse a missing ``customers`` table, or a folder whose
    parts disagree on the contract's columns, before it starts an engine: a Spark session takes
    seconds to start, which a user waits through only to read that a file is missing. Raises
    ``crm.tables.TableReadError``, as ``load_raw_tables`` does.
    """
    sources: dict[str, TableSource] = {}
    for name, spec in TABLES.items():
        source = find_table(raw_dir, name)
        if source is None:
            if spec.required:
                raise TableReadError(
                    name,
                    None,
                    f"required table missing: expected {expected_locations(raw_dir, name)}",
                )
            continue
        _check_parts_agree(source, spec)
        sources[name] = source
    return sources


def register_raw_tables(
    con: ibis.BaseBackend, sources: dict[str, TableSource]
) -> dict[str, ir.Table]:
    """``sources`` (from ``locate_raw_tables``) registered in ``con``, in contract types."""
    return {
        name: conform(name, _register(con, source, TABLES[name]))
        for name, source in sources.items()
    }


def _check_parts_agree(source: TableSource, spec: TableSpec) -> None:
    """Refuse a folder of parts where some parts lack a contract column that others hold.

    The engines read parts by column name and fill a column a part lacks with nulls, so one
    part written without ``amount`` would silently count its customers' spend as 0. Only the
    parts' footers are read. ``churn validate`` reports the same, with every other problem.
    """
    if source.format is not TableFormat.PARQUET_PARTS or len(source.files) < 2:
        return
    reader = TableReader(source)
    for column in spec.columns:
        lacking = reader.missing_from_parts(column.name, shown=5)
        if lacking is not None:
            raise TableReadError(
                spec.name, column.name, f"{lacking}; every part must hold it (run churn validate)"
            )


def conform(name: str, table: ir.Table) -> ir.Table:
    """``table`` with its contract columns cast to their contract types.

    Text ids stay text (leading zeros survive), whole-number ids become their decimal text, empty
    text is null (blank text too, where a number or a time is expected), the text ``nan`` is a
    missing number, NaN floats are null, timestamps with a time zone or an offset are converted to
    naive UTC, and date columns drop any time of day. Optional contract columns that are absent
    are added as nulls. Other columns are dropped, except in ``customers``, where they are the
    static attributes and kept as stored.
    """
    spec = TABLES[name]
    misnamed = spec.misnamed_message(table.columns)
    if misnamed is not None:
        raise TableReadError(name, None, misnamed)
    columns: dict[str, ir.Value] = {}
    for column in spec.columns:
        target = CONTRACT_TYPES[column.type]
        if column.name in table.columns:
            columns[column.name] = _cast(table[column.name], column.type)
        elif column.required:
            raise TableReadError(
                name,
                column.name,
                f"required column missing; found {', '.join(table.columns)}",
            )
        else:
            columns[column.name] = ibis.null(target)
    if spec.extra_columns_are_attributes:
        columns |= {
            column: table[column]
            for column in table.columns
            if column not in columns and not column.startswith("__index")
        }
    return table.select(**columns)


def _cast(value: ir.Value, logical: LogicalType) -> ir.Value:
    """``value`` in the expression type of ``logical`` (see :func:`conform` for the rules)."""
    source = value.type()
    target = CONTRACT_TYPES[logical]
    if source.is_string():
        if logical in (LogicalType.ID, LogicalType.STRING):
            return value.nullif("")
        # As the validator reads text: surrounding blanks ignored, blank text is missing.
        value = value.strip().nullif("")
        if logical is LogicalType.INTEGER:
            return _nan_to_null(value.cast(dt.float64)).cast(dt.int64)
        if logical.is_temporal:
            # Through a zoned timestamp: an offset (`Z`, `+02:00`) is honoured, none means UTC.
            value = value.cast(dt.Timestamp(timezone="UTC")).cast(dt.timestamp)
            return value.date() if logical is LogicalType.DATE else value
        return _nan_to_null(value.cast(dt.float64))
    if logical is LogicalType.DATE:
        return value if source.is_date() else value.cast(dt.timestamp).date()
    if logical is LogicalType.TIMESTAMP:
        if source.is_timestamp() and source.timezone is None:
            return value
        return value.cast(dt.timestamp)
    if logical is LogicalType.FLOAT and source.is_floating():
        return _nan_to_null(value.cast(dt.float64))
    if source == target:
        return value
    return value.cast(target)


def _nan_to_null(value: ir.FloatingValue) -> ir.FloatingValue:
    """pandas exports write missing floats as NaN; a NaN would poison every sum it enters."""
    return ibis.ifelse(value.isnan(), ibis.null(dt.float64), value)


def _register(con: ibis.BaseBackend, source: TableSource, spec: TableSpec) -> ir.Table:
    """Register ``source`` with ``con`` as stored; the backend reads the files itself."""
    files = [str(path) for path in source.files]
    spark = con.name == "pyspark"
    if source.format is TableFormat.CSV:
        if spark:
            # Every column as text: type inference would drop the leading zeros of ids.
            return con.read_csv(files, inferSchema=False)
        contract_columns = [name for name in _csv_header(source.files[0]) if name in spec.names]
        # The customers' other columns become attributes typed by DuckDB's sniffer: sniffed on
        # every row, since a text value after its default sample (numbers in the first 20k
        # rows, then "ONLINE") stopped the build. The other tables' extras are never read.
        sample = {"sample_size": -1} if spec.extra_columns_are_attributes else {}
        return con.read_csv(
            files,
            types=dict.fromkeys(contract_columns, "VARCHAR"),
            delim=",",
            quote='"',
            escape='"',
            **sample,
        )
    if spark:
        # Spark reads a folder of parts itself and skips `_SUCCESS` and dot files.
        folder = source.files[0].parent
        return con.read_parquet(
            str(folder if source.format is TableFormat.PARQUET_PARTS else files[0])
        )
    if len(files) > 1:
        # Parts may store a column with different physical types; DuckDB unifies them by name.
        return con.read_parquet(files, union_by_name=True)
    return con.read_parquet(files)


def _csv_header(path: Path) -> list[str]:
    """The header row of a CSV file (contract columns are read as text, the rest inferred)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])
