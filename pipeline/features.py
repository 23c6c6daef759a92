"""DVC stage ``features``: training features with labels, the scoring snapshot, a manifest.

Writes ``paths.features_dir`` atomically (a half-built folder never replaces a finished one):

* ``training.parquet``: one row per (customer, cutoff) for the labelled cutoff grid, with
  ``churned``;
* ``snapshot.parquet``: the scoring snapshot at the snapshot date, without a label;
* ``manifest.json``: cutoffs, snapshot date, churn definition, feature names, row counts and
  churn rate per cutoff, the hash of the feature definitions, families switched off, the event
  types families read by name that the events never hold (``event_types_unseen``), and the
  cutoffs whose windows reach before the data's start (``cut_short``).

The labelled cutoffs and the snapshot are one build (the snapshot is one more cutoff; see
``_builds``). It runs over slices of the customers (``features.partitions``), sized so that each
slice's joins fit in the engine's memory; the slices' rows are merged into one file per table in
(cutoff, customer) order (``features.engine.write_outputs``), so the files do not depend on how
many slices there were, and a large history never sits in Python's memory.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import ibis.expr.types as ir
import pyarrow.parquet as pq

from core.atomic import atomic_dir, write_json
from core.config import Config
from core.layout import MANIFEST_FILE, SNAPSHOT_FILE, TRAINING_FILE
from core.logging import first_line, get_logger
from crm.freshness import ReportError, read_report, report_differences
from crm.tables import TableReadError
from features.build import (
    DataSpan,
    SnapshotDateError,
    build_context,
    build_features,
    check_horizons_observed,
    check_label_table_current,
    cut_short_cutoffs,
    cutoff_grid,
    data_span,
    event_types_before,
    missing_sources,
    output_definitions,
    resolve_snapshot_date,
)
from features.cutoffs import KEYS, ROW_ORDER
from features.definitions import FAMILIES as FAMILY_DEFS
from features.definitions import FEATURE_WINDOWS, FeatureNameError, definitions_hash
from features.engine import Output, Slice, connect, write_outputs
from features.families import FAMILIES, Context
from features.labels import POPULATION_SOURCE, MissingSourceError
from features.partitions import CustomerRange, plan_slices, slice_runs
from features.rows import NPS_EVENT
from features.sources import locate_raw_tables, register_raw_tables
from features.spark import unreadable_value
from pipeline.errors import fail

_log = get_logger(__name__)

NO_SPACE = "No space left on device"
"""The OS's words (ENOSPC) in DuckDB's IO error when spilling fills the disk."""
CHANGES_SHOWN = 5
"""Differences from the validation report named in the warning (the rest are counted)."""


def run(config: Config) -> dict[str, Any]:
    """Build and write the features folder; return the manifest. Exit 1 on unusable raw data."""
    started = time.perf_counter()
    _warn_unless_validated(config)
    try:  # before the engine: a Spark session takes seconds to start
        sources = locate_raw_tables(config.paths.raw_dir)
    except TableReadError as error:
        fail(str(error))
    con = connect(config.features)
    with _engine_errors_exit_1(config):
        try:
            tables = register_raw_tables(con, sources)
            missing = missing_sources(tables, config.features.families)
            _log_left_out(missing, config)
            span = data_span(tables)
            snapshot_date = resolve_snapshot_date(tables, config.features, span)
            cutoffs = cutoff_grid(snapshot_date, config.features.cutoffs, config.churn.horizon_days)
            if config.features.snapshot_date is not None:  # derived, it is the data's end itself
                check_horizons_observed(cutoffs, config.churn.horizon_days, span.end)
            orders_lag = check_label_table_current(
                span,
                cutoffs,
                config.churn.horizon_days,
                snapshot_date,
                config.churn.definition,
                config.features.snapshot_date is None,
            )
            if orders_lag is not None:
                _log.warning(
                    "the orders end before the snapshot date: its order features (days since "
                    "the last order, recent counts) read those days as days without orders",
                    days=orders_lag,
                    snapshot_date=str(snapshot_date),
                    hint="export every table to the same date",
                )
            cut_short = _cut_short(span.start, cutoffs, config)
            _warn_offers_after(tables, snapshot_date, config.features.snapshot_date is not None)
            slices = plan_slices(tables, config.features)
            families = config.features.families
            _refuse_an_empty_build(snapshot_date, span, config)
            contexts = _Contexts(
                training=build_context(tables, cutoffs, families),
                snapshot=build_context(tables, [snapshot_date], families),
            )
            unseen = _unseen_event_types(contexts.snapshot, tables, snapshot_date, config)
            builds = _builds(tables, slices, cutoffs, snapshot_date, config, contexts)
        except (TableReadError, MissingSourceError, SnapshotDateError, FeatureNameError) as error:
            fail(str(error))
    with _engine_errors_exit_1(config), atomic_dir(config.paths.features_dir) as folder:
        for build in builds:
            outputs = [replace(output, path=folder / output.path) for output in build.outputs]
            write_outputs(build.slices, ROW_ORDER[0], outputs)
        training_counts = _counts(folder / TRAINING_FILE, cutoffs)
        snapshot_counts = _counts(folder / SNAPSHOT_FILE, [snapshot_date])
        if training_counts["total"] == 0:  # the folder is not swapped in: the old one stays
            fail(
                f"no customer is in the {config.churn.definition} population at any of the "
                f"{len(cutoffs)} labelled cutoffs ({cutoffs[0]} to {cutoffs[-1]}): nothing to "
                "train on; check features.snapshot_date, features.cutoffs and churn.lookback_days"
            )
        columns = builds[0].slices[0].expression.columns
        feature_names = [c for c in columns if c not in (*KEYS, "churned")]
        if not feature_names:
            fail("no feature columns: every family switched on lacks the tables it reads")
        manifest = {
            "snapshot_date": snapshot_date.isoformat(),
            "cutoffs": [cutoff.isoformat() for cutoff in cutoffs],
            "churn": config.churn.model_dump(),
            "history_days": config.features.history_days,
            "features": feature_names,
            "feature_definitions_hash": definitions_hash(output_definitions(feature_names)),
            "families_off": _families_off(config, missing),
            "event_types_unseen": unseen,
            "cut_short": cut_short,
            "rows": {"training": training_counts, "snapshot": snapshot_counts},
        }
        write_json(folder / MANIFEST_FILE, manifest)
    _log.info(
        "features written",
        folder=str(config.paths.features_dir),
        training_rows=training_counts["total"],
        snapshot_rows=snapshot_counts["total"],
        customer_slices=len(slices),
        seconds=round(time.perf_counter() - started, 1),
    )
    return manifest


@contextmanager
def _engine_errors_exit_1(config: Config) -> Iterator[None]:
    """Exit 1 with a pointer to ``churn validate`` when the engine cannot read a raw file or cast
    a raw value, and to the memory settings when DuckDB runs out of memory or spill space.

    The tables are read lazily, so a value the contract's types cannot hold (data that skipped
    validation) surfaces in whichever query first touches it, as the engine's own message: a
    DuckDB ConversionException, or a Spark error of SQL's data-exception class.
    """
    try:
        yield
    except Exception as error:
        out_of_space = isinstance(error, duckdb.IOException) and NO_SPACE in str(error)
        if isinstance(error, duckdb.OutOfMemoryException) or out_of_space:
            settings = config.features.duckdb
            fail(
                f"the features engine ran out of memory or spill space ({first_line(error)}) "
                f"with features.duckdb.memory_limit {settings.memory_limit!r} and spill folder "
                f"{settings.temp_directory}; raise the limit, free disk there, or set "
                "features.partition_rows to build in smaller customer slices. Nothing was written"
            )
        if isinstance(error, duckdb.InvalidInputException | duckdb.IOException):
            fail(
                f"a raw file the features engine cannot read ({first_line(error)}); run `churn "
                "validate` to check every table's files"
            )
        if not (isinstance(error, duckdb.ConversionException) or unreadable_value(error)):
            raise
        fail(
            f"the raw tables hold a value the features engine cannot read in its contract type "
            f"({first_line(error)}); run `churn validate` to list every such value with its "
            "file, column and rows"
        )


def _refuse_an_empty_build(snapshot_date: dt.date, span: DataSpan, config: Config) -> None:
    """Exit 1 before building a table without features, or before the data it would read: both
    would replace good outputs with empty ones and fail only in a later stage."""
    families = config.features.families
    if not any(on for _, on in families):
        fail("every feature family is switched off in params (features.families): no features")
    if span.start is not None and snapshot_date <= span.start:
        fail(
            f"features.snapshot_date {snapshot_date} is not after the data's start ({span.start}, "
            "the earliest order or event): there is no history before it to build features from"
        )


def _log_left_out(missing: dict[str, list[str]], config: Config) -> None:
    """Warn about features an absent table costs, except where only the other business model's
    table is absent.

    The contract needs ``orders`` or ``subscriptions``, not both: a retailer (the inactivity
    definition) has no subscriptions and a subscription business may have no orders, so their
    absence is said at info level, not warned about on every run.
    """
    expected = set(POPULATION_SOURCE.values()) - {POPULATION_SOURCE[config.churn.definition]}
    for family, absent in missing.items():
        log = _log.info if set(absent) <= expected else _log.warning
        log("features left out", family=family, absent_tables=absent)


def _cut_short(start: dt.date | None, cutoffs: list[dt.date], config: Config) -> dict[str, Any]:
    """Which labelled cutoffs have windows (or the inactivity look-back) reaching before the data.

    Their 365-day counts and sums hold less history than a later cutoff's, so a model trained on
    them learns that a short history looks like a quiet customer. Logged with the
    ``features.cutoffs.count`` that would keep only full windows, and written to the manifest.
    """
    window_days = max(FEATURE_WINDOWS)
    if config.churn.definition == "inactivity":
        window_days = max(window_days, config.churn.lookback_days)
    cut_short = cut_short_cutoffs(cutoffs, start, window_days)
    if cut_short:
        full = len(cutoffs) - len(cut_short)
        # with none full, no cutoff count helps: only a shorter look-back (or more history)
        advice = (
            {"full_windows_with_cutoffs_count": full}
            if full
            else {
                "hint": f"no cutoff is {window_days} days after the data's start; lower "
                "churn.lookback_days (if it sets the window) or export more history"
            }
        )
        _log.warning(
            "windows cut short by the data's start",
            data_start=str(start),
            window_days=window_days,
            cutoffs=len(cut_short),
            latest=cut_short[-1].isoformat(),
            **advice,
        )
    return {
        "data_start": None if start is None else start.isoformat(),
        "window_days": window_days,
        "cutoffs": [cutoff.isoformat() for cutoff in cut_short],
    }


def _warn_unless_validated(config: Config) -> None:
    """Warn when the raw files are not the ones ``churn validate`` passed (``crm.freshness``).

    Under ``dvc repro`` they always are: the stage depends on the report. Run by hand after an
    export changed, the stage would otherwise build whatever it can read (a duplicated customer,
    a negative amount) without a word. A warning, not a stop: reading data the contract would
    refuse is still the user's call outside the pipeline.
    """
    path = config.paths.validation_report
    hint = "run `churn validate` (dvc repro runs it before this stage)"
    if not path.is_file():
        _log.warning("the raw data has not been validated", report=str(path), hint=hint)
        return
    try:
        report = read_report(path)
    except (OSError, ReportError) as error:
        _log.warning(
            "the validation report cannot be read", report=str(path), error=str(error), hint=hint
        )
        return
    try:
        changes = report_differences(report, config.paths.raw_dir)
    except OSError as error:  # the raw folder itself: the build below will say more
        _log.warning(
            "the raw files cannot be compared with the validation report",
            report=str(path),
            raw_dir=str(config.paths.raw_dir),
            error=str(error),
        )
        return
    if changes:
        _log.warning(
            "the raw files are not the ones validated",
            report=str(path),
            changes=changes[:CHANGES_SHOWN],
            more=max(0, len(changes) - CHANGES_SHOWN),
            hint=hint,
        )


def _warn_offers_after(
    tables: Mapping[str, ir.Table], snapshot_date: dt.date, explicit: bool
) -> None:
    """Warn when offers were sent on or after the snapshot date (one small query).

    The snapshot date follows the orders and events, so an offers log exported later than them
    holds sends the snapshot's features cannot see: the offers stage's cooldown and yearly cap
    would not count them, and a customer just sent an offer could be picked again.
    """
    if "offers" not in tables:
        return
    offers = tables["offers"]
    since = dt.datetime.combine(snapshot_date, dt.time())
    late = offers.filter((offers.group == "treatment") & (offers.sent_ts >= since))
    row = late.aggregate(sends=late.count(), last=late.sent_ts.max()).to_pyarrow().to_pylist()[0]
    if row["sends"]:
        _log.warning(
            "offers sent on or after the snapshot date are not in its features",
            sends=row["sends"],
            last_sent=str(row["last"]),
            snapshot_date=snapshot_date.isoformat(),
            effect="the offers' cooldown and yearly cap do not count them",
            hint=(
                "features.snapshot_date is set before them: fine for a backtest, not for a "
                "campaign sent now"
                if explicit
                else "export orders and events up to the offers log's end"
            ),
        )


def _families_off(config: Config, missing: dict[str, list[str]]) -> dict[str, str]:
    """Why each family is off, or partly off: params, or the tables it lacks.

    A family with another source still present keeps that source's features (lifecycle keeps
    days since signup without orders), so it is "partly off", as the build's log line says.
    """
    families = config.features.families
    off = {name: "switched off in params" for name, on in families if not on}
    for name, tables in missing.items():
        kept = set(FAMILY_DEFS[name].sources) - set(tables)
        off[name] = f"{'partly off: ' if kept else ''}table(s) {', '.join(tables)} absent"
    return off


@dataclass(frozen=True)
class _Build:
    """One build the stage runs (one expression per customer slice) and the files it fills,
    named relative to the features folder."""

    slices: list[Slice]
    outputs: list[Output]


@dataclass(frozen=True)
class _Contexts:
    """The build contexts of the labelled cutoffs and of the scoring snapshot (event types seen
    before the latest labelled cutoff, and before the snapshot date)."""

    training: Context
    snapshot: Context


EVENT_TYPES_READ: dict[str, tuple[str, ...]] = {
    name: family.event_types for name, family in FAMILIES.items() if family.event_types
} | {"voice": (NPS_EVENT,)}
"""The event types each family reads by name: its own (``Family.event_types``), and the voice
family's survey answers (``features.rows.NPS_EVENT``, read as a source of their own)."""


def _unseen_event_types(
    context: Context, tables: Mapping[str, ir.Table], snapshot_date: dt.date, config: Config
) -> dict[str, list[str]]:
    """Per family switched on, the event types it reads by name that the events table does not
    hold before the snapshot date; their features read as no such event (counts 0, "days since"
    empty). Types are matched exactly, so an export that spells them otherwise (``Email Open``)
    loses the family's features without any error: all of a family's types unseen is warned
    about, some at info level (a CRM may simply not track carts, say)."""
    if "events" not in context.present:
        return {}
    # the build collects the types only for the events family; other families read them too
    if context.event_types:
        seen = set(context.event_types.values())
    else:
        seen = set(event_types_before(tables["events"], snapshot_date))
    unseen: dict[str, list[str]] = {}
    for name, read in EVENT_TYPES_READ.items():
        missing = [event_type for event_type in read if event_type not in seen]
        if not missing or not getattr(config.features.families, name):
            continue
        unseen[name] = missing
        log = _log.warning if len(missing) == len(read) else _log.info
        log(
            "event types a feature family reads are absent from the events",
            family=name,
            event_types=missing,
            effect="their features read as none: counts 0, days since empty",
            hint="event types are matched exactly (docs/data-contract.md)",
        )
    return unseen


def _builds(
    tables: dict[str, ir.Table],
    slices: list[CustomerRange],
    cutoffs: list[dt.date],
    snapshot_date: dt.date,
    config: Config,
    contexts: _Contexts,
) -> list[_Build]:
    """The labelled cutoffs and the scoring snapshot as one build, or as two if they must differ.

    The snapshot is the same expression at one more cutoff, so one build computes both: its rows
    at the snapshot date go to the snapshot file without the label (which has no horizon there).
    The events and orders are then read and joined once, not twice, and at 1M customers the
    separate snapshot build was a fifth of the stage. Two builds remain when an event type first
    appears between the last labelled cutoff and the snapshot date: it is a snapshot column but
    must not become a training one (``features.build.build_context``).

    The context (event types, static attributes) comes from the whole export, so every slice has
    the same columns as the unsliced build.
    """
    training_context, snapshot_context = contexts.training, contexts.snapshot
    if training_context == snapshot_context:
        both = [*cutoffs, snapshot_date]
        return [
            _Build(
                _sliced(tables, slices, both, config, training_context, labelled=True),
                [
                    Output(Path(TRAINING_FILE), frozenset(cutoffs)),
                    Output(Path(SNAPSHOT_FILE), frozenset([snapshot_date]), drop=("churned",)),
                ],
            )
        ]
    _log.info("snapshot built on its own", reason="event types differ from the training cutoffs")
    return [
        _Build(
            _sliced(tables, slices, cutoffs, config, training_context, labelled=True),
            [Output(Path(TRAINING_FILE))],
        ),
        _Build(
            _sliced(tables, slices, [snapshot_date], config, snapshot_context, labelled=False),
            [Output(Path(SNAPSHOT_FILE))],
        ),
    ]


def _sliced(
    tables: dict[str, ir.Table],
    slices: list[CustomerRange],
    cutoffs: list[dt.date],
    config: Config,
    context: Context,
    *,
    labelled: bool,
) -> list[Slice]:
    """The build for each customer slice, sorted by (cutoff, customer): one expression, run
    with each slice's bounds (``features.partitions.slice_runs``)."""

    def build(narrowed: Mapping[str, ir.Table]) -> ir.Table:
        return build_features(
            narrowed, cutoffs, config.features, config.churn, labelled=labelled, context=context
        ).order_by(list(ROW_ORDER))

    return slice_runs(tables, slices, build)


def _counts(path: Path, cutoffs: list[dt.date]) -> dict[str, Any]:
    """Row counts of a written table: total rows, rows per cutoff and, for labelled tables, the
    churn rate per cutoff (read back from the file: two columns, cheap). A cutoff without a
    population is logged."""
    schema = pq.read_schema(path)
    labelled = "churned" in schema.names
    written = pq.read_table(path, columns=["cutoff_date", *(["churned"] if labelled else [])])
    aggregations = [("cutoff_date", "count"), *([("churned", "mean")] if labelled else [])]
    grouped = {
        row["cutoff_date"]: row
        for row in written.group_by("cutoff_date").aggregate(aggregations).to_pylist()
    }
    for cutoff in cutoffs:
        if cutoff not in grouped:
            _log.warning("cutoff has no population", file=path.name, cutoff=cutoff.isoformat())
    counts: dict[str, Any] = {
        "total": written.num_rows,
        "per_cutoff": {
            c.isoformat(): grouped[c]["cutoff_date_count"] if c in grouped else 0 for c in cutoffs
        },
    }
    if labelled:
        counts["churn_rate_per_cutoff"] = {
            c.isoformat(): round(grouped[c]["churned_mean"], 4) if c in grouped else None
            for c in cutoffs
        }
    return counts


if __name__ == "__main__":
    import sys

    from pipeline.cli import app

    app(["features", *sys.argv[1:]])
