"""Check raw CRM tables against the data contract and describe them, or fail naming every problem.

Every violation in every table is collected before failing, so a user mapping their own CRM export
fixes everything in one pass instead of one error per run. Each failure names the table, the column,
how many rows fail and a few example rows (by their identifying columns) to look up in the export.

The checks are pandera ``Check`` objects derived from :mod:`crm.contract` (see
:func:`table_schema`). They run one column at a time on arrow-backed pandas Series, so memory
stays near one large column plus the identifying columns even for tens of millions of rows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from core.config import ValidateConfig
from core.logging import get_logger
from crm.contract import AT_LEAST_ONE_OF, TABLES, ColumnSpec, LogicalType, TableSpec
from crm.freshness import file_sizes, relative_name
from crm.tables import (
    EXPECTED_FORMS,
    ColumnTypeError,
    TableFormat,
    TableReader,
    TableReadError,
    TableSource,
    display_path,
    expected_locations,
    find_table,
)

_log = get_logger(__name__)

_PHRASES = {"foreign_key": "reference a customer_id missing from customers"}
"""How a failed check reads after 'N of M rows'; the default is 'fail "<check description>"'."""


@dataclass(frozen=True)
class Example:
    """One failing row: where to find it and the values that identify and explain it."""

    row: str
    values: dict[str, Any]

    def __str__(self) -> str:
        shown = ", ".join(f"{name}: {_show(value)}" for name, value in self.values.items())
        return f"{self.row}: {{{shown}}}"


@dataclass(frozen=True)
class Failure:
    """One contract violation; ``column`` is ``None`` for table-level ones (missing, unreadable)."""

    table: str
    column: str | None
    check: str
    n_failed: int
    n_rows: int
    detail: str
    examples: tuple[Example, ...] = field(default=())

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        text = f"{where}: {self.detail}"
        if self.examples:
            text += "; examples (row: values): " + ", ".join(str(ex) for ex in self.examples)
        return text


class RawDataError(ValueError):
    """The raw tables break the data contract; ``failures`` holds every violation found."""

    def __init__(self, failures: Sequence[Failure]) -> None:
        self.failures = list(failures)
        lines = [
            f"raw data breaks the data contract ({len(self.failures)} problem(s)); "
            "fix them all, then rerun `churn validate`:",
            *(f"  {failure}" for failure in self.failures),
            "(rows are counted from 0 within each file, header excluded; "
            "the contract is described in docs/data-contract.md)",
        ]
        super().__init__("\n".join(lines))


def _show(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return repr(value.isoformat(sep=" "))
    if isinstance(value, dt.date):
        return repr(value.isoformat())
    return repr(value)


def _in_customers(customer_ids: pa.Array, series: pd.Series) -> pd.Series:
    values = pa.array(series)
    known = pc.is_in(values, value_set=customer_ids.cast(values.type))
    return pd.Series(known.to_numpy(zero_copy_only=False), index=series.index)


def column_checks(
    spec: ColumnSpec, config: ValidateConfig, customer_ids: pa.Array | None = None
) -> list[pandera.Check]:
    """Value checks of one column (nulls and duplicates: the column's ``nullable``/``unique``)."""
    checks = []
    if spec.type is LogicalType.FLOAT:
        checks.append(pandera.Check(np.isfinite, name="finite", error="a finite number"))
    if spec.non_negative:
        checks.append(pandera.Check.ge(0, name="non_negative", error="non-negative (>= 0)"))
    if spec.between is not None:
        low, high = spec.between
        checks.append(
            pandera.Check.in_range(low, high, name="between", error=f"between {low} and {high}")
        )
    if spec.allowed is not None:
        checks.append(
            pandera.Check.isin(
                spec.allowed, name="allowed_values", error=f"one of {', '.join(spec.allowed)}"
            )
        )
    if spec.type.is_temporal:
        checks.append(
            pandera.Check.in_range(
                pd.Timestamp(config.earliest_date),
                pd.Timestamp(config.latest_date) + pd.Timedelta(days=1),
                include_max=False,
                name="date_range",
                error=f"between {config.earliest_date} and {config.latest_date}",
            )
        )
    if spec.references_customers and customer_ids is not None:
        checks.append(
            pandera.Check(
                partial(_in_customers, customer_ids),
                name="foreign_key",
                error="customer_id present in customers",
            )
        )
    return checks


def _not_before(column: str, reference: str, frame: pd.DataFrame) -> pd.Series:
    return frame[column].isna() | frame[reference].isna() | (frame[column] >= frame[reference])


def _null_when(column: str, when_column: str, when_value: str, frame: pd.DataFrame) -> pd.Series:
    return frame[column].isna() | frame[when_column].ne(when_value)


def row_checks(spec: TableSpec) -> list[pandera.Check]:
    """Checks across a row's columns; ``statistics['columns']``: what each reads, blamed first."""
    checks = [
        pandera.Check(
            partial(_not_before, rule.column, rule.reference),
            ignore_na=False,
            name="not_before",
            error=f"not before {rule.reference}",
            statistics={"columns": (rule.column, rule.reference)},
        )
        for rule in spec.not_before
    ]
    for column in spec.columns:
        if column.null_when is not None:
            when_column, when_value = column.null_when
            checks.append(
                pandera.Check(
                    partial(_null_when, column.name, when_column, when_value),
                    ignore_na=False,
                    name="null_when",
                    error=f"empty when {when_column} is {when_value}",
                    statistics={"columns": (column.name, when_column)},
                )
            )
    return checks


def table_schema(
    spec: TableSpec, config: ValidateConfig, customer_ids: pa.Array | None = None
) -> pandera.DataFrameSchema:
    """The contract of one table as a pandera schema over its converted columns.

    Usable directly (``schema.validate(frame, lazy=True)``) on small frames;
    :func:`validate_raw_tables` applies its parts column by column instead, to bound memory and to
    count failures per check.
    """
    columns = {
        column.name: pandera.Column(
            checks=column_checks(column, config, customer_ids),
            nullable=column.nullable,
            unique=column.unique,
            required=column.required,
            name=column.name,
        )
        for column in spec.columns
    }
    return pandera.DataFrameSchema(columns, checks=row_checks(spec), name=spec.name)


def _failing_positions(series: pd.Series, schema: pandera.Column) -> Iterator[tuple[str, str, Any]]:
    """``(check name, description, failing row positions)`` for every check of one column."""
    if not schema.nullable:
        yield "not_null", "not empty", np.flatnonzero(series.isna().to_numpy())
    if schema.unique:
        duplicated = series.duplicated(keep=False) & series.notna()
        yield "unique", "unique (no duplicates)", np.flatnonzero(duplicated.to_numpy())
    for check in schema.checks:
        yield check.name, check.error, _check_failures(check, series)


def _check_failures(check: pandera.Check, data: pd.Series | pd.DataFrame) -> np.ndarray:
    output = check(data).check_output
    return output.index[~output.to_numpy(dtype=bool)].to_numpy(dtype=np.int64)


class _TableValidation:
    """Validates one located table; keeps only identifying and row-rule columns between checks."""

    def __init__(
        self,
        reader: TableReader,
        config: ValidateConfig,
        raw_dir: Path,
        customer_ids: pa.Array | None,
    ) -> None:
        self.reader = reader
        self.spec = reader.spec
        self.config = config
        self.raw_dir = raw_dir
        self.schema = table_schema(self.spec, config, customer_ids)
        self.failures: list[Failure] = []
        self.kept: dict[str, pa.ChunkedArray] = {}
        self.profile: dict[str, dict[str, Any]] = {}
        self.table_report: dict[str, Any] = {}
        self.keep = set(self.spec.key_columns)
        for check in self.schema.checks:
            self.keep.update(check.statistics["columns"])
        if self.spec.name == "customers":
            self.keep.add("customer_id")
        self.keep.update(_NOTE_COLUMNS.get(self.spec.name, ()))

    def run(self) -> None:
        n_rows = self.reader.n_rows
        if n_rows == 0:
            hint = (
                "a required table needs rows"
                if self.spec.required
                else f"if you have no {self.spec.name} data, remove it (the table is optional)"
            )
            self._table_failure("not_empty", f"table has no rows; {hint}")
            return
        present = self._present_columns()
        ordered = [name for name in self.spec.key_columns if name in present]
        ordered += [name for name in present if name not in ordered]
        for name in ordered:
            self._check_column(name)
        self._check_rows()
        self._check_extra_text()
        self.table_report = self._report()

    def _check_extra_text(self) -> None:
        """A CSV column beyond the contract holding bytes that are not UTF-8 (a file saved as
        Windows-1252): the features engine cannot read the file at all, contract columns
        included, so it is a failure here rather than a surprise there."""
        if self.reader.source.format is not TableFormat.CSV:
            return
        for name in self.reader.columns:
            if name in self.spec.names:
                continue
            if any(pa.types.is_binary(part.type) for part in self.reader.raw_parts(name)):
                self._table_failure(
                    "utf8",
                    f"column {name!r} (beyond the contract) holds text that is not UTF-8; "
                    "save the file as UTF-8 (the features engine cannot read the file otherwise)",
                    name,
                )

    def _table_failure(self, check: str, detail: str, column: str | None = None) -> None:
        n_rows = self.reader.n_rows
        self.failures.append(Failure(self.spec.name, column, check, n_rows, n_rows, detail))

    def _present_columns(self) -> list[str]:
        """Contract columns found in every file; a missing required one is a failure."""
        found = self.reader.columns
        misnamed = self.spec.misnamed(found)
        message = self.spec.misnamed_message(found)
        if message is not None:
            self._table_failure("column_names", message, ", ".join(misnamed))
        present = []
        for column in self.spec.columns:
            lacking = self.reader.missing_from_parts(column.name, self.config.max_examples)
            if column.name in misnamed:
                continue
            if lacking is not None:
                self._table_failure("required_column", lacking, column.name)
            elif column.name in found:
                present.append(column.name)
            elif column.required:
                self._table_failure(
                    "required_column",
                    f"required column missing (found columns: {', '.join(found)})",
                    column.name,
                )
        return present

    def _check_column(self, name: str) -> None:
        try:
            parsed = self.reader.read(name)
        except ColumnTypeError as error:
            n_rows = self.reader.n_rows
            detail = f"{len(error.positions):,} of {n_rows:,} rows {error.detail}"
            self._add(name, "type", detail, len(error.positions), error.positions, raw=name)
            return
        except TableReadError as error:
            self._table_failure("readable", error.detail, name)
            return
        self.kept[name] = parsed.values
        readable = f"readable as {EXPECTED_FORMS[self.spec.column(name).type]}"
        self._add_positions(name, "parseable", readable, parsed.unparsable, raw=name)
        series = parsed.values.to_pandas()
        for check, description, positions in _failing_positions(series, self.schema.columns[name]):
            if check == "not_null":
                positions = np.setdiff1d(positions, parsed.unparsable, assume_unique=True)
            self._add_positions(name, check, description, positions)
        self.profile[name] = self._describe(name, parsed.values)
        if name not in self.keep:
            del self.kept[name]

    def _check_rows(self) -> None:
        for check in self.schema.checks:
            columns = check.statistics["columns"]
            if not all(name in self.kept for name in columns):
                continue
            frame = pd.DataFrame({name: self.kept[name].to_pandas() for name in columns})
            positions = _check_failures(check, frame)
            self._add_positions(columns[0], check.name, check.error, positions, shown=columns)

    def _add_positions(
        self,
        column: str,
        check: str,
        description: str,
        positions: np.ndarray,
        raw: str | None = None,
        shown: Sequence[str] = (),
    ) -> None:
        if len(positions) == 0:
            return
        phrase = _PHRASES.get(check, f'fail "{description}"')
        n_rows = self.reader.n_rows
        detail = f"{len(positions):,} of {n_rows:,} rows {phrase}"
        self._add(column, check, detail, len(positions), positions, raw=raw, shown=shown)

    def _add(
        self,
        column: str,
        check: str,
        detail: str,
        n_failed: int,
        positions: np.ndarray,
        raw: str | None = None,
        shown: Sequence[str] = (),
    ) -> None:
        first = np.sort(positions)[: self.config.max_examples]
        examples = self._examples(first, [*self.spec.key_columns, column, *shown], raw)
        self.failures.append(
            Failure(self.spec.name, column, check, n_failed, self.reader.n_rows, detail, examples)
        )

    def _examples(
        self, positions: np.ndarray, columns: list[str], raw: str | None
    ) -> tuple[Example, ...]:
        """Rows showing the identifying columns and the failing one (as stored, if unreadable)."""
        values: dict[str, list[Any]] = {}
        for name in dict.fromkeys(columns):
            if name == raw:
                values[name] = self.reader.raw_values(name, positions)
            elif name in self.kept:
                taken = self.kept[name].take(pa.array(positions))
                if self.spec.column(name).type is LogicalType.DATE:
                    taken = taken.cast(pa.date32())
                values[name] = taken.to_pylist()
        return tuple(
            Example(
                self.reader.row_label(int(position)),
                {name: column_values[index] for name, column_values in values.items()},
            )
            for index, position in enumerate(positions)
        )

    def _describe(self, name: str, values: pa.ChunkedArray) -> dict[str, Any]:
        logical = self.spec.column(name).type
        summary: dict[str, Any] = {
            "type": logical.value,
            "null_rate": round(values.null_count / max(len(values), 1), 6),
        }
        if logical.is_temporal:
            bounds = pc.min_max(values)
            for key in ("min", "max"):
                value = bounds[key].as_py()
                if value is not None:
                    is_date = logical is LogicalType.DATE
                    value = value.date().isoformat() if is_date else value.isoformat(sep=" ")
                summary[key] = value
        return summary

    def _report(self) -> dict[str, Any]:
        extra = [name for name in self.reader.columns if name not in self.spec.names]
        return {
            "format": self.reader.source.format.value,
            "files": [relative_name(path, self.raw_dir) for path in self.reader.source.files],
            "file_sizes": file_sizes(self.reader.source, self.raw_dir),
            "n_rows": self.reader.n_rows,
            "columns": self.profile,
            "extra_columns": {name: self._describe_extra(name) for name in extra},
        }

    def _describe_extra(self, name: str) -> dict[str, Any]:
        parts = self.reader.raw_parts(name)
        nulls = sum(part.null_count for part in parts)
        return {
            "stored_as": str(parts[0].type),
            "null_rate": round(nulls / max(self.reader.n_rows, 1), 6),
        }


def _unrecognised_entries(raw_dir: Path) -> list[str]:
    """Entries of the raw folder that are no table form: usually a misnamed table."""
    if not raw_dir.is_dir():
        return []
    known = {f"{name}{suffix}" for name in TABLES for suffix in (".parquet", ".csv", "")}
    return sorted(
        entry.name
        for entry in raw_dir.iterdir()
        if entry.name not in known and not entry.name.startswith(".")
    )


def _missing_detail(raw_dir: Path, names: Sequence[str], unrecognised: list[str]) -> str:
    detail = " or ".join(expected_locations(raw_dir, name) for name in names)
    if not raw_dir.is_dir():
        detail += f" (the folder {display_path(raw_dir)} does not exist)"
    elif unrecognised:
        detail += f" (found unrecognised entries: {', '.join(unrecognised)})"
    return detail


def validate_raw_tables(raw_dir: Path, config: ValidateConfig) -> dict[str, Any]:
    """Validate every contract table in ``raw_dir``; return the JSON-serialisable report.

    The report gives, per present table, its form, files (relative to ``raw_dir``) and their
    sizes (``crm.freshness`` compares them with the folder before a build), row count, and
    per column the null rate and, for dates and timestamps, the range; ``notes`` on what the
    contract allows but a user should know (orders before their customer's signup); and the
    absent optional tables. Raises :class:`RawDataError` listing every violation found in any table.
    """
    failures: list[Failure] = []
    tables: dict[str, Any] = {}
    found: set[str] = set()
    unrecognised = _unrecognised_entries(raw_dir)
    customer_ids: pa.Array | None = None
    signups: tuple[pa.ChunkedArray, pa.ChunkedArray] | None = None
    notes: list[dict[str, Any]] = []
    for spec in TABLES.values():
        started = time.perf_counter()
        try:
            source = find_table(raw_dir, spec.name)
        except TableReadError as error:
            failures.append(Failure(spec.name, None, "unambiguous", 0, 0, error.detail))
            found.add(spec.name)
            continue
        if source is None:
            if spec.required:
                detail = "required table missing: expected "
                detail += _missing_detail(raw_dir, [spec.name], unrecognised)
                failures.append(Failure(spec.name, None, "present", 0, 0, detail))
            continue
        found.add(spec.name)
        validation = _validate_table(source, config, raw_dir, customer_ids, failures)
        if validation is None:
            continue
        tables[spec.name] = validation.table_report
        if spec.name == "customers" and "customer_id" in validation.kept:
            customer_ids = pc.unique(validation.kept["customer_id"]).drop_null()
            if "signup_date" in validation.kept:
                signups = (validation.kept["customer_id"], validation.kept["signup_date"])
        if spec.name == "orders" and signups is not None and not validation.failures:
            note = _orders_before_signup(validation, *signups)
            if note is not None:
                notes.append(note)
        _log.info(
            "validated table",
            table=spec.name,
            rows=validation.reader.n_rows,
            seconds=round(time.perf_counter() - started, 2),
        )
    if not found.intersection(AT_LEAST_ONE_OF):
        detail = "at least one is required (churn needs a purchase history): expected "
        detail += _missing_detail(raw_dir, AT_LEAST_ONE_OF, unrecognised)
        failures.append(Failure(" or ".join(AT_LEAST_ONE_OF), None, "present", 0, 0, detail))
    if failures:
        raise RawDataError(failures)
    return {
        "tables": tables,
        "notes": notes,
        "absent_tables": [name for name in TABLES if name not in tables],
        "unrecognised_entries": unrecognised,
        "date_bounds": {
            "earliest": config.earliest_date.isoformat(),
            "latest": config.latest_date.isoformat(),
        },
    }


_NOTE_COLUMNS = {"customers": ("signup_date",), "orders": ("customer_id", "order_ts")}
"""Columns kept past their own checks for the cross-table notes below."""


def _orders_before_signup(
    orders: _TableValidation, customer_ids: pa.ChunkedArray, signup_dates: pa.ChunkedArray
) -> dict[str, Any] | None:
    """A note (not a failure: a guest checkout before the account existed is real) on orders
    placed before their customer's ``signup_date``.

    They matter because a customer joins a cutoff's population only from the signup day on
    (``features.labels``): such a buyer is left out of the cutoffs before it, and one whose signup
    lies after the export's end is left out of the scoring snapshot altogether.
    """
    if not {"customer_id", "order_ts"} <= orders.kept.keys():
        return None
    position = pc.index_in(orders.kept["customer_id"], value_set=customer_ids.combine_chunks())
    signup = pc.take(signup_dates.combine_chunks(), position)
    order_ts = orders.kept["order_ts"].combine_chunks()
    early = pc.fill_null(pc.less(order_ts, signup.cast(order_ts.type)), False)
    positions = np.flatnonzero(early.to_numpy(zero_copy_only=False))
    if len(positions) == 0:
        return None
    buyers = pc.count_distinct(pc.filter(orders.kept["customer_id"], early)).as_py()
    n_rows = orders.reader.n_rows
    shown = positions[: orders.config.max_examples]
    examples = orders._examples(shown, ["order_id", "customer_id", "order_ts"], raw=None)
    days = signup.take(pa.array(shown)).cast(pa.date32()).to_pylist()
    buyers_counted = "1 customer" if buyers == 1 else f"{buyers:,} customers"
    detail = (
        f"{len(positions):,} of {n_rows:,} orders ({buyers_counted}) are dated before their "
        "customer's signup_date. Allowed (a guest checkout), but a customer counts towards a "
        "cutoff only from the signup day on, so these buyers are left out of the cutoffs before "
        "it (and out of the scoring snapshot if the signup lies after the export's end)"
    )
    _log.warning("orders before signup_date", orders=len(positions), customers=buyers)
    return {
        "check": "order_before_signup",
        "tables": ["orders", "customers"],
        "n_rows": len(positions),
        "n_customers": buyers,
        "detail": detail,
        "examples": [
            str(Example(example.row, {**example.values, "signup_date": day}))
            for example, day in zip(examples, days, strict=True)
        ],
    }


def _validate_table(
    source: TableSource,
    config: ValidateConfig,
    raw_dir: Path,
    customer_ids: pa.Array | None,
    failures: list[Failure],
) -> _TableValidation | None:
    """Run one table's checks, appending to ``failures``; ``None`` when the table cannot be read."""
    try:
        validation = _TableValidation(TableReader(source), config, raw_dir, customer_ids)
        validation.run()
    except TableReadError as error:
        failures.append(Failure(source.name, error.column, "readable", 0, 0, error.detail))
        return None
    failures.extend(validation.failures)
    return validation
