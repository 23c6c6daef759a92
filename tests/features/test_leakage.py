"""Leakage proofs for the point-in-time builder (``features.build``, ``features.labels``).

A random CRM world is split at an instant: its *past*, everything recorded strictly before it, and
its *future*: rows dated at or after it, and the later parts of earlier rows that had not happened
yet (a ticket's response, resolution and CSAT, an offer's redemption, a subscription's end).
Hypothesis draws a past and two futures (the second unrelated, or the first with one row added,
deleted or changed); each is compared with the empty future, in which nothing happens after the
split, so any two futures are shown to agree:

* split at the cutoff: the cutoff's population and features are the same;
* split at the end of the label horizon: features and labels are the same;
* the population follows from rows before the cutoff, the labels from rows after it, alone;
* the scoring snapshot equals the same date built as a regular, labelled cutoff.

Timestamps are drawn with a strong bias to the boundaries that matter (the split itself, a
microsecond either side, window starts, the horizon end), so an off-by-one (``<=`` for ``<``) is
found, not just a gross leak. Every build also holds an earlier cutoff, so leakage across the
cutoffs of one expression shows too. A build takes about a second, so examples are few
(20-30 per property) and failures are reported as drawn, not shrunk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import hypothesis.strategies as st
import ibis
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, Phase, given, settings
from pandas.testing import assert_frame_equal

from core.config import ChurnConfig, CutoffConfig, FeaturesConfig
from crm.contract import table_spec
from features.build import build_features, cutoff_grid
from features.cutoffs import KEYS
from features.sources import conform
from synthetic.rows import EVENT_TYPES
from tests.features.raw_tables import ARROW

Definition = Literal["inactivity", "subscription"]
DEFINITIONS: tuple[Definition, ...] = ("inactivity", "subscription")

US = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)
CUTOFF = dt.date(2024, 6, 1)
EARLIER_CUTOFF = CUTOFF - 30 * DAY
HORIZON_DAYS = 30
LOOKBACK_DAYS = 60
FEATURES = FeaturesConfig(history_days=365)
CHURN = {
    definition: ChurnConfig(
        definition=definition, horizon_days=HORIZON_DAYS, lookback_days=LOOKBACK_DAYS
    )
    for definition in DEFINITIONS
}


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


CUTOFF_TS = midnight(CUTOFF)
HORIZON_END_TS = CUTOFF_TS + HORIZON_DAYS * DAY
HISTORY_START = CUTOFF_TS - 400 * DAY
FUTURE_DAYS = 150


def _edges() -> tuple[dt.datetime, ...]:
    """Instants where a strict/non-strict mistake changes a result, a microsecond either side."""
    marks = [CUTOFF_TS, HORIZON_END_TS, midnight(EARLIER_CUTOFF)]
    marks += [CUTOFF_TS - days * DAY for days in (30, 60, 90, 180, 365)]
    marks += [midnight(EARLIER_CUTOFF) + HORIZON_DAYS * DAY - 365 * DAY]
    return tuple(sorted({mark + step * US for mark in marks for step in (-1, 0, 1)}))


EDGES = _edges()

ATTRIBUTES = (("country", pa.string()), ("plan", pa.string()))
"""Static columns of the drawn ``customers`` (the contract's columns come first)."""


def arrow_schema(table: str) -> pa.Schema:
    """Every contract column of ``table`` in the contract's Arrow type, plus customer attributes."""
    columns = [(column.name, ARROW[column.type]) for column in table_spec(table).columns]
    return pa.schema(columns + list(ATTRIBUTES if table == "customers" else ()))


ROW_TABLES = ("orders", "events", "support_tickets", "offers", "subscriptions")
"""Tables whose rows belong wholly to the past or wholly to the future."""
PIECE_TABLES = ("support_tickets", "offers", "subscriptions")
"""Tables whose past rows have parts that happen later (response, redemption, end)."""

Row = dict[str, Any]


# --- the split ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Where past ends. ``ts`` for rows with a timestamp; ``visible_day`` for subscriptions.

    Subscriptions are dated by day, and ``features.labels`` reads them by coverage of a day: the
    population by the day before the cutoff, the label by the first day after the horizon. A
    subscription starting after ``visible_day`` is future; of one that started on or before it,
    the end is future unless it came before ``visible_day`` (no end, or any end on or after that
    day, covers it alike).
    """

    ts: dt.datetime
    visible_day: dt.date


AT_CUTOFF = Split(CUTOFF_TS, CUTOFF - DAY)
AT_HORIZON_END = Split(HORIZON_END_TS, CUTOFF + HORIZON_DAYS * DAY)


# --- strategies for values ---------------------------------------------------------------------


def instants(low: dt.datetime, high: dt.datetime) -> st.SearchStrategy[dt.datetime]:
    """Instants in ``[low, high)`` (microsecond resolution), biased towards ``low`` itself (the
    split, a signup, an opening) and :data:`EDGES`."""
    span_us = (high - low) // US
    uniform = st.integers(0, span_us - 1).map(lambda offset: low + offset * US)
    edges = [edge for edge in EDGES if low <= edge < high]
    return st.one_of(st.just(low), st.sampled_from(edges) if edges else uniform, uniform)


def days(low: dt.date, high: dt.date) -> st.SearchStrategy[dt.date]:
    """Days in ``[low, high]``, biased towards the days of :data:`EDGES`."""
    edge_days = sorted({edge.date() for edge in EDGES} | {CUTOFF - DAY, CUTOFF + 29 * DAY})
    edges = [day for day in edge_days if low <= day <= high]
    uniform = st.dates(low, high)
    return st.one_of(st.sampled_from(edges), uniform) if edges else uniform


money = st.integers(0, 50_000).map(lambda cents: cents / 100)
maybe = st.none().__or__


def later(start: dt.datetime, split: Split) -> st.SearchStrategy[dt.datetime | None]:
    """When something that has not happened by ``split`` happens: never yet, or at/after it.

    Half the time exactly on the split: "never" is what every future is compared with anyway.
    """
    first = max(start, split.ts)
    return st.one_of(st.just(first), st.none() | instants(first, split.ts + FUTURE_DAYS * DAY))


# --- strategies for rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class Customers:
    """Customer rows and, for row strategies, who may act from when (signup midnight)."""

    rows: tuple[Row, ...]

    def active_from(self) -> dict[str, dt.datetime]:
        return {row["customer_id"]: midnight(row["signup_date"]) for row in self.rows}


@st.composite
def customer_rows(
    draw: st.DrawFn, prefix: str, count: int, first: dt.date, last: dt.date
) -> tuple[Row, ...]:
    return tuple(
        {
            "customer_id": f"{prefix}{index}",
            "signup_date": draw(days(first, last)),
            "country": draw(st.sampled_from(["DE", "FR", None])),
            "plan": draw(st.sampled_from(["basic", "plus"])),
        }
        for index in range(1, count + 1)
    )


@st.composite
def customer_and_instant(
    draw: st.DrawFn, active_from: Mapping[str, dt.datetime], low: dt.datetime, high: dt.datetime
) -> tuple[str, dt.datetime]:
    """A customer already signed up at some instant in ``[low, high)``, and that instant."""
    eligible = sorted(customer for customer, start in active_from.items() if start < high)
    customer = draw(st.sampled_from(eligible))
    return customer, draw(instants(max(low, active_from[customer]), high))


@st.composite
def orders(
    draw: st.DrawFn, active_from: Mapping[str, dt.datetime], low: dt.datetime, high: dt.datetime
) -> Row:
    customer, ts = draw(customer_and_instant(active_from, low, high))
    return {
        "customer_id": customer,
        "order_ts": ts,
        "amount": draw(money),
        "n_items": draw(maybe(st.integers(0, 5))),
        "discount_amount": draw(maybe(money)),
        "channel": draw(st.sampled_from(["web", "app", None])),
        "status": draw(st.sampled_from(["completed", "completed", "returned", "cancelled"])),
    }


@st.composite
def events(
    draw: st.DrawFn, active_from: Mapping[str, dt.datetime], low: dt.datetime, high: dt.datetime
) -> Row:
    customer, ts = draw(customer_and_instant(active_from, low, high))
    event_type = draw(st.sampled_from(EVENT_TYPES))
    value: float | None = None
    if event_type == "survey_nps":
        value = float(draw(st.integers(0, 10)))
    elif event_type.startswith("loyalty_"):
        value = float(draw(st.integers(1, 500)))
    return {"customer_id": customer, "ts": ts, "event_type": event_type, "value": value}


@st.composite
def tickets(
    draw: st.DrawFn, active_from: Mapping[str, dt.datetime], low: dt.datetime, high: dt.datetime
) -> Row:
    customer, opened = draw(customer_and_instant(active_from, low, high))
    responded = draw(maybe(instants(opened, opened + 20 * DAY)))
    resolved = draw(maybe(instants(opened, opened + 40 * DAY)))
    return {
        "customer_id": customer,
        "opened_ts": opened,
        "first_response_ts": responded,
        "resolved_ts": resolved,
        "channel": draw(st.sampled_from(["email", "chat", "phone"])),
        "csat": draw(maybe(st.integers(1, 5))),
    }


@st.composite
def offers(
    draw: st.DrawFn, active_from: Mapping[str, dt.datetime], low: dt.datetime, high: dt.datetime
) -> Row:
    customer, sent = draw(customer_and_instant(active_from, low, high))
    group = draw(st.sampled_from(["treatment", "treatment", "control"]))
    redeemed = None if group == "control" else draw(maybe(instants(sent, sent + 40 * DAY)))
    return {
        "customer_id": customer,
        "campaign_id": f"CMP-{sent:%Y%m%d}",
        "offer_id": draw(st.sampled_from(["discount_10", "free_shipping", None])),
        "sent_ts": sent,
        "group": group,
        "redeemed_ts": redeemed,
    }


@st.composite
def subscriptions(
    draw: st.DrawFn, active_from: Mapping[str, dt.datetime], first: dt.date, last: dt.date
) -> Row:
    """A subscription starting in ``[first, last]`` (and not before its customer's signup)."""
    eligible = sorted(c for c, start in active_from.items() if start.date() <= last)
    customer = draw(st.sampled_from(eligible))
    start = draw(days(max(first, active_from[customer].date()), last))
    end = draw(maybe(days(start, start + 200 * DAY)))
    return {
        "customer_id": customer,
        "start_date": start,
        "end_date": end,
        "mrr": draw(money),
    }


ROW_STRATEGIES = {"orders": orders, "events": events, "support_tickets": tickets, "offers": offers}


def rows_in(
    table: str,
    active_from: Mapping[str, dt.datetime],
    low: dt.datetime,
    high: dt.datetime,
    *,
    at_most: int,
) -> st.SearchStrategy[tuple[Row, ...]]:
    """Up to ``at_most`` rows of ``table`` dated in ``[low, high)`` (subscriptions: by day)."""
    if not any(start < high for start in active_from.values()):
        return st.just(())
    if table == "subscriptions":
        row = subscriptions(active_from, low.date(), (high - DAY).date())
    else:
        row = ROW_STRATEGIES[table](active_from, low, high)
    return st.lists(row, max_size=at_most).map(tuple)


# --- past and future ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Past:
    """Everything known at the split: customers signed up before it and rows dated before it.

    Rows of :data:`PIECE_TABLES` carry ``None`` where their later part had not happened by the
    split (no response yet, not resolved, not redeemed, not ended); a future fills it in.
    """

    split: Split
    customers: Customers
    rows: Mapping[str, tuple[Row, ...]]


@dataclass(frozen=True)
class Future:
    """Customers signing up at or after the split, rows dated at or after it, and the later parts
    of past rows (``pieces``, aligned by position with ``Past.rows``)."""

    customers: Customers
    rows: Mapping[str, tuple[Row, ...]]
    pieces: Mapping[str, tuple[Row, ...]]


def known_at(table: str, row: Row, split: Split) -> Row:
    """``row`` as the CRM held it at the split: parts that happen later are cleared."""
    known = dict(row)
    if table == "subscriptions":
        if row["end_date"] is not None and row["end_date"] >= split.visible_day:
            known["end_date"] = None
    elif table == "offers":
        if row["redeemed_ts"] is not None and row["redeemed_ts"] >= split.ts:
            known["redeemed_ts"] = None
    else:
        for column in ("first_response_ts", "resolved_ts"):
            if row[column] is not None and row[column] >= split.ts:
                known[column] = None
        if known["resolved_ts"] is None:
            known["csat"] = None  # CSAT has no timestamp: it is known once the ticket is resolved
    return known


@st.composite
def later_part(draw: st.DrawFn, table: str, known: Row, split: Split) -> Row:
    """Values for the parts of a past row that had not happened by the split."""
    if table == "subscriptions":
        if known["end_date"] is not None:
            return {}
        last = split.visible_day + 200 * DAY
        return {"end_date": draw(maybe(days(split.visible_day, last)))}
    if table == "offers":
        if known["group"] != "treatment" or known["redeemed_ts"] is not None:
            return {}
        return {"redeemed_ts": draw(later(known["sent_ts"], split))}
    part: Row = {}
    if known["first_response_ts"] is None:
        part["first_response_ts"] = draw(later(known["opened_ts"], split))
    if known["resolved_ts"] is None:
        part["resolved_ts"] = draw(later(known["opened_ts"], split))
        part["csat"] = draw(maybe(st.integers(1, 5)))
    return part


@st.composite
def pasts(draw: st.DrawFn, split: Split) -> Past:
    """A past with customer ``C1`` in, and ``C2`` out of, both populations at :data:`CUTOFF`.

    ``C1`` has a completed order in the lookback window and a subscription covering the day before
    the cutoff, so no example is vacuous. ``C2`` signed up before the cutoff but has neither, so a
    row of theirs on the cutoff that leaks into the population shows. Up to two more customers and
    everyone's orders, events, tickets, offers and subscriptions are random.
    """
    anchor_signup = draw(days(HISTORY_START.date(), CUTOFF - (LOOKBACK_DAYS + 1) * DAY))
    anchor = draw(customer_rows("C", 1, anchor_signup, anchor_signup))
    others = draw(customer_rows("C", draw(st.integers(1, 3)), HISTORY_START.date(), CUTOFF - DAY))
    others = tuple({**row, "customer_id": f"C{index + 2}"} for index, row in enumerate(others))
    customers = Customers(anchor + others)
    active_from = customers.active_from()
    anchor_only = {"C1": active_from["C1"]}
    anchor_order = draw(orders(anchor_only, CUTOFF_TS - LOOKBACK_DAYS * DAY, CUTOFF_TS))
    anchor_subscription = draw(subscriptions(anchor_only, HISTORY_START.date(), CUTOFF - DAY))
    if anchor_subscription["end_date"] is not None:
        anchor_subscription["end_date"] = max(anchor_subscription["end_date"], CUTOFF - DAY)
    until = split.ts
    rows = {
        "orders": (
            {**anchor_order, "status": "completed"},
            *draw(rows_in("orders", active_from, HISTORY_START, until, at_most=8)),
        ),
        "subscriptions": (
            anchor_subscription,
            *draw(
                rows_in(
                    "subscriptions",
                    active_from,
                    HISTORY_START,
                    midnight(split.visible_day + DAY),
                    at_most=3,
                )
            ),
        ),
    }
    for table in ("events", "support_tickets", "offers"):
        rows[table] = draw(rows_in(table, active_from, HISTORY_START, until, at_most=8))
    for table in PIECE_TABLES:
        rows[table] = tuple(known_at(table, row, split) for row in rows[table])
    rows["orders"] = tuple(row for row in rows["orders"] if not makes_c2_a_buyer(row))
    rows["subscriptions"] = tuple(r for r in rows["subscriptions"] if not makes_c2_a_subscriber(r))
    return Past(split, customers, rows)


def makes_c2_a_buyer(order: Row) -> bool:
    """A completed order of ``C2`` in the lookback window before :data:`CUTOFF`."""
    window_start = CUTOFF_TS - LOOKBACK_DAYS * DAY
    return (
        order["customer_id"] == "C2"
        and order["status"] == "completed"
        and window_start <= order["order_ts"] < CUTOFF_TS
    )


def makes_c2_a_subscriber(subscription: Row) -> bool:
    """A subscription of ``C2`` that covers (or, its end still open, may cover) the day before."""
    day_before = CUTOFF - DAY
    end = subscription["end_date"]
    return (
        subscription["customer_id"] == "C2"
        and subscription["start_date"] <= day_before
        and (end is None or end >= day_before)
    )


@st.composite
def futures(draw: st.DrawFn, past: Past, customers: Customers | None = None) -> Future:
    """A future for ``past``: new customers (or ``customers``), rows at/after the split, pieces."""
    split = past.split
    if customers is None:
        first = split.ts.date()
        count = draw(st.integers(0, 2))
        customers = Customers(draw(customer_rows("F", count, first, first + 60 * DAY)))
    active_from = past.customers.active_from() | customers.active_from()
    until = split.ts + FUTURE_DAYS * DAY
    rows = {
        table: draw(rows_in(table, active_from, split.ts, until, at_most=5))
        for table in ROW_TABLES
        if table != "subscriptions"
    }
    first_day = midnight(split.visible_day + DAY)
    rows["subscriptions"] = draw(rows_in("subscriptions", active_from, first_day, until, at_most=3))
    # Most mistakes are off by one at the split itself: often put a row of each table right there.
    for table in ROW_TABLES:
        if table == "subscriptions":
            on_the_split = rows_in(table, active_from, first_day, first_day + DAY, at_most=1)
        else:
            on_the_split = rows_in(table, active_from, split.ts, split.ts + US, at_most=1)
        rows[table] = (*draw(on_the_split), *rows[table])
    pieces = {
        table: tuple(draw(later_part(table, row, split)) for row in past.rows[table])
        for table in PIECE_TABLES
    }
    return Future(customers, rows, pieces)


EDITS = ("unrelated", "delete", "add", "change", "change_later_part", "change_new_customer")


@st.composite
def other_futures(draw: st.DrawFn, past: Past, future: Future) -> Future:
    """Another future for ``past``: unrelated, or ``future`` with one row added/deleted/changed.

    Deleting a new customer deletes their rows too (all of them lie in the future).
    """
    edit = draw(st.sampled_from(EDITS))
    fresh = draw(futures(past, None if edit == "unrelated" else future.customers))
    if edit == "unrelated":
        return fresh
    if edit == "change_later_part":
        places = [(t, i) for t in PIECE_TABLES for i, part in enumerate(future.pieces[t]) if part]
        if not places:
            return fresh
        table, index = draw(st.sampled_from(places))
        pieces = list(future.pieces[table])
        pieces[index] = fresh.pieces[table][index]
        return replace(future, pieces={**future.pieces, table: tuple(pieces)})
    if edit == "change_new_customer":
        if not future.customers.rows:
            return fresh
        chosen = draw(st.sampled_from([row["customer_id"] for row in future.customers.rows]))
        if draw(st.booleans()):
            changed = tuple(
                {**row, "country": "NL", "plan": "trial"} if row["customer_id"] == chosen else row
                for row in future.customers.rows
            )
            return replace(future, customers=Customers(changed))
        return Future(
            Customers(tuple(r for r in future.customers.rows if r["customer_id"] != chosen)),
            {
                t: tuple(r for r in rows if r["customer_id"] != chosen)
                for t, rows in future.rows.items()
            },
            future.pieces,
        )
    if edit == "add":
        additions = [(table, row) for table in ROW_TABLES for row in fresh.rows[table]]
        if not additions:
            return fresh
        table, row = draw(st.sampled_from(additions))
        return replace(future, rows={**future.rows, table: (*future.rows[table], row)})
    places = [(t, i) for t in ROW_TABLES for i in range(len(future.rows[t]))]
    if edit == "change":
        places = [(t, i) for t, i in places if fresh.rows[t]]
    if not places:
        return fresh
    table, index = draw(st.sampled_from(places))
    rows = list(future.rows[table])
    if edit == "delete":
        del rows[index]
    else:
        rows[index] = draw(st.sampled_from(fresh.rows[table]))
    return replace(future, rows={**future.rows, table: tuple(rows)})


@st.composite
def scenarios(draw: st.DrawFn, split: Split) -> tuple[Past, Future, Future]:
    """A past and two of its futures."""
    past = draw(pasts(split))
    future = draw(futures(past))
    return past, future, draw(other_futures(past, future))


# --- building ----------------------------------------------------------------------------------

ID_COLUMNS = {
    "orders": "order_id",
    "support_tickets": "ticket_id",
    "subscriptions": "subscription_id",
}


def world(past: Past, future: Future) -> dict[str, pa.Table]:
    """The raw tables of ``past`` continued by ``future``, in contract types."""
    tables = {"customers": [*past.customers.rows, *future.customers.rows]}
    for table in ROW_TABLES:
        earlier = past.rows[table]
        if table in PIECE_TABLES:
            earlier = tuple(
                {**row, **part} for row, part in zip(earlier, future.pieces[table], strict=True)
            )
        rows = [*earlier, *future.rows[table]]
        if table in ID_COLUMNS:
            rows = [
                {**row, ID_COLUMNS[table]: f"{table[0].upper()}{i}"} for i, row in enumerate(rows)
            ]
        tables[table] = rows
    return {
        name: pa.Table.from_pylist(rows, schema=arrow_schema(name)) for name, rows in tables.items()
    }


def build(
    raw: Mapping[str, pa.Table],
    definition: Definition,
    cutoffs: Sequence[dt.date] = (EARLIER_CUTOFF, CUTOFF),
    *,
    labelled: bool = True,
) -> pd.DataFrame:
    """The built table for ``raw`` (in-memory tables passed through ``conform``), sorted.

    Converted through Arrow, whose column types come from the expression, not from the values
    (pandas gives an all-null integer column ``object`` dtype and a partly null one ``float64``).
    """
    tables = {name: conform(name, ibis.memtable(table)) for name, table in raw.items()}
    expression = build_features(tables, cutoffs, FEATURES, CHURN[definition], labelled=labelled)
    return expression.order_by(list(KEYS)).to_pyarrow().to_pandas()


def at(frame: pd.DataFrame, cutoff: dt.date, *, label: bool = True) -> pd.DataFrame:
    """The rows of one cutoff, with or without the label column."""
    rows = frame[frame.cutoff_date == cutoff]
    if not label:
        rows = rows.drop(columns="churned")
    return rows.reset_index(drop=True)


def rows_from(raw: Mapping[str, pa.Table], table: str) -> list[Row]:
    return raw[table].to_pylist()


# --- the properties ----------------------------------------------------------------------------

LEAKAGE = settings(
    max_examples=30,
    deadline=None,
    # A build takes ~1 s (2 cores): shrinking a failure would take minutes. The failing example is
    # printed as drawn (tables of at most 8 rows each), and its seed to replay it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
definitions = st.sampled_from(DEFINITIONS)


def nothing_after(past: Past) -> Future:
    """The future in which nothing happens: no new rows, nothing answered, redeemed or ended."""
    return Future(
        Customers(()),
        {table: () for table in ROW_TABLES},
        {table: tuple({} for _ in past.rows[table]) for table in PIECE_TABLES},
    )


@LEAKAGE
@given(scenario=scenarios(AT_CUTOFF), definition=definitions)
def test_rows_at_or_after_the_cutoff_never_change_its_features(
    scenario: tuple[Past, Future, Future], definition: Definition
) -> None:
    """Each future gives the features of the empty one, so any two futures agree."""
    past, *some_futures = scenario
    expected = build(world(past, nothing_after(past)), definition)
    assert "C1" in set(at(expected, CUTOFF).customer_id)
    # The earlier cutoff's horizon ends at the cutoff, so its inactivity label is past too; its
    # subscription label is not: it reads which subscriptions cover the cutoff day itself.
    earlier_label = definition == "inactivity"
    for future in some_futures:
        actual = build(world(past, future), definition)
        assert_frame_equal(at(actual, CUTOFF, label=False), at(expected, CUTOFF, label=False))
        assert_frame_equal(
            at(actual, EARLIER_CUTOFF, label=earlier_label),
            at(expected, EARLIER_CUTOFF, label=earlier_label),
        )


@settings(LEAKAGE, max_examples=20)
@given(scenario=scenarios(AT_HORIZON_END), definition=definitions)
def test_rows_after_the_label_horizon_never_change_features_or_labels(
    scenario: tuple[Past, Future, Future], definition: Definition
) -> None:
    past, *some_futures = scenario
    expected = build(world(past, nothing_after(past)), definition)
    assert "C1" in set(at(expected, CUTOFF).customer_id)
    for future in some_futures:
        assert_frame_equal(build(world(past, future), definition), expected)


def population_rule(raw: Mapping[str, pa.Table], definition: Definition) -> set[str]:
    """Who is in the population at :data:`CUTOFF`, read from rows strictly before it only."""
    signed_up = {r["customer_id"] for r in rows_from(raw, "customers") if r["signup_date"] < CUTOFF}
    if definition == "inactivity":
        window_start = CUTOFF_TS - LOOKBACK_DAYS * DAY
        ordered = {
            r["customer_id"]
            for r in rows_from(raw, "orders")
            if r["order_ts"] < CUTOFF_TS
            and r["order_ts"] >= window_start
            and r["status"] == "completed"
        }
        return signed_up & ordered
    day_before = CUTOFF - DAY
    subscribed = {
        r["customer_id"]
        for r in rows_from(raw, "subscriptions")
        if r["start_date"] <= day_before and (r["end_date"] is None or r["end_date"] >= day_before)
    }
    return signed_up & subscribed


def label_rule(raw: Mapping[str, pa.Table], definition: Definition, customer: str) -> int:
    """Whether ``customer`` churned after :data:`CUTOFF`, read from post-cutoff rows only.

    Inactivity: a completed order in ``[cutoff, cutoff + horizon)`` means staying. Subscription:
    a subscription covering the first day after the horizon means staying; only subscriptions
    still running on the cutoff day or later are looked at.
    """
    if definition == "inactivity":
        after = [r for r in rows_from(raw, "orders") if r["order_ts"] >= CUTOFF_TS]
        stays = any(
            r["customer_id"] == customer
            and r["status"] == "completed"
            and r["order_ts"] < HORIZON_END_TS
            for r in after
        )
        return int(not stays)
    day = CUTOFF + HORIZON_DAYS * DAY
    after = [
        r
        for r in rows_from(raw, "subscriptions")
        if r["end_date"] is None or r["end_date"] >= CUTOFF
    ]
    stays = any(
        r["customer_id"] == customer
        and r["start_date"] <= day
        and (r["end_date"] is None or r["end_date"] >= day)
        for r in after
    )
    return int(not stays)


@settings(LEAKAGE, max_examples=25)
@given(scenario=scenarios(AT_CUTOFF), definition=definitions)
def test_population_comes_from_before_and_labels_from_after_the_cutoff(
    scenario: tuple[Past, Future, Future], definition: Definition
) -> None:
    past, future, _ = scenario
    raw = world(past, future)
    built = at(build(raw, definition), CUTOFF)
    assert set(built.customer_id) == population_rule(raw, definition)
    expected = [label_rule(raw, definition, customer) for customer in built.customer_id]
    assert built.churned.tolist() == expected


@settings(LEAKAGE, max_examples=15)
@given(scenario=scenarios(AT_CUTOFF), definition=definitions)
def test_scoring_snapshot_equals_a_regular_cutoff_on_the_same_day(
    scenario: tuple[Past, Future, Future], definition: Definition
) -> None:
    past, future, _ = scenario
    raw = world(past, future)
    regular = at(build(raw, definition), CUTOFF, label=False)
    snapshot = build(raw, definition, [CUTOFF], labelled=False)
    assert "churned" not in snapshot.columns
    assert_frame_equal(snapshot, regular)


@given(
    snapshot=st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)),
    every_days=st.integers(1, 120),
    count=st.integers(1, 24),
    horizon_days=st.integers(1, 400),
)
def test_cutoff_grid_never_labels_past_the_snapshot(
    snapshot: dt.date, every_days: int, count: int, horizon_days: int
) -> None:
    grid = cutoff_grid(snapshot, CutoffConfig(every_days=every_days, count=count), horizon_days)
    assert len(grid) == count
    assert grid == sorted(set(grid))
    assert all(cutoff + horizon_days * DAY <= snapshot for cutoff in grid)
    assert all((snapshot - cutoff).days % every_days == 0 for cutoff in grid)
    # The most recent labelled cutoff: one step later would see past the snapshot.
    assert grid[-1] + (every_days + horizon_days) * DAY > snapshot


def test_tied_timestamps_give_the_same_features_whatever_the_row_order() -> None:
    """Two NPS answers, or two scored tickets resolved, at the same instant: still one answer.

    Exports with whole-day or whole-minute timestamps tie often. Features must be a function of
    the rows, not of their order in the files (or of a join's output order on some engine).
    """
    answered = midnight(CUTOFF - 20 * DAY)
    rows = {
        "customers": [
            {
                "customer_id": "C1",
                "signup_date": dt.date(2023, 1, 1),
                "country": "DE",
                "plan": "basic",
            }
        ],
        "orders": [
            {
                "order_id": "O1",
                "customer_id": "C1",
                "order_ts": answered,
                "amount": 10.0,
                "status": "completed",
            }
        ],
        "events": [
            {
                "customer_id": "C1",
                "ts": answered - 9 * DAY,
                "event_type": "survey_nps",
                "value": 9.0,
            },
            {
                "customer_id": "C1",
                "ts": answered - 9 * DAY,
                "event_type": "survey_nps",
                "value": 6.0,
            },
            {"customer_id": "C1", "ts": answered, "event_type": "survey_nps", "value": 3.0},
            {"customer_id": "C1", "ts": answered, "event_type": "survey_nps", "value": 8.0},
        ],
        "support_tickets": [
            {
                "ticket_id": "T1",
                "customer_id": "C1",
                "opened_ts": answered - 2 * DAY,
                "resolved_ts": answered,
                "channel": "email",
                "csat": 2,
            },
            {
                "ticket_id": "T2",
                "customer_id": "C1",
                "opened_ts": answered - DAY,
                "resolved_ts": answered,
                "channel": "chat",
                "csat": 5,
            },
        ],
    }
    columns = ["customer_id", "voice_last_nps", "voice_nps_change", "support_last_csat"]
    built = [
        build(
            {
                name: pa.Table.from_pylist(table[::step], schema=arrow_schema(name))
                for name, table in rows.items()
            },
            "inactivity",
            [CUTOFF],
        )[columns]
        for step in (1, -1)
    ]
    assert_frame_equal(built[1], built[0])
